//! SyncHostsNow reads the next page of devices and of VMs at once, against real Zabbix 6.0 and
//! 7.0: a NetBox stand-in that answers a kind's first page only once the other kind's first page
//! has been asked for too (a read of one kind alone times out and fails), so a sync that read one
//! kind after the other could not finish. Devices and VMs are built on the real NetBox 4.7
//! payloads.

mod support;

use async_trait::async_trait;
use chrono::Duration;
use nzj_core::job::JobOrigin;
use nzj_core::netbox::{ObjectKind, ObjectRef, SitePlace};
use nzj_core::settings::Settings;
use nzj_core::{JobStatus, Trigger};
use nzj_jobs::{HostConverger, SyncHostsNow};
use nzj_netbox::{FieldWrite, NetboxError, NetboxSource};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use support::Peer;
use support::sync::{Inventory, Sync};

for_each_zabbix!(the_first_device_and_vm_pages_are_read_at_once_and_converged_in_one_step);

/// The inventory, but a kind's first page waits (up to 5 s) for the other kind's first page.
struct BothAtOnce {
    inventory: Arc<Inventory>,
    first_pages: tokio::sync::Barrier,
}

#[async_trait]
impl NetboxSource for BothAtOnce {
    async fn get_object(&self, object: ObjectRef, extra: &[String]) -> Result<Option<Value>, NetboxError> {
        self.inventory.get_object(object, extra).await
    }

    async fn page(
        &self,
        kind: ObjectKind,
        after_id: u64,
        limit: usize,
        extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<(Vec<Value>, Option<u64>), NetboxError> {
        if after_id == 0
            && tokio::time::timeout(std::time::Duration::from_secs(5), self.first_pages.wait()).await.is_err()
        {
            let message = format!("the first {kind} page was read alone, not beside the other kind's");
            return Err(NetboxError::Transport { path: kind.to_string(), message });
        }
        self.inventory.page(kind, after_id, limit, extra, filters).await
    }

    async fn objects(
        &self,
        kind: ObjectKind,
        ids: &[u64],
        extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<Vec<Value>, NetboxError> {
        NetboxSource::objects(self.inventory.as_ref(), kind, ids, extra, filters).await
    }

    async fn count(&self, kind: ObjectKind, filters: &[(&'static str, String)]) -> Result<u64, NetboxError> {
        self.inventory.count(kind, filters).await
    }

    async fn tag_slug(&self, tag: &str) -> Result<Option<String>, NetboxError> {
        self.inventory.tag_slug(tag).await
    }

    async fn site_places(&self) -> Result<BTreeMap<u64, SitePlace>, NetboxError> {
        self.inventory.site_places().await
    }

    async fn write_custom_fields(&self, kind: ObjectKind, updates: &[FieldWrite]) -> Result<(), NetboxError> {
        self.inventory.write_custom_fields(kind, updates).await
    }

    async fn add_journal_entries(&self, entries: &[(ObjectRef, &str, String)]) -> Result<(), NetboxError> {
        self.inventory.add_journal_entries(entries).await
    }
}

async fn the_first_device_and_vm_pages_are_read_at_once_and_converged_in_one_step(peer: Peer) {
    let s = Sync::new(&peer, 4, 1000, Settings::default()).await;
    let text =
        include_str!("../../../tests/fixtures/netbox-4.7-webhooks/07_virtualization.virtualmachine_updated.body.json");
    let vm = serde_json::from_str::<Value>(text).unwrap()["data"].take();
    let devices = s.inventory.objects();
    for (i, device) in devices.iter().enumerate() {
        let mut vm = vm.clone();
        vm["id"] = json!(device.id);
        vm["name"] = json!(format!("{}-vm-{i}", s.inventory.0.lock().unwrap()[device]["name"].as_str().unwrap()));
        vm["primary_ip4"]["address"] = json!(format!("10.250.0.{}/16", i + 1));
        s.inventory.0.lock().unwrap().insert(ObjectRef { kind: ObjectKind::VirtualMachine, id: device.id }, vm);
    }
    let source = Arc::new(BothAtOnce { inventory: s.inventory.clone(), first_pages: tokio::sync::Barrier::new(2) });
    let sync = SyncHostsNow::new(
        HostConverger::new(s.sync.converger().zabbix().clone(), s.env.store.clone()),
        source,
        s.clock.clone(),
        Duration::minutes(5),
        Duration::days(1),
    )
    .with_page_size(1000);

    let origin = JobOrigin { trigger: Trigger::Api, user: "tests".into(), object: None };
    let (_, first) = sync.start(origin).await.unwrap();
    let deletions = sync.run_step(&first).await.expect("both first pages read at once").expect("the deletions follow");
    assert_eq!(sync.run_step(&deletions).await.unwrap(), None, "two steps: the pages, then the deletions");
    let record = s.env.store.get_job(&first.job_id).await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    let result = record.result.unwrap();
    assert_eq!((result["total"].as_u64(), result["created"].as_u64()), (Some(8), Some(8)), "{result}");
    let hosts = s.hosts().await;
    assert_eq!(hosts.len(), 8, "every device and VM has its host: {hosts:?}");
    assert!(hosts.values().all(|h| h.len() == 1));
}

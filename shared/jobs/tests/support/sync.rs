//! SyncHostsNow on a real Zabbix for the sync tests: NetBox's list endpoint stood in for by an
//! in-memory inventory of devices built on the real NetBox 4.7 payload (pages by id, as
//! `NetboxClient::list_page` asks NetBox for them), a fresh store with the Zabbix settings
//! imported, and a whole sync run with the Zabbix calls it made.

use super::{Env, Peer, setup_call, since, unique};
use chrono::Duration;
use nzj_core::job::JobOrigin;
use nzj_core::netbox::ObjectKind;
use nzj_core::settings::Settings;
use nzj_core::{JobRecord, JobStatus, ManualClock, SystemJob, Trigger};
use nzj_jobs::{HostConverger, ImportZabbixSettings, SyncHostsNow};
use nzj_netbox::NetboxInMemory;
use nzj_store::Write;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// NetBox's devices, as the sync pages through them.
pub type Inventory = NetboxInMemory;

/// `n` devices from the real payload, each with its own id, name and address.
pub fn devices(n: usize) -> Inventory {
    let text = include_str!("../../../../tests/fixtures/netbox-4.7-webhooks/04_dcim.device_updated.body.json");
    let template = serde_json::from_str::<Value>(text).unwrap()["data"].take();
    let first = (uuid::Uuid::now_v7().as_u64_pair().1 >> 20) * 1000;
    let prefix = unique("nzj-sync");
    let devices = (0..n as u64).map(|i| {
        let mut device = template.clone();
        device["id"] = json!(first + i);
        device["name"] = json!(format!("{prefix}-{i}"));
        device["primary_ip4"]["address"] = json!(format!("10.{}.{}.{}/16", i / 65536, (i / 256) % 256, i % 256));
        device
    });
    NetboxInMemory::new(ObjectKind::Device, devices)
}

/// Changes the `index`th device in NetBox.
pub fn edit(inventory: &Inventory, index: usize, change: impl FnOnce(&mut Value)) {
    change(inventory.0.lock().unwrap().values_mut().nth(index).unwrap());
}

pub struct Sync {
    pub env: Env,
    pub sync: SyncHostsNow,
    pub inventory: Arc<Inventory>,
    pub clock: Arc<ManualClock>,
}

impl Sync {
    /// A fresh store with the Zabbix settings imported and `settings` saved, and a sync over
    /// `count` devices that reads NetBox in pages of `page_size`.
    pub async fn new(peer: &Peer, count: usize, page_size: usize, settings: Settings) -> Sync {
        Sync::on(Env::new(), peer, count, page_size, settings).await
    }

    /// As [`Sync::new`], on `env`'s store (e.g. DynamoDB).
    pub async fn on(env: Env, peer: &Peer, count: usize, page_size: usize, settings: Settings) -> Sync {
        let zabbix = peer.client();
        let import = ImportZabbixSettings::new(zabbix.clone(), env.store.clone(), 100_000);
        let imported = env.run(SystemJob::ImportZabbixSettings, &import).await;
        assert_eq!(imported.status, JobStatus::Completed, "{:?}", imported.error);
        env.store.commit(vec![Write::settings(settings)]).await.unwrap();
        let inventory = Arc::new(devices(count));
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let sync = SyncHostsNow::new(
            HostConverger::new(zabbix, env.store.clone()),
            inventory.clone(),
            clock.clone(),
            Duration::minutes(5),
            Duration::days(1),
        )
        .with_page_size(page_size);
        Sync { env, sync, inventory, clock }
    }

    /// Runs a whole sync and returns its record and the Zabbix calls it made.
    pub async fn run(&self) -> (JobRecord, BTreeMap<String, u64>) {
        let origin = JobOrigin { trigger: Trigger::Api, user: "tests".into(), object: None };
        let before = self.sync.converger().zabbix().calls().snapshot();
        let (_, first) = self.sync.start(origin).await.unwrap();
        self.sync.run_to_end(first.clone()).await.unwrap();
        let record = self.env.store.get_job(&first.job_id).await.unwrap().unwrap();
        (record, since(&before, self.sync.converger().zabbix().calls().snapshot()))
    }

    /// The managed hosts of the inventory's devices in Zabbix, by object.
    pub async fn hosts(&self) -> BTreeMap<String, Vec<Value>> {
        let zabbix = &self.sync.converger().zabbix();
        let tags: Vec<Value> = self
            .inventory
            .objects()
            .iter()
            .map(|o| json!({"tag": "netbox:object", "value": o.to_string(), "operator": 1}))
            .collect();
        let found =
            setup_call(zabbix, "host.get", json!({"output": ["hostid", "host", "status"], "selectTags": ["tag", "value"], "tags": tags, "evaltype": 2}))
                .await;
        let mut by_object: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for host in found.as_array().unwrap() {
            let object =
                host["tags"].as_array().unwrap().iter().find(|t| t["tag"] == "netbox:object").unwrap()["value"]
                    .as_str()
                    .unwrap()
                    .to_string();
            by_object.entry(object).or_default().push(host.clone());
        }
        by_object
    }
}

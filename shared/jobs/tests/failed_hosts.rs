//! "Which hosts are failing, and why?" against real Zabbix 6.0 and 7.0: after a sync of 50
//! devices of which 3 have an address Zabbix refuses, exactly those 3 are listed as failed, each
//! with its job, Zabbix's own error and a hint; once fixed, a sync takes it off the list.

mod support;

use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use serde_json::json;
use std::collections::BTreeSet;
use support::Peer;
use support::sync::{Sync, edit};

for_each_zabbix!(hosts_whose_last_job_failed_are_listed_with_zabbixs_error_and_leave_the_list_when_fixed);

async fn failed(s: &Sync) -> Vec<nzj_core::host_config::HostConfig> {
    s.env.store.list_failed_hosts(None, 500).await.unwrap()
}

async fn hosts_whose_last_job_failed_are_listed_with_zabbixs_error_and_leave_the_list_when_fixed(peer: Peer) {
    let s = Sync::new(&peer, 50, 1000, Settings { batch_size: 25, ..Settings::default() }).await;
    let bad = [7, 21, 44];
    for i in bad {
        edit(&s.inventory, i, |d| d["primary_ip4"]["address"] = json!("999.1.1.1/24"));
    }
    let objects = s.inventory.objects();
    let (record, _) = s.run().await;
    let listed = failed(&s).await;
    let expected: BTreeSet<ObjectRef> = bad.iter().map(|i| objects[*i]).collect();
    assert_eq!(listed.iter().map(|c| c.object).collect::<BTreeSet<_>>(), expected);
    for config in &listed {
        let failure = config.last_failure.as_ref().unwrap();
        assert_eq!(failure.job, record.id);
        let zabbix = failure.zabbix.as_ref().expect("Zabbix's own error is kept");
        assert!(zabbix.code < 0 && !zabbix.message.is_empty(), "{zabbix:?}");
        assert!(failure.hint.as_deref().is_some_and(|h| h.contains("primary IP")), "{failure:?}");
    }
    // Paged: the cursor is the last object of a page.
    let first = s.env.store.list_failed_hosts(None, 2).await.unwrap();
    let rest = s.env.store.list_failed_hosts(Some(first[1].object), 2).await.unwrap();
    assert_eq!(first.len() + rest.len(), 3);

    // One fixed in NetBox: the next sync takes it off the list.
    edit(&s.inventory, bad[1], |d| d["primary_ip4"]["address"] = json!("10.9.9.9/24"));
    s.run().await;
    let still: BTreeSet<ObjectRef> = failed(&s).await.iter().map(|c| c.object).collect();
    assert_eq!(still, [objects[bad[0]], objects[bad[2]]].into_iter().collect());
    let ids: Vec<String> =
        s.hosts().await.values().flatten().map(|h| h["hostid"].as_str().unwrap().to_string()).collect();
    support::setup_call(&peer.client(), "host.delete", json!(ids)).await;
}

//! NetBox shows what happened (docs/product.md §3.4): SyncHostsNow writes each object's Zabbix
//! host id and state into its custom fields in NetBox's bulk form, one request per page and none
//! when nothing changed; NetBox refusing the write never fails the Zabbix side. Real Zabbix 6.0
//! and 7.0; NetBox is the in-memory source, which counts the write requests (the real NetBox's
//! bulk PATCH is exercised by `make e2e`).

mod support;

use nzj_core::settings::Settings;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use support::Peer;
use support::sync::{Sync, edit};

for_each_zabbix!(
    a_sync_writes_changed_states_in_one_bulk_request_per_page_and_none_when_nothing_changed,
    netbox_refusing_the_write_back_never_fails_the_zabbix_side_and_the_next_sync_writes_it,
    write_back_turned_off_writes_nothing,
    the_refresh_writes_out_of_sync_for_a_host_changed_by_hand_once,
    journal_entries_say_what_happened_once_per_kind_per_hour_and_are_off_by_default,
    a_host_removed_by_its_status_shows_why_and_one_gone_from_netbox_is_not_written,
);

fn writes(s: &Sync) -> Vec<usize> {
    std::mem::take(&mut *s.inventory.1.writes.lock().unwrap())
}

fn shown(s: &Sync, index: usize) -> Value {
    s.inventory.0.lock().unwrap().values().nth(index).unwrap()["custom_fields"].clone()
}

async fn a_sync_writes_changed_states_in_one_bulk_request_per_page_and_none_when_nothing_changed(peer: Peer) {
    let s = Sync::new(&peer, 30, 10, Settings::default()).await;
    let (record, _) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["created"], 30, "{:?}", record.result);
    assert_eq!(writes(&s), [10, 10, 10], "one bulk request per page of 10");
    let hosts = s.hosts().await;
    let object = s.inventory.objects()[0].to_string();
    assert_eq!(shown(&s, 0)["zabbix_hostid"].to_string(), hosts[&object][0]["hostid"].as_str().unwrap());
    assert_eq!(shown(&s, 0)["zabbix_sync_state"], "in_sync");

    let (record, _) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["unchanged"], 30);
    assert_eq!(writes(&s), Vec::<usize>::new(), "nothing changed: no request");

    // One object fails (a malformed context), one is taken offline: two objects of one page.
    edit(&s.inventory, 2, |d| d["config_context"] = json!({"zabbix": {"templates": "not a list"}}));
    edit(&s.inventory, 3, |d| d["status"] = json!({"value": "offline", "label": "Offline"}));
    s.run().await;
    assert_eq!(writes(&s), [2]);
    assert_eq!(shown(&s, 2)["zabbix_sync_state"], "failed");
    assert_eq!(shown(&s, 3)["zabbix_sync_state"], "disabled");
    // The API (`nzj hosts show`) says the same as NetBox.
    for (index, state) in [(2, "failed"), (3, "disabled"), (4, "in_sync")] {
        let config = s.env.store.get_host_config(s.inventory.objects()[index]).await.unwrap().unwrap();
        assert_eq!(config.sync_state.as_deref(), Some(state));
    }
}

async fn netbox_refusing_the_write_back_never_fails_the_zabbix_side_and_the_next_sync_writes_it(peer: Peer) {
    let s = Sync::new(&peer, 5, 1000, Settings::default()).await;
    s.inventory.1.refuse_writes.store(true, Ordering::SeqCst);
    let (record, _) = s.run().await;
    assert_eq!(record.status, nzj_core::JobStatus::Completed, "{:?}", record.error);
    assert_eq!(
        (record.result.as_ref().unwrap()["created"].as_u64(), record.result.as_ref().unwrap()["failed"].as_u64()),
        (Some(5), Some(0))
    );
    let warned = record
        .log
        .entries
        .iter()
        .any(|e| e.message.contains("NetBox write-back") && e.message.contains("writes it again"));
    assert!(warned, "the refusal is reported: {:?}", record.log.entries);
    assert!(shown(&s, 0).get("zabbix_sync_state").is_none());

    s.inventory.1.refuse_writes.store(false, Ordering::SeqCst);
    let (record, calls) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["unchanged"], 5);
    assert_eq!(calls, std::collections::BTreeMap::from([("host.get".to_string(), 1)]), "Zabbix untouched");
    assert_eq!(writes(&s), [5], "written by the next sync");
    assert_eq!(shown(&s, 4)["zabbix_sync_state"], "in_sync");
}

async fn write_back_turned_off_writes_nothing(peer: Peer) {
    let mut settings = Settings::default();
    settings.write_back.enabled = false;
    let s = Sync::new(&peer, 3, 1000, settings).await;
    let (record, _) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["created"], 3);
    assert_eq!(writes(&s), Vec::<usize>::new());
}

async fn the_refresh_writes_out_of_sync_for_a_host_changed_by_hand_once(peer: Peer) {
    use nzj_core::{JobStatus, SystemJob};
    let settings = Settings { sync_refresh_cutoff_minutes: 0, ..Settings::default() };
    let s = Sync::new(&peer, 4, 1000, settings).await;
    s.run().await;
    assert_eq!(writes(&s), [4]);
    let object = s.inventory.objects()[1].to_string();
    let hostid = s.hosts().await[&object][0]["hostid"].clone();
    let zabbix = s.sync.converger().zabbix().clone();
    support::setup_call(&zabbix, "host.update", json!({"hostid": hostid, "name": support::unique("renamed by hand")}))
        .await;

    let refresh =
        nzj_jobs::HostConfigSyncRefresh::new(zabbix.clone(), s.env.store.clone()).with_netbox(s.inventory.clone());
    let job = s.env.run(SystemJob::HostConfigSyncRefresh, &refresh).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert_eq!(writes(&s), [1], "only the drifted object, in one request");
    assert_eq!(shown(&s, 1)["zabbix_sync_state"], "out_of_sync");
    let job = s.env.run(SystemJob::HostConfigSyncRefresh, &refresh).await;
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(writes(&s), Vec::<usize>::new(), "still out of sync: nothing new to show");
}

async fn journal_entries_say_what_happened_once_per_kind_per_hour_and_are_off_by_default(peer: Peer) {
    let off = Sync::new(&peer, 2, 1000, Settings::default()).await;
    off.run().await;
    assert!(off.inventory.1.journal.lock().unwrap().is_empty(), "off by default");

    let mut settings = Settings::default();
    settings.write_back.journal = true;
    let s = Sync::new(&peer, 4, 1000, settings).await;
    let journal = || std::mem::take(&mut *s.inventory.1.journal.lock().unwrap());
    let (record, _) = s.run().await;
    let entries = journal();
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert!(entries.iter().all(|(_, kind, text)| kind == "success"
        && text.contains(" created (job ")
        && text.contains(&record.id.to_string())));
    s.run().await;
    assert!(journal().is_empty(), "nothing happened: no entry");

    // A device that fails at every sync: one entry, then none within the hour (it cannot flood).
    edit(&s.inventory, 1, |d| d["config_context"] = json!({"zabbix": {"templates": "not a list"}}));
    s.run().await;
    let entries = journal();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0].0, entries[0].1.as_str()), (s.inventory.objects()[1], "danger"));
    assert!(entries[0].2.contains("failed") && entries[0].2.contains("not a list"), "{entries:?}");
    s.run().await;
    s.run().await;
    assert!(journal().is_empty(), "at most one per object and kind per hour");
}

async fn a_host_removed_by_its_status_shows_why_and_one_gone_from_netbox_is_not_written(peer: Peer) {
    let s = Sync::new(&peer, 4, 1000, Settings::default()).await;
    s.run().await;
    assert_eq!(writes(&s), [4]);
    edit(&s.inventory, 1, |d| d["status"] = json!({"value": "decommissioning", "label": "Decommissioning"}));
    let gone = s.inventory.objects()[3];
    s.inventory.0.lock().unwrap().remove(&gone);
    let (record, _) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["deleted"], 2, "{:?}", record.result);
    // One write: the decommissioned device (still in NetBox); nothing for the one NetBox lost.
    assert_eq!(writes(&s), [1]);
    let shown = shown(&s, 1);
    assert_eq!(shown["zabbix_hostid"], Value::Null, "{shown}");
    assert!(shown["zabbix_sync_state"].as_str().unwrap().starts_with("not_monitored: status"), "{shown}");
    let config = s.env.store.get_host_config(gone).await.unwrap().unwrap();
    assert!(config.netbox.is_none() && config.hostid.is_none(), "forgotten: {config:?}");
}

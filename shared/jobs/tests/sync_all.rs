//! SyncHostsNow against real Zabbix 6.0 and 7.0, from devices built on the real NetBox 4.7
//! device payload.
//!
//! NetBox's list endpoint is stood in for by `Inventory` (pages by id, as `NetboxClient::list_page`
//! asks NetBox for them): `make test` does not start NetBox (its first migration takes 10-15
//! minutes); `make e2e` runs a sync against the real NetBox.

mod support;

use chrono::Duration;
use nzj_core::job::JobOrigin;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::{DeletePolicy, Settings};
use nzj_core::{Clock, JobRecord, JobStatus, Trigger};
use nzj_jobs::StartError;
use nzj_store::Write;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::sync::{Sync, edit};
use support::{Peer, setup_call};

for_each_zabbix!(
    a_sync_creates_then_changes_nothing_then_fixes_drift_with_pinned_calls,
    a_batch_with_a_host_zabbix_rejects_creates_every_other_host,
    a_sync_killed_half_way_and_run_again_converges_without_duplicates,
    the_breaker_deletes_nothing_when_netbox_would_delete_more_than_the_limit,
    a_device_gone_from_netbox_and_back_is_restored_and_every_object_is_accounted_for,
    a_sync_deletes_only_what_the_shared_deletion_window_has_room_for_and_holds_the_rest_once,
    netbox_hands_out_only_what_can_have_a_host_and_every_object_is_still_counted,
    with_a_scope_tag_netbox_hands_out_only_the_tagged_and_one_that_loses_it_is_still_found,
    with_a_device_filter_netbox_hands_out_only_its_site_and_one_that_moves_away_loses_its_host,
);

fn counts(record: &JobRecord) -> [u64; 6] {
    let r = record.result.as_ref().unwrap();
    ["total", "created", "updated", "unchanged", "deleted", "failed"].map(|k| r[k].as_u64().unwrap())
}

fn writes(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(m, _)| m.ends_with(".create") || m.ends_with(".update") || m.ends_with(".delete"))
        .map(|(_, n)| n)
        .sum()
}

/// 30 devices, NetBox pages of 10, 5 hosts per array call.
async fn a_sync_creates_then_changes_nothing_then_fixes_drift_with_pinned_calls(peer: Peer) {
    let settings = Settings { batch_size: 5, ..Settings::default() };
    let s = Sync::new(&peer, 30, 10, settings).await;

    // (a) creating: one host.get per page, and one host.create per 5 hosts, not one per host.
    let (record, calls) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    assert_eq!(counts(&record), [30, 30, 0, 0, 0, 0]);
    // Per page: one host.get of its managed hosts and its graveyard hosts (to restore instead of
    // create) at once; it was two before both tags were asked for in the same read.
    assert_eq!(calls.get("host.get"), Some(&3), "{calls:?}");
    assert_eq!(calls.get("host.create"), Some(&6), "{calls:?}");
    assert!(calls.get("hostgroup.create").copied().unwrap_or(0) <= 1, "{calls:?}");
    let hosts = s.hosts().await;
    assert_eq!(hosts.len(), 30);
    assert!(hosts.values().all(|h| h.len() == 1));
    // One log line per changed host, and host configs that say in sync.
    assert_eq!(record.log.entries.iter().filter(|e| e.message.contains("host created")).count(), 30);
    let config = s.env.store.get_host_config(s.inventory.objects()[7]).await.unwrap().unwrap();
    assert_eq!(config.in_sync, Some(true));
    assert!(config.hostid.is_some());

    // (b) nothing to change: ceil(30/10) host.get calls and no write at all.
    let (record, calls) = s.run().await;
    assert_eq!(counts(&record), [30, 0, 0, 30, 0, 0]);
    assert_eq!(calls, BTreeMap::from([("host.get".to_string(), 3)]));

    // (c) 10% drifted (in NetBox): only those are updated, in array calls.
    for i in [0, 11, 29] {
        edit(&s.inventory, i, |d| d["primary_ip4"]["address"] = json!(format!("192.0.2.{}/24", i + 1)));
    }
    let (record, calls) = s.run().await;
    assert_eq!(counts(&record), [30, 0, 3, 27, 0, 0]);
    assert_eq!(calls.get("host.update"), Some(&3), "one per page that had a change: {calls:?}");
    assert_eq!(writes(&calls), 3, "{calls:?}");
    let (record, calls) = s.run().await;
    assert_eq!(counts(&record), [30, 0, 0, 30, 0, 0]);
    assert_eq!(writes(&calls), 0);
}

async fn a_batch_with_a_host_zabbix_rejects_creates_every_other_host(peer: Peer) {
    let settings = Settings { batch_size: 20, ..Settings::default() };
    let s = Sync::new(&peer, 12, 1000, settings).await;
    // An address Zabbix refuses: the desired host is computed, Zabbix rejects the array call.
    edit(&s.inventory, 5, |d| d["primary_ip4"]["address"] = json!("999.1.1.1/24"));
    let bad = s.inventory.objects()[5];

    let (record, calls) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    assert_eq!(counts(&record), [12, 11, 0, 0, 0, 1]);
    let hosts = s.hosts().await;
    assert_eq!(hosts.len(), 11, "every other host is created");
    assert!(!hosts.contains_key(&bad.to_string()));
    let reported: Vec<&str> = record
        .log
        .entries
        .iter()
        .filter(|e| e.message.starts_with(&bad.to_string()))
        .map(|e| e.message.as_str())
        .collect();
    assert!(reported.iter().any(|m| m.contains("host.create")), "the bad host is reported: {reported:?}");
    // Splitting isolates it in a few calls (about 7), not one per host. (A database error of
    // Zabbix's under the other tests' writes costs a retry of its call: seen at 10 under load.)
    let creates = calls["host.create"];
    assert!((2..12).contains(&creates), "{creates} host.create calls for 12 hosts");
}

async fn a_sync_killed_half_way_and_run_again_converges_without_duplicates(peer: Peer) {
    let settings = Settings { batch_size: 4, ..Settings::default() };
    let s = Sync::new(&peer, 25, 10, settings).await;
    let origin = JobOrigin { trigger: Trigger::Cli, user: "tests".into(), object: None };

    // Two of its pages done, then the process dies.
    let (killed, first) = s.sync.start(origin.clone()).await.unwrap();
    let second = s.sync.run_step(&first).await.unwrap().unwrap();
    s.sync.run_step(&second).await.unwrap().unwrap();
    // Delivered again (SQS is at least once): the step is not done twice.
    assert_eq!(s.sync.run_step(&second).await.unwrap().unwrap().step, 2);
    assert_eq!(s.hosts().await.len(), 20);

    // While its lease lasts, another sync is refused (HTTP 409).
    match s.sync.start(origin.clone()).await {
        Err(StartError::Busy { job, .. }) => assert_eq!(job, killed.id),
        other => panic!("expected busy, got {other:?}"),
    }
    s.clock.advance(Duration::minutes(6));
    let (record, _) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed);
    assert_eq!(counts(&record), [25, 5, 0, 20, 0, 0]);
    let hosts = s.hosts().await;
    assert_eq!(hosts.len(), 25);
    assert!(hosts.values().all(|h| h.len() == 1), "no duplicate hosts");
    let killed = s.env.store.get_job(&killed.id).await.unwrap().unwrap();
    assert_eq!(killed.status, JobStatus::Stalled, "the killed sync is visible as stalled");
}

async fn the_breaker_deletes_nothing_when_netbox_would_delete_more_than_the_limit(peer: Peer) {
    let settings = Settings { max_deletions: 3, delete_policy: DeletePolicy::Soft, ..Settings::default() };
    let s = Sync::new(&peer, 8, 1000, settings.clone()).await;
    assert_eq!(s.run().await.0.status, JobStatus::Completed);

    // NetBox answers with 4 devices gone and 1 decommissioning: 5 deletions, over the limit of 3.
    let removed: Vec<ObjectRef> = s.inventory.objects().into_iter().take(4).collect();
    for object in &removed {
        s.inventory.0.lock().unwrap().remove(object);
    }
    edit(&s.inventory, 0, |d| d["status"] = json!({"value": "decommissioning", "label": "Decommissioning"}));
    let (record, calls) = s.run().await;
    assert_eq!(record.status, JobStatus::Failed);
    let error = record.error.unwrap();
    assert!(error.contains("would delete 5 hosts") && error.contains("nothing was deleted"), "{error}");
    assert_eq!(writes(&calls), 0, "{calls:?}");
    let objects = removed;
    let zabbix = &s.sync.converger().zabbix();
    let tags: Vec<Value> =
        objects.iter().map(|o| json!({"tag": "netbox:object", "value": o.to_string(), "operator": 1})).collect();
    let still = setup_call(zabbix, "host.get", json!({"output": ["hostid"], "tags": tags, "evaltype": 2})).await;
    assert_eq!(still.as_array().unwrap().len(), 4, "the hosts of the removed devices are all still there");

    // With a limit that allows it, the same answer deletes the 5 hosts (soft: renamed, disabled).
    let mut raised = s.env.store.get_settings().await.unwrap();
    raised.max_deletions = 5;
    s.env.store.commit(vec![Write::settings(raised)]).await.unwrap();
    let (record, _) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    assert_eq!(counts(&record), [4, 0, 0, 3, 5, 0]);
    let gone = setup_call(zabbix, "host.get", json!({"output": ["hostid"], "tags": tags, "evaltype": 2})).await;
    assert!(gone.as_array().unwrap().is_empty());
    let (record, calls) = s.run().await;
    assert_eq!(counts(&record), [4, 0, 0, 3, 0, 0]);
    assert_eq!(writes(&calls), 0, "deleted hosts stay deleted: {calls:?}");
}

async fn netbox_hands_out_only_what_can_have_a_host_and_every_object_is_still_counted(peer: Peer) {
    let s = Sync::new(&peer, 10, 1000, Settings::default()).await;
    for i in [1, 4, 7] {
        edit(&s.inventory, i, |d| d["status"] = json!({"value": "decommissioning", "label": "Decommissioning"}));
    }
    let (record, _) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    let listed = s.inventory.1.listed.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(listed, 7, "NetBox hands out only the 7 that can have a host (status__n=decommissioning, ...)");
    assert_eq!((count(&record, "total"), count(&record, "created"), count(&record, "skipped")), (10, 7, 3));
    let ids: Vec<Value> = s.hosts().await.values().flatten().map(|h| h["hostid"].clone()).collect();
    assert_eq!(ids.len(), 7);
    setup_call(s.sync.converger().zabbix(), "host.delete", json!(ids)).await;
}

async fn with_a_scope_tag_netbox_hands_out_only_the_tagged_and_one_that_loses_it_is_still_found(peer: Peer) {
    // The scope tag as people name it; NetBox filters by its slug.
    let settings = Settings { scope_tag: Some("Monitor me".into()), ..Settings::default() };
    let s = Sync::new(&peer, 10, 1000, settings).await;
    let tag = json!({"id": 9, "name": "Monitor me", "slug": "monitor-me", "color": "00ff00"});
    for i in 0..10 {
        edit(&s.inventory, i, |d| d["tags"] = if i % 3 == 0 { json!([tag]) } else { json!([]) });
    }
    let (record, _) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    let listed = s.inventory.1.listed.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(listed, 4, "NetBox hands out only the 4 tagged (tag=monitor-me)");
    assert_eq!((count(&record, "total"), count(&record, "created"), count(&record, "skipped")), (10, 4, 6));

    // Device 3 loses the tag: no page lists it, and its host is still found (read by id) and
    // deleted with the reason a page would have given.
    edit(&s.inventory, 3, |d| d["tags"] = json!([]));
    let (record, _) = s.run().await;
    assert_eq!((count(&record, "total"), count(&record, "deleted")), (10, 1), "{:?}", record.result);
    let object = s.inventory.objects()[3];
    let config = s.env.store.get_host_config(object).await.unwrap().unwrap();
    assert_eq!(config.note.as_deref(), Some("no tag \"Monitor me\""));
    let ids: Vec<Value> = s.hosts().await.values().flatten().map(|h| h["hostid"].clone()).collect();
    assert_eq!(ids.len(), 3);
    setup_call(s.sync.converger().zabbix(), "host.delete", json!(ids)).await;
}

async fn with_a_device_filter_netbox_hands_out_only_its_site_and_one_that_moves_away_loses_its_host(peer: Peer) {
    // As operators of netbox-zabbix-sync write nb_device_filter: NetBox's own filter names.
    let settings = Settings { device_filter: "site=dc-east".into(), ..Settings::default() };
    let s = Sync::new(&peer, 10, 1000, settings).await;
    for i in 0..10 {
        let site = if i < 4 { "dc-east" } else { "dc-west" };
        edit(&s.inventory, i, |d| d["site"] = json!({"id": 100 + i, "name": site, "slug": site}));
    }
    let (record, _) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    let listed = s.inventory.1.listed.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(listed, 4, "NetBox hands out only the 4 of site dc-east (site=dc-east)");
    assert_eq!((count(&record, "total"), count(&record, "created"), count(&record, "skipped")), (10, 4, 6));

    // Device 2 moves to another site: no page lists it; read by id, NetBox says it does not pass
    // the filter any more, and its host is deleted with that reason (not "gone from NetBox").
    edit(&s.inventory, 2, |d| d["site"] = json!({"id": 999, "name": "dc-west", "slug": "dc-west"}));
    let (record, _) = s.run().await;
    assert_eq!((count(&record, "total"), count(&record, "deleted")), (10, 1), "{:?}", record.result);
    let config = s.env.store.get_host_config(s.inventory.objects()[2]).await.unwrap().unwrap();
    assert_eq!(config.note.as_deref(), Some("outside the scope filter (device_filter)"));
    let ids: Vec<Value> = s.hosts().await.values().flatten().map(|h| h["hostid"].clone()).collect();
    assert_eq!(ids.len(), 3);
    setup_call(s.sync.converger().zabbix(), "host.delete", json!(ids)).await;
}

/// The result's count of `key`.
fn count(record: &JobRecord, key: &str) -> u64 {
    record.result.as_ref().unwrap()[key].as_u64().unwrap_or_else(|| panic!("no {key} in {:?}", record.result))
}

async fn a_device_gone_from_netbox_and_back_is_restored_and_every_object_is_accounted_for(peer: Peer) {
    let s = Sync::new(&peer, 6, 1000, Settings::default()).await;
    assert_eq!(s.run().await.0.status, JobStatus::Completed);
    let objects = s.inventory.objects();
    let first_hosts = s.hosts().await;

    // Device 0 deleted in NetBox, device 1 loses its address, device 2 goes offline, device 3 is
    // decommissioning.
    let deleted = s.inventory.0.lock().unwrap().remove(&objects[0]).unwrap();
    edit(&s.inventory, 0, |d| {
        d["primary_ip4"] = Value::Null;
        d["primary_ip"] = Value::Null;
    });
    edit(&s.inventory, 1, |d| d["status"] = json!({"value": "offline", "label": "Offline"}));
    edit(&s.inventory, 2, |d| d["status"] = json!({"value": "decommissioning", "label": "Decommissioning"}));
    let (record, _) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    // 5 read: 1 disabled by status (an update), 1 kept without an address, 2 unchanged;
    // deleted: the one gone from NetBox and the decommissioning one.
    assert_eq!(counts(&record), [5, 0, 1, 3, 2, 0]);
    let hosts = s.hosts().await;
    assert_eq!(hosts[&objects[2].to_string()][0]["status"], "1", "offline: disabled, not deleted");
    assert!(hosts.contains_key(&objects[1].to_string()), "no address: kept");
    let config = s.env.store.get_host_config(objects[1]).await.unwrap().unwrap();
    assert_eq!(config.note.as_deref(), Some("no primary IP"));
    let config = s.env.store.get_host_config(objects[3]).await.unwrap().unwrap();
    assert_eq!(config.note.as_deref(), Some("status \"decommissioning\" is set to remove"));

    // Again: the decommissioning device is skipped, with its reason, not silently dropped.
    let (record, _) = s.run().await;
    assert_eq!((count(&record, "skipped"), count(&record, "deleted")), (1, 0));
    let config = s.env.store.get_host_config(objects[3]).await.unwrap().unwrap();
    assert_eq!(
        (config.hostid.as_deref(), config.note.as_deref()),
        (None, Some("status \"decommissioning\" is set to remove"))
    );

    // The NetBox delete undone (the same id) and the device active again: both get their
    // graveyard hosts back, with no host.create.
    s.inventory.0.lock().unwrap().insert(objects[0], deleted);
    edit(&s.inventory, 3, |d| d["status"] = json!({"value": "active", "label": "Active"}));
    let (record, calls) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    assert_eq!(count(&record, "restored"), 2, "{:?}", record.result);
    assert_eq!(calls.get("host.create"), None, "{calls:?}");
    let hosts = s.hosts().await;
    for object in [objects[0], objects[3]] {
        let key = object.to_string();
        assert_eq!(hosts[&key].len(), 1);
        assert_eq!(hosts[&key][0]["hostid"], first_hosts[&key][0]["hostid"], "the same host: history kept");
        assert_eq!(hosts[&key][0]["status"], "0");
    }
}

async fn a_sync_deletes_only_what_the_shared_deletion_window_has_room_for_and_holds_the_rest_once(peer: Peer) {
    let settings = Settings { max_deletions: 10, ..Settings::default() };
    let s = Sync::new(&peer, 6, 1000, settings.clone()).await;
    assert_eq!(s.run().await.0.status, JobStatus::Completed);
    // Host jobs deleted 8 in this window already: room for 2.
    let now = s.clock.now();
    assert_eq!(nzj_jobs::hosts::admit_deletions(s.env.store.as_ref(), &settings, 8, now).await.unwrap(), 8);

    let objects = s.inventory.objects();
    for object in &objects[..5] {
        s.inventory.0.lock().unwrap().remove(object);
    }
    let (record, _) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    assert_eq!((count(&record, "deleted"), count(&record, "held")), (2, 3), "{:?}", record.result);
    let held = nzj_jobs::deletions::held(s.env.store.as_ref()).await.unwrap();
    assert_eq!(held.len(), 3);
    assert!(held.iter().all(|j| j.name == nzj_core::JobName::DeleteHost && j.retry_of.as_ref() == Some(&record.id)));
    let managed = s.sync.converger().zabbix().find_managed("netbox:object", &objects, 100).await.unwrap();
    assert_eq!(managed.hosts.len(), 1 + 3, "the held ones' hosts are still there");

    // The next sync finds them again: still held, not held twice.
    let (record, _) = s.run().await;
    assert_eq!(count(&record, "held"), 3);
    assert_eq!(nzj_jobs::deletions::held(s.env.store.as_ref()).await.unwrap().len(), 3);
}

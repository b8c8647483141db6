//! Maintenance windows and MaintenanceCleanup against real Zabbix 6.0 and 7.0.

mod support;

use chrono::{Duration, Utc};
use nzj_core::maintenance::{MaintenanceRequest, MaintenanceTargets, SITE_TAG};
use nzj_core::{Clock, JobStatus, SystemClock, SystemJob};
use nzj_jobs::{MaintenanceCleanup, MaintenanceError, MaintenanceService};
use serde_json::{Value, json};
use std::sync::Arc;
use support::{Env, Peer, first_id, unique};

for_each_zabbix!(
    a_maintenance_window_round_trips_through_zabbix_with_the_versions_field_names,
    a_window_without_targets_or_with_unknown_targets_is_refused_before_zabbix_changes,
    cleanup_deletes_expired_windows_and_reports_those_already_gone_from_zabbix,
);

fn service(peer: &Peer, env: &Env) -> MaintenanceService {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    MaintenanceService::new(peer.client(), env.store.clone(), clock)
}

fn window(name: &str, from_minutes: i64, to_minutes: i64, targets: MaintenanceTargets) -> MaintenanceRequest {
    let now = Utc::now();
    MaintenanceRequest {
        name: name.to_string(),
        description: "nzj test".into(),
        active_since: now + Duration::minutes(from_minutes),
        active_till: now + Duration::minutes(to_minutes),
        targets,
    }
}

/// A host group, and a host in it tagged with a NetBox site.
async fn host_in_site(peer: &Peer) -> (String, String, String, String, String) {
    let zbx = peer.client();
    let (group, host, site) = (unique("nzj-mhg"), unique("nzj-mhost"), unique("site"));
    let group_id = first_id(&support::setup_call(&zbx, "hostgroup.create", json!({"name": group})).await, "groupids");
    let host_id = first_id(
        &support::setup_call(
            &zbx,
            "host.create",
            json!({"host": host, "groups": [{"groupid": group_id}], "tags": [{"tag": SITE_TAG, "value": site}]}),
        )
        .await,
        "hostids",
    );
    (group, group_id, host, host_id, site)
}

async fn zabbix_window(peer: &Peer, zabbix_id: &str) -> Option<Value> {
    let zbx = peer.client();
    let (select, key) = zbx.version().await.unwrap().select_host_groups();
    let found = zbx
        .call(
            "maintenance.get",
            json!({"output": "extend", "maintenanceids": [zabbix_id], "selectHosts": ["hostid"], select: ["groupid"]}),
        )
        .await
        .unwrap();
    found.as_array().unwrap().first().cloned().map(|mut w| {
        w["groups_normalised"] = w[key].clone();
        w
    })
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = list.as_array().unwrap().iter().map(|o| o[key].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

async fn a_maintenance_window_round_trips_through_zabbix_with_the_versions_field_names(peer: Peer) {
    let env = Env::new();
    let svc = service(&peer, &env);
    let (group, group_id, host, host_id, site) = host_in_site(&peer).await;
    let other = host_in_site(&peer).await;

    let targets =
        MaintenanceTargets { hosts: vec![other.2.clone()], host_groups: vec![group.clone()], sites: vec![site] };
    let created = svc.create(window(&unique("nzj-window"), 0, 60, targets)).await.unwrap();
    let zid = created.zabbix_id.clone().expect("created in Zabbix");
    let in_zabbix = zabbix_window(&peer, &zid).await.expect("window in Zabbix");
    assert_eq!(ids(&in_zabbix["hosts"], "hostid"), {
        let mut v = vec![host_id.clone(), other.3.clone()];
        v.sort();
        v
    });
    assert_eq!(ids(&in_zabbix["groups_normalised"], "groupid"), vec![group_id.clone()]);
    assert_eq!(svc.get(&created.id).await.unwrap(), created);
    assert_eq!(svc.list().await.unwrap().len(), 1);

    // Update: another name, only the host.
    let renamed = unique("nzj-window-renamed");
    let updated = svc
        .update(
            &created.id,
            window(&renamed, 0, 120, MaintenanceTargets { hosts: vec![host.clone()], ..Default::default() }),
        )
        .await
        .unwrap();
    assert_eq!(updated.zabbix_id.as_deref(), Some(zid.as_str()), "updated in place");
    let in_zabbix = zabbix_window(&peer, &zid).await.unwrap();
    assert_eq!(in_zabbix["name"], renamed);
    assert_eq!(ids(&in_zabbix["hosts"], "hostid"), vec![host_id.clone()]);
    assert!(in_zabbix["groups_normalised"].as_array().unwrap().is_empty());

    svc.delete(&created.id).await.unwrap();
    assert!(zabbix_window(&peer, &zid).await.is_none(), "deleted from Zabbix");
    assert!(matches!(svc.get(&created.id).await, Err(MaintenanceError::NotFound(_))));
    assert!(matches!(svc.delete(&created.id).await, Err(MaintenanceError::NotFound(_))));
}

async fn a_window_without_targets_or_with_unknown_targets_is_refused_before_zabbix_changes(peer: Peer) {
    let env = Env::new();
    let svc = service(&peer, &env);
    let before = svc.zabbix().calls().total();
    let err = svc.create(window("no targets", 0, 60, MaintenanceTargets::default())).await.unwrap_err();
    assert!(matches!(err, MaintenanceError::Invalid(ref m) if m.contains("at least one")), "{err}");
    assert_eq!(svc.zabbix().calls().total(), before, "refused without asking Zabbix");

    let ghost = unique("nzj-ghost");
    let targets =
        MaintenanceTargets { hosts: vec![ghost.clone()], sites: vec![unique("nowhere")], ..Default::default() };
    let err = svc.create(window("unknown", 0, 60, targets)).await.unwrap_err();
    let MaintenanceError::Invalid(message) = err else { panic!("expected Invalid, got {err:?}") };
    assert!(
        message.contains(&format!("unknown hosts: {ghost}")) && message.contains("no Zabbix host is tagged"),
        "{message}"
    );
    assert!(svc.list().await.unwrap().is_empty());
}

async fn cleanup_deletes_expired_windows_and_reports_those_already_gone_from_zabbix(peer: Peer) {
    let env = Env::new();
    let svc = Arc::new(service(&peer, &env));
    let (group, ..) = host_in_site(&peer).await;
    let targets = || MaintenanceTargets { host_groups: vec![group.clone()], ..Default::default() };
    let expired = svc.create(window(&unique("nzj-expired"), -120, -60, targets())).await.unwrap();
    let gone = svc.create(window(&unique("nzj-gone"), -120, -60, targets())).await.unwrap();
    let active = svc.create(window(&unique("nzj-active"), -10, 60, targets())).await.unwrap();
    // Someone deletes one expired window in Zabbix by hand.
    svc.zabbix().call("maintenance.delete", json!([gone.zabbix_id.clone().unwrap()])).await.unwrap();

    let job = env.run(SystemJob::MaintenanceCleanup, &MaintenanceCleanup::new(svc.clone())).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let result = job.result.unwrap();
    assert_eq!(
        (result["deleted"].as_u64(), result["checked"].as_u64(), result["already_gone"].as_u64()),
        (Some(2), Some(3), Some(1))
    );
    assert!(result["timestamp"].is_string());
    assert!(job.log.entries.iter().any(|l| l.message.contains("already gone")));

    assert!(zabbix_window(&peer, expired.zabbix_id.as_deref().unwrap()).await.is_none());
    assert!(zabbix_window(&peer, active.zabbix_id.as_deref().unwrap()).await.is_some(), "an active window stays");
    let left: Vec<String> = svc.list().await.unwrap().into_iter().map(|w| w.id).collect();
    assert_eq!(left, vec![active.id.clone()]);
    svc.delete(&active.id).await.unwrap();
}

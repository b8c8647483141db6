//! Host jobs against real Zabbix 6.0 and 7.0, from the real NetBox 4.7 device payload.

mod support;

use nzj_core::desired::Desired;
use nzj_core::job::JobOrigin;
use nzj_core::settings::{DeletePolicy, Settings};
use nzj_core::{JobName, JobStatus, SystemJob, Trigger};
use nzj_jobs::HostAction;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::hosts::{Device, Hosts};
use support::{Peer, first_id, setup_call, unique};

for_each_zabbix!(
    create_update_and_both_delete_policies_each_end_in_sync,
    the_same_job_three_times_and_update_before_create_converge_to_one_host,
    an_update_of_a_changed_host_is_one_read_and_one_write,
    a_host_set_offline_is_updated_by_its_status_alone,
    a_host_in_an_active_maintenance_window_is_not_deleted,
    refresh_finds_drift_with_one_host_get_per_page_and_an_outage_is_failed_not_out_of_sync,
);

async fn create_update_and_both_delete_policies_each_end_in_sync(peer: Peer) {
    let mut hosts = Hosts::new(&peer).await;
    let mut device = Device::new();

    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    let created = hosts.zabbix_host(&device).await.unwrap();
    assert_eq!(created["host"], device.name());
    assert_eq!(created["status"], "0");
    assert_eq!(created["parentTemplates"][0]["host"], "Linux by Zabbix agent");
    assert_eq!(created["groups_normalised"][0]["name"], "NetBox/Site 76683");
    let interface_id = created["interfaces"][0]["interfaceid"].clone();
    assert_eq!(created["interfaces"][0]["ip"], "192.0.2.10");

    // Rename, and change the primary IP: one update, the interface keeps its id.
    let renamed = unique("nzj-dev-renamed");
    device.data["name"] = json!(renamed);
    device.data["primary_ip4"]["address"] = json!("192.0.2.77/24");
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    let host = hosts.zabbix_host(&device).await.unwrap();
    assert_eq!(
        (host["host"].as_str(), host["interfaces"][0]["ip"].as_str()),
        (Some(renamed.as_str()), Some("192.0.2.77"))
    );
    assert_eq!(host["interfaces"][0]["interfaceid"], interface_id, "interface ids are kept");

    // Status planned: disabled by default, the host stays.
    device.data["status"] = json!({"value": "planned", "label": "Planned"});
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    assert_eq!(hosts.zabbix_host(&device).await.unwrap()["status"], "1");

    // The template is removed from the mapping: unlinked and cleared.
    hosts.settings.rules[0].templates.clear();
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    assert!(hosts.zabbix_host(&device).await.unwrap()["parentTemplates"].as_array().unwrap().is_empty());

    // Monitored by a proxy (7.0: monitored_by + proxyid; 6.0: proxy_hostid).
    let zbx = hosts.jobs.converger().zabbix().clone();
    let seven = peer.major_minor == "7.0";
    let proxy = unique("nzj-px");
    let params = if seven { json!({"name": proxy, "operating_mode": 0}) } else { json!({"host": proxy, "status": 5}) };
    let proxy_id = first_id(&setup_call(&zbx, "proxy.create", params).await, "proxyids");
    hosts.reimport().await;
    hosts.settings.rules[0].proxy = Some(proxy.clone());
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    let host = hosts.zabbix_host(&device).await.unwrap();
    if seven {
        assert_eq!((host["monitored_by"].as_str(), host["proxyid"].as_str()), (Some("1"), Some(proxy_id.as_str())));
    } else {
        assert_eq!(host["proxy_hostid"], proxy_id);
    }
    hosts.settings.rules[0].proxy = None;
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);

    // Soft delete: renamed with the suffix, moved to the graveyard, disabled, no longer managed.
    let hostid = host["hostid"].as_str().unwrap().to_string();
    let action = hosts.run(JobName::DeleteHost, &device, None).await;
    assert_eq!(action, HostAction::SoftDeleted { renamed_to: format!("{renamed}-deleted") });
    hosts.assert_in_sync(&device, None).await;
    let graveyard = zbx
        .call("host.get", json!({"output": ["host", "status"], "hostids": [hostid], "selectTags": ["tag", "value"]}))
        .await
        .unwrap();
    assert_eq!(graveyard[0]["host"], format!("{renamed}-deleted"));
    assert_eq!(graveyard[0]["status"], "1");
    assert!(graveyard[0]["tags"].as_array().unwrap().iter().any(|t| t["tag"] == "netbox:deleted"));
    assert!(hosts.zabbix_host(&device).await.is_none());

    // Back in NetBox (the delete undone), then deleted with the hard policy: the graveyard host
    // comes back (same id: history kept), then is gone for good.
    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Restored);
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    assert_eq!(hosts.zabbix_host(&device).await.unwrap()["hostid"].as_str(), Some(hostid.as_str()));
    hosts.settings.delete_policy = DeletePolicy::Hard;
    assert_eq!(hosts.run(JobName::DeleteHost, &device, None).await, HostAction::HardDeleted);
    hosts.assert_in_sync(&device, None).await;
    assert!(hosts.zabbix_host(&device).await.is_none());
    setup_call(&zbx, "proxy.delete", json!([proxy_id])).await;
}

async fn the_same_job_three_times_and_update_before_create_converge_to_one_host(peer: Peer) {
    let hosts = Hosts::new(&peer).await;
    let device = Device::new();
    let actions = [
        hosts.run(JobName::CreateHost, &device, Some(&device.data)).await,
        hosts.run(JobName::CreateHost, &device, Some(&device.data)).await,
        hosts.run(JobName::CreateHost, &device, Some(&device.data)).await,
    ];
    assert_eq!(actions, [HostAction::Created, HostAction::Unchanged, HostAction::Unchanged]);
    let by_name = hosts
        .jobs
        .converger()
        .zabbix()
        .call("host.get", json!({"output": ["hostid"], "filter": {"host": [device.name()]}}))
        .await
        .unwrap();
    assert_eq!(by_name.as_array().unwrap().len(), 1, "one host");

    // An update that arrives before its create creates the host; the late create changes nothing.
    let late = Device::new();
    assert_eq!(hosts.run(JobName::UpdateHost, &late, Some(&late.data)).await, HostAction::Created);
    assert_eq!(hosts.run(JobName::CreateHost, &late, Some(&late.data)).await, HostAction::Unchanged);

    // A host with the same name but no managed tag is not taken over while adoption is off.
    let mut adopted = Settings { adoption: false, ..Settings::default() };
    let stranger = Device::new();
    let zbx = hosts.jobs.converger().zabbix().clone();
    let group_id =
        first_id(&setup_call(&zbx, "hostgroup.create", json!({"name": unique("nzj-brownfield")})).await, "groupids");
    setup_call(&zbx, "host.create", json!({"host": stranger.name(), "groups": [{"groupid": group_id}]})).await;
    let origin = JobOrigin { trigger: Trigger::Webhook, user: "tests".into(), object: None };
    let (record, action) = hosts
        .jobs
        .run(
            JobName::CreateHost,
            stranger.object,
            Ok(hosts.desired(Some(&stranger.data)).await),
            &adopted,
            origin.clone(),
        )
        .await
        .unwrap();
    assert_eq!(record.status, JobStatus::Failed);
    assert!(action.unwrap_err().message.contains("turn adoption on"));
    adopted.adoption = true;
    let (_, action) = hosts
        .jobs
        .run(JobName::CreateHost, stranger.object, Ok(hosts.desired(Some(&stranger.data)).await), &adopted, origin)
        .await
        .unwrap();
    assert_eq!(action.unwrap(), HostAction::Adopted);
    assert!(hosts.zabbix_host(&stranger).await.is_some(), "adopted hosts carry the managed tag");

    for device in [&device, &late, &stranger] {
        if let Some(host) = hosts.zabbix_host(device).await {
            setup_call(&zbx, "host.delete", json!([host["hostid"]])).await;
        }
    }
}

fn pinned(scenario: &str, version: &str) -> BTreeMap<String, u64> {
    let pins: Value = serde_json::from_str(include_str!("call_counts.json")).unwrap();
    serde_json::from_value(pins[scenario][version].clone()).unwrap()
}

async fn an_update_of_a_changed_host_is_one_read_and_one_write(peer: Peer) {
    let hosts = Hosts::new(&peer).await;
    let mut device = Device::new();
    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    device.data["primary_ip4"]["address"] = json!("192.0.2.99/24");
    let before = hosts.jobs.converger().zabbix().calls().snapshot();
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let after = hosts.jobs.converger().zabbix().calls().snapshot();
    let used: BTreeMap<String, u64> = after
        .into_iter()
        .map(|(k, v)| (k.clone(), v - before.get(&k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    assert_eq!(used, pinned("UpdateHost of a changed host", peer.major_minor));
    let host = hosts.zabbix_host(&device).await.unwrap();
    setup_call(hosts.jobs.converger().zabbix(), "host.delete", json!([host["hostid"]])).await;
}

/// What the last job of `device` sent Zabbix (its `post_data` log line).
async fn sent(hosts: &Hosts, device: &Device) -> Value {
    let config = hosts.env.store.get_host_config(device.object).await.unwrap().unwrap();
    let job = hosts.env.store.get_job(config.last_job.as_ref().unwrap()).await.unwrap().unwrap();
    let line = job.log.entries.iter().find_map(|l| l.message.strip_prefix("post_data: ").map(str::to_string));
    serde_json::from_str(&line.unwrap_or_else(|| panic!("nothing sent: {:?}", job.log))).unwrap()
}

async fn a_host_set_offline_is_updated_by_its_status_alone(peer: Peer) {
    let hosts = Hosts::new(&peer).await;
    let mut device = Device::new();
    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    device.data["status"] = json!({"value": "offline", "label": "Offline"});
    hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await;
    let host = hosts.zabbix_host(&device).await.unwrap();
    assert_eq!(host["status"], "1");
    // Groups, templates, interfaces, tags, inventory and proxy are as they were: not sent.
    assert_eq!(sent(&hosts, &device).await, json!({"hostid": host["hostid"], "status": 1}));
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    // Back to active with a new address: the status and the interface (by its id), nothing else.
    device.data["status"] = json!({"value": "active", "label": "Active"});
    device.data["primary_ip4"]["address"] = json!("192.0.2.88/24");
    hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await;
    let update = sent(&hosts, &device).await;
    let keys: Vec<&str> = update.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["hostid", "interfaces", "status"], "{update}");
    assert_eq!(update["interfaces"][0]["interfaceid"], host["interfaces"][0]["interfaceid"]);
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    setup_call(hosts.jobs.converger().zabbix(), "host.delete", json!([host["hostid"]])).await;
}

async fn a_host_in_an_active_maintenance_window_is_not_deleted(peer: Peer) {
    use nzj_core::maintenance::{MaintenanceRequest, MaintenanceTargets};
    let hosts = Hosts::new(&peer).await;
    let device = Device::new();
    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    let maintenance = nzj_jobs::MaintenanceService::new(
        hosts.jobs.converger().zabbix().clone(),
        hosts.env.store.clone(),
        hosts.env.clock.clone(),
    );
    let now = chrono::Utc::now();
    let window = maintenance
        .create(MaintenanceRequest {
            name: unique("nzj-guard"),
            description: String::new(),
            active_since: now - chrono::Duration::minutes(10),
            active_till: now + chrono::Duration::hours(1),
            targets: MaintenanceTargets { hosts: vec![device.name()], ..Default::default() },
        })
        .await
        .unwrap();

    let origin = JobOrigin { trigger: Trigger::Webhook, user: "tests".into(), object: None };
    let (record, action) = hosts
        .jobs
        .run(JobName::DeleteHost, device.object, Ok(Desired::OutOfScope("deleted".into())), &hosts.settings, origin)
        .await
        .unwrap();
    assert_eq!(record.status, JobStatus::Failed);
    let failure = action.unwrap_err();
    assert!(failure.message.contains("active maintenance window") && !failure.is_transient(), "{failure}");
    assert!(hosts.zabbix_host(&device).await.is_some(), "the host is still there");

    maintenance.delete(&window.id).await.unwrap();
    assert!(matches!(hosts.run(JobName::DeleteHost, &device, None).await, HostAction::SoftDeleted { .. }));
}

async fn refresh_finds_drift_with_one_host_get_per_page_and_an_outage_is_failed_not_out_of_sync(peer: Peer) {
    use nzj_jobs::HostConfigSyncRefresh;
    let hosts = Hosts::new(&peer).await;
    let devices: Vec<Device> = (0..5).map(|_| Device::new()).collect();
    for device in &devices {
        assert_eq!(hosts.run(JobName::CreateHost, device, Some(&device.data)).await, HostAction::Created);
    }
    // Someone disables one host by hand in Zabbix.
    let zbx = hosts.jobs.converger().zabbix().clone();
    let edited = hosts.zabbix_host(&devices[2]).await.unwrap();
    setup_call(&zbx, "host.update", json!({"hostid": edited["hostid"], "status": 1})).await;

    // Every config is due (cutoff 0 minutes); pages of 2 over 5 hosts: 3 host.get calls.
    let mut settings = hosts.env.store.get_settings().await.unwrap();
    settings.sync_refresh_cutoff_minutes = 0;
    hosts.env.store.commit(vec![nzj_store::Write::settings(settings)]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let client = peer.client();
    let refresh = HostConfigSyncRefresh::new(client.clone(), hosts.env.store.clone()).with_page_size(2);
    let job = hosts.env.run(SystemJob::HostConfigSyncRefresh, &refresh).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let result = job.result.unwrap();
    assert_eq!(
        (result["total"].as_u64(), result["updated"].as_u64(), result["failed"].as_u64()),
        (Some(5), Some(5), Some(0)),
        "{result}"
    );
    assert_eq!(result["cutoff_in_minutes"], 0);
    assert_eq!(
        client.calls().snapshot().get("host.get").copied(),
        Some(3),
        "ceil(5 / 2) host.get calls, not one per host"
    );
    let drifted = hosts.env.store.get_host_config(devices[2].object).await.unwrap().unwrap();
    assert_eq!(drifted.in_sync, Some(false));
    assert_eq!(drifted.difference[0].field, "status");
    assert_eq!(hosts.env.store.get_host_config(devices[0].object).await.unwrap().unwrap().in_sync, Some(true));

    // Zabbix unreachable: every config counts as failed and none is marked out of sync.
    let proxy = support::CutProxy::start(&peer.url).await;
    proxy.allow(1); // apiinfo.version gets through, host.get does not
    let refresh = HostConfigSyncRefresh::new(support::client_at(&proxy.url, &peer.token), hosts.env.store.clone())
        .with_page_size(2);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let job = hosts.env.run(SystemJob::HostConfigSyncRefresh, &refresh).await;
    let result = job.result.unwrap();
    assert_eq!(
        (result["total"].as_u64(), result["updated"].as_u64(), result["failed"].as_u64()),
        (Some(5), Some(0), Some(5)),
        "{result}"
    );
    assert_eq!(hosts.env.store.get_host_config(devices[0].object).await.unwrap().unwrap().in_sync, Some(true));

    for device in &devices {
        if let Some(host) = hosts.zabbix_host(device).await {
            setup_call(&zbx, "host.delete", json!([host["hostid"]])).await;
        }
    }
}

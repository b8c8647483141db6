//! The lifecycle of a host as operators expect it (docs/product.md §3.1, §4), on real Zabbix 6.0
//! and 7.0, from the real NetBox 4.7 device payload: a status that takes a device out of service
//! for a while disables its host and keeps its history (same host id); only decommissioning
//! removes; a removed or deleted device that comes back gets its graveyard host back; losing the
//! primary IP never deletes.

mod support;

use nzj_core::JobName;
use nzj_core::settings::{InterfaceKind, WithoutPrimaryIp};
use nzj_jobs::HostAction;
use serde_json::{Value, json};
use support::Peer;
use support::hosts::{Device, Hosts};

for_each_zabbix!(
    offline_disables_the_same_host_and_active_enables_it_again,
    a_decommissioned_device_brought_back_gets_its_graveyard_host_with_its_history,
    losing_the_primary_ip_keeps_the_host_and_the_host_config_says_why,
    a_host_switched_from_the_agent_to_snmp_and_back_converges_keeping_its_id,
    the_graveyard_purge_hard_deletes_only_old_graveyard_hosts_through_the_breaker,
);

fn status(device: &mut Device, value: &str) {
    device.data["status"] = json!({"value": value, "label": value});
}

fn hostid(host: &Value) -> String {
    host["hostid"].as_str().unwrap().to_string()
}

async fn offline_disables_the_same_host_and_active_enables_it_again(peer: Peer) {
    let hosts = Hosts::new(&peer).await;
    let mut device = Device::new();
    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    let created = hosts.zabbix_host(&device).await.unwrap();

    for out_of_service in ["offline", "planned", "staged", "failed", "a-status-netbox-adds-later"] {
        status(&mut device, out_of_service);
        assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
        let host = hosts.zabbix_host(&device).await.expect("the host stays");
        assert_eq!((hostid(&host), host["status"].as_str()), (hostid(&created), Some("1")), "{out_of_service}");
        hosts.assert_in_sync(&device, Some(&device.data)).await;

        status(&mut device, "active");
        assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
        let host = hosts.zabbix_host(&device).await.unwrap();
        assert_eq!((hostid(&host), host["status"].as_str()), (hostid(&created), Some("0")));
    }
}

async fn a_decommissioned_device_brought_back_gets_its_graveyard_host_with_its_history(peer: Peer) {
    let hosts = Hosts::new(&peer).await;
    let mut device = Device::new();
    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    let created = hosts.zabbix_host(&device).await.unwrap();
    // Someone else's tag on the host: it survives the graveyard and the restoration.
    let zabbix = hosts.jobs.converger().zabbix().clone();
    let mut tags: Vec<Value> = created["tags"].as_array().unwrap().clone();
    tags.push(json!({"tag": "owner", "value": "ops"}));
    support::setup_call(&zabbix, "host.update", json!({"hostid": hostid(&created), "tags": tags})).await;

    status(&mut device, "decommissioning");
    let action = hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await;
    assert!(matches!(action, HostAction::SoftDeleted { .. }), "{action:?}");
    assert!(hosts.zabbix_host(&device).await.is_none(), "no longer managed");
    let config = hosts.env.store.get_host_config(device.object).await.unwrap().unwrap();
    assert_eq!(config.note.as_deref(), Some("status \"decommissioning\" is set to remove"));

    status(&mut device, "active");
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Restored);
    let restored = hosts.zabbix_host(&device).await.expect("managed again");
    assert_eq!(hostid(&restored), hostid(&created), "the same host: its items and history are kept");
    assert_eq!((restored["host"].as_str(), restored["status"].as_str()), (Some(device.name().as_str()), Some("0")));
    assert_eq!(restored["groups_normalised"][0]["name"], "NetBox/Site 76683", "out of the graveyard group");
    let tags = restored["tags"].as_array().unwrap();
    assert!(tags.iter().any(|t| t["tag"] == "owner"), "{tags:?}");
    assert!(!tags.iter().any(|t| t["tag"] == "netbox:deleted"), "{tags:?}");
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    assert!(hosts.env.store.get_host_config(device.object).await.unwrap().unwrap().note.is_none());
}

async fn losing_the_primary_ip_keeps_the_host_and_the_host_config_says_why(peer: Peer) {
    let mut hosts = Hosts::new(&peer).await;
    let mut device = Device::new();
    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    let created = hosts.zabbix_host(&device).await.unwrap();
    let address = device.data["primary_ip4"].take();
    device.data["primary_ip"] = Value::Null;

    let kept = HostAction::Kept { reason: "no primary IP".into() };
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, kept);
    let host = hosts.zabbix_host(&device).await.expect("never deleted for a missing address");
    assert_eq!((hostid(&host), host["status"].as_str()), (hostid(&created), Some("0")));
    let config = hosts.env.store.get_host_config(device.object).await.unwrap().unwrap();
    assert_eq!(config.note.as_deref(), Some("no primary IP"));
    assert_eq!(config.hostid.as_deref(), Some(hostid(&created).as_str()));

    hosts.settings.without_primary_ip = WithoutPrimaryIp::Disable;
    let disabled = HostAction::Disabled { reason: "no primary IP".into() };
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, disabled);
    assert_eq!(hosts.zabbix_host(&device).await.unwrap()["status"], "1");
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, kept, "already disabled");

    // The address is back: the same host, enabled.
    device.data["primary_ip4"] = address;
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let host = hosts.zabbix_host(&device).await.unwrap();
    assert_eq!((hostid(&host), host["status"].as_str()), (hostid(&created), Some("0")));

    // A new device without an address: no host, and its host config says why.
    let mut bare = Device::new();
    bare.data["primary_ip4"] = Value::Null;
    bare.data["primary_ip"] = Value::Null;
    let skipped = HostAction::Skipped { reason: "no primary IP".into() };
    assert_eq!(hosts.run(JobName::CreateHost, &bare, Some(&bare.data)).await, skipped);
    let config = hosts.env.store.get_host_config(bare.object).await.unwrap().expect("a host config that says why");
    assert_eq!((config.hostid, config.note.as_deref()), (None, Some("no primary IP")));
}

/// The host's interfaces as (type, main).
fn interfaces(host: &Value) -> Vec<(String, String)> {
    host["interfaces"].as_array().unwrap().iter().map(|i| (i["type"].to_string(), i["main"].to_string())).collect()
}

async fn a_host_switched_from_the_agent_to_snmp_and_back_converges_keeping_its_id(peer: Peer) {
    let mut hosts = Hosts::new(&peer).await;
    let device = Device::new();
    assert_eq!(hosts.run(JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    let created = hosts.zabbix_host(&device).await.unwrap();

    // The agent template's items use the agent interface: Zabbix refuses to drop it in the same
    // call that adds the SNMP one, so the change goes in the order Zabbix accepts.
    hosts.settings.rules[0].interface = InterfaceKind::SnmpV2c;
    hosts.settings.rules[0].templates = vec!["Generic by SNMP".into()];
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let host = hosts.zabbix_host(&device).await.unwrap();
    assert_eq!(hostid(&host), hostid(&created));
    assert_eq!(interfaces(&host), [("\"2\"".to_string(), "\"1\"".to_string())], "one SNMP interface: {host}");
    assert_eq!(host["parentTemplates"][0]["host"], "Generic by SNMP");
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    hosts.settings.rules[0].interface = InterfaceKind::Agent;
    hosts.settings.rules[0].templates = vec!["Linux by Zabbix agent".into()];
    assert_eq!(hosts.run(JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let host = hosts.zabbix_host(&device).await.unwrap();
    assert_eq!(interfaces(&host), [("\"1\"".to_string(), "\"1\"".to_string())], "{host}");
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    // Someone's own item on the agent interface: Zabbix cannot drop it, and the job says what to do.
    let zabbix = hosts.jobs.converger().zabbix().clone();
    let item = json!({"hostid": hostid(&host), "name": "own ping", "key_": "icmpping[,3]", "type": 3, "value_type": 3,
                      "interfaceid": host["interfaces"][0]["interfaceid"], "delay": "1m"});
    support::setup_call(&zabbix, "item.create", item).await;
    hosts.settings.rules[0].interface = InterfaceKind::SnmpV2c;
    hosts.settings.rules[0].templates = vec!["Generic by SNMP".into()];
    let origin = nzj_core::job::JobOrigin { trigger: nzj_core::Trigger::Api, user: "tests".into(), object: None };
    let desired = Ok(hosts.desired(Some(&device.data)).await);
    let (record, action) =
        hosts.jobs.run(JobName::UpdateHost, device.object, desired, &hosts.settings, origin).await.unwrap();
    let failure = action.unwrap_err();
    assert!(!failure.is_transient());
    assert!(failure.message.contains("move them to the new interface or delete them"), "{failure}");
    assert_eq!(record.status, nzj_core::JobStatus::Failed);
}

async fn the_graveyard_purge_hard_deletes_only_old_graveyard_hosts_through_the_breaker(peer: Peer) {
    use nzj_core::settings::Settings;
    use nzj_core::{JobStatus, SystemJob};
    use nzj_jobs::{HostConverger, MaintenanceCleanup, MaintenanceService};
    use std::sync::Arc;

    let hosts = Hosts::new(&peer).await;
    let zabbix = hosts.jobs.converger().zabbix().clone();
    let devices = [Device::new(), Device::new(), Device::new()];
    let mut graveyard = Vec::new();
    for device in &devices {
        assert_eq!(hosts.run(JobName::CreateHost, device, Some(&device.data)).await, HostAction::Created);
        let id = hostid(&hosts.zabbix_host(device).await.unwrap());
        assert!(matches!(hosts.run(JobName::DeleteHost, device, None).await, HostAction::SoftDeleted { .. }));
        graveyard.push(id);
    }
    // Two of them were soft-deleted 40 days ago.
    for id in &graveyard[..2] {
        let host =
            support::setup_call(&zabbix, "host.get", json!({"hostids": [id], "selectTags": ["tag", "value"]})).await;
        let mut tags = host[0]["tags"].as_array().unwrap().clone();
        let at = tags.iter_mut().find(|t| t["tag"] == "netbox:deleted_at").expect("soft delete says when");
        at["value"] = json!("2026-01-01T00:00:00Z");
        support::setup_call(&zabbix, "host.update", json!({"hostid": id, "tags": tags})).await;
    }
    let exists = |id: String| {
        let zabbix = zabbix.clone();
        async move {
            !support::setup_call(&zabbix, "host.get", json!({"hostids": [id]})).await.as_array().unwrap().is_empty()
        }
    };

    // The 3 soft deletes took room in the window: with a limit of 4, one purge now, one later.
    let settings = Settings { graveyard_purge_days: Some(30), max_deletions: 4, ..Settings::default() };
    hosts.env.store.commit(vec![nzj_store::Write::settings(settings)]).await.unwrap();
    let service = Arc::new(MaintenanceService::new(zabbix.clone(), hosts.env.store.clone(), hosts.env.clock.clone()));
    let cleanup = MaintenanceCleanup::new(service)
        .with_graveyard_purge(HostConverger::new(zabbix.clone(), hosts.env.store.clone()));
    let job = hosts.env.run(SystemJob::MaintenanceCleanup, &cleanup).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let result = job.result.unwrap();
    assert_eq!((result["graveyard_purged"].as_u64(), result["graveyard_waiting"].as_u64()), (Some(1), Some(1)));
    let mut raised = hosts.env.store.get_settings().await.unwrap();
    raised.max_deletions = 5;
    hosts.env.store.commit(vec![nzj_store::Write::settings(raised)]).await.unwrap();
    let job = hosts.env.run(SystemJob::MaintenanceCleanup, &cleanup).await;
    assert_eq!(job.result.unwrap()["graveyard_purged"], 1);
    assert!(!exists(graveyard[0].clone()).await && !exists(graveyard[1].clone()).await, "the old ones are gone");
    assert!(exists(graveyard[2].clone()).await, "a recent graveyard host stays");
}

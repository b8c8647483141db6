//! Per-device configuration from NetBox's config context and custom fields (docs/product.md
//! §3.2), on real Zabbix 6.0 and 7.0, from the real NetBox 4.7 payload: the context's `zabbix` key
//! and the `zabbix_*` custom fields override the rule for that device, a second run writes
//! nothing, and a value of the wrong shape fails that host alone, naming the key and the object.

mod support;

use nzj_core::JobStatus;
use nzj_core::settings::Settings;
use nzj_jobs::HostAction;
use serde_json::json;
use support::Peer;
use support::hosts::{Device, Hosts};
use support::sync::{Sync, edit};

for_each_zabbix!(
    macros_from_the_config_context_are_set_changed_and_removed_and_others_macros_stay,
    a_config_context_gives_one_device_its_own_templates_interface_and_groups,
    a_malformed_config_context_fails_that_host_alone_in_a_sync,
    a_no_op_sync_of_devices_with_config_contexts_keeps_its_pinned_calls,
);

async fn a_config_context_gives_one_device_its_own_templates_interface_and_groups(peer: Peer) {
    let hosts = Hosts::new(&peer).await;
    let mut device = Device::new();
    device.data["config_context"] = json!({
        "zabbix": {"templates": ["Generic by SNMP"], "interface": "snmpv2c", "host_groups": ["NetBox/ctx/{site}"]},
        "ntp_servers": ["192.0.2.123"],
    });
    assert_eq!(hosts.run(nzj_core::JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    let host = hosts.zabbix_host(&device).await.unwrap();
    assert_eq!(host["parentTemplates"][0]["host"], "Generic by SNMP");
    assert_eq!(host["interfaces"][0]["type"], "2");
    assert_eq!(host["groups_normalised"][0]["name"], "NetBox/ctx/Site 76683");
    hosts.assert_in_sync(&device, Some(&device.data)).await;
    let config = hosts.env.store.get_host_config(device.object).await.unwrap().unwrap();
    let stored = config.netbox.unwrap().config_context.unwrap();
    assert!(stored.get("ntp_servers").is_none(), "only the product's key is kept: {stored}");

    // A description: only the description changes.
    device.data["config_context"]["zabbix"]["description"] = json!("core switch, rack 4");
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    assert_eq!(hosts.zabbix_host(&device).await.unwrap()["description"], "core switch, rack 4");
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    // One more template in the context: only the templates change.
    device.data["config_context"]["zabbix"]["templates_add"] = json!(["Zabbix server health"]);
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let config = hosts.env.store.get_host_config(device.object).await.unwrap().unwrap();
    let job = hosts.env.store.get_job(config.last_job.as_ref().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.result.unwrap()["message"], "host updated: templates");
}

async fn a_malformed_config_context_fails_that_host_alone_in_a_sync(peer: Peer) {
    let s = Sync::new(&peer, 5, 1000, Settings::default()).await;
    let bad = s.inventory.objects()[2];
    edit(&s.inventory, 2, |d| d["config_context"] = json!({"zabbix": {"templates": "Generic by SNMP"}}));
    edit(&s.inventory, 3, |d| {
        d["config_context"] = json!({"zabbix": {"interface": "snmpv2c", "templates": ["Generic by SNMP"]}});
        // A custom field, on top of the config context (later wins).
        d["custom_fields"] = json!({"zabbix_host_groups": "NetBox/from-a-custom-field", "other": 1});
    });
    let (record, calls) = s.run().await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    let result = record.result.as_ref().unwrap();
    assert_eq!((result["created"].as_u64(), result["failed"].as_u64()), (Some(4), Some(1)), "{result}");
    let said: Vec<&str> =
        record.log.entries.iter().map(|e| e.message.as_str()).filter(|m| m.starts_with(&bad.to_string())).collect();
    assert!(
        said.iter()
            .any(|m| m.contains(&format!("config context key \"zabbix\" of {bad}")) && m.contains("invalid type")),
        "{said:?}"
    );
    // The others in one array call (a second when Zabbix 6.0's database refuses it for a moment
    // under the other tests' load, and it is sent again); never one per host.
    let creates = calls.get("host.create").copied().unwrap_or(0);
    assert!((1..=2).contains(&creates), "the others in one array call: {calls:?}");
    let zabbix = s.sync.converger().zabbix();
    let snmp = zabbix.find_managed("netbox:object", &[s.inventory.objects()[3]], 1).await.unwrap();
    let host = snmp.hosts.values().next().unwrap();
    assert_eq!(host.groups.iter().map(|(_, g)| g.as_str()).collect::<Vec<_>>(), ["NetBox/from-a-custom-field"]);
    assert_eq!(host.interfaces[0].kind, "2", "the config context's interface");
    // Nothing left to do for the good ones: a second sync writes nothing.
    let (record, calls) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["unchanged"], 4);
    let writes: u64 = calls.iter().filter(|(m, _)| !m.ends_with(".get")).map(|(_, n)| n).sum();
    assert_eq!(writes, 0, "{calls:?}");
}

/// The host's macros as (macro, value, type), sorted.
async fn macros(hosts: &Hosts, device: &Device) -> Vec<(String, String, String)> {
    let zabbix = hosts.jobs.converger().zabbix();
    let id = hosts.zabbix_host(device).await.unwrap()["hostid"].clone();
    let found =
        support::setup_call(zabbix, "host.get", json!({"hostids": [id], "selectMacros": ["macro", "value", "type"]}))
            .await;
    let mut out: Vec<(String, String, String)> = found[0]["macros"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["macro"].as_str().unwrap().into(), m["value"].as_str().unwrap_or("").into(), m["type"].to_string()))
        .collect();
    out.sort();
    out
}

async fn macros_from_the_config_context_are_set_changed_and_removed_and_others_macros_stay(peer: Peer) {
    let hosts = Hosts::new(&peer).await;
    let mut device = Device::new();
    device.data["config_context"] =
        json!({"zabbix": {"macros": {"{$SNMP_COMMUNITY}": "c0mm", "{$IF.UTIL.MAX:\"eth0\"}": "80"}}});
    assert_eq!(hosts.run(nzj_core::JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    // Someone adds macros of their own in Zabbix, a text one and a secret one.
    let zabbix = hosts.jobs.converger().zabbix().clone();
    let id = hosts.zabbix_host(&device).await.unwrap()["hostid"].clone();
    for (name, value, kind) in [("{$OWNER}", "ops", 0), ("{$API.KEY}", "s3cr3t", 1)] {
        support::setup_call(
            &zabbix,
            "usermacro.create",
            json!({"hostid": id, "macro": name, "value": value, "type": kind}),
        )
        .await;
    }
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    device.data["config_context"]["zabbix"]["macros"]["{$SNMP_COMMUNITY}"] = json!("n3w");
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let config = hosts.env.store.get_host_config(device.object).await.unwrap().unwrap();
    let job = hosts.env.store.get_job(config.last_job.as_ref().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.result.unwrap()["message"], "host updated: macros", "only the macros change");
    let log = serde_json::to_string(&job.log).unwrap();
    assert!(
        log.contains("SNMP_COMMUNITY") && !log.contains("n3w") && !log.contains("c0mm"),
        "values never in the log: {log}"
    );
    let now = macros(&hosts, &device).await;
    assert!(now.contains(&("{$SNMP_COMMUNITY}".into(), "n3w".into(), "\"0\"".into())), "{now:?}");
    assert!(now.contains(&("{$OWNER}".into(), "ops".into(), "\"0\"".into())), "others' macros stay: {now:?}");
    assert!(now.iter().any(|(m, _, t)| m == "{$API.KEY}" && t == "\"1\""), "a secret macro stays: {now:?}");

    // The context no longer names macros: ours go, theirs stay.
    device.data["config_context"] = json!({});
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let names: Vec<String> = macros(&hosts, &device).await.into_iter().map(|(m, _, _)| m).collect();
    assert_eq!(names, ["{$API.KEY}", "{$OWNER}"]);
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    // A name Zabbix would refuse fails the host, naming it.
    device.data["config_context"] = json!({"zabbix": {"macros": {"SNMP_COMMUNITY": "x"}}});
    let origin = nzj_core::job::JobOrigin { trigger: nzj_core::Trigger::Api, user: "tests".into(), object: None };
    let object = nzj_core::netbox::NetboxObject::from_rest(nzj_core::netbox::ObjectKind::Device, &device.data).unwrap();
    let snapshots = nzj_jobs::load_cache(hosts.env.store.as_ref()).await.unwrap();
    let desired =
        nzj_core::desired::desired_host(&object, &hosts.settings, &nzj_core::desired::CacheView::new(&snapshots));
    let (_, action) =
        hosts.jobs.run(nzj_core::JobName::UpdateHost, device.object, desired, &hosts.settings, origin).await.unwrap();
    assert!(action.unwrap_err().message.contains("\"SNMP_COMMUNITY\" is not a user macro name"));
}

/// 200 devices, each with a config context (its own interface, template, group and macro): the
/// second sync is one `host.get` for the page and no write at all.
async fn a_no_op_sync_of_devices_with_config_contexts_keeps_its_pinned_calls(peer: Peer) {
    let s = Sync::new(&peer, 200, 1000, Settings::default()).await;
    for i in 0..200 {
        edit(&s.inventory, i, |d| {
            d["config_context"] = json!({"zabbix": {
                "interface": "snmpv2c", "templates": ["Generic by SNMP"], "host_groups": ["NetBox/ctx/{site}"],
                "macros": {"{$SNMP_COMMUNITY}": format!("c-{i}")}
            }, "unrelated": {"ntp": ["192.0.2.1"]}});
        });
    }
    let (record, calls) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["created"], 200, "{:?}", record.result);
    // Array calls (one of 200, or a few if Zabbix refuses one for a moment under load).
    assert!(calls.get("host.create").is_some_and(|n| *n <= 3), "{calls:?}");
    let (record, calls) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["unchanged"], 200, "{:?}", record.result);
    assert_eq!(calls, std::collections::BTreeMap::from([("host.get".to_string(), 1)]), "pinned");
}

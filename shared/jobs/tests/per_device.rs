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
    a_config_context_gives_one_device_its_own_templates_interface_and_groups,
    a_malformed_config_context_fails_that_host_alone_in_a_sync,
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
    assert_eq!(calls.get("host.create"), Some(&1), "the others in one array call: {calls:?}");
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

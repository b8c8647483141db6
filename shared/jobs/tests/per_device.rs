//! Per-device configuration from NetBox's config context and custom fields (docs/product.md
//! §3.2), on real Zabbix 6.0 and 7.0, from the real NetBox 4.7 payload: the context's `zabbix` key
//! and the `zabbix_*` custom fields override the rule for that device, a second run writes
//! nothing, and a value of the wrong shape fails that host alone, naming the key and the object.

mod support;

use nzj_core::JobStatus;
use nzj_core::settings::Settings;
use nzj_jobs::HostAction;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::Peer;
use support::hosts::{Device, Hosts};
use support::sync::{Sync, edit};

for_each_zabbix!(
    several_interfaces_from_the_config_context_converge_keep_their_ids_and_a_second_run_writes_nothing,
    macros_from_the_config_context_are_set_changed_and_removed_and_others_macros_stay,
    a_config_context_gives_one_device_its_own_templates_interface_and_groups,
    a_malformed_config_context_fails_that_host_alone_in_a_sync,
    a_no_op_sync_of_devices_with_config_contexts_keeps_its_pinned_calls,
    secret_macros_and_a_psk_by_reference_are_written_compared_by_hash_and_never_shown,
    jobs_creating_groups_under_one_new_parent_at_the_same_moment_all_succeed,
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

    // A visible name and a tag from templates: the technical name and the object tag stay.
    device.data["config_context"]["zabbix"]["visible_name"] = json!("{name} @ {site}");
    device.data["config_context"]["zabbix"]["tags"] = json!({"team": "network", "where": "{site}"});
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let host = hosts.zabbix_host(&device).await.unwrap();
    assert_eq!(host["name"], format!("{} @ Site 76683", host["host"].as_str().unwrap()));
    let tags: Vec<(&str, &str)> = host["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tag"].as_str().unwrap(), t["value"].as_str().unwrap()))
        .collect();
    for tag in
        [("netbox:team", "network"), ("netbox:where", "Site 76683"), ("netbox:object", &*device.object.to_string())]
    {
        assert!(tags.contains(&tag), "{tag:?} in {tags:?}");
    }
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

/// The host's interfaces as (type, main, ip, port) -> interface id, and the SNMP one's details.
async fn interfaces(hosts: &Hosts, device: &Device) -> (BTreeMap<(String, String, String, String), String>, Value) {
    let host = hosts.zabbix_host(device).await.unwrap();
    let mut snmp = Value::Null;
    let mut out = BTreeMap::new();
    for i in host["interfaces"].as_array().unwrap() {
        let text = |k: &str| i[k].as_str().unwrap().to_string();
        if text("type") == "2" {
            snmp = i["details"].clone();
        }
        out.insert((text("type"), text("main"), text("ip"), text("port")), text("interfaceid"));
    }
    (out, snmp)
}

async fn several_interfaces_from_the_config_context_converge_keep_their_ids_and_a_second_run_writes_nothing(
    peer: Peer,
) {
    let hosts = Hosts::new(&peer).await;
    let mut device = Device::new();
    device.data["oob_ip"] = json!({"id": 90, "address": "198.51.100.7/24", "display": "198.51.100.7/24"});
    device.data["config_context"] = json!({"zabbix": {"interfaces": [
        {"type": "agent"},
        {"type": "snmpv3", "securityname": "{$V3_USER}", "securitylevel": "authPriv", "authprotocol": "SHA256",
         "authpassphrase": "{$V3_AUTH}", "privprotocol": "AES256", "privpassphrase": "{$V3_PRIV}"},
        {"type": "ipmi", "address": "oob"},
        {"type": "agent", "address": "192.0.2.99", "port": 10051},
    ]}});
    assert_eq!(hosts.run(nzj_core::JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    let (created, snmp) = interfaces(&hosts, &device).await;
    let places: Vec<(&str, &str, &str, &str)> =
        created.keys().map(|(t, m, ip, port)| (t.as_str(), m.as_str(), ip.as_str(), port.as_str())).collect();
    assert_eq!(
        places,
        [
            ("1", "0", "192.0.2.99", "10051"),
            ("1", "1", "192.0.2.10", "10050"),
            ("2", "1", "192.0.2.10", "161"),
            ("3", "1", "198.51.100.7", "623"),
        ]
    );
    assert_eq!(
        (&snmp["version"], &snmp["securitylevel"], &snmp["authprotocol"], &snmp["privprotocol"], &snmp["securityname"]),
        (&json!("3"), &json!("2"), &json!("3"), &json!("3"), &json!("{$V3_USER}"))
    );
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    // Another SNMP port: only the interfaces change, and every interface keeps its id.
    device.data["config_context"]["zabbix"]["interfaces"][1]["port"] = json!(1161);
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let config = hosts.env.store.get_host_config(device.object).await.unwrap().unwrap();
    let job = hosts.env.store.get_job(config.last_job.as_ref().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.result.unwrap()["message"], "host updated: interfaces");
    let (moved, _) = interfaces(&hosts, &device).await;
    let ids = |all: &BTreeMap<_, String>| all.values().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(ids(&moved), ids(&created), "interface ids kept");
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    // The IPMI interface goes, the others stay as they are.
    device.data["config_context"]["zabbix"]["interfaces"].as_array_mut().unwrap().remove(2);
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    let (left, _) = interfaces(&hosts, &device).await;
    assert_eq!(left.len(), 3);
    assert!(left.keys().all(|(t, ..)| t != "3"), "{left:?}");
    assert!(ids(&left).is_subset(&ids(&created)), "the others keep their ids");
    hosts.assert_in_sync(&device, Some(&device.data)).await;
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

/// 1,000 devices, each with a config context (its own interface, group template over the region
/// tree, tag from a custom field and macro; no template, so Zabbix creates them fast): the second
/// sync reads one NetBox page per kind (devices, VMs) and the site lists once, and makes one
/// `host.get` and no write at all, to Zabbix or to NetBox (the first wrote NetBox in one request).
async fn a_no_op_sync_of_devices_with_config_contexts_keeps_its_pinned_calls(peer: Peer) {
    const N: usize = 1000;
    let s = Sync::new(&peer, N, 1000, Settings::default()).await;
    let region = support::unique("Region");
    *s.inventory.1.sites.lock().unwrap() = [
        vec![json!({"id": 1, "region": {"id": 7}, "group": null})],
        vec![json!({"id": 7, "name": region, "parent": null})],
        vec![],
    ];
    for i in 0..N {
        edit(&s.inventory, i, |d| {
            d["custom_fields"] = json!({"owner": format!("team-{}", i % 7)});
            d["config_context"] = json!({"zabbix": {
                "interface": "snmpv2c", "templates": [], "host_groups": ["{{ region }}/{{ site }}"],
                "tags": {"owner": "{{ custom_fields.owner }}"},
                "macros": {"{$SNMP_COMMUNITY}": format!("c-{i}")}
            }, "unrelated": {"ntp": ["192.0.2.1"]}});
        });
    }
    let (record, calls) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["created"], N, "{:?}", record.result);
    // Array calls of batch_size (200), or a few more if Zabbix refuses one for a moment under load.
    assert!(calls.get("host.create").is_some_and(|n| (5..=8).contains(n)), "{calls:?}");
    let reads = |what: &std::sync::atomic::AtomicUsize| what.swap(0, std::sync::atomic::Ordering::SeqCst);
    reads(&s.inventory.1.page_reads);
    reads(&s.inventory.1.site_reads);
    let writes = || std::mem::take(&mut *s.inventory.1.writes.lock().unwrap());
    assert_eq!(writes(), [N], "NetBox shows the new hosts: one bulk request for the page");
    let (record, calls) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["unchanged"], N, "{:?}", record.result);
    assert_eq!(calls, std::collections::BTreeMap::from([("host.get".to_string(), 1)]), "pinned");
    assert_eq!(reads(&s.inventory.1.page_reads), 2, "one page of devices, one (empty) of VMs");
    assert_eq!(reads(&s.inventory.1.site_reads), 1, "the site lists once, for the page");
    assert_eq!(writes(), Vec::<usize>::new(), "nothing changed: nothing written to NetBox");
    let hosts = s.hosts().await;
    assert_eq!(hosts.len(), N, "one host per device");
}

/// Secret and vault macros and a PSK named in NetBox, their values in the product's secret store
/// (files here, as `nzj serve` reads them): written, in sync on the next run, a rotated value in
/// the store and a hand change in Zabbix are drift, a missing secret fails the host naming it,
/// and no value is ever in the job record or the host config.
async fn secret_macros_and_a_psk_by_reference_are_written_compared_by_hash_and_never_shown(peer: Peer) {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("{value}\n")).unwrap();
    };
    let psk = "1f87b595725ac58dd977beef14b97461a7c1045b9a1c963065002c5473194952";
    put("snmp/auth", "auth-s3cr3t-one");
    put("psk/id", "psk-identity-one");
    put("psk/key", psk);
    let config = nzj_core::config::SecretsConfig { dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let hosts = Hosts::with_secrets(&peer, std::sync::Arc::new(nzj_secrets::LocalSecrets::new(&config))).await;
    let mut device = Device::new();
    device.data["config_context"] = json!({"zabbix": {
        "macros": {"{$SNMP_COMMUNITY}": "public", "{$API.KEY}": {"secret": "snmp/auth"},
                   "{$DB.PASS}": {"vault": "secret/zabbix:password"}},
        "tls": {"connect": "psk", "accept": ["psk"], "psk_identity": "psk/id", "psk": "psk/key"},
    }});
    let never_shown = |what: &str, text: &str| {
        for value in ["auth-s3cr3t", "psk-identity-one", psk] {
            assert!(!text.contains(value), "a secret value in {what}: {text}");
        }
    };
    let last_job = || async {
        let config = hosts.env.store.get_host_config(device.object).await.unwrap().unwrap();
        never_shown("the host config", &serde_json::to_string(&config).unwrap());
        let job = hosts.env.store.get_job(config.last_job.as_ref().unwrap()).await.unwrap().unwrap();
        never_shown("the job record", &serde_json::to_string(&job).unwrap());
        job
    };
    assert_eq!(hosts.run(nzj_core::JobName::CreateHost, &device, Some(&device.data)).await, HostAction::Created);
    last_job().await;
    let found = macros(&hosts, &device).await;
    let types: Vec<(&str, &str)> = found.iter().map(|(m, _, t)| (m.as_str(), t.as_str())).collect();
    assert_eq!(types, [("{$API.KEY}", "\"1\""), ("{$DB.PASS}", "\"2\""), ("{$SNMP_COMMUNITY}", "\"0\"")]);
    assert!(found.iter().all(|(_, v, _)| !v.contains("auth-s3cr3t")), "Zabbix never returns a secret: {found:?}");
    let zabbix = hosts.jobs.converger().zabbix().clone();
    let id = hosts.zabbix_host(&device).await.unwrap()["hostid"].clone();
    let tls = || async {
        let found = support::setup_call(
            &zabbix,
            "host.get",
            json!({"hostids": [id], "output": ["tls_connect", "tls_accept", "tls_psk_identity", "tls_psk"]}),
        )
        .await;
        (found[0]["tls_connect"].clone(), found[0]["tls_accept"].clone())
    };
    assert_eq!(tls().await, (json!("2"), json!("2")));
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    // The value rotated in the store: drift by hash alone, written again, then in sync.
    put("snmp/auth", "auth-s3cr3t-two");
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    assert_eq!(last_job().await.result.unwrap()["message"], "host updated: secrets");
    hosts.assert_in_sync(&device, Some(&device.data)).await;

    // A hand change in Zabbix (TLS turned off) is drift too.
    support::setup_call(&zabbix, "host.update", json!({"hostid": id, "tls_connect": 1, "tls_accept": 1})).await;
    assert_eq!(hosts.run(nzj_core::JobName::UpdateHost, &device, Some(&device.data)).await, HostAction::Updated);
    assert_eq!(last_job().await.result.unwrap()["message"], "host updated: tls");
    assert_eq!(tls().await, (json!("2"), json!("2")));

    // The PSK gone from the store: that host fails, naming the secret, and Zabbix keeps its PSK.
    std::fs::remove_file(dir.path().join("psk/key")).unwrap();
    let origin = nzj_core::job::JobOrigin { trigger: nzj_core::Trigger::Api, user: "tests".into(), object: None };
    let desired = hosts.desired(Some(&device.data)).await;
    let (record, action) = hosts
        .jobs
        .run(nzj_core::JobName::UpdateHost, device.object, Ok(desired), &hosts.settings, origin)
        .await
        .unwrap();
    let failure = action.unwrap_err();
    assert!(failure.message.contains("secret \"psk/key\"") && !failure.is_transient(), "{failure}");
    never_shown("the failed job", &serde_json::to_string(&record).unwrap());
    assert_eq!(tls().await, (json!("2"), json!("2")));
}

/// Eight devices whose config contexts put them in eight new groups under one new parent, their
/// host jobs at the same moment: Zabbix refuses a `hostgroup.create` naming a group another job
/// just made (the whole call); each job takes what exists and creates the rest.
async fn jobs_creating_groups_under_one_new_parent_at_the_same_moment_all_succeed(peer: Peer) {
    let hosts = Hosts::new(&peer).await;
    let parent = support::unique("Parent");
    let devices: Vec<Device> = (0..8)
        .map(|i| {
            let mut device = Device::new();
            device.data["config_context"] = json!({"zabbix": {"host_groups": [format!("{parent}/child-{i}")]}});
            device
        })
        .collect();
    let runs = devices.iter().map(|d| hosts.run(nzj_core::JobName::CreateHost, d, Some(&d.data)));
    let actions = futures_util::future::join_all(runs).await;
    assert!(actions.iter().all(|a| *a == HostAction::Created), "{actions:?}");
    let zabbix = hosts.jobs.converger().zabbix().clone();
    let found =
        support::setup_call(&zabbix, "hostgroup.get", json!({"output": ["name"], "search": {"name": parent}})).await;
    let names: std::collections::BTreeSet<&str> =
        found.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    // Every group exists. (Zabbix 6.0 itself can make one name twice when creates race: it has
    // no unique index on group names. So names, not rows, are counted.)
    assert_eq!(names.len(), 9, "the parent and eight children: {found}");
}

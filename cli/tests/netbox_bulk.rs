//! The write-back's costs against the real NetBox 4.7 (docs/product.md §3.4): a SyncHostsNow
//! through `nzj serve` over 1,000 new devices writes their states in NetBox's bulk form, one PATCH
//! per page that holds a change, and a second sync writes nothing. The PATCHes are counted in
//! NetBox's own change log: every change of one request shares its `request_id`. Needs the NetBox
//! peer (`make test` starts it); tests/run-all.sh runs it after the end-to-end test.

mod support;

use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::netbox::{NetBox, var};
use support::{NZJ, Serve, free_listen};

const DEVICES: usize = 1000;

/// The update requests NetBox logged for devices since `since`, each with the devices it changed.
fn device_updates(nb: &NetBox, since: &str) -> HashMap<String, Vec<u64>> {
    let changes = nb.list(
        "/api/core/object-changes/",
        &format!(
            "changed_object_type=dcim.device&action=update&time_after={since}&fields=request_id,changed_object_id"
        ),
    );
    let mut by_request: HashMap<String, Vec<u64>> = HashMap::new();
    for change in changes {
        by_request
            .entry(change["request_id"].as_str().unwrap().to_string())
            .or_default()
            .push(change["changed_object_id"].as_u64().unwrap());
    }
    by_request
}

/// Now, as NetBox's change log filters it (NetBox runs on this machine: one clock).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[test]
#[ignore = "needs the NetBox peer: `make test` or `make e2e`"]
fn a_sync_of_1000_devices_writes_their_states_one_bulk_patch_per_page_and_nothing_when_nothing_changed() {
    let nb = NetBox::from_env();
    let dir = tempfile::tempdir().unwrap();
    let listen = free_listen();
    let env = [
        ("NZJ_ZABBIX_URL", var("ZBX70_API_URL")),
        ("NZJ_ZABBIX_TOKEN", var("ZBX70_TOKEN")),
        ("NZJ_NETBOX_URL", var("NB_URL")),
        ("NZJ_NETBOX_TOKEN", var("NB_TOKEN")),
        ("NZJ_WEBHOOK_SECRET", "s3cret".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _serve = Serve::spawn(&listen, &dir.path().join("data"), "", &env);
    let nzj = |args: &[&str]| {
        let out = Command::new(NZJ)
            .args(args)
            .env("NZJ_LISTEN", &listen)
            .env("NZJ_DATA_DIR", dir.path().join("data"))
            .envs(env.iter().copied())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        (out.status.code(), serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null))
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while nzj(&["--json", "jobs", "ls", "--name", "ImportZabbixSettings", "--status", "completed"]).1["jobs"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "serve did not import the Zabbix settings");
        std::thread::sleep(Duration::from_millis(300));
    }
    // The custom fields, with the event rule off while this test makes thousands of changes (its
    // deliveries are not what is measured here, and would keep NetBox's worker busy).
    assert_eq!(nzj(&["netbox", "setup", "--webhook-url", &format!("http://{listen}/webhook/netbox")]).0, Some(0));
    let rule = nb.call("GET", "/api/extras/event-rules/?name=netbox-zabbix-jobs", None)["results"][0]["id"].clone();
    nb.call("PATCH", &format!("/api/extras/event-rules/{rule}/"), Some(json!({"enabled": false})));

    let tag = format!("{:x}", chrono::Utc::now().timestamp_nanos_opt().unwrap());
    let site = nb.create("/api/dcim/sites/", json!({"name": format!("bulk-{tag}"), "slug": format!("bulk-{tag}")}));
    let maker =
        nb.create("/api/dcim/manufacturers/", json!({"name": format!("bulk-{tag}"), "slug": format!("bulk-{tag}")}));
    let dtype = nb.create(
        "/api/dcim/device-types/",
        json!({"manufacturer": maker, "model": format!("bulk-{tag}"), "slug": format!("bulk-{tag}")}),
    );
    let role =
        nb.create("/api/dcim/device-roles/", json!({"name": format!("bulk-{tag}"), "slug": format!("bulk-{tag}")}));
    let devices: Vec<Value> = (0..DEVICES)
        .map(|i| json!({"name": format!("bulk-{tag}-{i}"), "device_type": dtype, "role": role, "site": site, "status": "active"}))
        .collect();
    let created = nb.call("POST", "/api/dcim/devices/", Some(Value::Array(devices)));
    let mine: BTreeSet<u64> = created.as_array().unwrap().iter().map(|d| d["id"].as_u64().unwrap()).collect();
    assert_eq!(mine.len(), DEVICES);

    // The first sync: every device of NetBox gets its state (these have no primary IP: not
    // monitored, saying why), in one PATCH per page of 1,000 that holds a change.
    let since = now();
    let (code, sync) = nzj(&["--json", "jobs", "run", "SyncHostsNow"]);
    assert_eq!((code, sync["status"].as_str()), (Some(0), Some("completed")), "{sync}");
    let ids: Vec<u64> =
        nb.list("/api/dcim/devices/", "fields=id&ordering=id").iter().map(|d| d["id"].as_u64().unwrap()).collect();
    let page_of: HashMap<u64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i / 1000)).collect();
    let updates = device_updates(&nb, &since);
    let changed: BTreeSet<u64> = updates.values().flatten().copied().collect();
    assert!(mine.is_subset(&changed), "every new device shows its state");
    let pages: BTreeSet<usize> = changed.iter().map(|id| page_of[id]).collect();
    assert_eq!(
        updates.len(),
        pages.len(),
        "one bulk PATCH per page with changes: {} requests for {} changed devices",
        updates.len(),
        changed.len()
    );
    let shown =
        nb.call("GET", &format!("/api/dcim/devices/{}/", mine.iter().next().unwrap()), None)["custom_fields"].clone();
    assert_eq!(shown["zabbix_sync_state"], "not_monitored: no primary IP", "{shown}");

    // Nothing changed: the second sync writes nothing to NetBox.
    let since = now();
    let (_, sync) = nzj(&["--json", "jobs", "run", "SyncHostsNow"]);
    assert_eq!(sync["status"], "completed", "{sync}");
    let updates = device_updates(&nb, &since);
    assert!(updates.is_empty(), "a sync that changes nothing writes nothing: {updates:?}");

    // Clean up: the devices in bulk, and the event rule as setup wants it.
    let gone: Vec<Value> = mine.iter().map(|id| json!({"id": id})).collect();
    nb.call("DELETE", "/api/dcim/devices/", Some(Value::Array(gone)));
    assert_eq!(nzj(&["netbox", "setup", "--webhook-url", &format!("http://{listen}/webhook/netbox")]).0, Some(0));
}

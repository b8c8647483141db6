//! End to end with a real NetBox 4.7: devices and VMs created, changed and deleted in NetBox reach a
//! real Zabbix 7.0 through `nzj serve` (NetBox's webhook -> intake -> queue -> worker, which reads
//! NetBox's current state), and the job records show it. Needs the NetBox peer, which `make test`
//! and `make e2e` start (`#[ignore]`d for a plain `cargo test`; tests/run-all.sh runs them).

mod support;

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::NZJ;
use support::netbox::{NetBox, var};

fn zabbix(method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", "-H", "Content-Type: application/json-rpc", "-H"])
        .arg(format!("Authorization: Bearer {}", var("ZBX70_TOKEN")))
        .args(["-d", &body.to_string(), &var("ZBX70_API_URL")])
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["result"].clone()
}

/// The Zabbix host tagged with `tag` = `object`, once `ready` holds for it (NetBox sends its
/// webhooks from its RQ worker, so this is eventually true).
fn wait_host(tag: &str, object: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found = zabbix(
            "host.get",
            json!({"output": ["host", "status"], "selectInterfaces": ["ip", "type"], "selectParentTemplates": ["host"],
                   "selectMacros": ["macro", "value"], "selectHostGroups": ["name"],
                   "tags": [{"tag": tag, "value": object, "operator": 1}]}),
        );
        if let Some(host) = found.as_array().and_then(|a| a.first()).filter(|h| ready(h)) {
            return host.clone();
        }
        assert!(Instant::now() < deadline, "no Zabbix host with {tag}={object} as expected; last: {found}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs the NetBox peer: run `make e2e`"]
fn devices_and_vms_changed_in_netbox_reach_zabbix_through_serve() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", var("NZJ_E2E_PORT"));
    let _serve = Serve(
        Command::new(NZJ)
            .arg("serve")
            .env("NZJ_LISTEN", &listen)
            .env("NZJ_DATA_DIR", dir.path())
            .env("NZJ_ZABBIX_URL", var("ZBX70_API_URL"))
            .env("NZJ_ZABBIX_TOKEN", var("ZBX70_TOKEN"))
            .env("NZJ_NETBOX_URL", var("NB_URL"))
            .env("NZJ_NETBOX_TOKEN", var("NB_TOKEN"))
            .env("NZJ_WEBHOOK_SECRET", "s3cret")
            .env("NZJ_HOST_JOB_BACKOFF_SECONDS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let nzj = |args: &[&str]| {
        let out =
            Command::new(NZJ).args(args).env("NZJ_LISTEN", &listen).env("NZJ_DATA_DIR", dir.path()).output().unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    // serve imports the Zabbix settings at start; host jobs need the templates.
    let deadline = Instant::now() + Duration::from_secs(60);
    while nzj(&["--json", "jobs", "ls", "--name", "ImportZabbixSettings", "--status", "completed"])["jobs"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "serve did not import the Zabbix settings");
        std::thread::sleep(Duration::from_millis(300));
    }

    // Onboarding in one command: NetBox gets the custom fields, the webhook and the event rule;
    // a second run changes nothing.
    let setup = |extra: &[&str]| {
        let mut args = vec!["netbox", "setup", "--webhook-url"];
        let hook = format!("http://{listen}/webhook/netbox");
        args.push(&hook);
        args.extend_from_slice(extra);
        let out = Command::new(NZJ)
            .args(&args)
            .env("NZJ_LISTEN", &listen)
            .env("NZJ_NETBOX_URL", var("NB_URL"))
            .env("NZJ_NETBOX_TOKEN", var("NB_TOKEN"))
            .env("NZJ_WEBHOOK_SECRET", "s3cret")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let (code, out) = setup(&[]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = setup(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("nothing to change"), "a second setup changes nothing: {out}");

    let nb = NetBox { url: var("NB_URL"), token: var("NB_TOKEN") };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let tag = format!("{nanos:x}");
    // NetBox refuses an address it has (ENFORCE_GLOBAL_UNIQUE): a network of this run's own, so a
    // kept NetBox (NZJ_NETBOX_ROOT) with an earlier run's objects does not get in the way.
    let net = format!("10.{}.{}", (nanos / 1000) % 250, (nanos / 250_000) % 250);
    let site =
        nb.create("/api/dcim/sites/", json!({"name": format!("e2e-site-{tag}"), "slug": format!("e2e-site-{tag}")}));
    let maker = nb
        .create("/api/dcim/manufacturers/", json!({"name": format!("e2e-mk-{tag}"), "slug": format!("e2e-mk-{tag}")}));
    let dtype = nb.create(
        "/api/dcim/device-types/",
        json!({"manufacturer": maker, "model": format!("e2e-{tag}"), "slug": format!("e2e-{tag}")}),
    );
    let role = nb.create(
        "/api/dcim/device-roles/",
        json!({"name": format!("e2e-role-{tag}"), "slug": format!("e2e-role-{tag}")}),
    );

    // A device gets an interface, an IP, and the IP as its primary: its host appears in Zabbix.
    let name = format!("e2e-rtr-{tag}");
    let device = nb.create(
        "/api/dcim/devices/",
        json!({"name": name, "device_type": dtype, "role": role, "site": site, "status": "active"}),
    );
    let iface = nb.create("/api/dcim/interfaces/", json!({"device": device, "name": "eth0", "type": "1000base-t"}));
    let ip = nb.create(
        "/api/ipam/ip-addresses/",
        json!({"address": format!("{net}.10/24"), "assigned_object_type": "dcim.interface", "assigned_object_id": iface}),
    );
    nb.call("PATCH", &format!("/api/dcim/devices/{device}/"), Some(json!({"primary_ip4": ip})));
    let object = format!("dcim.device/{device}");
    let host = wait_host("netbox:object", &object, |h| h["interfaces"][0]["ip"] == format!("{net}.10").as_str());
    assert_eq!((host["host"].as_str(), host["status"].as_str()), (Some(name.as_str()), Some("0")));
    // NetBox shows it: the host id and the state in the device's custom fields.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fields = nb.call("GET", &format!("/api/dcim/devices/{device}/"), None)["custom_fields"].clone();
        if fields["zabbix_sync_state"] == "in_sync" {
            assert_eq!(fields["zabbix_hostid"].to_string(), host["hostid"].as_str().unwrap(), "{fields}");
            break;
        }
        assert!(Instant::now() < deadline, "NetBox does not show the host: {fields}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // That write made NetBox send an `updated` delivery of its own: it starts no job (else every
    // write-back would come back as a job).
    let device_jobs = || {
        let jobs = nzj(&["--json", "jobs", "ls", "--limit", "500"]);
        jobs["jobs"].as_array().unwrap().iter().filter(|j| j["object"] == object.as_str()).count()
    };
    let before = device_jobs();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(device_jobs(), before, "the write-back's echo became a job");

    // The IP changes: the host follows (the IP's own webhook makes the device's job read NetBox).
    nb.call("PATCH", &format!("/api/ipam/ip-addresses/{ip}/"), Some(json!({"address": format!("{net}.20/24")})));
    wait_host("netbox:object", &object, |h| h["interfaces"][0]["ip"] == format!("{net}.20").as_str());

    // Per-device configuration from NetBox: a config context on the site (group level) and the
    // device's own local context data on top; the device's edit sends the webhook, the worker
    // reads NetBox's merged `config_context`, and the host follows: SNMP, its template, a
    // templated group, a macro.
    nb.create(
        "/api/extras/config-contexts/",
        json!({"name": format!("e2e-ctx-{tag}"), "weight": 1000, "sites": [site],
               "data": {"zabbix": {"macros": {"{$SNMP_COMMUNITY}": "e2e-ro"}}}}),
    );
    nb.call(
        "PATCH",
        &format!("/api/dcim/devices/{device}/"),
        Some(json!({"local_context_data": {"zabbix": {
            "interface": "snmpv2c", "templates": ["Generic by SNMP"],
            "host_groups": ["e2e/{{ site }}/{{ role | upper }}"]}}})),
    );
    let configured = |h: &Value| {
        h["interfaces"][0]["type"] == "2"
            && h["parentTemplates"][0]["host"] == "Generic by SNMP"
            && h["macros"].as_array().is_some_and(|m| m.iter().any(|m| m["value"] == "e2e-ro"))
    };
    let host = wait_host("netbox:object", &object, configured);
    let group = format!("e2e/e2e-site-{tag}/E2E-ROLE-{}", tag.to_uppercase());
    assert_eq!(host["hostgroups"][0]["name"], group.as_str(), "{host}");

    // Renamed, then deleted: renamed in Zabbix, then soft-deleted into the graveyard.
    let renamed = format!("{name}-b");
    nb.call("PATCH", &format!("/api/dcim/devices/{device}/"), Some(json!({"name": renamed})));
    wait_host("netbox:object", &object, |h| h["host"] == renamed.as_str());
    nb.call("DELETE", &format!("/api/dcim/devices/{device}/"), None);
    let buried = wait_host("netbox:deleted", &object, |h| h["status"] == "1");
    assert_eq!(buried["host"], format!("{renamed}-deleted"));

    // A VM in a cluster, with an IP: a host too.
    let ctype = nb.create(
        "/api/virtualization/cluster-types/",
        json!({"name": format!("e2e-ct-{tag}"), "slug": format!("e2e-ct-{tag}")}),
    );
    let cluster = nb.create("/api/virtualization/clusters/", json!({"name": format!("e2e-cl-{tag}"), "type": ctype}));
    let vm_name = format!("e2e-vm-{tag}");
    let vm = nb.create(
        "/api/virtualization/virtual-machines/",
        json!({"name": vm_name, "cluster": cluster, "site": site, "status": "active"}),
    );
    let vif = nb.create("/api/virtualization/interfaces/", json!({"virtual_machine": vm, "name": "eth0"}));
    let vip = nb.create("/api/ipam/ip-addresses/", json!({"address": format!("{net}.30/24"), "assigned_object_type": "virtualization.vminterface", "assigned_object_id": vif}));
    nb.call("PATCH", &format!("/api/virtualization/virtual-machines/{vm}/"), Some(json!({"primary_ip4": vip})));
    let vm_object = format!("virtualization.virtualmachine/{vm}");
    let vm_host = wait_host("netbox:object", &vm_object, |h| h["interfaces"][0]["ip"] == format!("{net}.30").as_str());
    assert_eq!(vm_host["host"], vm_name.as_str());

    // The job records show the work: webhook-triggered host jobs, none failed.
    let jobs = nzj(&["--json", "jobs", "ls", "--limit", "500"]);
    let host_jobs: Vec<&Value> = jobs["jobs"].as_array().unwrap().iter().filter(|j| j["kind"] == "host").collect();
    assert!(host_jobs.iter().any(|j| j["name"] == "CreateHost" && j["object"] == object.as_str()));
    assert!(host_jobs.iter().any(|j| j["name"] == "DeleteHost" && j["status"] == "completed"));
    assert!(host_jobs.iter().all(|j| j["trigger"] == "webhook" || j["trigger"] == "retry"));
    assert!(host_jobs.iter().all(|j| j["status"] != "failed"), "{host_jobs:?}");

    // SyncHostsNow reads every device and VM from NetBox (pages by id) and finds the VM's host
    // already right: it completes, fails nothing, and makes no duplicate.
    let out = Command::new(NZJ)
        .args(["--json", "jobs", "run", "SyncHostsNow"])
        .env("NZJ_LISTEN", &listen)
        .env("NZJ_DATA_DIR", dir.path())
        .output()
        .unwrap();
    let sync: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("nzj jobs run SyncHostsNow: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(sync["status"], "completed", "{sync}");
    assert_eq!(sync["result"]["failed"], 0, "{sync}");
    assert!(sync["result"]["total"].as_u64().unwrap() >= 1, "{sync}");
    let tagged = zabbix(
        "host.get",
        json!({"output": ["hostid"], "tags": [{"tag": "netbox:object", "value": vm_object, "operator": 1}]}),
    );
    assert_eq!(tagged.as_array().unwrap().len(), 1, "one host for the VM after the sync");

    // A person changes the event rule: `--check` says so and changes nothing; setup mends it.
    let rule = nb.call("GET", "/api/extras/event-rules/?name=netbox-zabbix-jobs", None)["results"][0]["id"].clone();
    nb.call("PATCH", &format!("/api/extras/event-rules/{rule}/"), Some(json!({"event_types": ["object_created"]})));
    let (code, out) = setup(&["--check"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("event rule netbox-zabbix-jobs: differs: event_types"), "{out}");
    let (code, out) = setup(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(setup(&["--check"]).0, Some(0));

    for host in [buried, vm_host] {
        zabbix("host.delete", json!([host["hostid"]]));
    }
    nb.call("DELETE", &format!("/api/virtualization/virtual-machines/{vm}/"), None);
}

#[tokio::test]
#[ignore = "needs the NetBox peer: run `make e2e`"]
async fn the_netbox_client_reads_with_both_token_styles_and_names_a_refused_token() {
    use nzj_core::Secret;
    use nzj_core::netbox::{NetboxObject, ObjectKind, ObjectRef};
    use nzj_netbox::{NetboxClient, NetboxClientConfig, NetboxError};
    let client = |token: String| {
        NetboxClient::new(NetboxClientConfig {
            url: var("NB_URL"),
            token: Secret::new(token),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        })
        .unwrap()
    };
    let nb = NetBox { url: var("NB_URL"), token: var("NB_TOKEN") };
    let tag = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let site =
        nb.create("/api/dcim/sites/", json!({"name": format!("cl-site-{tag}"), "slug": format!("cl-site-{tag}")}));
    let maker =
        nb.create("/api/dcim/manufacturers/", json!({"name": format!("cl-mk-{tag}"), "slug": format!("cl-mk-{tag}")}));
    let dtype = nb.create(
        "/api/dcim/device-types/",
        json!({"manufacturer": maker, "model": format!("cl-{tag}"), "slug": format!("cl-{tag}")}),
    );
    let role = nb
        .create("/api/dcim/device-roles/", json!({"name": format!("cl-role-{tag}"), "slug": format!("cl-role-{tag}")}));
    let device = nb.create(
        "/api/dcim/devices/",
        json!({"name": format!("cl-{tag}"), "device_type": dtype, "role": role, "site": site, "status": "planned"}),
    );
    let object = ObjectRef { kind: ObjectKind::Device, id: device };

    for token in [var("NB_TOKEN"), var("NB_TOKEN_V1")] {
        let data = client(token).get_object(object).await.unwrap().expect("the device");
        let parsed = NetboxObject::from_rest(ObjectKind::Device, &data).unwrap();
        assert_eq!(
            (parsed.status.as_str(), parsed.site.as_deref()),
            ("planned", Some(format!("cl-site-{tag}").as_str()))
        );
        assert_eq!(
            parsed.manufacturer.as_deref(),
            Some(format!("cl-mk-{tag}").as_str()),
            "nested fields come with the needed fields"
        );
    }
    // A template's `netbox.<field>` is asked for beside the product's fields, and only then.
    let nb_client = client(var("NB_TOKEN"));
    let plain = nb_client.get_object(object).await.unwrap().unwrap();
    let with = nb_client.get_object_with(object, &["comments".into(), "airflow".into()]).await.unwrap().unwrap();
    assert!(plain.get("comments").is_none() && with.get("comments").is_some(), "{with}");
    // Regions and site groups: the site's place, from the top.
    let top =
        nb.create("/api/dcim/regions/", json!({"name": format!("cl-top-{tag}"), "slug": format!("cl-top-{tag}")}));
    let sub = nb.create(
        "/api/dcim/regions/",
        json!({"name": format!("cl-sub-{tag}"), "slug": format!("cl-sub-{tag}"), "parent": top}),
    );
    nb.call("PATCH", &format!("/api/dcim/sites/{site}/"), Some(json!({"region": sub})));
    let places = nb_client.site_places().await.unwrap();
    assert_eq!(places[&site].regions, [format!("cl-top-{tag}"), format!("cl-sub-{tag}")]);
    let gone = ObjectRef { kind: ObjectKind::Device, id: device + 1_000_000 };
    assert_eq!(client(var("NB_TOKEN")).get_object(gone).await.unwrap(), None, "404 is gone, not an error");
    let all =
        client(var("NB_TOKEN")).list_objects(ObjectKind::Device, &[("status", "planned".to_string())]).await.unwrap();
    assert!(all.iter().any(|d| d["id"] == device));
    let refused = client("0".repeat(40)).get_object(object).await.unwrap_err();
    assert!(matches!(refused, NetboxError::Auth { .. }) && !refused.is_transient(), "{refused}");
    nb.call("DELETE", &format!("/api/dcim/devices/{device}/"), None);
}

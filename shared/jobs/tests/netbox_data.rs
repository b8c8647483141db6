//! Per-device configuration from what a real NetBox 4.7 holds (docs/product.md §3.2, §3.3), through
//! the host worker as a webhook's job runs: the device, its config context (assigned by region)
//! and custom fields, and the site, region and site group lists were captured from a real NetBox
//! by `infra/capture-netbox-fixtures.py` (tests/fixtures/netbox-4.7-rest/). NetBox itself is
//! stood in for by the in-memory source serving those captures; Zabbix 6.0 and 7.0 are real.

mod support;

use nzj_core::job::JobOrigin;
use nzj_core::netbox::{ObjectKind, ObjectRef};
use nzj_core::retry::RetryPolicy;
use nzj_core::settings::{InventoryMode, Settings};
use nzj_core::{JobId, JobName, JobRecord, JobStatus, SystemJob, Trigger};
use nzj_jobs::{HostConverger, HostJobs, HostWorker, ImportZabbixSettings, enqueue_host_job};
use nzj_netbox::NetboxInMemory;
use nzj_queue::{JobQueue, QueuedJob, SqliteQueue};
use nzj_store::Write;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use support::{Env, Peer, setup_call};

for_each_zabbix!(
    a_real_netbox_device_with_a_config_context_converges_and_each_change_writes_only_itself,
    a_malformed_config_context_from_netbox_fails_that_job_naming_the_key_and_the_object,
    a_device_that_leaves_the_device_filter_loses_its_host_when_its_webhook_job_asks_netbox,
);

fn fixture(name: &str) -> Value {
    let text = match name {
        "device" => include_str!("../../../tests/fixtures/netbox-4.7-rest/device_with_config_context.json"),
        "sites" => include_str!("../../../tests/fixtures/netbox-4.7-rest/sites.json"),
        "regions" => include_str!("../../../tests/fixtures/netbox-4.7-rest/regions.json"),
        "site-groups" => include_str!("../../../tests/fixtures/netbox-4.7-rest/site-groups.json"),
        _ => unreachable!(),
    };
    serde_json::from_str(text).unwrap()
}

/// A worker reading the captured NetBox, with secrets from files, on a fresh store.
struct Setup {
    env: Env,
    worker: HostWorker,
    queue: Arc<dyn JobQueue>,
    netbox: Arc<NetboxInMemory>,
    object: ObjectRef,
    name: String,
    secrets: tempfile::TempDir,
    _queue_dir: tempfile::TempDir,
}

impl Setup {
    async fn new(peer: &Peer) -> Setup {
        let env = Env::new();
        let import = ImportZabbixSettings::new(peer.client(), env.store.clone(), 100_000);
        assert_eq!(env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
        // Any REST field of the object, as `netbox.<field>`: here the location's slug.
        let settings = Settings {
            inventory_mode: InventoryMode::Manual,
            inventory_fields: [("site_rack".to_string(), "{{ netbox.location.slug }}".to_string())].into(),
            ..Settings::default()
        };
        env.store.commit(vec![Write::settings(settings)]).await.unwrap();

        let secrets = tempfile::tempdir().unwrap();
        let config = nzj_core::config::SecretsConfig { dir: Some(secrets.path().to_path_buf()), ..Default::default() };
        let store = Arc::new(nzj_secrets::LocalSecrets::new(&config));
        let mut device = fixture("device");
        let id = uuid::Uuid::now_v7().as_u64_pair().1 >> 12;
        let name = support::unique("nzj-nb");
        device["id"] = json!(id);
        device["name"] = json!(name);
        let netbox = Arc::new(NetboxInMemory::new(ObjectKind::Device, [device]));
        *netbox.1.sites.lock().unwrap() = ["sites", "regions", "site-groups"].map(|list| region_names(&fixture(list)));

        let queue_dir = tempfile::tempdir().unwrap();
        let queue: Arc<dyn JobQueue> = Arc::new(
            SqliteQueue::open(&queue_dir.path().join("q.sqlite3"), std::time::Duration::from_secs(1), 5).unwrap(),
        );
        let converger = HostConverger::new(peer.client(), env.store.clone()).with_secrets(store);
        let jobs = HostJobs::new(converger, env.clock.clone(), chrono::Duration::seconds(5), chrono::Duration::days(1))
            .with_netbox(netbox.clone());
        let retry =
            RetryPolicy { max_attempts: 5, backoff: std::time::Duration::ZERO, max_backoff: std::time::Duration::ZERO };
        let worker = HostWorker::new(jobs, Some(netbox.clone()), queue.clone(), retry);
        let object = ObjectRef { kind: ObjectKind::Device, id };
        let s = Setup { env, worker, queue, netbox, object, name, secrets, _queue_dir: queue_dir };
        s.put_secret("snmpv3/auth", "auth-s3cr3t-one");
        s.put_secret("psk/id", "psk-identity-one");
        s.put_secret("psk/key", "1f87b595725ac58dd977beef14b97461a7c1045b9a1c963065002c5473194952");
        s
    }

    fn put_secret(&self, name: &str, value: &str) {
        let path = self.secrets.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("{value}\n")).unwrap();
    }

    /// Changes the device in NetBox.
    fn edit(&self, change: impl FnOnce(&mut Value)) {
        change(self.netbox.0.lock().unwrap().get_mut(&self.object).unwrap());
    }

    /// A webhook's job for the device (no data: the worker reads NetBox), run to its end.
    async fn job(&self, name: JobName) -> JobRecord {
        let job = QueuedJob { job_id: JobId::new_at(chrono::Utc::now()), name, object: self.object, data: None };
        let origin = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: None };
        let store = self.env.store.as_ref();
        enqueue_host_job(
            store,
            self.queue.as_ref(),
            job.clone(),
            origin,
            chrono::Utc::now(),
            chrono::Duration::days(1),
            vec![],
        )
        .await
        .unwrap();
        for _ in 0..50 {
            let record = store.get_job(&job.job_id).await.unwrap().unwrap();
            if record.status.is_final() {
                return record;
            }
            self.worker.poll_once(10).await.unwrap();
        }
        panic!("job {} did not settle", job.job_id);
    }

    async fn message(&self, name: JobName) -> String {
        let record = self.job(name).await;
        assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
        for secret in ["auth-s3cr3t", "psk-identity-one", "1f87b595725ac58dd977"] {
            assert!(!serde_json::to_string(&record).unwrap().contains(secret), "a secret in the job record");
        }
        record.result.unwrap()["message"].as_str().unwrap().to_string()
    }

    async fn host(&self) -> Value {
        let zabbix = self.worker.jobs().converger().zabbix();
        let (select, key) = zabbix.version().await.unwrap().select_host_groups();
        let found = setup_call(
            zabbix,
            "host.get",
            json!({"output": ["hostid", "host", "name", "tls_connect", "tls_accept"], select: ["name"],
                   "selectParentTemplates": ["host"], "selectInterfaces": ["type", "main", "ip", "port", "details"],
                   "selectMacros": ["macro", "value", "type"], "selectInventory": ["contact", "location", "site_rack"],
                   "filter": {"host": [self.name.clone()]}}),
        )
        .await;
        assert_eq!(found.as_array().unwrap().len(), 1, "one host: {found}");
        let mut host = found[0].clone();
        host["groups"] = host[key].clone();
        host
    }
}

/// The captured list's results, each region's name made this test's own (so the groups it makes
/// are new in the shared Zabbix, and a missing parent group is noticed).
fn region_names(list: &Value) -> Vec<Value> {
    let mut results = list["results"].as_array().unwrap().clone();
    for item in &mut results {
        if let Some(name) = item.get("name").and_then(Value::as_str).map(str::to_string) {
            item["name"] = json!(format!("{name} {}", *RUN));
        }
    }
    results
}

static RUN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| support::unique("r"));

fn names(list: &Value, key: &str) -> Vec<String> {
    let mut names: Vec<String> =
        list.as_array().unwrap().iter().map(|v| v[key].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

async fn a_real_netbox_device_with_a_config_context_converges_and_each_change_writes_only_itself(peer: Peer) {
    let s = Setup::new(&peer).await;
    let captured = fixture("device");
    let (site, location) = (captured["site"]["name"].as_str().unwrap(), captured["location"]["name"].as_str().unwrap());
    let regions: Vec<String> =
        region_names(&fixture("regions")).iter().map(|r| r["name"].as_str().unwrap().into()).collect();
    let (europe, netherlands) = (&regions[0], &regions[1]);

    assert_eq!(s.message(JobName::CreateHost).await, "host created");
    let host = s.host().await;
    // The custom field's template wins over the rule's; the context's interfaces, macros and PSK.
    assert_eq!(names(&host["parentTemplates"], "host"), ["Generic by SNMP"]);
    let mut interfaces: Vec<(String, String, String)> = host["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (i["type"].as_str().unwrap().into(), i["ip"].as_str().unwrap().into(), i["port"].as_str().unwrap().into())
        })
        .collect();
    interfaces.sort();
    let address = |ip: &str| captured[ip]["address"].as_str().unwrap().split('/').next().unwrap().to_string();
    let (primary, oob) = (address("primary_ip4"), address("oob_ip"));
    assert_eq!(
        interfaces,
        [
            ("1".into(), primary.clone(), "10050".into()),
            ("2".into(), primary, "161".into()),
            ("3".into(), oob, "623".into()),
        ]
    );
    let snmp = host["interfaces"].as_array().unwrap().iter().find(|i| i["type"] == "2").unwrap();
    assert_eq!(
        (snmp["details"]["version"].as_str(), snmp["details"]["securitylevel"].as_str()),
        (Some("3"), Some("2"))
    );
    let macros: Vec<(String, String)> = host["macros"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["macro"].as_str().unwrap().into(), m["type"].as_str().unwrap().into()))
        .collect();
    assert_eq!(macros.len(), 2, "{macros:?}");
    assert!(
        macros.contains(&("{$SNMPV3_AUTH}".into(), "1".into()))
            && macros.contains(&("{$SNMPV3_USER}".into(), "0".into()))
    );
    assert_eq!((host["tls_connect"].as_str(), host["tls_accept"].as_str()), (Some("2"), Some("2")));
    // Templates: the nested group from the region tree (its parents created with it), the visible
    // name and the inventory from the custom field, the site and the location.
    let group = format!("{europe}/{netherlands}/{site}");
    assert_eq!(names(&host["groups"], "name"), [group.as_str()]);
    let zabbix = s.worker.jobs().converger().zabbix();
    let parents = [europe.clone(), format!("{europe}/{netherlands}"), group.clone()];
    let found = setup_call(zabbix, "hostgroup.get", json!({"output": ["name"], "filter": {"name": parents}})).await;
    assert_eq!(found.as_array().unwrap().len(), 3, "the group and both parents: {found}");
    assert_eq!(host["name"], format!("{} ({location})", s.name));
    assert_eq!(host["inventory"]["contact"], "netops");
    assert_eq!(host["inventory"]["location"], format!("{site} / {location}"));
    assert_eq!(host["inventory"]["site_rack"], captured["location"]["slug"]);
    // Each job read the site lists once (a template names the regions).
    assert_eq!(s.netbox.1.site_reads.load(Ordering::SeqCst), 1);

    // Nothing changed in NetBox: nothing written.
    assert_eq!(s.message(JobName::UpdateHost).await, "host already in sync");
    let config = s.env.store.get_host_config(s.object).await.unwrap().unwrap();
    assert_eq!(config.in_sync, Some(true));
    assert!(!serde_json::to_string(&config).unwrap().contains("auth-s3cr3t"), "no secret in the host config");
    let kept = config.netbox.unwrap();
    assert_eq!(kept.attributes.keys().collect::<Vec<_>>(), ["location"], "only the REST fields a template reads");
    let fields: Vec<&String> = kept.custom_fields.keys().collect();
    assert_eq!(fields, ["owner", "zabbix_checked_at", "zabbix_hostid", "zabbix_sync_state", "zabbix_templates"]);
    // NetBox shows the host: written once by the first job (one PATCH), not by the second.
    assert_eq!(*s.netbox.1.writes.lock().unwrap(), [1]);
    let shown = s.netbox.0.lock().unwrap()[&s.object]["custom_fields"].clone();
    assert_eq!(
        (shown["zabbix_hostid"].to_string(), shown["zabbix_sync_state"].as_str()),
        (host["hostid"].as_str().unwrap().to_string(), Some("in_sync"))
    );
    assert_eq!(kept.config_context.unwrap().as_object().unwrap().keys().collect::<Vec<_>>(), ["zabbix"]);
    assert_eq!(kept.place.unwrap().regions.len(), 2, "the site's place is kept for plans");

    // One macro changed in NetBox: only the macros.
    s.edit(|d| d["config_context"]["zabbix"]["macros"]["{$SNMPV3_USER}"] = json!("monitor-2"));
    assert_eq!(s.message(JobName::UpdateHost).await, "host updated: macros");
    // One custom field changed: only the inventory.
    s.edit(|d| d["custom_fields"]["owner"] = json!("noc"));
    assert_eq!(s.message(JobName::UpdateHost).await, "host updated: inventory");
    assert_eq!(s.host().await["inventory"]["contact"], "noc");
    // The secret rotated in the store: drift by the hash of what was written, written again.
    s.put_secret("snmpv3/auth", "auth-s3cr3t-two");
    assert_eq!(s.message(JobName::UpdateHost).await, "host updated: secrets");
    // The write-only secret macro turned into a text macro by hand in Zabbix: drift, made secret again.
    let hostid = s.host().await["hostid"].clone();
    let found =
        setup_call(zabbix, "usermacro.get", json!({"hostids": [hostid], "filter": {"macro": "{$SNMPV3_AUTH}"}})).await;
    setup_call(
        zabbix,
        "usermacro.update",
        json!({"hostmacroid": found[0]["hostmacroid"], "type": 0, "value": "by hand"}),
    )
    .await;
    assert!(s.message(JobName::UpdateHost).await.starts_with("host updated: macros"));
    let macros = s.host().await["macros"].clone();
    let auth = macros.as_array().unwrap().iter().find(|m| m["macro"] == "{$SNMPV3_AUTH}").unwrap().clone();
    assert_eq!(auth["type"], "1", "secret again: {auth}");
    assert_eq!(s.message(JobName::UpdateHost).await, "host already in sync");
    setup_call(zabbix, "host.delete", json!([hostid])).await;
}

async fn a_malformed_config_context_from_netbox_fails_that_job_naming_the_key_and_the_object(peer: Peer) {
    let s = Setup::new(&peer).await;
    for (change, says) in [
        (json!({"interfaces": "snmpv3"}), "invalid type"),
        (json!({"host_groups": ["{{ regions | join('/') "]}), "is not a valid template"),
        (json!({"inventory": {"owner": "{{ custom_fields.owner }}"}}), "\"owner\" is not a Zabbix inventory field"),
        (json!({"visible_name": "{name} {{ rack }}"}), "uses \"rack\""),
    ] {
        s.edit(|d| d["config_context"]["zabbix"] = change);
        let record = s.job(JobName::CreateHost).await;
        assert_eq!(record.status, JobStatus::Failed, "{:?}", record.result);
        let error = record.error.unwrap();
        assert!(error.contains(&format!("{}", s.object)) && error.contains(says), "{error}");
    }
    let found = setup_call(
        s.worker.jobs().converger().zabbix(),
        "host.get",
        json!({"output": ["hostid"], "filter": {"host": [s.name.clone()]}}),
    )
    .await;
    assert!(found.as_array().unwrap().is_empty(), "no host from a malformed context: {found}");
}

async fn a_device_that_leaves_the_device_filter_loses_its_host_when_its_webhook_job_asks_netbox(peer: Peer) {
    let s = Setup::new(&peer).await;
    let mut settings = s.env.store.get_settings().await.unwrap();
    settings.device_filter = "site=ams-70402".into(); // the captured device's site
    s.env.store.commit(vec![Write::settings(settings)]).await.unwrap();
    assert_eq!(s.message(JobName::CreateHost).await, "host created");
    s.host().await;

    // Moved to another site: the job asks NetBox whether the device still passes the filter
    // (it does not; NetBox still has it), and the host goes as out of scope, not as gone.
    s.edit(|d| d["site"] = json!({"id": 77, "name": "Elsewhere", "slug": "elsewhere"}));
    let record = s.job(JobName::UpdateHost).await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    let message = record.result.unwrap()["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("host soft-deleted"), "the default delete policy: {message}");
    let config = s.env.store.get_host_config(s.object).await.unwrap().unwrap();
    assert_eq!(config.note.as_deref(), Some("outside the scope filter (device_filter)"));
    let zabbix = s.worker.jobs().converger().zabbix();
    let found =
        setup_call(zabbix, "host.get", json!({"output": ["hostid"], "filter": {"host": [s.name.clone()]}})).await;
    assert!(found.as_array().unwrap().is_empty(), "the host is in the graveyard: {found}");
    // Back in the filter: the next job brings the same host back (its history with it).
    s.edit(|d| d["site"] = fixture("device")["site"].clone());
    assert_eq!(s.message(JobName::UpdateHost).await, "host restored from the graveyard (same host, history kept)");
    let host = s.host().await;
    setup_call(zabbix, "host.delete", json!([host["hostid"]])).await;
}

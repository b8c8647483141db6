//! Black-box tests of the jobs API: each test starts the router on its own random port with its
//! own embedded store (the app as `nzj serve` builds it, see `support`), and talks HTTP to it.

use chrono::Duration;
use nzj_core::job::JobOrigin;
use nzj_core::{JobName, JobRecord, SystemJob, Trigger};
use nzj_runtime::{JobContext, JobFailure, Registry, SystemJobHandler};
use nzj_store::{JobStore, Write};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

mod support;
use support::TOKEN;

struct TestApi {
    base: String,
    store: Arc<dyn JobStore>,
    client: reqwest::Client,
    _app: support::TestApp,
}

impl TestApi {
    async fn spawn() -> TestApi {
        TestApi::spawn_with(Registry::default()).await
    }

    async fn spawn_with(registry: Registry) -> TestApi {
        TestApi::spawn_full(registry, false).await
    }

    /// With `host_queue`, Zabbix and NetBox are configured (at addresses nothing answers), so host
    /// syncs go to the embedded queue and SyncHostsNow to the embedded bulk queue; nothing here
    /// runs the queued work.
    async fn spawn_full(registry: Registry, host_queue: bool) -> TestApi {
        let peers = [
            ("NZJ_ZABBIX_URL", "http://127.0.0.1:9/api_jsonrpc.php"),
            ("NZJ_ZABBIX_TOKEN", "unused"),
            ("NZJ_ZABBIX_CONNECT_TIMEOUT_SECONDS", "1"),
            ("NZJ_ZABBIX_TIMEOUT_SECONDS", "1"),
            ("NZJ_NETBOX_URL", "http://127.0.0.1:9"),
            ("NZJ_NETBOX_TOKEN", "0123456789abcdef0123456789abcdef01234567"),
            ("NZJ_NETBOX_CONNECT_TIMEOUT_SECONDS", "1"),
            ("NZJ_NETBOX_TIMEOUT_SECONDS", "1"),
        ];
        let env: &[(&str, &str)] = if host_queue { &peers } else { &[] };
        let app = support::spawn_app(env, Some(registry)).await;
        TestApi { base: app.base.clone(), store: app.store.clone(), client: reqwest::Client::new(), _app: app }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.base)).bearer_auth(TOKEN)
    }

    fn post(&self, path: &str, body: &'static str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
    }

    fn put(&self, path: &str, body: &'static str) -> reqwest::RequestBuilder {
        self.client
            .put(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
    }

    async fn add_job(&self, name: JobName) -> JobRecord {
        let origin = JobOrigin { trigger: Trigger::Api, user: "tests".into(), object: None };
        let job = JobRecord::new_running(name, origin, chrono::Utc::now(), Duration::seconds(60), Duration::days(1));
        self.store.commit(vec![Write::job(job.clone())]).await.unwrap();
        job
    }
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().expect("errors are {\"error\": ...}").to_string())
}

#[tokio::test]
async fn every_api_route_needs_the_bearer_token_but_healthz_does_not() {
    let api = TestApi::spawn().await;
    for path in ["/api/jobs", "/api/schedule", "/api/schedule/MaintenanceCleanup", "/api/jobs/x"] {
        let url = format!("{}{path}", api.base);
        let none = api.client.get(&url).send().await.unwrap();
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{path} without a token");
        assert_eq!(none.headers()["www-authenticate"], "Bearer");
        let wrong = api.client.get(&url).bearer_auth("test-token-0123456789abcdeX").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path} with a wrong token");
        let basic = api.client.get(&url).header("authorization", format!("Token {TOKEN}")).send().await.unwrap();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED, "{path} with another scheme");
    }
    let put = api.client.put(format!("{}/api/schedule/MaintenanceCleanup", api.base)).body(r#"{"interval":5}"#);
    assert_eq!(put.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let health = api.client.get(format!("{}/healthz", api.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn an_unknown_job_id_is_404() {
    let api = TestApi::spawn().await;
    let missing = uuid::Uuid::now_v7();
    let (status, message) = error_of(api.get(&format!("/api/jobs/{missing}")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message.contains(&missing.to_string()));
    let (status, _) = error_of(api.get("/api/jobs/not-a-uuid").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = error_of(api.get("/api/schedule/Frobnicate").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = error_of(api.get("/api/nothing").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_job_is_shown_with_its_record_fields() {
    let api = TestApi::spawn().await;
    let job = api.add_job(JobName::UpdateHost).await;
    let shown: Value = api.get(&format!("/api/jobs/{}", job.id)).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["id"], job.id.to_string());
    assert_eq!(shown["name"], "UpdateHost");
    assert_eq!(shown["kind"], "host");
    assert_eq!(shown["status"], "running");
    assert_eq!(shown["trigger"], "api");
    assert_eq!(shown["attempt"], 1);
    assert!(shown["log"]["entries"].is_array());
}

#[tokio::test]
async fn malformed_json_and_invalid_intervals_are_400_and_change_nothing() {
    let api = TestApi::spawn().await;
    let path = "/api/schedule/MaintenanceCleanup";
    for (body, expect) in [
        ("{\"interval\": 5", "not valid JSON"),
        ("[5]", "must be an object"),
        ("{}", "missing field"),
        ("{\"interval\": 5, \"at\": 1}", "unknown field"),
        ("{\"interval\": 7}", "not allowed"),
        ("{\"interval\": \"daily\"}", "interval"),
        ("{\"interval\": -5}", "interval"),
    ] {
        let (status, message) = error_of(api.put(path, body).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(message.contains(expect), "{body}: {message}");
    }
    let shown: Value = api.get(path).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["interval"], 1440, "still the daily default");
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let api = TestApi::spawn().await;
    let huge = format!("{{\"interval\": 5, \"pad\": \"{}\"}}", "x".repeat(nzj_api::MAX_BODY_BYTES));
    let response = api
        .client
        .put(format!("{}/api/schedule/MaintenanceCleanup", api.base))
        .bearer_auth(TOKEN)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Refused below the handler, and said in JSON like every other error.
    let (status, message) = error_of(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(message.contains("too large") && message.contains("65536"), "{message}");
}

#[tokio::test]
async fn the_schedule_shows_every_system_job_and_changes_take_effect() {
    let api = TestApi::spawn().await;
    let all: Value = api.get("/api/schedule").send().await.unwrap().json().await.unwrap();
    let jobs = all["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4, "the three system jobs and SyncHostsNow");
    for job in jobs.iter().filter(|j| j["job"] != "SyncHostsNow") {
        assert_eq!(job["interval"], 1440);
        // This API's registry runs no job: it must not pretend one runs, and says so.
        assert_eq!(job["implemented"], false);
        assert_eq!(job["scheduled"], false);
        assert!(job["note"].as_str().unwrap().contains("this process does not run it"), "{job}");
    }

    let set: Value = api
        .put("/api/schedule/HostConfigSyncRefresh", "{\"interval\": 60}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["interval"], 60);
    let shown: Value = api.get("/api/schedule/HostConfigSyncRefresh").send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["interval"], 60);

    let off: Value = api
        .put("/api/schedule/HostConfigSyncRefresh", "{\"interval\": null}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(off["interval"], Value::Null);
    assert_eq!(off["scheduled"], false);
}

#[tokio::test]
async fn jobs_are_listed_newest_first_filtered_and_paginated() {
    let api = TestApi::spawn().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let name = if i % 2 == 0 { JobName::CreateHost } else { JobName::DeleteHost };
        ids.push(api.add_job(name).await.id.to_string());
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/jobs?limit=5&cursor={c}"),
            None => "/api/jobs?limit=5".to_string(),
        };
        let page: Value = api.get(&path).send().await.unwrap().json().await.unwrap();
        seen.extend(page["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let deletes: Value =
        api.get("/api/jobs?name=DeleteHost&status=running").send().await.unwrap().json().await.unwrap();
    let deletes = deletes["jobs"].as_array().unwrap();
    assert_eq!(deletes.len(), 6);
    assert!(deletes.iter().all(|j| j["name"] == "DeleteHost"));
    let none: Value = api.get("/api/jobs?status=failed").send().await.unwrap().json().await.unwrap();
    assert_eq!(none, json!({"jobs": [], "next_cursor": null}));

    for bad in ["?status=done", "?name=Frobnicate", "?limit=0", "?limit=many", "?cursor=abc", "?sort=asc"] {
        let (status, _) = error_of(api.get(&format!("/api/jobs{bad}")).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// A job body that holds until the test lets it finish: to see 409 while a run is in progress.
struct Gated(tokio::sync::Semaphore);

#[async_trait::async_trait]
impl SystemJobHandler for Gated {
    async fn run(&self, _ctx: &JobContext) -> Result<Value, JobFailure> {
        let _permit = self.0.acquire().await.unwrap();
        Ok(json!({"deleted": 0, "checked": 0}))
    }
}

#[tokio::test]
async fn a_manual_run_is_202_with_the_job_and_409_while_it_runs() {
    let gate = Arc::new(Gated(tokio::sync::Semaphore::new(0)));
    let api = TestApi::spawn_with(Registry::default().with(SystemJob::MaintenanceCleanup, gate.clone())).await;
    let started = api.post("/api/jobs", r#"{"name": "MaintenanceCleanup"}"#).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let job: Value = started.json().await.unwrap();
    assert_eq!(job["status"], "running");
    assert_eq!(job["trigger"], "api");

    let again = api.post("/api/jobs", r#"{"name": "MaintenanceCleanup"}"#).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["job"], job["id"], "the 409 names the running job");

    gate.0.add_permits(1);
    let path = format!("/api/jobs/{}", job["id"].as_str().unwrap());
    let mut finished = Value::Null;
    for _ in 0..200 {
        finished = api.get(&path).send().await.unwrap().json().await.unwrap();
        if finished["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(finished["status"], "completed");
    assert_eq!(finished["result"], json!({"deleted": 0, "checked": 0}));
    gate.0.add_permits(1);
    let third = api.post("/api/jobs", r#"{"name": "MaintenanceCleanup"}"#).send().await.unwrap();
    assert_eq!(third.status(), StatusCode::ACCEPTED, "a finished job can run again");
}

#[tokio::test]
async fn sync_hosts_now_answers_202_with_its_job_then_409_while_it_is_pending() {
    let api = TestApi::spawn_full(Registry::default(), true).await;
    let first = api.post("/api/jobs", r#"{"name": "SyncHostsNow"}"#).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let job: Value = first.json().await.unwrap();
    assert_eq!(
        (job["name"].as_str(), job["kind"].as_str(), job["status"].as_str()),
        (Some("SyncHostsNow"), Some("sync"), Some("pending"))
    );
    let second = api.post("/api/jobs", r#"{"name": "SyncHostsNow"}"#).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::CONFLICT);
    let refused: Value = second.json().await.unwrap();
    assert_eq!(refused["job"], job["id"]);
    assert!(refused["error"].as_str().unwrap().contains("already pending"), "{refused}");
    let all = nzj_store::JobQuery { limit: 10, ..Default::default() };
    assert_eq!(api.store.list_jobs(&all).await.unwrap().jobs.len(), 1, "the refused run recorded nothing");
}

#[tokio::test]
async fn a_manual_run_of_what_cannot_run_here_says_why() {
    let registry = Registry::default().without(SystemJob::ImportZabbixSettings, "needs Zabbix: set NZJ_ZABBIX_URL");
    let api = TestApi::spawn_with(registry).await;
    for (body, status, expect) in [
        (r#"{"name": "Frobnicate"}"#, StatusCode::BAD_REQUEST, "unknown"),
        (r#"{"job": "ImportZabbixSettings"}"#, StatusCode::BAD_REQUEST, "unknown field"),
        (r#"{}"#, StatusCode::BAD_REQUEST, "missing field"),
        (r#"{"name": "#, StatusCode::BAD_REQUEST, "not valid JSON"),
        (r#"{"name": "SyncHostsNow"}"#, StatusCode::SERVICE_UNAVAILABLE, "needs Zabbix and NetBox"),
        (r#"{"name": "CreateHost"}"#, StatusCode::BAD_REQUEST, "/api/hosts/"),
        (r#"{"name": "ImportZabbixSettings"}"#, StatusCode::SERVICE_UNAVAILABLE, "NZJ_ZABBIX_URL"),
        (r#"{"name": "MaintenanceCleanup"}"#, StatusCode::SERVICE_UNAVAILABLE, "this process does not run it"),
    ] {
        let (got, message) = error_of(api.post("/api/jobs", body).send().await.unwrap()).await;
        assert_eq!(got, status, "{body}: {message}");
        assert!(message.contains(expect), "{body}: {message}");
    }
    let all = nzj_store::JobQuery { limit: 10, ..Default::default() };
    assert!(api.store.list_jobs(&all).await.unwrap().jobs.is_empty(), "nothing was recorded");
}

#[tokio::test]
async fn maintenance_windows_need_zabbix_to_change_but_can_be_listed_and_bad_input_is_400() {
    let api = TestApi::spawn().await;
    let listed: Value = api.get("/api/maintenances").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!({"maintenances": []}));
    let (status, _) = error_of(api.get("/api/maintenances/nope").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, message) = error_of(api.post("/api/maintenances", "{\"name\": 1").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
    let good = r#"{"name": "w", "active_since": "2030-01-01T00:00:00Z", "active_till": "2030-01-01T01:00:00Z", "sites": ["ams1"]}"#;
    let (status, message) = error_of(api.post("/api/maintenances", good).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(message.contains("NZJ_ZABBIX_URL"), "{message}");
}

#[tokio::test]
async fn settings_change_only_from_the_version_read_and_bad_fields_are_400() {
    let api = TestApi::spawn().await;
    let patch = |body: &'static str| {
        api.client
            .patch(format!("{}/api/settings", api.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
    };
    let read: Value = api.get("/api/settings").send().await.unwrap().json().await.unwrap();
    assert_eq!(read["version"], 0);
    assert_eq!(read["delete_policy"], "soft");

    let changed = patch(r#"{"version": 0, "delete_policy": "hard", "adoption": true}"#).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!((changed["version"].as_u64(), changed["delete_policy"].as_str()), (Some(1), Some("hard")));

    // A second writer that also read version 0 is refused, and changes nothing.
    let (status, message) = error_of(patch(r#"{"version": 0, "max_deletions": 5}"#).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{message}");
    let now: Value = api.get("/api/settings").send().await.unwrap().json().await.unwrap();
    assert_eq!(now["max_deletions"], 50);

    for (body, expect) in [
        (r#"{"delete_policy": "hard"}"#, "version: required"),
        (r#"{"version": 1, "max_deletes": 5}"#, "unknown field"),
        (r#"{"version": 1, "delete_policy": "shred"}"#, "unknown variant"),
        (r#"{"version": 1, "rules": []}"#, "default rule"),
        (r#"[1]"#, "must be an object"),
        (
            r#"{"version": 1, "rules": [{"name": "default", "host_groups": ["NetBox/{sitee}"]}]}"#,
            "uses \"sitee\", which no NetBox object has",
        ),
        (
            r#"{"version": 1, "rules": [{"name": "default", "host_groups": ["{{ site "]}]}"#,
            "host group \"{{ site \" is not a valid template",
        ),
        (r#"{"version": 1, "inventory_fields": {"serialnumber": "{serial}"}}"#, "not a Zabbix inventory field"),
        (r#"{"version": 1, "tags": {"object": "{site}"}}"#, "not a tag name NetBox may set"),
    ] {
        let (status, message) = error_of(patch(body).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {message}");
        assert!(message.contains(expect), "{body}: {message}");
    }

    // Once Zabbix settings are imported, a rule naming what Zabbix does not have is refused when
    // written, not when the first job runs.
    use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot, CachedObject};
    let mut templates = CacheSnapshot::empty(CacheKind::Templates);
    templates.objects =
        vec![CachedObject { id: "10001".into(), name: "Linux by Zabbix agent".into(), attributes: Default::default() }];
    api.store.commit(vec![Write::cache(templates)]).await.unwrap();
    for (body, expect) in [
        (
            r#"{"version": 1, "rules": [{"name": "default", "templates": ["Linux by Zabbix agnet"], "host_groups": ["g"]}]}"#,
            "rules.default: template \"Linux by Zabbix agnet\" is not in Zabbix",
        ),
        (
            r#"{"version": 1, "rules": [{"name": "default", "host_groups": ["g"], "proxy_group": "pg-eu"}]}"#,
            "proxy group \"pg-eu\" is not in Zabbix",
        ),
    ] {
        let (status, message) = error_of(patch(body).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {message}");
        assert!(message.contains(expect), "{body}: {message}");
    }
    let fine = patch(
        r#"{"version": 1, "rules": [{"name": "default", "templates": ["Linux by Zabbix agent"], "host_groups": ["g"]}]}"#,
    );
    assert_eq!(fine.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn host_configs_are_listed_filtered_by_sync_state_and_shown_by_object() {
    use nzj_core::host_config::HostConfig;
    use nzj_core::netbox::{ObjectKind, ObjectRef};
    let api = TestApi::spawn().await;
    let mut writes = Vec::new();
    for id in 1..=5u64 {
        let mut config = HostConfig::new(ObjectRef { kind: ObjectKind::Device, id });
        config.hostid = Some(format!("{}", 10_000 + id));
        config.in_sync = Some(id != 3);
        writes.push(Write::host_config(config));
    }
    api.store.commit(writes).await.unwrap();

    let all: Value = api.get("/api/hosts?limit=2").send().await.unwrap().json().await.unwrap();
    assert_eq!(all["hosts"].as_array().unwrap().len(), 2);
    assert_eq!(all["next_cursor"], "dcim.device/2");
    let rest: Value = api.get("/api/hosts?limit=10&cursor=dcim.device/2").send().await.unwrap().json().await.unwrap();
    assert_eq!(rest["hosts"].as_array().unwrap().len(), 3);
    let out: Value = api.get("/api/hosts?in_sync=false").send().await.unwrap().json().await.unwrap();
    assert_eq!(
        out["hosts"].as_array().unwrap().iter().map(|h| h["object"].clone()).collect::<Vec<_>>(),
        [json!("dcim.device/3")]
    );

    let one: Value = api.get("/api/hosts/dcim.device/3").send().await.unwrap().json().await.unwrap();
    assert_eq!((one["hostid"].as_str(), one["in_sync"].as_bool()), (Some("10003"), Some(false)));
    for (path, status) in [
        ("/api/hosts/dcim.device/99", StatusCode::NOT_FOUND),
        ("/api/hosts/dcim.interface/3", StatusCode::NOT_FOUND),
        ("/api/hosts?in_sync=maybe", StatusCode::BAD_REQUEST),
        ("/api/hosts?cursor=nope", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(api.get(path).send().await.unwrap().status(), status, "{path}");
    }
}

#[tokio::test]
async fn a_host_sync_is_202_with_its_job_then_409_while_it_is_pending_and_503_without_netbox() {
    let without = TestApi::spawn().await;
    let (status, message) = error_of(without.post("/api/hosts/dcim.device/7/sync", "").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(message.contains("NZJ_NETBOX_URL"), "{message}");

    let api = TestApi::spawn_full(Registry::default(), true).await;
    let first = api.post("/api/hosts/dcim.device/7/sync", "").send().await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let job: Value = first.json().await.unwrap();
    assert_eq!(
        (job["name"].as_str(), job["status"].as_str(), job["object"].as_str()),
        (Some("UpdateHost"), Some("pending"), Some("dcim.device/7"))
    );
    let second = api.post("/api/hosts/dcim.device/7/sync", "").send().await.unwrap();
    assert_eq!(second.status(), StatusCode::CONFLICT);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["job"], job["id"]);
    let other = api.post("/api/hosts/virtualization.virtualmachine/7/sync", "").send().await.unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED, "another object is not blocked");
    assert_eq!(api.post("/api/hosts/dcim.site/7/sync", "").send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

//! Black-box tests of the `nzj` binary: `nzj serve` on its own random port and data dir, and the
//! CLI commands against it, as a person would use them.

use serde_json::Value;
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NZJ: &str = env!("CARGO_BIN_EXE_nzj");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `nzj serve`, killed when dropped.
struct Serve {
    child: Child,
    listen: String,
    dir: tempfile::TempDir,
}

impl Serve {
    fn start() -> Serve {
        Serve::start_in(tempfile::tempdir().unwrap())
    }

    fn start_in(dir: tempfile::TempDir) -> Serve {
        Serve::start_with(dir, &[])
    }

    fn start_with(dir: tempfile::TempDir, env: &[(&str, String)]) -> Serve {
        let listen = format!("127.0.0.1:{}", free_port());
        let child = Command::new(NZJ)
            .arg("serve")
            .env_clear()
            .env("NZJ_LISTEN", &listen)
            .env("NZJ_DATA_DIR", dir.path().join("data"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let serve = Serve { child, listen, dir };
        serve.wait_healthy();
        serve
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.listen).is_ok() {
                let out = self.nzj(&["--json", "schedule", "show"]);
                if out.status.success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nzj serve did not answer on {}", self.listen);
    }

    /// Runs the CLI the way a user on the same machine would: same NZJ_LISTEN and data dir.
    fn nzj(&self, args: &[&str]) -> Output {
        Command::new(NZJ)
            .args(args)
            .env_clear()
            .env("NZJ_LISTEN", &self.listen)
            .env("NZJ_DATA_DIR", self.dir.path().join("data"))
            .output()
            .unwrap()
    }

    /// Stops the server and returns what it printed on stdout, and its data dir.
    fn stop(mut self) -> (String, tempfile::TempDir) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut printed = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut printed).unwrap();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (printed, dir)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_on_loopback_generates_a_token_once_keeps_it_private_and_the_cli_finds_it() {
    let serve = Serve::start();
    let token_file = serve.dir.path().join("data/api-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let ls = serve.nzj(&["jobs", "ls"]);
    assert!(ls.status.success(), "{}", stderr(&ls));
    assert!(stdout(&ls).starts_with("ID"));

    let (printed, dir) = serve.stop();
    assert_eq!(printed.matches(token.trim()).count(), 1, "the token is printed once: {printed}");

    // A restart keeps the same token and does not print it again.
    let again = Serve::start_in(dir);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
    let (printed, _) = again.stop();
    assert!(!printed.contains(token.trim()));
}

#[test]
fn the_cli_shows_and_changes_the_schedule() {
    let serve = Serve::start();
    let set = serve.nzj(&["schedule", "set", "HostConfigSyncRefresh", "30"]);
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(stdout(&set).contains("30 min"));

    let show = serve.nzj(&["--json", "schedule", "show"]);
    let schedule: Value = serde_json::from_slice(&show.stdout).unwrap();
    let refresh = schedule["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "HostConfigSyncRefresh").unwrap();
    assert_eq!(refresh["interval"], 30);
    assert_eq!(refresh["scheduled"], false, "Zabbix is not configured in this serve");

    let off = serve.nzj(&["schedule", "set", "HostConfigSyncRefresh", "off"]);
    assert!(stdout(&off).contains("off"));

    let bad = serve.nzj(&["schedule", "set", "HostConfigSyncRefresh", "7"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("not allowed"), "{}", stderr(&bad));
    let unknown = serve.nzj(&["schedule", "set", "Frobnicate", "60"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("404"), "{}", stderr(&unknown));
}

#[test]
fn the_cli_reports_an_unknown_job_and_a_wrong_token_clearly() {
    let serve = Serve::start();
    let missing = serve.nzj(&["jobs", "show", "0199a7b2-0000-7000-8000-000000000000"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("404"), "{}", stderr(&missing));
    let wrong = serve.nzj(&["--token", "not-the-token-at-all", "jobs", "ls"]);
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("401"), "{}", stderr(&wrong));
}

#[test]
fn the_cli_says_so_when_nothing_is_serving() {
    let out = Command::new(NZJ)
        .args(["jobs", "ls"])
        .env_clear()
        .env("NZJ_ENDPOINT", format!("http://127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is `nzj serve` running?"), "{}", stderr(&out));
}

fn serve_fails(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(NZJ)
        .arg("serve")
        .env_clear()
        .env("NZJ_DATA_DIR", dir.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve must refuse {env:?}");
    stderr(&out)
}

#[test]
fn serve_refuses_a_non_loopback_address_without_a_token() {
    let port = free_port().to_string();
    let message = serve_fails(&[("NZJ_LISTEN", &format!("0.0.0.0:{port}"))]);
    assert!(message.contains("NZJ_API_TOKEN"), "{message}");
}

#[test]
fn serve_fails_at_start_naming_a_missing_or_malformed_value() {
    assert!(serve_fails(&[("NZJ_LISTEN", "everywhere")]).contains("NZJ_LISTEN"));
    assert!(serve_fails(&[("NZJ_ZABBIX_URL", "http://127.0.0.1:1/api_jsonrpc.php")]).contains("NZJ_ZABBIX_TOKEN"));
    assert!(serve_fails(&[("NZJ_JOB_TIMEOUT_SECONDS", "forever")]).contains("NZJ_JOB_TIMEOUT_SECONDS"));
    let secret = "very-secret-password";
    let message = serve_fails(&[("NZJ_ZABBIX_USER", "Admin"), ("NZJ_ZABBIX_PASSWORD", secret)]);
    assert!(message.contains("NZJ_ZABBIX_URL"), "{message}");
    assert!(!message.contains(secret), "a secret must never be echoed: {message}");
}

#[test]
fn jobs_run_imports_zabbix_settings_through_serve_and_waits_for_the_result() {
    let url = std::env::var("ZBX70_API_URL").expect("ZBX70_API_URL: run `make test`, which starts Zabbix 7.0");
    let token = std::env::var("ZBX70_TOKEN").expect("ZBX70_TOKEN");
    let serve = Serve::start_with(
        tempfile::tempdir().unwrap(),
        &[("NZJ_ZABBIX_URL", url), ("NZJ_ZABBIX_TOKEN", token.clone())],
    );
    let show = serve.nzj(&["--json", "schedule", "show"]);
    let schedule: Value = serde_json::from_slice(&show.stdout).unwrap();
    let import = schedule["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "ImportZabbixSettings").unwrap();
    assert_eq!(import["scheduled"], true, "with Zabbix configured the import is scheduled: {import}");

    // serve triggers the never-run import at start; a manual run meanwhile is refused (409).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ls = serve.nzj(&["--json", "jobs", "ls", "--name", "ImportZabbixSettings"]);
        let runs: Value = serde_json::from_slice(&ls.stdout).unwrap();
        let runs = runs["jobs"].as_array().unwrap().clone();
        if !runs.is_empty() && runs.iter().all(|j| j["status"] != "running") {
            assert_eq!(runs[0]["trigger"], "schedule");
            break;
        }
        assert!(Instant::now() < deadline, "the scheduled import did not finish: {runs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = serve.nzj(&["--json", "jobs", "run", "ImportZabbixSettings"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let job: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(job["status"], "completed");
    assert_eq!(job["trigger"], "cli");
    for kind in ["templates", "proxies", "proxy_groups", "host_groups"] {
        assert!(job["result"][kind]["added"].is_u64(), "{job}");
    }
    // Between the scheduled run and this one, every template was added once.
    let ls = serve.nzj(&["--json", "jobs", "ls", "--name", "ImportZabbixSettings"]);
    let runs: Value = serde_json::from_slice(&ls.stdout).unwrap();
    let added: u64 =
        runs["jobs"].as_array().unwrap().iter().filter_map(|j| j["result"]["templates"]["added"].as_u64()).sum();
    assert!(added > 300, "{runs}");
    assert!(!String::from_utf8_lossy(&run.stdout).contains(&token), "the token never appears in a record");

    let (printed, _) = serve.stop();
    assert!(!printed.contains(&token));
}

#[test]
fn jobs_run_says_what_is_missing_when_zabbix_is_not_configured() {
    let serve = Serve::start();
    let run = serve.nzj(&["jobs", "run", "ImportZabbixSettings"]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("503") && stderr(&run).contains("NZJ_ZABBIX_URL"), "{}", stderr(&run));
}

#[test]
fn maintenance_windows_are_created_listed_and_removed_from_the_cli() {
    let url = std::env::var("ZBX60_API_URL").expect("ZBX60_API_URL: run `make test`, which starts Zabbix 6.0");
    let token = std::env::var("ZBX60_TOKEN").expect("ZBX60_TOKEN");
    let serve =
        Serve::start_with(tempfile::tempdir().unwrap(), &[("NZJ_ZABBIX_URL", url), ("NZJ_ZABBIX_TOKEN", token)]);
    let name = format!("nzj-cli-window-{}", std::process::id());
    let refused = serve.nzj(&["maintenance", "create", "--name", &name, "--until", "+1h"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("at least one of hosts, host_groups or sites"), "{}", stderr(&refused));

    let created = serve.nzj(&["maintenance", "create", "--name", &name, "--until", "+2h", "--group", "Linux servers"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let ls = serve.nzj(&["--json", "maintenance", "ls"]);
    let listed: Value = serde_json::from_slice(&ls.stdout).unwrap();
    let window =
        listed["maintenances"].as_array().unwrap().iter().find(|w| w["name"] == name.as_str()).unwrap().clone();
    assert!(window["zabbix_id"].is_string());
    assert_eq!(window["targets"]["host_groups"][0], "Linux servers");

    // An update changes only what it is told: the start and the targets stay.
    let id = window["id"].as_str().unwrap();
    let updated = serve.nzj(&["maintenance", "update", id, "--until", "+3h", "--description", "longer"]);
    assert!(updated.status.success(), "{}", stderr(&updated));
    let show = serve.nzj(&["maintenance", "show", id]);
    let after: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(after["active_since"], window["active_since"], "the start is kept");
    assert_eq!((after["name"].as_str(), after["description"].as_str()), (Some(name.as_str()), Some("longer")));
    assert_eq!(after["targets"], window["targets"], "the targets are kept");
    assert_ne!(after["active_till"], window["active_till"]);
    let bad = serve.nzj(&["maintenance", "update", id, "--until", "tomorrow"]);
    assert!(!bad.status.success() && stderr(&bad).contains("is not a time"), "{}", stderr(&bad));

    let rm = serve.nzj(&["maintenance", "rm", id]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    let again = serve.nzj(&["maintenance", "rm", id]);
    assert!(stderr(&again).contains("404"), "{}", stderr(&again));
}

/// The host id a job's result names.
fn job_hostid(serve: &Serve, job: &str) -> Value {
    wait_for_job(serve, job)["result"]["hostid"].clone()
}

#[test]
fn settings_are_shown_and_changed_from_the_cli() {
    let serve = Serve::start();
    let set = serve.nzj(&[
        "settings",
        "set",
        "delete_policy",
        "hard",
        "max_deletions",
        "7",
        "statuses",
        r#"{"active":"monitor","staged":"monitor","offline":"remove"}"#,
    ]);
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(stdout(&set).contains("version 1"));
    let show = serve.nzj(&["settings", "show"]);
    let settings: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(settings["delete_policy"], "hard");
    assert_eq!(settings["max_deletions"], 7);
    assert_eq!(settings["statuses"]["staged"], "monitor");
    assert_eq!(settings["statuses"]["offline"], "remove");
    assert!(
        settings["statuses"].get("planned").is_none(),
        "the table is replaced: unnamed statuses get other_statuses"
    );
    assert_eq!(settings["other_statuses"], "disable");
    let bad = serve.nzj(&["settings", "set", "delete_policy", "shred"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("400"), "{}", stderr(&bad));
    // Name templates: set as typed, and a fat-fingered one refused with the variable named.
    let set = serve.nzj(&["settings", "set", "visible_name", "{name} ({{ site | default('no site') }})"]);
    assert!(set.status.success(), "{}", stderr(&set));
    for (value, says) in [("{name} ({sitee})", "uses \"sitee\""), ("{{ site", "not a valid template")] {
        let bad = serve.nzj(&["settings", "set", "visible_name", value]);
        assert!(!bad.status.success() && stderr(&bad).contains(says), "{value}: {}", stderr(&bad));
    }
}

#[test]
fn deletions_are_listed_and_a_decision_without_a_selection_is_refused_clearly() {
    let serve = Serve::start();
    let ls = serve.nzj(&["deletions", "ls"]);
    assert!(ls.status.success(), "{}", stderr(&ls));
    assert!(stdout(&ls).contains("0 held"), "{}", stdout(&ls));
    for args in [&["deletions", "release"][..], &["deletions", "discard", "--all", "01a2"]] {
        let refused = serve.nzj(args);
        assert!(!refused.status.success());
        let err = stderr(&refused);
        assert!(err.contains("--all") && !err.contains("panicked"), "{err}");
    }
    let bad_id = serve.nzj(&["deletions", "discard", "not-a-job"]);
    assert!(!bad_id.status.success());
    assert!(stderr(&bad_id).contains("is not a job id"), "{}", stderr(&bad_id));
    let all = serve.nzj(&["deletions", "release", "--all"]);
    assert!(all.status.success(), "{}", stderr(&all));
    assert!(stdout(&all).contains("0 released, 0 refused"), "{}", stdout(&all));
}

#[test]
fn a_plan_is_shown_without_changing_anything_and_bad_plans_are_refused() {
    let serve = Serve::start();
    let plan = serve.nzj(&["plan", "statuses", r#"{"active":"monitor","offline":"remove"}"#]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(stdout(&plan).starts_with("0 hosts: 0 create"), "{}", stdout(&plan));
    let dry = serve.nzj(&["jobs", "run", "SyncHostsNow", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("0 hosts"), "{}", stdout(&dry));
    let wrong = serve.nzj(&["jobs", "run", "ImportZabbixSettings", "--dry-run"]);
    assert!(!wrong.status.success() && stderr(&wrong).contains("--dry-run is for SyncHostsNow"), "{}", stderr(&wrong));
    let odd = serve.nzj(&["plan", "delete_policy"]);
    assert!(!odd.status.success() && stderr(&odd).contains("has no value"), "{}", stderr(&odd));
    let invalid = serve.nzj(&["plan", "statuses", r#"{"active":"remove"}"#]);
    assert!(!invalid.status.success() && stderr(&invalid).contains("at least one status"), "{}", stderr(&invalid));
    let show = serve.nzj(&["settings", "show"]);
    let settings: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(settings["version"], 0, "a plan changes nothing");
}

#[test]
fn hosts_are_listed_and_an_unknown_object_is_404() {
    let serve = Serve::start();
    let ls = serve.nzj(&["hosts", "ls", "--out-of-sync"]);
    assert!(ls.status.success(), "{}", stderr(&ls));
    assert!(stdout(&ls).starts_with("OBJECT"));
    let show = serve.nzj(&["hosts", "show", "dcim.device/1"]);
    assert!(stderr(&show).contains("404"), "{}", stderr(&show));
}

/// A JSON-RPC call to the test Zabbix with the test token (the test's own look at Zabbix).
fn zabbix(url: &str, token: &str, method: &str, params: Value) -> Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", "-H", "Content-Type: application/json-rpc", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args(["-d", &body.to_string(), url])
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["result"].clone()
}

fn post_delivery(listen: &str, name: &str) -> (u16, Value) {
    let dir = format!("{}/../tests/fixtures/netbox-4.7-webhooks", env!("CARGO_MANIFEST_DIR"));
    let sig = std::fs::read_to_string(format!("{dir}/{name}.sig")).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json", "-H"])
        .arg(format!("X-Hook-Signature: {}", sig.trim()))
        .arg("--data-binary")
        .arg(format!("@{dir}/{name}.body.json"))
        .arg(format!("http://{listen}/webhook/netbox"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn wait_for_job(serve: &Serve, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = serve.nzj(&["--json", "jobs", "show", id]);
        let job: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if job["status"] == "completed" || job["status"] == "failed" {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn netbox_deliveries_reach_zabbix_through_serve_and_the_job_records_show_it() {
    let url = std::env::var("ZBX70_API_URL").expect("ZBX70_API_URL: run `make test`, which starts Zabbix 7.0");
    let token = std::env::var("ZBX70_TOKEN").expect("ZBX70_TOKEN");
    let leftovers = |tag: &str| {
        let found = zabbix(
            &url,
            &token,
            "host.get",
            serde_json::json!({"output": ["hostid"], "tags": [{"tag": tag, "value": "dcim.device/1", "operator": 1}]}),
        );
        found.as_array().unwrap().iter().map(|h| h["hostid"].clone()).collect::<Vec<_>>()
    };
    for tag in ["netbox:object", "netbox:deleted"] {
        let ids = leftovers(tag);
        if !ids.is_empty() {
            zabbix(&url, &token, "host.delete", Value::Array(ids));
        }
    }
    let serve = Serve::start_with(
        tempfile::tempdir().unwrap(),
        &[
            ("NZJ_ZABBIX_URL", url.clone()),
            ("NZJ_ZABBIX_TOKEN", token.clone()),
            ("NZJ_WEBHOOK_SECRET", "s3cret".into()),
        ],
    );
    // The never-run import runs at start; host jobs need its templates.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ls = serve.nzj(&["--json", "jobs", "ls", "--name", "ImportZabbixSettings", "--status", "completed"]);
        let runs: Value = serde_json::from_slice(&ls.stdout).unwrap();
        if !runs["jobs"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no completed import");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The device gets its primary IP: its host is created.
    let (code, answer) = post_delivery(&serve.listen, "04_dcim.device_updated");
    assert_eq!(code, 202, "{answer}");
    let job = wait_for_job(&serve, answer["job"].as_str().unwrap());
    assert_eq!((job["status"].as_str(), job["trigger"].as_str()), (Some("completed"), Some("webhook")), "{job}");
    assert_eq!(job["result"]["message"], "host created");
    let host = zabbix(
        &url,
        &token,
        "host.get",
        serde_json::json!({"output": ["host", "status"], "selectInterfaces": ["ip"], "tags": [{"tag": "netbox:object", "value": "dcim.device/1", "operator": 1}]}),
    );
    assert_eq!(
        (host[0]["host"].as_str(), host[0]["interfaces"][0]["ip"].as_str()),
        (Some("rtr-76683"), Some("192.0.2.10"))
    );

    // NetBox sends the same delivery again: one job, and the answer names it.
    let (code, again) = post_delivery(&serve.listen, "04_dcim.device_updated");
    assert_eq!((code, &again["job"]), (200, &answer["job"]));

    // Renamed and status planned: the same host, disabled (its history stays). Then the device
    // is deleted in NetBox: soft-deleted.
    let (_, planned) = post_delivery(&serve.listen, "08_dcim.device_updated");
    let job = wait_for_job(&serve, planned["job"].as_str().unwrap());
    assert_eq!(job["result"]["message"], "host updated: host, name, status, tags", "{job}");
    assert_eq!(job["result"]["hostid"], job_hostid(&serve, answer["job"].as_str().unwrap()), "the same host");
    let (_, deleted) = post_delivery(&serve.listen, "12_dcim.device_deleted");
    let job = wait_for_job(&serve, deleted["job"].as_str().unwrap());
    assert_eq!(
        (job["name"].as_str(), job["result"]["message"].as_str()),
        (Some("DeleteHost"), Some("host soft-deleted as rtr-76683-renamed-deleted"))
    );

    let hosts = serve.nzj(&["--json", "hosts", "show", "dcim.device/1"]);
    let config: Value = serde_json::from_slice(&hosts.stdout).unwrap();
    assert_eq!((config["in_sync"].as_bool(), config["hostid"].is_null()), (Some(true), true), "{config}");
    let graveyard = leftovers("netbox:deleted");
    assert_eq!(graveyard.len(), 1, "the soft-deleted host stays in the graveyard");
    zabbix(&url, &token, "host.delete", Value::Array(graveyard));
}

#[test]
fn with_nzj_sigv4_the_cli_signs_its_requests_instead_of_sending_a_bearer_token() {
    // A stand-in for the Function URL: it records the request and answers an empty listing (AWS
    // would check the signature; that the signature itself is right is aws-sigv4's, unit-tested
    // in src/sigv4.rs).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            head.push(line.trim().to_string());
        }
        let body = r#"{"jobs": [], "next_cursor": null}"#;
        write!(
            &stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        head
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nzj"))
        .args(["--json", "--endpoint", &format!("http://127.0.0.1:{port}"), "--token", "not-sent", "jobs", "ls"])
        .env("NZJ_SIGV4", "1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .env("AWS_REGION", "eu-west-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let head = server.join().unwrap();
    let auth = head.iter().find(|l| l.to_lowercase().starts_with("authorization:")).unwrap();
    assert!(
        auth.contains("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") && auth.contains("/eu-west-1/lambda/aws4_request"),
        "{auth}"
    );
    assert!(head.iter().any(|l| l.to_lowercase().starts_with("x-amz-date:")));
    assert!(!head.iter().any(|l| l.contains("not-sent")), "no bearer token next to the signature");
}

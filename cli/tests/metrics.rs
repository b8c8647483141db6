//! `GET /metrics` of `nzj serve` against real Zabbix 7.0: Prometheus text that a Prometheus
//! parser reads, behind the API token, whose counters move as jobs run and webhooks are refused,
//! and whose gauges show the queues and held deletions at each scrape.

mod support;

use std::collections::HashMap;
use support::{Serve, request};

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make test`, which starts Zabbix"))
}

/// Every sample of a scrape, by metric name and its labels (`name{k="v"}`).
fn scrape(serve: &Serve, token: &str) -> HashMap<String, f64> {
    let auth = format!("Bearer {token}");
    let (status, body) = request(&serve.listen, "GET", "/metrics", &[("Authorization", &auth)], b"").unwrap();
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    parsed
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            labels.sort();
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Summary(_) | prometheus_parse::Value::Histogram(_) => 1.0,
            };
            (format!("{}{{{}}}", s.metric, labels.join(",")), value)
        })
        .collect()
}

#[test]
fn metrics_parse_as_prometheus_text_and_move_as_jobs_run_and_webhooks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("NZJ_ZABBIX_URL", env_var("ZBX70_API_URL")), ("NZJ_ZABBIX_TOKEN", env_var("ZBX70_TOKEN"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let serve = Serve::start(dir.path(), "", &env);
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap().trim().to_string();
    assert_eq!(request(&serve.listen, "GET", "/metrics", &[], b"").unwrap().0, 401, "behind the token");

    // serve imports the Zabbix settings at start: let that run end first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !String::from_utf8_lossy(
        &serve.nzj(&["jobs", "ls", "--name", "ImportZabbixSettings", "--status", "completed"]).stdout,
    )
    .contains("completed")
    {
        assert!(std::time::Instant::now() < deadline, "the import at start did not end");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let before = scrape(&serve, &token);
    assert_eq!(before.get("nzj_dead_letters{queue=\"host\"}"), Some(&0.0), "{before:?}");
    assert_eq!(before.get("nzj_deletions_held{}"), Some(&0.0));

    let run = serve.nzj(&["jobs", "run", "ImportZabbixSettings"]);
    assert!(run.status.success(), "{run:?}");
    for _ in 0..2 {
        assert_eq!(
            request(&serve.listen, "POST", "/webhook/netbox", &[("X-Hook-Signature", "00")], b"{}").unwrap().0,
            401
        );
    }
    let after = scrape(&serve, &token);
    let moved = |name: &str| after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0);
    assert_eq!(moved("nzj_jobs_completed_total{job_name=\"ImportZabbixSettings\"}"), 1.0, "{after:?}");
    assert!(moved("nzj_zabbix_calls_total{}") >= 1.0, "{after:?}");
    assert_eq!(moved("nzj_webhooks_rejected_total{}"), 2.0, "{after:?}");
    assert!(after.keys().any(|k| k.starts_with("nzj_job_duration_seconds")), "{after:?}");
    assert!(after.contains_key("nzj_queue_messages{queue=\"host\"}"), "{after:?}");
    assert_eq!(after.get("nzj_queue_oldest_message_age_seconds{queue=\"host\"}"), Some(&0.0), "empty: {after:?}");
}

//! Metrics in CloudWatch Embedded Metric Format (docs/product.md §7): one JSON line on stdout per event, which
//! CloudWatch Logs turns into metrics without an API call. Off unless [`enable`]d: the Lambda
//! functions enable it; `nzj serve` keeps its stdout for people. Every event is also recorded
//! into the `metrics` facade (`nzj_jobs_completed_total{job_name=...}`, durations in seconds),
//! which `nzj serve` renders as Prometheus text at `/metrics`; without a recorder that is a no-op.
//!
//! Metrics (namespace [`NAMESPACE`]; [`CATALOG`] lists each with its dimension sets, and the
//! template test holds every alarm and dashboard to it): `JobsStarted`, `JobsCompleted`,
//! `JobsFailed`, `JobsStalled`, `JobDuration` and `HostsChanged` per `JobName` and also rolled up
//! per `Service` (one EMF document, two dimension sets: CloudWatch alarms cannot use `SEARCH`, so
//! an alarm on all jobs needs a metric of its own); `ZabbixCalls`, `WebhooksRejected`,
//! `OutboxResent` (a job recorded but not enqueued, sent by the sweeper), `DuplicateHostsRemoved`
//! (extra hosts of one object, soft-deleted), `DeletionsHeld`, `NetboxWrites` and
//! `NetboxWriteFailures` per `Service`. No secret is ever a dimension or a value.

use nzj_core::{JobName, JobRecord, JobStatus};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

pub const NAMESPACE: &str = "NetboxZabbixJobs";
const SERVICE: &str = "nzj";

/// Every metric the code emits, with its dimension sets (the `Service` value is always `nzj`).
/// A test emits each one and checks the list; the template's alarms and dashboard may name only
/// these.
pub const CATALOG: &[(&str, &[&[&str]])] = &[
    ("JobsStarted", PER_JOB),
    ("JobsCompleted", PER_JOB),
    ("JobsFailed", PER_JOB),
    ("JobsStalled", PER_JOB),
    ("JobDuration", PER_JOB),
    ("HostsChanged", PER_JOB),
    ("ZabbixCalls", PER_SERVICE),
    ("WebhooksRejected", PER_SERVICE),
    ("OutboxResent", PER_SERVICE),
    ("DuplicateHostsRemoved", PER_SERVICE),
    ("DeletionsHeld", PER_SERVICE),
    ("NetboxWrites", PER_SERVICE),
    ("NetboxWriteFailures", PER_SERVICE),
];
const PER_JOB: &[&[&str]] = &[&["JobName"], &["Service"]];
const PER_SERVICE: &[&[&str]] = &[&["Service"]];

static ENABLED: AtomicBool = AtomicBool::new(false);

/// From now on, metrics are written to stdout.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document: the metrics with their values, under `dimensions` and, unless that is the
/// `Service` set already, rolled up under `Service` too (what the alarms use).
pub fn emf(dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)], timestamp_ms: i64) -> Value {
    let mut sets = vec![dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()];
    if sets[0] != ["Service"] {
        sets.push(vec!["Service"]);
    }
    let mut root = Map::new();
    root.insert("Service".into(), json!(SERVICE));
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (key, value) in dimensions {
        root.insert((*key).into(), json!(value));
    }
    for (name, value, _) in metrics {
        root.insert((*name).into(), json!(value));
    }
    Value::Object(root)
}

fn emit(dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)]) {
    record(dimensions, metrics);
    #[cfg(test)]
    tests::CAPTURED.with(|c| c.borrow_mut().push(emf(dimensions, metrics, 1)));
    if ENABLED.load(Ordering::Relaxed) {
        println!("{}", emf(dimensions, metrics, chrono::Utc::now().timestamp_millis()));
    }
}

/// `JobsCompleted` as Prometheus names it: `nzj_jobs_completed`.
pub fn prometheus_name(name: &str) -> String {
    let mut snake = String::from("nzj");
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    snake
}

/// The same event into the `metrics` facade: counts as counters (`_total`), durations as
/// histograms in seconds; dimensions but the constant `Service` as labels.
fn record(dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)]) {
    let labels: Vec<::metrics::Label> = dimensions
        .iter()
        .filter(|(key, _)| *key != "Service")
        .map(|(key, value)| {
            metrics::Label::new(prometheus_name(key).trim_start_matches("nzj_").to_string(), value.to_string())
        })
        .collect();
    for (name, value, unit) in metrics {
        match unit {
            Unit::Count => {
                ::metrics::counter!(format!("{}_total", prometheus_name(name)), labels.clone()).increment(*value as u64)
            }
            Unit::Milliseconds => ::metrics::histogram!(format!("{}_seconds", prometheus_name(name)), labels.clone())
                .record(value / 1000.0),
        }
    }
}

pub fn job_started(name: JobName) {
    emit(&[("JobName", name.as_str())], &[("JobsStarted", 1.0, Unit::Count)]);
}

/// A job reached its end: completed, failed or stalled, with its duration when it had one.
pub fn job_finished(record: &JobRecord) {
    let counter = match record.status {
        JobStatus::Completed => "JobsCompleted",
        JobStatus::Failed => "JobsFailed",
        JobStatus::Stalled => "JobsStalled",
        _ => return,
    };
    let mut metrics = vec![(counter, 1.0, Unit::Count)];
    if let Some(ms) = record.duration_ms {
        metrics.push(("JobDuration", ms as f64, Unit::Milliseconds));
    }
    emit(&[("JobName", record.name.as_str())], &metrics);
}

pub fn hosts_changed(name: JobName, count: u64) {
    if count > 0 {
        emit(&[("JobName", name.as_str())], &[("HostsChanged", count as f64, Unit::Count)]);
    }
}

pub fn zabbix_calls(count: u64) {
    if count > 0 {
        emit(&[("Service", SERVICE)], &[("ZabbixCalls", count as f64, Unit::Count)]);
    }
}

pub fn webhook_rejected() {
    emit(&[("Service", SERVICE)], &[("WebhooksRejected", 1.0, Unit::Count)]);
}

/// The outbox sweeper sent a job that was recorded but never enqueued (a crash in between).
pub fn outbox_resent() {
    emit(&[("Service", SERVICE)], &[("OutboxResent", 1.0, Unit::Count)]);
}

/// Hosts found managed for an object that already has one, and soft-deleted.
pub fn duplicate_hosts_removed(count: u64) {
    if count > 0 {
        emit(&[("Service", SERVICE)], &[("DuplicateHostsRemoved", count as f64, Unit::Count)]);
    }
}

/// Deletions the deletion breaker held for an operator (the `DeletionsHeld` alarm fires on it).
pub fn deletions_held(count: u64) {
    if count > 0 {
        emit(&[("Service", SERVICE)], &[("DeletionsHeld", count as f64, Unit::Count)]);
    }
}

/// Objects whose state was written into NetBox, and write-backs NetBox refused (retried by the
/// next job or check; the Zabbix side is not failed for it).
pub fn netbox_written(written: u64, failed: bool) {
    if written > 0 {
        emit(&[("Service", SERVICE)], &[("NetboxWrites", written as f64, Unit::Count)]);
    }
    if failed {
        emit(&[("Service", SERVICE)], &[("NetboxWriteFailures", 1.0, Unit::Count)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    thread_local! {
        /// What `emit` wrote on this thread, for the catalog test.
        pub(super) static CAPTURED: std::cell::RefCell<Vec<Value>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    #[test]
    fn the_catalog_lists_every_metric_the_code_emits_with_its_dimension_sets() {
        let clock = chrono::Utc::now();
        let origin = nzj_core::job::JobOrigin { trigger: nzj_core::Trigger::Schedule, user: "t".into(), object: None };
        job_started(JobName::SyncHostsNow);
        for finish in [JobStatus::Completed, JobStatus::Failed, JobStatus::Stalled] {
            let mut record = JobRecord::new_running(
                JobName::SyncHostsNow,
                origin.clone(),
                clock,
                chrono::Duration::minutes(1),
                chrono::Duration::days(1),
            );
            record.status = finish;
            record.duration_ms = Some(5);
            job_finished(&record);
        }
        hosts_changed(JobName::CreateHost, 2);
        zabbix_calls(3);
        webhook_rejected();
        outbox_resent();
        duplicate_hosts_removed(1);
        deletions_held(1);
        netbox_written(1, true);
        let mut emitted: BTreeSet<(String, Vec<Vec<String>>)> = BTreeSet::new();
        for doc in CAPTURED.with(|c| c.borrow().clone()) {
            assert_valid_emf(&doc);
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            let sets: Vec<Vec<String>> = serde_json::from_value(directive["Dimensions"].clone()).unwrap();
            for metric in directive["Metrics"].as_array().unwrap() {
                emitted.insert((metric["Name"].as_str().unwrap().to_string(), sets.clone()));
            }
        }
        let catalog: BTreeSet<(String, Vec<Vec<String>>)> = CATALOG
            .iter()
            .map(|(name, sets)| {
                (name.to_string(), sets.iter().map(|s| s.iter().map(|d| d.to_string()).collect()).collect())
            })
            .collect();
        assert_eq!(emitted, catalog);
    }

    /// The rules of the EMF specification a document must follow for CloudWatch to extract it.
    fn assert_valid_emf(doc: &Value) {
        let root = doc.as_object().expect("an EMF document is a JSON object");
        let aws = root["_aws"].as_object().expect("_aws");
        assert!(aws["Timestamp"].as_i64().is_some_and(|t| t > 0), "Timestamp in ms since the epoch");
        let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics array");
        assert!(!directives.is_empty());
        for directive in directives {
            let namespace = directive["Namespace"].as_str().expect("Namespace");
            assert!(!namespace.is_empty() && namespace.len() <= 255);
            for set in directive["Dimensions"].as_array().expect("Dimensions array") {
                let set = set.as_array().expect("a dimension set is an array");
                assert!(set.len() <= 30);
                for key in set {
                    let key = key.as_str().expect("dimension keys are strings");
                    assert!(root[key].is_string(), "dimension {key} has a string value at the root");
                }
            }
            let metrics = directive["Metrics"].as_array().expect("Metrics array");
            assert!(!metrics.is_empty() && metrics.len() <= 100);
            for metric in metrics {
                let name = metric["Name"].as_str().expect("Name");
                assert!(!name.is_empty() && name.len() <= 1024);
                assert!(root[name].is_number(), "metric {name} has a number at the root");
                let unit = metric["Unit"].as_str().unwrap_or("None");
                assert!(["Count", "Milliseconds", "Seconds", "None"].contains(&unit));
            }
        }
    }

    #[test]
    fn an_emf_line_parses_as_valid_emf() {
        let doc = emf(
            &[("JobName", "SyncHostsNow")],
            &[("JobsCompleted", 1.0, Unit::Count), ("JobDuration", 1234.0, Unit::Milliseconds)],
            1_763_852_700_000,
        );
        let line = doc.to_string();
        assert!(!line.contains('\n'), "one line per document");
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_valid_emf(&parsed);
        assert_eq!(parsed["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(parsed["JobDuration"], 1234.0);
    }
}

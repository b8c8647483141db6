//! Metrics in CloudWatch Embedded Metric Format (docs/product.md §7): one JSON line on stdout per event, which
//! CloudWatch Logs turns into metrics without an API call. Off unless [`enable`]d: the Lambda
//! functions enable it; `nzj serve` keeps its stdout for people. Every event is also recorded
//! into the `metrics` facade (`nzj_jobs_completed_total{job_name=...}`, durations in seconds),
//! which `nzj serve` renders as Prometheus text at `/metrics`; without a recorder that is a no-op.
//!
//! Metrics (namespace [`NAMESPACE`]): `JobsStarted`, `JobsCompleted`, `JobsFailed`, `JobsStalled`
//! and `JobDuration` per `JobName`; `HostsChanged` per `JobName`; `ZabbixCalls`,
//! `WebhooksRejected`, `OutboxResent` (a job recorded but not enqueued, sent by the sweeper) and
//! `DuplicateHostsRemoved` (extra hosts of one object, soft-deleted) per `Service`. No secret is ever a dimension or a value.

use nzj_core::{JobName, JobRecord, JobStatus};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

pub const NAMESPACE: &str = "NetboxZabbixJobs";
const SERVICE: &str = "nzj";

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

/// One EMF document: the metrics with their values, under one set of dimensions.
pub fn emf(dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)], timestamp_ms: i64) -> Value {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
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

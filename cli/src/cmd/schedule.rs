//! `nzj schedule show|set`: every system job's interval and next run, and changing one.

use crate::client::{ApiClient, print_json, text};
use crate::table;
use nzj_core::Interval;
use serde_json::{Value, json};

fn schedule_row(view: &Value) -> Vec<String> {
    let interval = match &view["interval"] {
        Value::Null => "off".to_string(),
        minutes => format!("{minutes} min"),
    };
    vec![
        text(&view["job"]),
        interval,
        if view["scheduled"] == json!(true) { "yes" } else { "no" }.to_string(),
        table::time(&view["next_due"]),
        text(&view["current_run"]),
        last_run(view),
        text(&view["note"]),
    ]
}

/// `failed: Zabbix refused (retry 14:05:00)`, `completed`, or `-` before the first run.
fn last_run(view: &Value) -> String {
    let mut last = text(&view["last_status"]);
    if let Some(error) = view["last_error"].as_str() {
        last += &format!(": {}", error.lines().next().unwrap_or_default());
    }
    if !view["retry_due"].is_null() {
        last += &format!(" (retry {})", table::time(&view["retry_due"]));
    }
    last
}

const SCHEDULE_HEADERS: [&str; 7] = ["JOB", "INTERVAL", "SCHEDULED", "NEXT DUE", "RUNNING", "LAST RUN", "NOTE"];

pub async fn schedule_show(api: &ApiClient, json: bool) -> anyhow::Result<()> {
    let schedule = api.get("/api/schedule", &[]).await?;
    if json {
        print_json(&schedule);
        return Ok(());
    }
    let rows: Vec<_> =
        schedule["jobs"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(schedule_row).collect();
    out!("{}", table::render(&SCHEDULE_HEADERS, &rows));
    Ok(())
}

pub async fn schedule_set(api: &ApiClient, job: &str, interval: &str, json: bool) -> anyhow::Result<()> {
    let interval: Interval = interval.parse()?;
    let view = api.put(&format!("/api/schedule/{job}"), json!({"interval": interval})).await?;
    if json {
        print_json(&view);
    } else {
        out!("{}", table::render(&SCHEDULE_HEADERS, &[schedule_row(&view)]));
    }
    Ok(())
}

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
        text(&view["next_due"]),
        text(&view["current_run"]),
        text(&view["note"]),
    ]
}

const SCHEDULE_HEADERS: [&str; 6] = ["JOB", "INTERVAL", "SCHEDULED", "NEXT DUE", "RUNNING", "NOTE"];

pub async fn schedule_show(api: &ApiClient, json: bool) -> anyhow::Result<()> {
    let schedule = api.get("/api/schedule", &[]).await?;
    if json {
        print_json(&schedule);
        return Ok(());
    }
    let rows: Vec<_> =
        schedule["jobs"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(schedule_row).collect();
    print!("{}", table::render(&SCHEDULE_HEADERS, &rows));
    Ok(())
}

pub async fn schedule_set(api: &ApiClient, job: &str, interval: &str, json: bool) -> anyhow::Result<()> {
    let interval: Interval = interval.parse()?;
    let view = api.put(&format!("/api/schedule/{job}"), json!({"interval": interval})).await?;
    if json {
        print_json(&view);
    } else {
        print!("{}", table::render(&SCHEDULE_HEADERS, &[schedule_row(&view)]));
    }
    Ok(())
}

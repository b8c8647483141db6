//! `nzj plan [FIELD VALUE]..` and `nzj jobs run SyncHostsNow --dry-run`: what a settings change
//! (or a sync with the current settings) would do to the hosts, from `POST /api/plan`; nothing
//! is changed. `nzj settings set` shows the same plan before it changes anything.

use crate::client::{ApiClient, print_json, text};
use crate::table;
use anyhow::anyhow;
use serde_json::{Map, Value};

/// Changes listed per plan page.
const LISTED: usize = 50;

/// FIELD VALUE pairs as settings fields: a value that parses as JSON is JSON, else text.
pub fn fields(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    if !pairs.len().is_multiple_of(2) {
        return Err(anyhow!("give FIELD VALUE pairs; {:?} has no value", pairs.last().unwrap_or(&String::new())));
    }
    Ok(pairs
        .chunks(2)
        .map(|pair| {
            let value = serde_json::from_str(&pair[1]).unwrap_or_else(|_| Value::String(pair[1].clone()));
            (pair[0].clone(), value)
        })
        .collect())
}

/// Asks the API for the plan of `fields` (none: the current settings), after the object `after`.
pub async fn fetch(api: &ApiClient, fields: &Map<String, Value>, after: Option<&str>) -> anyhow::Result<Value> {
    let mut path = format!("/api/plan?limit={LISTED}");
    if let Some(after) = after {
        path.push_str(&format!("&after={after}"));
    }
    api.post(&path, Value::Object(fields.clone())).await
}

/// Prints a plan as a summary and a table of the listed changes.
pub fn print(plan: &Value) {
    let c = &plan["counts"];
    outln!(
        "{} hosts: {} create, {} update, {} disable, {} delete, {} unchanged, {} skipped, {} cannot be mapped, {} unknown",
        c["total"],
        c["create"],
        c["update"],
        c["disable"],
        c["delete"],
        c["unchanged"],
        c["skip"],
        c["fail"],
        c["unknown"]
    );
    let rows: Vec<Vec<String>> = plan["changes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|change| {
            let fields: Vec<String> =
                change["fields"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(text).collect();
            let what = if fields.is_empty() { text(&change["reason"]) } else { fields.join(", ") };
            vec![text(&change["object"]), text(&change["action"]), text(&change["host"]), what]
        })
        .collect();
    if !rows.is_empty() {
        out!("{}", table::render(&["OBJECT", "ACTION", "HOST", "CHANGES / WHY"], &rows));
    }
    if let Some(after) = plan["next_after"].as_str() {
        outln!("more changes follow: --after {after}");
    }
    let calls: Vec<String> = plan["calls"]
        .as_object()
        .map(|calls| calls.iter().map(|(method, n)| format!("{n} {method}")).collect())
        .unwrap_or_default();
    if !calls.is_empty() {
        outln!("Zabbix writes: {}", calls.join(", "));
    }
    for note in [&plan["breaker"], &plan["reads_netbox"]] {
        if let Some(note) = note.as_str() {
            outln!("note: {note}");
        }
    }
}

/// `nzj plan`: prints the plan of the pairs (or of the current settings).
pub async fn plan(api: &ApiClient, pairs: &[String], after: Option<&str>, json: bool) -> anyhow::Result<()> {
    let plan = fetch(api, &fields(pairs)?, after).await?;
    if json {
        print_json(&plan);
    } else {
        print(&plan);
    }
    Ok(())
}

/// How many hosts a plan changes.
pub fn changed(plan: &Value) -> u64 {
    let c = &plan["counts"];
    ["create", "update", "disable", "delete"].iter().map(|k| c[*k].as_u64().unwrap_or(0)).sum()
}

//! `nzj deletions ls|release|discard`: the deletions the breaker held, and the operator's
//! decision on them. Release runs them (as DeleteHost jobs, past the breaker); discard keeps the
//! hosts.

use crate::client::{ApiClient, print_json, selection, text};
use crate::table;
use serde_json::Value;

pub async fn deletions_ls(api: &ApiClient, json: bool) -> anyhow::Result<()> {
    let held = api.get("/api/deletions", &[]).await?;
    if json {
        print_json(&held);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = held["deletions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|d| {
            ["job", "object", "host", "hostid", "held", "trigger"].iter().map(|k| text(&d[*k])).collect::<Vec<_>>()
        })
        .collect();
    out!("{}", table::render(&["JOB", "OBJECT", "HOST", "HOSTID", "HELD", "TRIGGER"], &rows));
    outln!("{} held; decide with `nzj deletions release ID..|--all` or `nzj deletions discard ID..|--all`", rows.len());
    Ok(())
}

/// `release` or `discard` the deletions `ids` (or every held one, with `all`).
pub async fn deletions_decide(
    api: &ApiClient,
    decision: &str,
    ids: &[String],
    all: bool,
    json: bool,
) -> anyhow::Result<()> {
    let body = selection(ids, all, &format!("held jobs to {decision} (see `nzj deletions ls`)"))?;
    let answer = api.post(&format!("/api/deletions/{decision}"), body).await?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    for d in answer["deletions"].as_array().map(Vec::as_slice).unwrap_or_default() {
        match (&d["error"], &d["runs_as"]) {
            (Value::String(error), _) => outln!("{}: not {decision}d: {error}", text(&d["job"])),
            (_, Value::String(job)) => outln!("{}: released, runs as job {job}", text(&d["job"])),
            _ => outln!("{}: discarded, the host is kept", text(&d["job"])),
        }
    }
    outln!("{} {decision}d, {} refused", answer["decided"], answer["refused"]);
    if answer["refused"].as_u64().unwrap_or(0) > 0 {
        anyhow::bail!("some deletions were not {decision}d");
    }
    Ok(())
}

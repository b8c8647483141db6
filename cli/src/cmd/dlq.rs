//! `nzj dlq ls|show|redrive|purge`: the dead letters of the host and bulk queues, each with its
//! job, object and last error; redrive runs their jobs again through the normal path, purge
//! drops them (README, "Dead letters").

use crate::client::{ApiClient, print_json, selection, text};
use crate::table;
use serde_json::Value;

pub async fn dlq_ls(api: &ApiClient, json: bool) -> anyhow::Result<()> {
    let listed = api.get("/api/dlq", &[]).await?;
    if json {
        print_json(&listed);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listed["dead_letters"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|d| {
            vec![
                text(&d["id"]),
                text(&d["name"]),
                text(&d["object"]),
                text(&d["job_id"]),
                text(&d["status"]),
                table::time(&d["failed_at"]),
                first_line(&d["error"]),
            ]
        })
        .collect();
    out!("{}", table::render(&["ID", "NAME", "OBJECT", "JOB", "STATUS", "FAILED", "ERROR"], &rows));
    outln!(
        "{} dead letters; `nzj dlq redrive ID..|--all` runs their jobs again, `nzj dlq purge` drops them",
        rows.len()
    );
    Ok(())
}

fn first_line(value: &Value) -> String {
    text(value).lines().next().unwrap_or_default().to_string()
}

pub async fn dlq_show(api: &ApiClient, id: &str, json: bool) -> anyhow::Result<()> {
    let shown = api.get(&format!("/api/dlq/{}", encode(id)), &[]).await?;
    if json {
        print_json(&shown);
        return Ok(());
    }
    for field in ["id", "queue", "name", "object", "job_id", "status", "receive_count", "failed_at", "retried_by"] {
        outln!("{field:<14} {}", text(&shown[field]));
    }
    outln!("{:<14} {}", "error", text(&shown["error"]));
    outln!("{:<14} {}", "message", shown["message"]);
    Ok(())
}

/// A dead letter's id in a URL path (`host:17` is safe; an SQS message id is a UUID).
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub async fn dlq_redrive(api: &ApiClient, ids: &[String], all: bool, json: bool) -> anyhow::Result<()> {
    let answer =
        api.post("/api/dlq/redrive", selection(ids, all, "dead letters to redrive (see `nzj dlq ls`)")?).await?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    for r in answer["results"].as_array().map(Vec::as_slice).unwrap_or_default() {
        outln!("{}: {}: {}", text(&r["id"]), text(&r["outcome"]), text(&r["message"]));
    }
    outln!("{} redriven, {} kept", answer["redriven"], answer["kept"]);
    if answer["kept"].as_u64().unwrap_or(0) > 0 {
        anyhow::bail!("some dead letters were kept");
    }
    Ok(())
}

pub async fn dlq_purge(api: &ApiClient, ids: &[String], all: bool, json: bool) -> anyhow::Result<()> {
    let answer = api.post("/api/dlq/purge", selection(ids, all, "dead letters to purge (see `nzj dlq ls`)")?).await?;
    if json {
        print_json(&answer);
    } else {
        outln!("{} dead letters removed", answer["removed"]);
    }
    Ok(())
}

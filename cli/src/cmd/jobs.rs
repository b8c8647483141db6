//! `nzj jobs ls|show|run|retry`: job records as a table or JSON, a run followed to its end with a
//! progress bar for SyncHostsNow, and a failed job run again.

use crate::client::{ApiClient, print_json, text};
use crate::table;
use anyhow::anyhow;
use serde_json::{Value, json};

/// What `nzj jobs ls` asks for; every filter is kept in the next page's hint.
#[derive(clap::Args)]
pub struct JobFilters {
    /// Only jobs of this name, e.g. ImportZabbixSettings
    #[arg(long)]
    name: Option<String>,
    /// Only jobs of this kind: system, host, sync
    #[arg(long)]
    kind: Option<String>,
    /// Only jobs in this status: pending, scheduled, running, completed, failed, stalled, held
    #[arg(long)]
    status: Option<String>,
    /// Only jobs created since: RFC 3339, or a span back from now (1h, 30m, 2d)
    #[arg(long)]
    since: Option<String>,
    /// Only jobs created before: RFC 3339, or a span back from now
    #[arg(long)]
    until: Option<String>,
    /// Only jobs started by this user (scheduler, netbox, cli, api)
    #[arg(long)]
    user: Option<String>,
    /// Only jobs of this NetBox object, e.g. dcim.device/12
    #[arg(long)]
    object: Option<String>,
    /// Only jobs started this way: schedule, webhook, api, cli, retry, sync
    #[arg(long)]
    trigger: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Continue after this job id (printed at the end of a full page)
    #[arg(long)]
    cursor: Option<String>,
}

impl JobFilters {
    /// The filters as command-line flags and as the API's query, times made absolute once so
    /// the next page covers the same range.
    fn resolve(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Vec<(&'static str, String)>> {
        let time = |t: &Option<String>| -> anyhow::Result<Option<String>> {
            t.as_deref()
                .map(|t| crate::when::parse_time(t, now, crate::when::Unsigned::Ago))
                .transpose()
                .map(|t| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        };
        let mut query = Vec::new();
        for (key, value) in [
            ("name", self.name.clone()),
            ("kind", self.kind.clone()),
            ("status", self.status.clone()),
            ("since", time(&self.since)?),
            ("until", time(&self.until)?),
            ("user", self.user.clone()),
            ("object", self.object.clone()),
            ("trigger", self.trigger.clone()),
        ] {
            query.extend(value.map(|v| (key, v)));
        }
        Ok(query)
    }
}

/// A job's result in a few words for a table row.
fn one_line(job: &Value) -> String {
    let text = match (&job["error"], &job["result"]["message"]) {
        (Value::String(error), _) if job["status"] != "completed" => error.clone(),
        (_, Value::String(message)) => message.clone(),
        _ => String::new(),
    };
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

pub async fn jobs_ls(api: &ApiClient, filters: JobFilters, json: bool) -> anyhow::Result<()> {
    let given = filters.resolve(chrono::Utc::now())?;
    let mut query = given.clone();
    query.push(("limit", filters.limit.to_string()));
    query.extend(filters.cursor.clone().map(|c| ("cursor", c)));
    let page = api.get("/api/jobs", &query).await?;
    if json {
        print_json(&page);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = page["jobs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|job| {
            let duration =
                job["duration_ms"].as_i64().map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
            vec![
                text(&job["id"]),
                text(&job["name"]),
                text(&job["status"]),
                text(&job["trigger"]),
                text(&job["user"]),
                table::time(&job["started"]),
                table::time(&job["completed"]),
                duration,
                text(&job["object"]),
                one_line(job),
            ]
        })
        .collect();
    let headers = ["ID", "NAME", "STATUS", "TRIGGER", "USER", "STARTED", "COMPLETED", "DURATION", "OBJECT", "RESULT"];
    out!("{}", table::render(&headers, &rows));
    if let Some(next) = page["next_cursor"].as_str() {
        // The same filters, the range fixed: the next page continues this listing.
        let flags: String = given.iter().map(|(k, v)| format!(" --{k} {}", shell_word(v))).collect();
        outln!("more: nzj jobs ls{flags} --limit {} --cursor {next}", filters.limit);
    }
    Ok(())
}

/// `value` as one shell word.
fn shell_word(value: &str) -> String {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:+".contains(c)) {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Starts a system job; unless told not to, waits for it to end, showing that it is alive.
/// `[#####.....] 450/1000 objects: 12 created, 3 updated, 0 failed` from a running sync's result.
fn progress_bar(result: &Value) -> Option<String> {
    let (done, expected) = (result["total"].as_u64()?, result["expected"].as_u64()?);
    const WIDTH: u64 = 30;
    let filled = (done.min(expected) * WIDTH).checked_div(expected).unwrap_or(WIDTH);
    let n = |k: &str| result[k].as_u64().unwrap_or(0);
    Some(format!(
        "[{}{}] {done}/{expected} objects: {} created, {} updated, {} failed",
        "#".repeat(filled as usize),
        ".".repeat((WIDTH - filled) as usize),
        n("created"),
        n("updated"),
        n("failed")
    ))
}

pub async fn jobs_run(api: &ApiClient, name: &str, wait: bool, json: bool) -> anyhow::Result<()> {
    let started = api.post("/api/jobs", json!({ "name": name })).await?;
    let id = started["id"].as_str().ok_or_else(|| anyhow!("the API answered without a job id"))?.to_string();
    if !wait {
        if json {
            print_json(&started)
        } else {
            outln!("started {name}: job {id}")
        }
        return Ok(());
    }
    eprintln!("started {name}: job {id}");
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let spinner = ['|', '/', '-', '\\'];
    let mut tick = 0usize;
    let job = loop {
        let job = api.get(&format!("/api/jobs/{id}"), &[]).await?;
        if !matches!(job["status"].as_str(), Some("running" | "pending" | "scheduled")) {
            break job;
        }
        if interactive {
            match progress_bar(&job["result"]) {
                // A sync says how far it is: a progress bar.
                Some(bar) => eprint!("\r{bar}"),
                None => eprint!(
                    "\r{} {name} running ({} log lines)",
                    spinner[tick % 4],
                    job["log"]["entries"].as_array().map_or(0, Vec::len)
                ),
            }
        }
        tick += 1;
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    if interactive {
        eprint!("\r\x1b[K");
    }
    show_job(&job, json);
    if job["status"] == "completed" {
        Ok(())
    } else {
        Err(anyhow!("{name} {}: {}", text(&job["status"]), text(&job["error"])))
    }
}

/// Runs a failed or stalled job again as a new job linked to it; says which.
pub async fn jobs_retry(api: &ApiClient, id: &str, json: bool) -> anyhow::Result<()> {
    let retry = api.post(&format!("/api/jobs/{id}/retry"), json!({})).await?;
    if json {
        print_json(&retry);
    } else {
        outln!(
            "retrying job {id} as job {} ({}, attempt {})",
            text(&retry["id"]),
            text(&retry["status"]),
            retry["attempt"]
        );
    }
    Ok(())
}

pub async fn jobs_show(api: &ApiClient, id: &str, json: bool) -> anyhow::Result<()> {
    let job = api.get(&format!("/api/jobs/{id}"), &[]).await?;
    show_job(&job, json);
    Ok(())
}

fn show_job(job: &Value, json: bool) {
    if json {
        print_json(job);
        return;
    }
    for field in [
        "id",
        "name",
        "kind",
        "status",
        "trigger",
        "user",
        "object",
        "interval",
        "attempt",
        "created",
        "started",
        "completed",
        "duration_ms",
        "lease_until",
        "retry_of",
        "retried_by",
        "error",
    ] {
        outln!("{field:<12} {}", text(&job[field]));
    }
    outln!("{:<12} {}", "result", text(&job["result"]));
    let log = &job["log"];
    outln!("log:");
    for entry in log["entries"].as_array().map(Vec::as_slice).unwrap_or_default() {
        outln!("  {} {:<7} {}", table::time(&entry["time"]), text(&entry["level"]), text(&entry["message"]));
    }
    if log["dropped"].as_u64().unwrap_or(0) > 0 {
        outln!("  ({} older lines dropped)", log["dropped"]);
    }
}

#[cfg(test)]
mod tests {
    use super::progress_bar;
    use serde_json::json;

    #[test]
    fn a_running_sync_shows_a_progress_bar_and_other_jobs_do_not() {
        let result = json!({"total": 500, "expected": 1000, "created": 12, "updated": 3, "failed": 1});
        let bar = progress_bar(&result).unwrap();
        assert_eq!(
            bar,
            format!("[{}{}] 500/1000 objects: 12 created, 3 updated, 1 failed", "#".repeat(15), ".".repeat(15))
        );
        assert!(
            progress_bar(&json!({"total": 0, "expected": 0})).unwrap().starts_with(&format!("[{}]", "#".repeat(30)))
        );
        assert_eq!(progress_bar(&json!(null)), None);
    }
}

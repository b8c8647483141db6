//! `nzj jobs ls|show|run`: job records as a table or JSON, and a run followed to its end with a
//! progress bar for SyncHostsNow.

use crate::client::{ApiClient, print_json, text};
use crate::table;
use anyhow::anyhow;
use serde_json::{Value, json};

pub async fn jobs_ls(
    api: &ApiClient,
    name: Option<String>,
    status: Option<String>,
    limit: usize,
    cursor: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let mut query = vec![("limit", limit.to_string())];
    query.extend(name.map(|n| ("name", n)));
    query.extend(status.map(|s| ("status", s)));
    query.extend(cursor.map(|c| ("cursor", c)));
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
                text(&job["created"]),
                duration,
                text(&job["object"]),
            ]
        })
        .collect();
    print!("{}", table::render(&["ID", "NAME", "STATUS", "TRIGGER", "CREATED", "DURATION", "OBJECT"], &rows));
    if let Some(next) = page["next_cursor"].as_str() {
        println!("more: nzj jobs ls --cursor {next}");
    }
    Ok(())
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
            println!("started {name}: job {id}")
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
        "error",
    ] {
        println!("{field:<12} {}", text(&job[field]));
    }
    println!("{:<12} {}", "result", text(&job["result"]));
    let log = &job["log"];
    println!("log:");
    for entry in log["entries"].as_array().map(Vec::as_slice).unwrap_or_default() {
        println!("  {} {:<7} {}", text(&entry["time"]), text(&entry["level"]), text(&entry["message"]));
    }
    if log["dropped"].as_u64().unwrap_or(0) > 0 {
        println!("  ({} older lines dropped)", log["dropped"]);
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

//! The CLI side of the jobs API: `nzj jobs ...` and `nzj schedule ...`.

use crate::serve::token_path;
use crate::table;
use anyhow::{Context, anyhow};
use nzj_core::Interval;
use nzj_core::config::{DEFAULT_DATA_DIR, DEFAULT_LISTEN};
use serde_json::{Value, json};
use std::path::PathBuf;

pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// Requests to a deployment's Function URL (IAM auth) are SigV4-signed, as are all requests
    /// with NZJ_SIGV4=1; the signer (credentials, region) is made on first use.
    sigv4: Option<tokio::sync::OnceCell<crate::sigv4::Signer>>,
}

impl ApiClient {
    /// The endpoint from `--endpoint`/NZJ_ENDPOINT, else the local `nzj serve` (NZJ_LISTEN);
    /// the token from `--token`/NZJ_API_TOKEN, else the one `nzj serve` keeps in NZJ_DATA_DIR.
    pub fn from_cli(endpoint: Option<String>, token: Option<String>) -> Self {
        let base = endpoint.unwrap_or_else(|| {
            let listen = std::env::var("NZJ_LISTEN").unwrap_or_else(|_| DEFAULT_LISTEN.to_string());
            format!("http://{}", listen.replace("0.0.0.0", "127.0.0.1"))
        });
        let token = token.or_else(|| {
            let data_dir = std::env::var("NZJ_DATA_DIR").unwrap_or_else(|_| DEFAULT_DATA_DIR.to_string());
            std::fs::read_to_string(token_path(&PathBuf::from(data_dir))).ok().map(|t| t.trim().to_string())
        });
        let function_url =
            reqwest::Url::parse(&base).ok().and_then(|u| u.host_str().and_then(crate::sigv4::region_of)).is_some();
        let sigv4 =
            (function_url || std::env::var("NZJ_SIGV4").is_ok_and(|v| v == "1")).then(tokio::sync::OnceCell::new);
        ApiClient { base: base.trim_end_matches('/').to_string(), token, http: reqwest::Client::new(), sigv4 }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let mut request = match (&self.token, &self.sigv4) {
            (Some(token), None) => request.bearer_auth(token),
            _ => request,
        }
        .build()?;
        if let Some(signer) = &self.sigv4 {
            let signer = signer.get_or_try_init(|| crate::sigv4::Signer::for_endpoint(request.url())).await?;
            signer.sign(&mut request, std::time::SystemTime::now()).await?;
        }
        let response = self
            .http
            .execute(request)
            .await
            .with_context(|| format!("cannot reach the nzj API at {} (is `nzj serve` running?)", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"].as_str().unwrap_or("no message").to_string();
        if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
            return Err(anyhow!(
                "{status}: {message}; set NZJ_API_TOKEN, or run where `nzj serve` keeps its data (NZJ_DATA_DIR)"
            ));
        }
        Err(anyhow!("{status}: {message}"))
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query)).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).header("x-nzj-client", "cli").json(&body)).await
    }

    async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.delete(format!("{}{path}", self.base))).await
    }

    async fn patch(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(&body)).await
    }

    async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(self.http.put(format!("{}{path}", self.base)).json(&body)).await
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON value"));
}

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

pub async fn hosts_ls(
    api: &ApiClient,
    out_of_sync: bool,
    limit: usize,
    cursor: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let mut query = vec![("limit", limit.to_string())];
    if out_of_sync {
        query.push(("in_sync", "false".to_string()));
    }
    query.extend(cursor.map(|c| ("cursor", c)));
    let page = api.get("/api/hosts", &query).await?;
    if json {
        print_json(&page);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = page["hosts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|h| {
            let in_sync = match h["in_sync"].as_bool() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            let differs: Vec<String> = h["difference"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|d| text(&d["field"]))
                .collect();
            vec![
                text(&h["object"]),
                text(&h["host"]),
                text(&h["hostid"]),
                in_sync.to_string(),
                text(&h["last_sync_update"]),
                differs.join(", "),
            ]
        })
        .collect();
    print!("{}", table::render(&["OBJECT", "HOST", "HOSTID", "IN SYNC", "CHECKED", "DIFFERS IN"], &rows));
    if let Some(next) = page["next_cursor"].as_str() {
        println!("more: nzj hosts ls --cursor {next}");
    }
    Ok(())
}

pub async fn hosts_show(api: &ApiClient, object: &str) -> anyhow::Result<()> {
    print_json(&api.get(&format!("/api/hosts/{object}"), &[]).await?);
    Ok(())
}

pub async fn settings_show(api: &ApiClient) -> anyhow::Result<()> {
    print_json(&api.get("/api/settings", &[]).await?);
    Ok(())
}

/// Reads the settings' version, then changes the given fields from that version: if someone else
/// changed the settings in between, the API refuses (409) and nothing is changed.
pub async fn settings_set(api: &ApiClient, pairs: &[String]) -> anyhow::Result<()> {
    if !pairs.len().is_multiple_of(2) {
        return Err(anyhow!("give FIELD VALUE pairs; {:?} has no value", pairs.last().unwrap_or(&String::new())));
    }
    let current = api.get("/api/settings", &[]).await?;
    let mut patch = serde_json::Map::new();
    patch.insert("version".into(), current["version"].clone());
    for pair in pairs.chunks(2) {
        let value = serde_json::from_str(&pair[1]).unwrap_or_else(|_| Value::String(pair[1].clone()));
        patch.insert(pair[0].clone(), value);
    }
    let changed = api.patch("/api/settings", Value::Object(patch)).await?;
    println!("settings changed: version {}", changed["version"]);
    Ok(())
}

/// A maintenance window as given on the command line.
#[derive(clap::Args)]
pub struct WindowArgs {
    #[arg(long)]
    name: String,
    /// Start: RFC 3339 (2026-12-01T22:00:00Z), `now`, or relative to now (+30m, +2h, +1d)
    #[arg(long, default_value = "now")]
    from: String,
    /// End, in the same forms
    #[arg(long)]
    until: String,
    /// A Zabbix host name (repeatable)
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// A Zabbix host group name (repeatable)
    #[arg(long = "group")]
    host_groups: Vec<String>,
    /// A NetBox site: every host tagged with it (repeatable)
    #[arg(long = "site")]
    sites: Vec<String>,
    #[arg(long, default_value = "")]
    description: String,
}

/// `now`, `+30m` / `-2h` / `+1d` relative to now, or RFC 3339.
fn parse_time(text: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(sign @ ('+' | '-')) = text.chars().next() {
        let (amount, unit) = text[1..].split_at(text.len() - 2);
        let amount: i64 = amount.parse().map_err(|_| anyhow!("{text:?}: expected a number before the unit"))?;
        let span = match unit {
            "m" => chrono::Duration::minutes(amount),
            "h" => chrono::Duration::hours(amount),
            "d" => chrono::Duration::days(amount),
            _ => return Err(anyhow!("{text:?}: the unit must be m, h or d")),
        };
        return Ok(if sign == '+' { now + span } else { now - span });
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| anyhow!("{text:?} is not a time (RFC 3339, now, +30m, +2h, +1d): {e}"))
}

fn window_row(w: &Value) -> Vec<String> {
    let targets = ["hosts", "host_groups", "sites"]
        .iter()
        .filter_map(|k| {
            let list: Vec<String> = w["targets"][k].as_array()?.iter().map(text).collect();
            (!list.is_empty()).then(|| format!("{k}: {}", list.join(", ")))
        })
        .collect::<Vec<_>>()
        .join("; ");
    vec![
        text(&w["id"]),
        text(&w["name"]),
        text(&w["active_since"]),
        text(&w["active_till"]),
        text(&w["zabbix_id"]),
        targets,
    ]
}

const WINDOW_HEADERS: [&str; 6] = ["ID", "NAME", "FROM", "UNTIL", "ZABBIX ID", "TARGETS"];

pub async fn maintenance_ls(api: &ApiClient, json: bool) -> anyhow::Result<()> {
    let listed = api.get("/api/maintenances", &[]).await?;
    if json {
        print_json(&listed);
        return Ok(());
    }
    let rows: Vec<_> =
        listed["maintenances"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(window_row).collect();
    print!("{}", table::render(&WINDOW_HEADERS, &rows));
    Ok(())
}

pub async fn maintenance_show(api: &ApiClient, id: &str) -> anyhow::Result<()> {
    print_json(&api.get(&format!("/api/maintenances/{id}"), &[]).await?);
    Ok(())
}

/// Creates a window, or replaces window `id`.
pub async fn maintenance_create(api: &ApiClient, id: Option<&str>, args: WindowArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let body = json!({
        "name": args.name,
        "description": args.description,
        "active_since": parse_time(&args.from, now)?,
        "active_till": parse_time(&args.until, now)?,
        "hosts": args.hosts,
        "host_groups": args.host_groups,
        "sites": args.sites,
    });
    let window = match id {
        None => api.post("/api/maintenances", body).await?,
        Some(id) => api.put(&format!("/api/maintenances/{id}"), body).await?,
    };
    print!("{}", table::render(&WINDOW_HEADERS, &[window_row(&window)]));
    Ok(())
}

pub async fn maintenance_rm(api: &ApiClient, id: &str) -> anyhow::Result<()> {
    api.delete(&format!("/api/maintenances/{id}")).await?;
    println!("deleted maintenance window {id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse_time, progress_bar};
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

    #[test]
    fn times_are_absolute_now_or_relative() {
        let now: chrono::DateTime<chrono::Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("+30m", now).unwrap().to_rfc3339(), "2026-01-01T12:30:00+00:00");
        assert_eq!(parse_time("-2h", now).unwrap().to_rfc3339(), "2026-01-01T10:00:00+00:00");
        assert_eq!(parse_time("+1d", now).unwrap().to_rfc3339(), "2026-01-02T12:00:00+00:00");
        assert_eq!(parse_time("2026-03-01T00:00:00Z", now).unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert!(parse_time("+5y", now).is_err());
        assert!(parse_time("tomorrow", now).is_err());
    }
}

//! `nzj hosts ls|show|sync|retry`: the managed hosts, whether each is in sync with NetBox, which
//! failed and why, and host jobs started for some of them.

use crate::client::{ApiClient, print_json, text};
use crate::table;

pub async fn hosts_ls(
    api: &ApiClient,
    out_of_sync: bool,
    failed: bool,
    limit: usize,
    cursor: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let mut query = vec![("limit", limit.to_string())];
    if out_of_sync {
        query.push(("in_sync", "false".to_string()));
    }
    if failed {
        query.push(("failed", "true".to_string()));
    }
    query.extend(cursor.map(|c| ("cursor", c)));
    let page = api.get("/api/hosts", &query).await?;
    if json {
        print_json(&page);
        return Ok(());
    }
    if failed {
        let rows: Vec<Vec<String>> =
            page["hosts"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(failure_row).collect();
        let headers = ["OBJECT", "HOST", "JOB", "FAILED AT", "ERROR", "ZABBIX SAID", "HINT"];
        out!("{}", table::render(&headers, &rows));
        if let Some(next) = page["next_cursor"].as_str() {
            outln!("more: nzj hosts ls --failed --limit {limit} --cursor {next}");
        }
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
                text(&h["sync_state"]),
                in_sync.to_string(),
                table::time(&h["last_sync_update"]),
                differs.join(", "),
            ]
        })
        .collect();
    out!("{}", table::render(&["OBJECT", "HOST", "HOSTID", "STATE", "IN SYNC", "CHECKED", "DIFFERS IN"], &rows));
    if let Some(next) = page["next_cursor"].as_str() {
        outln!("more: nzj hosts ls --cursor {next}");
    }
    Ok(())
}

/// A failed host as a row: its object, host, the job, when, the error, Zabbix's error, the hint.
fn failure_row(h: &serde_json::Value) -> Vec<String> {
    let f = &h["last_failure"];
    let zabbix = match &f["zabbix"] {
        serde_json::Value::Null => "-".to_string(),
        z => format!("{} {} (code {})", text(&z["message"]), text(&z["data"]), z["code"]),
    };
    vec![
        text(&h["object"]),
        text(&h["host"]),
        text(&f["job"]),
        table::time(&f["at"]),
        text(&f["error"]),
        zabbix,
        text(&f["hint"]),
    ]
}

/// Starts a host job for each object (`nzj hosts sync OBJECT..`), or for every host whose last job
/// failed (`nzj hosts retry --failed`), through the normal path (one job per object, 409 while
/// one is pending or running); says what became of each. Fails if any could not start.
pub async fn hosts_sync(api: &ApiClient, objects: &[String], failed: bool, json: bool) -> anyhow::Result<()> {
    let mut objects = objects.to_vec();
    if failed {
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("failed", "true".to_string()), ("limit", "500".to_string())];
            query.extend(cursor.take().map(|c| ("cursor", c)));
            let page = api.get("/api/hosts", &query).await?;
            let hosts = page["hosts"].as_array().map(Vec::as_slice).unwrap_or_default();
            objects.extend(hosts.iter().map(|h| text(&h["object"])));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
    }
    let mut results = Vec::new();
    let mut refused = 0;
    for object in &objects {
        let answer = api.post(&format!("/api/hosts/{object}/sync"), serde_json::json!({})).await;
        let (job, error) = match answer {
            Ok(job) => (text(&job["id"]), String::new()),
            Err(e) => {
                refused += 1;
                ("-".to_string(), format!("{e:#}"))
            }
        };
        results.push(serde_json::json!({"object": object, "job": job, "error": error}));
    }
    if json {
        print_json(&serde_json::json!({"started": objects.len() - refused, "refused": refused, "objects": results}));
    } else {
        let rows: Vec<Vec<String>> =
            results.iter().map(|r| vec![text(&r["object"]), text(&r["job"]), text(&r["error"])]).collect();
        out!("{}", table::render(&["OBJECT", "JOB", "REFUSED"], &rows));
        outln!("{} started, {refused} refused", objects.len() - refused);
    }
    if refused > 0 { Err(anyhow::anyhow!("{refused} of {} host jobs were not started", objects.len())) } else { Ok(()) }
}

pub async fn hosts_show(api: &ApiClient, object: &str) -> anyhow::Result<()> {
    print_json(&api.get(&format!("/api/hosts/{object}"), &[]).await?);
    Ok(())
}

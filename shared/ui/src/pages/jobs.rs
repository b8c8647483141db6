//! The jobs list (filters: name, status, time range, object, user; paging; live while jobs run)
//! and a job's detail (fields, result, error, log, the retries before and after it, Retry).

use super::{Form, segment, to_started_job, with_query};
use crate::Ui;
use crate::session::Authed;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use chrono::{Duration, NaiveDateTime};
use nzj_core::{JobName, JobStatus};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const FILTERS: &[&str] = &["name", "status", "object", "user", "since", "until", "tz"];
/// How many retries back a job's detail follows.
const HISTORY: usize = 10;

/// A `datetime-local` value (the browser's wall time) with the browser's offset from UTC in
/// minutes (`Date.getTimezoneOffset`, filled in by the script; 0 without it) as RFC 3339 UTC.
pub(crate) fn local_to_utc(local: &str, tz_minutes: &str) -> Result<String, String> {
    let local = local.trim();
    let parsed = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("{local:?} is not a date and time (2026-12-05T14:30)"))?;
    let offset: i64 = tz_minutes.trim().parse().unwrap_or(0);
    if offset.abs() > 18 * 60 {
        return Err(format!("time zone offset {offset} minutes is not one"));
    }
    let utc = (parsed + Duration::minutes(offset)).and_utc();
    Ok(utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// `GET /jobs`: newest first, the API's own filters; a bad filter says what is wrong.
pub(crate) async fn list(
    State(ui): State<Arc<Ui>>,
    who: Authed,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let get = |key: &str| query.get(key).map(String::as_str).unwrap_or_default();
    let tz = get("tz");
    let mut problems = Vec::new();
    let mut time = |key: &str| match get(key).trim() {
        "" => String::new(),
        local => local_to_utc(local, tz).unwrap_or_else(|e| {
            problems.push(format!("{key}: {e}"));
            String::new()
        }),
    };
    let (since, until) = (time("since"), time("until"));
    let pairs = [
        ("name", get("name")),
        ("status", get("status")),
        ("object", get("object")),
        ("user", get("user")),
        ("since", since.as_str()),
        ("until", until.as_str()),
        ("cursor", get("cursor")),
    ];
    let answer = if problems.is_empty() {
        ui.read(&who, &with_query("/api/jobs", &pairs)).await
    } else {
        Err(problems.join("; "))
    };
    let (jobs, next_cursor, error) = match answer {
        Ok(page) => (page["jobs"].clone(), page["next_cursor"].clone(), None),
        Err(e) => (json!([]), Value::Null, Some(e)),
    };
    let live = jobs.as_array().is_some_and(|jobs| jobs.iter().any(is_live));
    let kept: Vec<(&str, &str)> = FILTERS.iter().map(|k| (*k, get(k))).collect();
    let older = next_cursor.as_str().map(|cursor| {
        let mut pairs = kept.clone();
        pairs.push(("cursor", cursor));
        with_query("/jobs", &pairs)
    });
    let filters: HashMap<&str, &str> = kept.iter().copied().collect();
    let page = json!({
        "jobs": jobs, "live": live, "error": error, "filters": filters, "names": JobName::ALL.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        "statuses": JobStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "older": older, "paged": !get("cursor").is_empty(), "newest": with_query("/jobs", &kept),
    });
    ui.page(&who, "jobs.html", "jobs", page)
}

fn is_live(job: &Value) -> bool {
    matches!(job["status"].as_str(), Some("pending" | "scheduled" | "running"))
}

/// The API's address of job `id`.
fn job_api(id: &str) -> String {
    format!("/api/jobs/{}", segment(id))
}

/// `GET /jobs/{id}`: everything the record says, and its retries.
pub(crate) async fn show(State(ui): State<Arc<Ui>>, who: Authed, Path(id): Path<String>) -> Response {
    let job = match ui.read(&who, &job_api(&id)).await {
        Ok(job) => job,
        Err(e) => return crate::problem(axum::http::StatusCode::NOT_FOUND, &e),
    };
    // The retries before this one, oldest first.
    let mut earlier = Vec::new();
    let mut previous = job["retry_of"].as_str().map(str::to_string);
    while let Some(id) = previous.take().filter(|_| earlier.len() < HISTORY) {
        let Ok(record) = ui.read(&who, &job_api(&id)).await else { break };
        previous = record["retry_of"].as_str().map(str::to_string);
        earlier.insert(
            0,
            json!({"id": id, "status": record["status"], "created": record["created"], "error": record["error"]}),
        );
    }
    let later = match job["retried_by"].as_str() {
        Some(id) => ui.read(&who, &job_api(id)).await.ok(),
        None => None,
    };
    let retriable = matches!(job["status"].as_str(), Some("failed" | "stalled")) && job["retried_by"].is_null();
    let page = json!({
        "job": job, "live": is_live(&job), "earlier": earlier, "later": later, "retriable": retriable,
        "result": job["result"].as_object().map(|_| serde_json::to_string_pretty(&job["result"]).unwrap_or_default()),
    });
    ui.page(&who, "job.html", "jobs", page)
}

/// `POST /jobs/{id}/retry`: the API's retry; the new job's page next.
pub(crate) async fn retry(
    State(ui): State<Arc<Ui>>,
    who: Authed,
    Path(id): Path<String>,
    axum::Form(form): Form,
) -> Response {
    let call = (Method::POST, format!("/api/jobs/{}/retry", segment(&id)), None);
    let back = format!("/jobs/{}", segment(&id));
    ui.act(
        &who,
        &form,
        call,
        |job| format!("Retrying as job {}", job["id"].as_str().unwrap_or("?")),
        to_started_job(back),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_time_and_the_browsers_offset_become_utc_and_nonsense_is_named() {
        // Berlin in winter: getTimezoneOffset() is -60.
        assert_eq!(local_to_utc("2026-12-05T14:30", "-60").unwrap(), "2026-12-05T13:30:00Z");
        assert_eq!(local_to_utc("2026-12-05T14:30:15", "300").unwrap(), "2026-12-05T19:30:15Z");
        assert_eq!(local_to_utc("2026-12-05T14:30", "").unwrap(), "2026-12-05T14:30:00Z", "no script: UTC");
        assert!(local_to_utc("yesterday", "0").unwrap_err().contains("not a date and time"));
        assert!(local_to_utc("2026-12-05T14:30", "100000").is_err());
    }
}

//! The system jobs' schedule (and SyncHostsNow's): interval, last and next run, why a job is not
//! triggered; an admin changes an interval, an operator runs a job now. SyncHostsNow runs only
//! through its confirmation page, which shows the plan first.

use super::{Form, csrf_refused, segment, to_started_job};
use crate::Ui;
use crate::session::Authed;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) async fn show(State(ui): State<Arc<Ui>>, who: Authed) -> Response {
    let (jobs, error) = match ui.read(&who, "/api/schedule").await {
        Ok(answer) => (answer["jobs"].clone(), None),
        Err(e) => (json!([]), Some(e)),
    };
    ui.page(&who, "schedule.html", "schedule", json!({"jobs": jobs, "error": error}))
}

/// The interval field: minutes, or empty / "off" for off.
fn interval(text: &str) -> Result<Value, String> {
    match text.trim() {
        "" | "off" => Ok(Value::Null),
        minutes => match minutes.parse::<u64>() {
            Ok(m) => Ok(json!(m)),
            Err(_) => Err(format!("interval: {minutes:?} is not a number of minutes (or empty for off)")),
        },
    }
}

/// `POST /schedule/{job}` with `interval`: the API's interval change (it checks the range).
pub(crate) async fn set_interval(
    State(ui): State<Arc<Ui>>,
    who: Authed,
    Path(job): Path<String>,
    axum::Form(form): Form,
) -> Response {
    if let Some(refused) = csrf_refused(&who, &form) {
        return refused;
    }
    let minutes = match interval(form.get("interval").map(String::as_str).unwrap_or_default()) {
        Ok(minutes) => minutes,
        Err(e) => {
            who.session.flash(false, e);
            return Redirect::to("/schedule").into_response();
        }
    };
    let call = (Method::PUT, format!("/api/schedule/{}", segment(&job)), Some(json!({"interval": minutes})));
    let said = match minutes.as_u64() {
        Some(m) => format!("{job} now runs every {m} minutes"),
        None => format!("{job} is now off"),
    };
    ui.act(&who, &form, call, |_| said, |_| "/schedule".into()).await
}

/// `POST /schedule/{job}/run`: a system job now; its page next.
pub(crate) async fn run_now(
    State(ui): State<Arc<Ui>>,
    who: Authed,
    Path(job): Path<String>,
    axum::Form(form): Form,
) -> Response {
    let call = (Method::POST, "/api/jobs".to_string(), Some(json!({"name": job})));
    ui.act(
        &who,
        &form,
        call,
        |record| format!("{job} started as job {}", record["id"].as_str().unwrap_or("?")),
        to_started_job("/schedule".into()),
    )
    .await
}

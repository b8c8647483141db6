//! "Sync all hosts now" behind a confirmation that shows the plan first (`POST /api/plan` with
//! the current settings: what the sync would create, update, disable and delete, and whether the
//! deletion breaker would hold deletions), then the sync itself (`POST /api/jobs`).

use super::{Form, to_started_job};
use crate::Ui;
use crate::session::Authed;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// How many planned changes the confirmation lists (the counts cover all of them).
const LISTED: usize = 100;

pub(crate) async fn confirm(State(ui): State<Arc<Ui>>, who: Authed) -> Response {
    let path = format!("/api/plan?limit={LISTED}");
    let (plan, error) = match ui.call(&who, Method::POST, &path, Some(json!({}))).await {
        Ok(plan) => (plan, None),
        Err(e) => (json!(null), Some(e)),
    };
    ui.page(&who, "sync.html", "sync", json!({"plan": plan, "error": error}))
}

pub(crate) async fn run(State(ui): State<Arc<Ui>>, who: Authed, axum::Form(form): Form) -> Response {
    let call = (Method::POST, "/api/jobs".to_string(), Some(json!({"name": "SyncHostsNow"})));
    ui.act(
        &who,
        &form,
        call,
        |job| format!("SyncHostsNow started as job {}", job["id"].as_str().unwrap_or("?")),
        to_started_job("/sync".into()),
    )
    .await
}

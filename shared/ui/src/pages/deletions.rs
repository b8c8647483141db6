//! Deletions the breaker held: what each would delete and why, released (run past the breaker)
//! or discarded (the host stays) by an admin, one or all.

use super::Form;
use crate::Ui;
use crate::session::Authed;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

pub(crate) async fn list(State(ui): State<Arc<Ui>>, who: Authed) -> Response {
    let (deletions, error) = match ui.read(&who, "/api/deletions").await {
        Ok(answer) => (answer["deletions"].clone(), None),
        Err(e) => (json!([]), Some(e)),
    };
    ui.page(&who, "deletions.html", "deletions", json!({"deletions": deletions, "error": error}))
}

/// `POST /deletions/release` or `/deletions/discard` with `job` (one) or `all`.
pub(crate) async fn decide(
    State(ui): State<Arc<Ui>>,
    who: Authed,
    Path(decision): Path<String>,
    axum::Form(form): Form,
) -> Response {
    if !matches!(decision.as_str(), "release" | "discard") {
        return crate::problem(StatusCode::NOT_FOUND, "a held deletion is released or discarded");
    }
    let body = match form.get("job").filter(|j| !j.is_empty()) {
        Some(job) => json!({"ids": [job]}),
        None => json!({"all": true}),
    };
    let call = (Method::POST, format!("/api/deletions/{decision}"), Some(body));
    let done = move |answer: &serde_json::Value| {
        let (decided, refused) = (answer["decided"].as_u64().unwrap_or(0), answer["refused"].as_u64().unwrap_or(0));
        let verb = if decision == "release" { "released" } else { "discarded" };
        format!("{decided} {verb}, {refused} refused")
    };
    ui.act(&who, &form, call, done, |_| "/deletions".into()).await
}

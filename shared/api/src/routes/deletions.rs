//! `/api/deletions`: the deletions the breaker held, and an operator's decision on them
//! (`nzj deletions ls | release | discard`). Releasing runs a deletion past the breaker as a
//! DeleteHost job; discarding keeps the host.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::request::object_body;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use nzj_core::JobId;
use nzj_jobs::HeldDeletions;
use nzj_jobs::deletions::{Decided, Selection, held};
use serde_json::{Value, json};
use std::sync::Arc;

const EXAMPLE: &str = r#"{"ids": ["<held job id>", ...]} or {"all": true}, with an optional "user": "alice""#;

/// `GET /api/deletions`: every held deletion, newest first, with what it would delete.
pub(crate) async fn list_deletions(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let jobs = held(state.store.as_ref()).await?;
    let deletions: Vec<Value> = jobs
        .iter()
        .map(|job| {
            let result = job.result.clone().unwrap_or_default();
            json!({
                "job": job.id, "name": job.name, "object": job.object, "hostid": result["hostid"],
                "host": result["host"], "held": job.started, "user": job.user, "trigger": job.trigger,
                "reason": result["message"],
            })
        })
        .collect();
    Ok(Json(json!({"count": deletions.len(), "deletions": deletions})))
}

/// The selection and the deciding user of a release or discard body.
fn decision(body: &Bytes) -> ApiResult<(Selection, String)> {
    let fields = object_body(body, &["ids", "all", "user"], EXAMPLE)?;
    let user = match fields.get("user") {
        None => "api".to_string(),
        Some(Value::String(u)) if !u.trim().is_empty() && u.len() <= 64 => u.trim().to_string(),
        Some(_) => return Err(ApiError::bad_request("user: a name of 1 to 64 characters")),
    };
    let all = match fields.get("all") {
        None => false,
        Some(Value::Bool(all)) => *all,
        Some(_) => return Err(ApiError::bad_request("all: true or false")),
    };
    let selection = match (fields.get("ids"), all) {
        (Some(_), true) => return Err(ApiError::bad_request(format!("name ids or all, not both: {EXAMPLE}"))),
        (None, true) => Selection::All,
        (None, false) => return Err(ApiError::bad_request(format!("nothing selected: {EXAMPLE}"))),
        (Some(Value::Array(ids)), false) if !ids.is_empty() && ids.len() <= 1000 => Selection::Ids(
            ids.iter()
                .map(|id| {
                    id.as_str()
                        .and_then(|s| s.parse::<JobId>().ok())
                        .ok_or_else(|| ApiError::bad_request(format!("ids: {id} is not a job id")))
                })
                .collect::<ApiResult<_>>()?,
        ),
        (Some(_), false) => return Err(ApiError::bad_request("ids: a list of 1 to 1000 job ids")),
    };
    Ok((selection, user))
}

fn answer(decided: Vec<Decided>) -> Json<Value> {
    let failed = decided.iter().filter(|d| d.error.is_some()).count();
    Json(json!({"decided": decided.len() - failed, "refused": failed, "deletions": decided}))
}

fn held_deletions(state: &AppState) -> HeldDeletions {
    HeldDeletions::new(state.store.clone(), state.launcher.clock.clone(), state.launcher.scheduler.retention())
}

/// `POST /api/deletions/release`: runs the selected held deletions (each as a DeleteHost job).
pub(crate) async fn release_deletions(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Json<Value>> {
    let (selection, user) = decision(&body)?;
    let Some(queue) = &state.intake_queue else {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no host queue is configured to run deletions on"));
    };
    Ok(answer(held_deletions(&state).release(&selection, &user, queue.as_ref()).await?))
}

/// `POST /api/deletions/discard`: drops the selected held deletions; their hosts stay.
pub(crate) async fn discard_deletions(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Json<Value>> {
    let (selection, user) = decision(&body)?;
    Ok(answer(held_deletions(&state).discard(&selection, &user).await?))
}

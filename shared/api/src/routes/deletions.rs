//! `/api/deletions`: the deletions the breaker held, and an operator's decision on them
//! (`nzj deletions ls | release | discard`). Releasing runs a deletion past the breaker as a
//! DeleteHost job; discarding keeps the host.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::request::{ids_or_all, object_body};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use nzj_core::JobId;
use nzj_jobs::HeldDeletions;
use nzj_jobs::deletions::{Decided, Selection, held};
use serde_json::{Value, json};
use std::sync::Arc;

const EXAMPLE: &str = r#"{"ids": ["<held job id>", ...]} or {"all": true}"#;

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

/// The selection of a release or discard body.
fn decision(body: &Bytes) -> ApiResult<Selection> {
    let fields = object_body(body, &["ids", "all"], EXAMPLE)?;
    let selection = match ids_or_all(&fields, EXAMPLE, "a job id", |id| id.parse::<JobId>().ok())? {
        None => Selection::All,
        Some(ids) => Selection::Ids(ids),
    };
    Ok(selection)
}

fn answer(decided: Vec<Decided>) -> Json<Value> {
    let failed = decided.iter().filter(|d| d.error.is_some()).count();
    Json(json!({"decided": decided.len() - failed, "refused": failed, "deletions": decided}))
}

fn held_deletions(state: &AppState) -> HeldDeletions {
    HeldDeletions::new(state.store.clone(), state.launcher.clock.clone(), state.launcher.scheduler.retention())
}

/// `POST /api/deletions/release`: runs the selected held deletions (each as a DeleteHost job).
pub(crate) async fn release_deletions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (selection, user) = (decision(&body)?, caller.name);
    let Some(queue) = &state.intake_queue else {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no host queue is configured to run deletions on"));
    };
    Ok(answer(held_deletions(&state).release(&selection, &user, queue.as_ref()).await?))
}

/// `POST /api/deletions/discard`: drops the selected held deletions; their hosts stay.
pub(crate) async fn discard_deletions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (selection, user) = (decision(&body)?, caller.name);
    Ok(answer(held_deletions(&state).discard(&selection, &user).await?))
}

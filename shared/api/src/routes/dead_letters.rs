//! `/api/dlq`: the dead letters of the host and bulk queues (`nzj dlq ls | show | redrive |
//! purge`). Reading them is a viewer's, redriving an operator's (it runs jobs), purging an admin's
//! (it throws work away). What a redrive does: `nzj_jobs::dead_letters`.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::request::{ids_or_all, object_body};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use nzj_jobs::DeadLetters;
use nzj_jobs::dead_letters::DeadLetterError;
use serde_json::{Value, json};
use std::sync::Arc;

const EXAMPLE: &str = r#"{"ids": ["host:17", ...]} or {"all": true}"#;

fn dead_letters(state: &AppState) -> DeadLetters {
    DeadLetters {
        store: state.store.clone(),
        clock: state.launcher.clock.clone(),
        retention: state.launcher.scheduler.retention(),
        host: state.intake_queue.clone(),
        bulk: state.sync.as_ref().map(|s| (s.sync.clone(), s.queue.clone())),
    }
}

impl From<DeadLetterError> for ApiError {
    fn from(e: DeadLetterError) -> Self {
        match e {
            DeadLetterError::Queue(e) => e.into(),
            DeadLetterError::Store(e) => e.into(),
            DeadLetterError::BadId(message) => ApiError::bad_request(message),
        }
    }
}

/// The ids (or all) a redrive or purge body selects.
fn selection(body: &Bytes) -> ApiResult<Option<Vec<String>>> {
    let fields = object_body(body, &["ids", "all"], EXAMPLE)?;
    ids_or_all(&fields, EXAMPLE, "a dead letter's id (host:<id> or bulk:<id>)", |id| {
        (id.len() <= 256 && id.contains(':')).then(|| id.to_string())
    })
}

/// `GET /api/dlq`: every dead letter with its job, object and the job's last error.
pub(crate) async fn list_dead_letters(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let entries = dead_letters(&state).list().await?;
    Ok(Json(json!({"count": entries.len(), "dead_letters": entries})))
}

/// `GET /api/dlq/{id}`: one dead letter and its message.
pub(crate) async fn show_dead_letter(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = dead_letters(&state).show(&id).await?;
    let (entry, message) = found.ok_or_else(|| ApiError::not_found(format!("no dead letter {id:?}")))?;
    let mut shown = serde_json::to_value(entry).unwrap_or_default();
    shown["message"] = message;
    Ok(Json(shown))
}

/// `POST /api/dlq/redrive`: runs the selected dead letters' jobs again through the normal path and
/// removes the letters; what became of each is in the answer.
pub(crate) async fn redrive_dead_letters(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ids = selection(&body)?;
    let origin = caller.origin(&headers, None);
    let results = dead_letters(&state).redrive(ids.as_deref(), &origin).await?;
    let kept = results.iter().filter(|r| r.outcome == nzj_jobs::RedriveOutcome::Kept).count();
    Ok(Json(json!({"redriven": results.len() - kept, "kept": kept, "results": results})))
}

/// `POST /api/dlq/purge`: removes the selected dead letters without running anything.
pub(crate) async fn purge_dead_letters(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Json<Value>> {
    let ids = selection(&body)?;
    let removed = dead_letters(&state).purge(ids.as_deref()).await?;
    Ok(Json(json!({"removed": removed})))
}

//! `/api/jobs`: job records listed and shown, and manual runs of a system job or SyncHostsNow.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::request::{object_body, page_limit, param, refuse_unknown};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nzj_core::job::JobOrigin;
use nzj_core::{JobId, JobName, JobRecord, JobStatus, SystemJob};
use nzj_core::{SkipReason, Trigger};
use nzj_runtime::TriggerOutcome;
use nzj_store::JobQuery;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) async fn list_jobs(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    refuse_unknown(&params, &["name", "status", "limit", "cursor"])?;
    let limit = page_limit(&params)?;
    let query = JobQuery {
        name: param::<JobName>(&params, "name")?,
        status: param::<JobStatus>(&params, "status")?,
        before: param::<JobId>(&params, "cursor")?,
        limit,
    };
    let page = state.store.list_jobs(&query).await?;
    Ok(Json(json!({"jobs": page.jobs, "next_cursor": page.next_cursor})))
}

/// `{"name": "ImportZabbixSettings"}`: run a system job now. 202 with the job; 409 while the
/// same job is pending or running.
pub(crate) async fn run_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object_body(&body, &["name"], r#"{"name": "ImportZabbixSettings"}"#)?;
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(r#"missing field "name" (a job name, e.g. "ImportZabbixSettings")"#))?;
    let name: JobName = name.parse().map_err(|e: nzj_core::job::UnknownName| ApiError::bad_request(e.to_string()))?;
    // The CLI says it is the CLI; anything else is the API.
    let trigger = if headers.get("x-nzj-client").is_some_and(|v| v == "cli") { Trigger::Cli } else { Trigger::Api };
    let origin = JobOrigin { trigger, user: trigger.to_string(), object: None };
    if name == JobName::SyncHostsNow {
        return run_sync(&state, origin).await;
    }
    let Some(job) = SystemJob::ALL.iter().copied().find(|j| JobName::from(*j) == name) else {
        return Err(ApiError::bad_request(format!(
            "{name} runs per NetBox object: POST /api/hosts/{{kind}}/{{id}}/sync (e.g. /api/hosts/dcim.device/1/sync)"
        )));
    };
    if let Some(reason) = state.launcher.registry.unavailable_reason(job) {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{job} cannot run here: {reason}")));
    }
    match state.launcher.scheduler.run_now(job, origin).await? {
        TriggerOutcome::Claimed(run) if state.runs_in_request => {
            let record = state.launcher.run_to_end(*run).await?;
            Ok((StatusCode::ACCEPTED, Json(record)).into_response())
        }
        TriggerOutcome::Claimed(run) => {
            let record = run.record.clone();
            state.launcher.launch(*run);
            Ok((StatusCode::ACCEPTED, Json(record)).into_response())
        }
        TriggerOutcome::Skipped(SkipReason::Running { job: running }) => Ok((
            StatusCode::CONFLICT,
            Json(json!({"error": format!("{job} is already running as job {running}"), "job": running})),
        )
            .into_response()),
        other => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("unexpected outcome {other:?}"))),
    }
}

/// SyncHostsNow: 202 with the job, its steps on the bulk queue; 409 while a sync is pending or
/// running.
pub(crate) async fn run_sync(state: &AppState, origin: JobOrigin) -> ApiResult<Response> {
    let Some(launcher) = &state.sync else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SyncHostsNow cannot run here: it needs Zabbix and NetBox (NZJ_ZABBIX_URL, NZJ_NETBOX_URL and their tokens)",
        ));
    };
    match launcher.sync.launch(launcher.queue.as_ref(), origin).await {
        Ok(record) => Ok((StatusCode::ACCEPTED, Json(record)).into_response()),
        Err(nzj_jobs::StartError::Busy { job, status }) => Ok((
            StatusCode::CONFLICT,
            Json(json!({"error": format!("SyncHostsNow is already {status} as job {job}"), "job": job})),
        )
            .into_response()),
        Err(nzj_jobs::StartError::Store(e)) => Err(e.into()),
        Err(e @ nzj_jobs::StartError::Queue(_)) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

pub(crate) async fn show_job(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Json<JobRecord>> {
    let unknown = || ApiError::not_found(format!("no job with id {id:?}"));
    let job_id: JobId = id.parse().map_err(|_| unknown())?;
    state.store.get_job(&job_id).await?.map(Json).ok_or_else(unknown)
}

//! `/api/jobs`: job records listed and shown, and manual runs of a system job or SyncHostsNow.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::request::{object_body, page_limit, param, refuse_unknown};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use nzj_core::job::JobOrigin;
use nzj_core::{JobId, JobKind, JobName, JobRecord, JobStatus, SystemJob};
use nzj_core::{SkipReason, Trigger};
use nzj_jobs::RetryError;
use nzj_runtime::{RunPlace, TriggerOutcome};
use nzj_store::JobQuery;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// `GET /api/jobs`: newest first, filtered by any of name, kind, status, user, object, trigger
/// and a time range (`since`, `until`: RFC 3339); `cursor` continues a page with the same filters.
/// The list leaves out each job's log (`GET /api/jobs/{id}` has it).
pub(crate) async fn list_jobs(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    refuse_unknown(
        &params,
        &["name", "kind", "status", "user", "object", "trigger", "since", "until", "limit", "cursor"],
    )?;
    let limit = page_limit(&params)?;
    let time = |key: &str| -> ApiResult<Option<DateTime<Utc>>> {
        params
            .get(key)
            .map(|t| {
                DateTime::parse_from_rfc3339(t.trim()).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                    ApiError::bad_request(format!("{key}: {t:?} is not an RFC 3339 time (2026-12-01T22:00:00Z)"))
                })
            })
            .transpose()
    };
    let text = |key: &str| params.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let query = JobQuery {
        name: param::<JobName>(&params, "name")?,
        kind: param::<JobKind>(&params, "kind")?,
        status: param::<JobStatus>(&params, "status")?,
        since: time("since")?,
        until: time("until")?,
        user: text("user"),
        object: text("object"),
        trigger: param::<Trigger>(&params, "trigger")?,
        before: param::<JobId>(&params, "cursor")?,
        limit,
    };
    let page = state.store.list_jobs(&query).await?;
    let jobs: Vec<Value> = page
        .jobs
        .into_iter()
        .map(|job| {
            let mut listed = serde_json::to_value(job).unwrap_or_default();
            if let Some(fields) = listed.as_object_mut() {
                fields.remove("log");
            }
            listed
        })
        .collect();
    Ok(Json(json!({"jobs": jobs, "next_cursor": page.next_cursor})))
}

/// `{"name": "ImportZabbixSettings"}`: run a system job now. 202 with the job; 409 while the
/// same job is pending or running.
pub(crate) async fn run_job(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let object = object_body(&body, &["name"], r#"{"name": "ImportZabbixSettings"}"#)?;
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(r#"missing field "name" (a job name, e.g. "ImportZabbixSettings")"#))?;
    let name: JobName = name.parse().map_err(|e: nzj_core::job::UnknownName| ApiError::bad_request(e.to_string()))?;
    let origin = caller.origin(&headers, None);
    if name == JobName::SyncHostsNow {
        return run_sync(&state, origin, None).await;
    }
    let Some(job) = SystemJob::ALL.iter().copied().find(|j| JobName::from(*j) == name) else {
        return Err(ApiError::bad_request(format!(
            "{name} runs per NetBox object: POST /api/hosts/{{kind}}/{{id}}/sync (e.g. /api/hosts/dcim.device/1/sync)"
        )));
    };
    run_system(&state, job, origin, None).await
}

fn conflict(error: String, job: &JobId) -> Response {
    (StatusCode::CONFLICT, Json(json!({"error": error, "job": job}))).into_response()
}

/// A system job run now, or (`retrying`) as the retry of that failed run.
async fn run_system(
    state: &AppState,
    job: SystemJob,
    origin: JobOrigin,
    retrying: Option<&JobId>,
) -> ApiResult<Response> {
    if let Some(reason) = state.launcher.registry.unavailable_reason(job) {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{job} cannot run here: {reason}")));
    }
    let scheduler = &state.launcher.scheduler;
    let outcome = match retrying {
        Some(previous) => scheduler.retry(job, origin, previous).await?,
        None => scheduler.run_now(job, origin).await?,
    };
    match (outcome, &state.runs) {
        (TriggerOutcome::Claimed(run), RunPlace::InRequest) => {
            let record = state.launcher.run_to_end(*run).await?;
            Ok((StatusCode::ACCEPTED, Json(record)).into_response())
        }
        (TriggerOutcome::Claimed(run), RunPlace::Background) => {
            let record = run.record.clone();
            state.launcher.launch(*run);
            Ok((StatusCode::ACCEPTED, Json(record)).into_response())
        }
        (TriggerOutcome::Claimed(run), RunPlace::Dispatched(dispatcher)) => match dispatcher.dispatch(&run).await {
            Ok(()) => Ok((StatusCode::ACCEPTED, Json(run.record.clone())).into_response()),
            // Never left running with no process on it: the run fails now, saying why.
            Err(e) => {
                let error = format!("{job} could not be started in its function: {e}");
                let record = scheduler.finish(&run, Err(error.clone()), &nzj_core::JobLog::default()).await?;
                Ok((StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": error, "job": record.id}))).into_response())
            }
        },
        (TriggerOutcome::Skipped(SkipReason::Running { job: running }), _) => {
            Ok(conflict(format!("{job} is already running as job {running}"), &running))
        }
        (other, _) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("unexpected outcome {other:?}"))),
    }
}

/// SyncHostsNow (or, `retrying`, the retry of that failed sync): 202 with the job, its steps on
/// the bulk queue; 409 while a sync is pending or running.
pub(crate) async fn run_sync(state: &AppState, origin: JobOrigin, retrying: Option<&JobId>) -> ApiResult<Response> {
    let Some(launcher) = &state.sync else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SyncHostsNow cannot run here: it needs Zabbix and NetBox (NZJ_ZABBIX_URL, NZJ_NETBOX_URL and their tokens)",
        ));
    };
    let queue = launcher.queue.as_ref();
    let started = match retrying {
        Some(previous) => launcher.sync.launch_retry(queue, origin, previous).await,
        None => launcher.sync.launch(queue, origin).await,
    };
    match started {
        Ok(record) => Ok((StatusCode::ACCEPTED, Json(record)).into_response()),
        Err(nzj_jobs::StartError::Busy { job, status }) => {
            Ok(conflict(format!("SyncHostsNow is already {status} as job {job}"), &job))
        }
        Err(nzj_jobs::StartError::NotRetriable(e)) => Ok(conflict(e.to_string(), &e.id)),
        Err(nzj_jobs::StartError::Store(e)) => Err(e.into()),
        Err(e @ nzj_jobs::StartError::Queue(_)) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// `POST /api/jobs/{id}/retry`: a failed or stalled job run again as a new job that names the
/// one it retries (and is named by it). 202 with the new job; 409 for a job that did not fail,
/// one retried already (the 409 names its retry), or while its object or system job has a job
/// running.
pub(crate) async fn retry_job(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let unknown = || ApiError::not_found(format!("no job with id {id:?}"));
    let job_id: JobId = id.parse().map_err(|_| unknown())?;
    let previous = state.store.get_job(&job_id).await?.ok_or_else(unknown)?;
    if !matches!(previous.status, JobStatus::Failed | JobStatus::Stalled) {
        let error = format!("job {job_id} is {}: only a failed or stalled job is retried", previous.status);
        return Ok(conflict(error, &job_id));
    }
    if let Some((retry, what)) = nzj_jobs::retry::retried_already(state.store.as_ref(), &previous).await? {
        return Ok(conflict(what, &retry));
    }
    let origin = caller.origin(&headers, previous.object.clone());
    match previous.name.kind() {
        JobKind::System => {
            let job = SystemJob::ALL.iter().copied().find(|j| JobName::from(*j) == previous.name);
            run_system(&state, job.expect("a system job's name"), origin, Some(&job_id)).await
        }
        JobKind::Sync => run_sync(&state, origin, Some(&job_id)).await,
        JobKind::Host => {
            let Some(queue) = &state.host_queue else {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "a host job reads its object from NetBox: set NZJ_NETBOX_URL and NZJ_NETBOX_TOKEN",
                ));
            };
            let now = state.launcher.clock.now();
            let retention = state.launcher.scheduler.retention();
            let store = state.store.as_ref();
            match nzj_jobs::retry_host_job(store, queue.as_ref(), previous, origin, now, retention).await {
                Ok(record) => Ok((StatusCode::ACCEPTED, Json(record)).into_response()),
                Err(RetryError::Busy { job, what }) => Ok(conflict(what, &job)),
                Err(RetryError::NotRetriable(e)) => Ok(conflict(e.to_string(), &e.id)),
                Err(RetryError::Store(e)) => Err(e.into()),
                Err(e @ RetryError::Queue(_)) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
            }
        }
    }
}

pub(crate) async fn show_job(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Json<JobRecord>> {
    let unknown = || ApiError::not_found(format!("no job with id {id:?}"));
    let job_id: JobId = id.parse().map_err(|_| unknown())?;
    state.store.get_job(&job_id).await?.map(Json).ok_or_else(unknown)
}

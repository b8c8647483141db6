//! `/api/hosts`: host configs with their sync state and difference, and a host job for one
//! NetBox object on demand.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::request::{page_limit, param, refuse_unknown};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nzj_core::netbox::ObjectRef;
use nzj_core::{JobId, JobName};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// `GET /api/hosts?in_sync=false&failed=true&limit=&cursor=`: host configs in object order;
/// `failed=true` lists only those whose last job failed (from their own index), each with its
/// job, error, Zabbix's error and a hint.
pub(crate) async fn list_hosts(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    refuse_unknown(&params, &["in_sync", "failed", "limit", "cursor"])?;
    let in_sync = param::<bool>(&params, "in_sync")?;
    let failed = param::<bool>(&params, "failed")?.unwrap_or(false);
    let limit = page_limit(&params)?;
    let mut after = param::<ObjectRef>(&params, "cursor")?;
    let mut hosts = Vec::new();
    // Pages of the store until the page is full (the in_sync filter may skip many).
    loop {
        let page = if failed {
            state.store.list_failed_hosts(after, limit).await?
        } else {
            state.store.list_host_configs(after, limit).await?
        };
        let exhausted = page.len() < limit;
        after = page.last().map(|c| c.object);
        hosts.extend(page.into_iter().filter(|c| in_sync.is_none_or(|want| c.in_sync == Some(want))));
        if exhausted || hosts.len() >= limit {
            break;
        }
    }
    hosts.truncate(limit);
    let next_cursor = if hosts.len() == limit { hosts.last().map(|c| c.object.to_string()) } else { None };
    Ok(Json(json!({"hosts": hosts, "next_cursor": next_cursor})))
}

pub(crate) async fn show_host(
    State(state): State<Arc<AppState>>,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<Json<nzj_core::host_config::HostConfig>> {
    let unknown = || ApiError::not_found(format!("no host config for {kind}/{id}"));
    let object: ObjectRef = format!("{kind}/{id}").parse().map_err(|_| unknown())?;
    state.store.get_host_config(object).await?.map(Json).ok_or_else(unknown)
}

/// `POST /api/hosts/{object}/sync`: brings one host to NetBox's current state now. 202 with the
/// job; 409 while a host job of the object is pending or running.
pub(crate) async fn sync_host(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let object: ObjectRef =
        format!("{kind}/{id}").parse().map_err(|e: String| ApiError::not_found(format!("not a device or VM: {e}")))?;
    let Some(queue) = &state.host_queue else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "syncing a host reads it from NetBox: set NZJ_NETBOX_URL and NZJ_NETBOX_TOKEN",
        ));
    };
    if let Some(job) = nzj_jobs::busy_host_job(state.store.as_ref(), object).await? {
        return Ok((
            StatusCode::CONFLICT,
            Json(json!({"error": format!("{object} already has {} {} (job {})", job.name, job.status, job.id), "job": job.id})),
        )
            .into_response());
    }
    let now = state.launcher.clock.now();
    let job = nzj_queue::QueuedJob { job_id: JobId::new_at(now), name: JobName::UpdateHost, object, data: None };
    let origin = caller.origin(&headers, None);
    let retention = state.launcher.scheduler.retention();
    match nzj_jobs::enqueue_host_job(state.store.as_ref(), queue.as_ref(), job, origin, now, retention, Vec::new())
        .await
    {
        Ok(record) => Ok((StatusCode::ACCEPTED, Json(record)).into_response()),
        Err(e) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

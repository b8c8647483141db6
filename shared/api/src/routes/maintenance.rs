//! `/api/maintenances`: maintenance windows in Zabbix and the store.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nzj_core::maintenance::{Maintenance, MaintenanceRequest};
use nzj_jobs::{MaintenanceError, MaintenanceService};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) fn maintenance_service(state: &AppState) -> ApiResult<&MaintenanceService> {
    state.maintenance.as_deref().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, nzj_jobs::NEEDS_ZABBIX))
}

pub(crate) fn maintenance_request(body: &Bytes) -> ApiResult<MaintenanceRequest> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be {{\"name\", \"active_since\", \"active_till\", \"hosts\"/\"host_groups\"/\"sites\", \"description\"}}: {e}"
        ))
    })
}

pub(crate) async fn list_maintenances(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"maintenances": state.store.list_maintenances().await?})))
}

pub(crate) async fn show_maintenance(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Maintenance>> {
    let found = state.store.get_maintenance(&id).await?;
    found.map(Json).ok_or_else(|| MaintenanceError::NotFound(id).into())
}

pub(crate) async fn create_maintenance(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let request = maintenance_request(&body)?;
    let window = maintenance_service(&state)?.create(request).await?;
    tracing::info!(maintenance = %window.id, zabbix_id = ?window.zabbix_id, "maintenance window created");
    Ok((StatusCode::CREATED, Json(window)).into_response())
}

pub(crate) async fn update_maintenance(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Maintenance>> {
    let request = maintenance_request(&body)?;
    Ok(Json(maintenance_service(&state)?.update(&id, request).await?))
}

pub(crate) async fn delete_maintenance(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    maintenance_service(&state)?.delete(&id).await?;
    tracing::info!(maintenance = %id, "maintenance window deleted");
    Ok(StatusCode::NO_CONTENT)
}

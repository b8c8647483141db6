//! `/api/settings`: settings and mappings, changed with optimistic concurrency (409 when stale).

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use nzj_core::desired::CacheView;
use nzj_core::settings::{Changed, Settings};
use nzj_core::zabbix_cache::CacheKind;
use nzj_store::StoreError;
use serde_json::Value;
use std::sync::Arc;

pub(crate) async fn show_settings(State(state): State<Arc<AppState>>) -> ApiResult<Json<Settings>> {
    Ok(Json(state.store.get_settings().await?))
}

/// `{"version": <the version read>, "<field>": <new value>, ...}`: changes the named fields.
/// 409 when the settings changed since that version (re-read, then retry); 400 names a field
/// that does not exist or a value that breaks a rule.
pub(crate) async fn patch_settings(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<Json<Settings>> {
    let mut patch: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
    let Some(fields) = patch.as_object_mut() else {
        return Err(ApiError::bad_request(r#"body must be an object like {"version": 3, "adoption": true}"#));
    };
    let read_version = fields.remove("version").and_then(|v| v.as_u64()).ok_or_else(|| {
        ApiError::bad_request("version: required, the version of the settings you read (GET /api/settings)")
    })?;
    if fields.contains_key("changed") {
        return Err(ApiError::bad_request("changed: recorded by the API (who and when), not set"));
    }
    let (current, mut settings) = proposed(&state, fields).await?;
    let stale = || {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("the settings changed since version {read_version}; read them again and retry"),
        )
    };
    if read_version != current.version {
        return Err(stale());
    }
    settings.version = current.version;
    settings.changed = Some(Changed { by: caller.name.clone(), at: state.launcher.clock.now() });
    match state.store.commit(vec![nzj_store::Write::settings(settings.clone())]).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(stale()),
        Err(e) => return Err(e.into()),
    }
    settings.version += 1;
    tracing::info!(version = settings.version, fields = ?fields.keys().collect::<Vec<_>>(), by = %caller.name, "settings changed");
    Ok(Json(settings))
}

/// `current` with the named fields replaced, checked: what a PATCH writes and a plan proposes.
pub(crate) fn merged(current: &Settings, fields: &serde_json::Map<String, Value>) -> ApiResult<Settings> {
    let mut merged = serde_json::to_value(current).expect("settings serialize");
    for (key, value) in fields {
        merged[key] = value.clone();
    }
    let settings: Settings = serde_json::from_value(merged).map_err(|e| ApiError::bad_request(e.to_string()))?;
    settings.validate().map_err(ApiError::bad_request)?;
    Ok(settings)
}

/// The stored settings, and those with `fields` changed, checked: against every rule, and (once
/// ImportZabbixSettings has run) against what Zabbix has, so settings that cannot work are
/// refused when written, not when the first job runs.
pub(crate) async fn proposed(
    state: &AppState,
    fields: &serde_json::Map<String, Value>,
) -> ApiResult<(Settings, Settings)> {
    let current = state.store.get_settings().await?;
    let settings = merged(&current, fields)?;
    let snapshots = nzj_jobs::load_cache(state.store.as_ref()).await?;
    let imported = snapshots.iter().any(|s| s.kind == CacheKind::Templates && s.version > 0);
    if imported {
        CacheView::new(&snapshots).check(&settings).map_err(ApiError::bad_request)?;
    }
    Ok((current, settings))
}

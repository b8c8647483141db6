//! The jobs HTTP API, shared by `nzj serve` and (on AWS) the api function.
//!
//! Every `/api` route needs `Authorization: Bearer <token>` of a role allowed to call it
//! (`auth::required_role`); `/healthz` does not. Errors are JSON `{"error": "..."}` with the
//! status that says what went wrong: 400 for a malformed request, 401 without a known token, 403
//! naming the role a route needs, 404 for an unknown job, 413 for an oversized body.

use axum::extract::{DefaultBodyLimit, State};
use axum::middleware;
use axum::routing::get;
use axum::{Json, Router};
use nzj_core::tokens::Tokens;
use nzj_jobs::{MaintenanceService, WebhookIntake};
use nzj_runtime::Launcher;
use nzj_store::JobStore;
use serde_json::{Value, json};
use std::sync::Arc;

mod auth;
mod error;
mod request;
mod routes;
mod server;

use auth::require_token;
pub use auth::{Caller, UpstreamCaller, required_role};
pub use error::ApiError;
use error::ApiResult;
pub use routes::metrics::RenderMetrics;
pub use routes::schedule::ScheduleView;
use routes::{dead_letters, deletions, hosts, jobs, maintenance, plan, schedule, settings, webhook};
pub use server::serve;

/// The API never needs a large body; anything bigger is refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const DEFAULT_PAGE: usize = 50;

/// What `POST /api/jobs {"name": "SyncHostsNow"}` starts: the sync, on its own (bulk) queue.
#[derive(Clone)]
pub struct SyncHostsNowLauncher {
    pub sync: Arc<nzj_jobs::SyncHostsNow>,
    pub queue: Arc<dyn nzj_queue::JobQueue<nzj_jobs::SyncStep>>,
}

/// Who may call `/api`.
#[derive(Clone)]
pub enum ApiAuth {
    /// `Authorization: Bearer <token>`, one of named tokens with roles (`nzj serve`).
    Tokens(Tokens),
    /// The caller was authenticated before the request got here: the Lambda Function URL's IAM
    /// auth (SigV4) lets only allowed principals through.
    Upstream,
}

pub struct AppState {
    pub store: Arc<dyn JobStore>,
    /// The scheduler, the runnable system jobs, and how runs are started.
    pub launcher: Launcher,
    /// The NetBox webhook intake; `None` when no webhook secret is configured (then every
    /// delivery is refused: an unsigned webhook is never accepted).
    pub webhook: Option<Arc<WebhookIntake>>,
    /// Where `POST /api/hosts/{object}/sync` puts its job; `None` when NetBox is not configured
    /// (the job reads the object's current state from NetBox).
    pub host_queue: Option<Arc<dyn nzj_queue::JobQueue>>,
    /// The queue webhooks and host syncs enqueue on, whatever is configured: `/healthz` reports
    /// whether it takes writes.
    pub intake_queue: Option<Arc<dyn nzj_queue::JobQueue>>,
    /// Maintenance windows in Zabbix; `None` when Zabbix is not configured.
    pub maintenance: Option<Arc<MaintenanceService>>,
    /// SyncHostsNow and the bulk queue its steps go on; `None` unless Zabbix and NetBox are both
    /// configured.
    pub sync: Option<SyncHostsNowLauncher>,
    pub auth: ApiAuth,
    /// Where a manual system-job run runs: in the background, within its request (answered with
    /// the finished job), or dispatched to the job's own function (on AWS).
    pub runs: nzj_runtime::RunPlace,
    /// `GET /metrics`' Prometheus text, where a recorder runs (`nzj serve`); `None` elsewhere.
    pub metrics: Option<routes::metrics::RenderMetrics>,
}

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/jobs", get(jobs::list_jobs).post(jobs::run_job))
        .route("/jobs/{id}", get(jobs::show_job))
        .route("/jobs/{id}/retry", axum::routing::post(jobs::retry_job))
        .route("/maintenances", get(maintenance::list_maintenances).post(maintenance::create_maintenance))
        .route(
            "/maintenances/{id}",
            get(maintenance::show_maintenance)
                .put(maintenance::update_maintenance)
                .delete(maintenance::delete_maintenance),
        )
        .route("/settings", get(settings::show_settings).patch(settings::patch_settings))
        .route("/hosts", get(hosts::list_hosts))
        .route("/hosts/{kind}/{id}", get(hosts::show_host))
        .route("/hosts/{kind}/{id}/sync", axum::routing::post(hosts::sync_host))
        .route("/plan", axum::routing::post(plan::plan))
        .route("/deletions", get(deletions::list_deletions))
        .route("/deletions/release", axum::routing::post(deletions::release_deletions))
        .route("/deletions/discard", axum::routing::post(deletions::discard_deletions))
        .route("/dlq", get(dead_letters::list_dead_letters))
        .route("/dlq/{id}", get(dead_letters::show_dead_letter))
        .route("/dlq/redrive", axum::routing::post(dead_letters::redrive_dead_letters))
        .route("/dlq/purge", axum::routing::post(dead_letters::purge_dead_letters))
        .route("/schedule", get(schedule::show_schedule))
        .route("/schedule/{job}", get(schedule::show_one_schedule).put(schedule::set_schedule))
        .route("/whoami", get(whoami))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let metrics = Router::new()
        .route("/metrics", get(routes::metrics::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/webhook/netbox",
            axum::routing::post(webhook::netbox_webhook).layer(DefaultBodyLimit::max(2 * nzj_netbox::MAX_BODY_BYTES)),
        )
        .nest("/api", api)
        .merge(metrics)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(error::json_too_large))
        .with_state(state)
}

/// `GET /api/whoami`: the caller's name and role, as the API sees them (what a page shows and
/// which actions it offers; the API checks every action again).
async fn whoami(axum::Extension(caller): axum::Extension<Caller>) -> Json<Value> {
    Json(json!({"name": caller.name, "role": caller.role}))
}

/// Ready only if the store takes writes (a removed data dir, a full disk or read-only files are
/// 503 here, not only when a delivery is refused).
async fn healthz(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    state.store.check_writable().await?;
    if let Some(queue) = &state.intake_queue {
        queue.check_writable().await?;
    }
    Ok(Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})))
}

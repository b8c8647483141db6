//! The jobs HTTP API, shared by `nzj serve` and (on AWS) the api function.
//!
//! Every `/api` route needs `Authorization: Bearer <token>`; `/healthz` does not. Errors are JSON
//! `{"error": "..."}` with the status that says what went wrong: 400 for a malformed request,
//! 401 without the token, 404 for an unknown job, 413 for an oversized body.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use nzj_core::job::JobOrigin;
use nzj_core::maintenance::{Maintenance, MaintenanceRequest};
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_core::{Interval, JobId, JobName, JobRecord, JobStatus, ScheduleEntry, Secret, SystemJob};
use nzj_core::{SkipReason, Trigger};
use nzj_jobs::{MaintenanceError, MaintenanceService, WebhookIntake};
use nzj_runtime::{Launcher, Registry, RuntimeError, TriggerOutcome};
use nzj_store::{JobQuery, JobStore, StoreError};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

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
    /// `Authorization: Bearer <token>` (`nzj serve`).
    Bearer(Secret),
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
    /// Maintenance windows in Zabbix; `None` when Zabbix is not configured.
    pub maintenance: Option<Arc<MaintenanceService>>,
    /// SyncHostsNow and the bulk queue its steps go on; `None` unless Zabbix and NetBox are both
    /// configured.
    pub sync: Option<SyncHostsNowLauncher>,
    pub auth: ApiAuth,
    /// Run a manual system-job run within its request and answer with the finished job, instead
    /// of in the background: on Lambda, nothing runs after the answer.
    pub runs_in_request: bool,
}

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/jobs", get(list_jobs).post(run_job))
        .route("/jobs/{id}", get(show_job))
        .route("/maintenances", get(list_maintenances).post(create_maintenance))
        .route("/maintenances/{id}", get(show_maintenance).put(update_maintenance).delete(delete_maintenance))
        .route("/settings", get(show_settings).patch(patch_settings))
        .route("/hosts", get(list_hosts))
        .route("/hosts/{kind}/{id}", get(show_host))
        .route("/hosts/{kind}/{id}/sync", axum::routing::post(sync_host))
        .route("/schedule", get(show_schedule))
        .route("/schedule/{job}", get(show_one_schedule).put(set_schedule))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/webhook/netbox",
            axum::routing::post(netbox_webhook).layer(DefaultBodyLimit::max(2 * nzj_netbox::MAX_BODY_BYTES)),
        )
        .nest("/api", api)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Store(e) => e.into(),
            other => ApiError::new(StatusCode::CONFLICT, other.to_string()),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn require_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let valid = match &state.auth {
        ApiAuth::Upstream => true,
        ApiAuth::Bearer(token) => presented.is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.expose().as_bytes()))),
    };
    if valid {
        next.run(request).await
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response()
    }
}

async fn healthz(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    // A cheap read proves the store answers.
    state.store.get_schedule(SystemJob::ImportZabbixSettings).await?;
    Ok(Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})))
}

/// Parses a query parameter with `FromStr`, naming the parameter in the error.
fn param<T: std::str::FromStr>(params: &HashMap<String, String>, name: &str) -> ApiResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    params.get(name).map(|raw| raw.parse::<T>().map_err(|e| ApiError::bad_request(format!("{name}: {e}")))).transpose()
}

/// A listing's query parameters must be ones it knows: a typo is an error, not ignored.
fn refuse_unknown(params: &HashMap<String, String>, known: &[&str]) -> ApiResult<()> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => {
            Err(ApiError::bad_request(format!("unknown query parameter {unknown:?}; known: {}", known.join(", "))))
        }
        None => Ok(()),
    }
}

/// A listing's `limit`: 1 to [`JobQuery::MAX_LIMIT`], [`DEFAULT_PAGE`] when absent.
fn page_limit(params: &HashMap<String, String>) -> ApiResult<usize> {
    let limit = param::<usize>(params, "limit")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=JobQuery::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit: must be 1 to {}", JobQuery::MAX_LIMIT)));
    }
    Ok(limit)
}

async fn list_jobs(
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

/// Parses a JSON object body, refusing fields other than `allowed` with a clear message.
fn object_body(body: &Bytes, allowed: &[&str], example: &str) -> ApiResult<serde_json::Map<String, Value>> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(ApiError::bad_request(format!("body must be an object like {example}")));
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("unknown field {unknown:?}; known: {}", allowed.join(", "))));
    }
    Ok(object)
}

/// `{"name": "ImportZabbixSettings"}`: run a system job now. 202 with the job; 409 while the
/// same job is pending or running.
async fn run_job(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
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
async fn run_sync(state: &AppState, origin: JobOrigin) -> ApiResult<Response> {
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

async fn show_job(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Json<JobRecord>> {
    let unknown = || ApiError::not_found(format!("no job with id {id:?}"));
    let job_id: JobId = id.parse().map_err(|_| unknown())?;
    state.store.get_job(&job_id).await?.map(Json).ok_or_else(unknown)
}

/// A system job's schedule as the API shows it (the plugin's `get_current_job_interval()` and
/// `system_jobs_scheduled()` in one view).
#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub job: SystemJob,
    /// Minutes, or null when off.
    pub interval: Interval,
    pub next_due: Option<DateTime<Utc>>,
    pub current_run: Option<JobId>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_run: Option<JobId>,
    /// Whether this process can run the job (implemented, and the peers it needs configured).
    pub implemented: bool,
    /// Whether triggers will run it: runnable and not off.
    pub scheduled: bool,
    pub note: Option<String>,
}

impl ScheduleView {
    fn new(entry: ScheduleEntry, registry: &Registry) -> Self {
        let unavailable = registry.unavailable_reason(entry.job);
        let implemented = unavailable.is_none();
        let scheduled = implemented && entry.interval != Interval::Off;
        let note = match (unavailable, entry.interval) {
            (Some(reason), _) => Some(format!("{reason}: never triggered")),
            (None, Interval::Off) => Some("off: never triggered".to_string()),
            (None, _) => None,
        };
        ScheduleView {
            job: entry.job,
            interval: entry.interval,
            next_due: entry.next_due,
            current_run: entry.current_run,
            lease_until: entry.lease_until,
            last_run: entry.last_run,
            implemented,
            scheduled,
            note,
        }
    }
}

fn system_job(name: &str) -> ApiResult<SystemJob> {
    name.parse::<SystemJob>().map_err(|e| ApiError::not_found(e.to_string()))
}

async fn show_schedule(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let mut views = Vec::new();
    for job in SystemJob::ALL {
        let entry = state.launcher.scheduler.schedule(*job).await?;
        views.push(ScheduleView::new(entry, &state.launcher.registry));
    }
    Ok(Json(json!({"jobs": views})))
}

async fn show_one_schedule(
    State(state): State<Arc<AppState>>,
    Path(job): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    let job = system_job(&job)?;
    let entry = state.launcher.scheduler.schedule(job).await?;
    Ok(Json(ScheduleView::new(entry, &state.launcher.registry)))
}

/// `{"interval": <minutes or null>}`; null turns the job off.
async fn set_schedule(
    State(state): State<Arc<AppState>>,
    Path(job): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ScheduleView>> {
    let job = system_job(&job)?;
    let object = object_body(&body, &["interval"], r#"{"interval": 60}"#)?;
    let raw = object
        .get("interval")
        .ok_or_else(|| ApiError::bad_request(r#"missing field "interval" (minutes, or null for off)"#))?;
    let interval: Interval =
        serde_json::from_value(raw.clone()).map_err(|e| ApiError::bad_request(format!("interval: {e}")))?;
    let entry = state.launcher.scheduler.set_interval(job, interval).await?;
    tracing::info!(job = %job, interval = %interval, "interval changed");
    Ok(Json(ScheduleView::new(entry, &state.launcher.registry)))
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

impl From<MaintenanceError> for ApiError {
    fn from(e: MaintenanceError) -> Self {
        match e {
            MaintenanceError::Invalid(message) => ApiError::bad_request(message),
            MaintenanceError::NotFound(_) => ApiError::not_found(e.to_string()),
            MaintenanceError::Store(e) => e.into(),
            // Zabbix away: try again later. Zabbix refusing: its answer is the message.
            MaintenanceError::Zabbix(z) if z.is_transient() => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, z.to_string())
            }
            MaintenanceError::Zabbix(z) => ApiError::new(StatusCode::BAD_GATEWAY, z.to_string()),
        }
    }
}

fn maintenance_service(state: &AppState) -> ApiResult<&MaintenanceService> {
    state.maintenance.as_deref().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, nzj_jobs::NEEDS_ZABBIX))
}

fn maintenance_request(body: &Bytes) -> ApiResult<MaintenanceRequest> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be {{\"name\", \"active_since\", \"active_till\", \"hosts\"/\"host_groups\"/\"sites\", \"description\"}}: {e}"
        ))
    })
}

async fn list_maintenances(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"maintenances": state.store.list_maintenances().await?})))
}

async fn show_maintenance(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Json<Maintenance>> {
    let found = state.store.get_maintenance(&id).await?;
    found.map(Json).ok_or_else(|| MaintenanceError::NotFound(id).into())
}

async fn create_maintenance(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let request = maintenance_request(&body)?;
    let window = maintenance_service(&state)?.create(request).await?;
    tracing::info!(maintenance = %window.id, zabbix_id = ?window.zabbix_id, "maintenance window created");
    Ok((StatusCode::CREATED, Json(window)).into_response())
}

async fn update_maintenance(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Maintenance>> {
    let request = maintenance_request(&body)?;
    Ok(Json(maintenance_service(&state)?.update(&id, request).await?))
}

async fn delete_maintenance(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    maintenance_service(&state)?.delete(&id).await?;
    tracing::info!(maintenance = %id, "maintenance window deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn show_settings(State(state): State<Arc<AppState>>) -> ApiResult<Json<Settings>> {
    Ok(Json(state.store.get_settings().await?))
}

/// `{"version": <the version read>, "<field>": <new value>, ...}`: changes the named fields.
/// 409 when the settings changed since that version (re-read, then retry); 400 names a field
/// that does not exist or a value that breaks a rule.
async fn patch_settings(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Json<Settings>> {
    let mut patch: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
    let Some(fields) = patch.as_object_mut() else {
        return Err(ApiError::bad_request(r#"body must be an object like {"version": 3, "adoption": true}"#));
    };
    let read_version = fields.remove("version").and_then(|v| v.as_u64()).ok_or_else(|| {
        ApiError::bad_request("version: required, the version of the settings you read (GET /api/settings)")
    })?;
    let current = state.store.get_settings().await?;
    let mut merged = serde_json::to_value(&current).expect("settings serialize");
    for (key, value) in fields.iter() {
        merged[key] = value.clone();
    }
    let mut settings: Settings = serde_json::from_value(merged).map_err(|e| ApiError::bad_request(e.to_string()))?;
    settings.validate().map_err(ApiError::bad_request)?;
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
    match state.store.commit(vec![nzj_store::Write::settings(settings.clone())]).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(stale()),
        Err(e) => return Err(e.into()),
    }
    settings.version += 1;
    tracing::info!(version = settings.version, fields = ?fields.keys().collect::<Vec<_>>(), "settings changed");
    Ok(Json(settings))
}

/// `GET /api/hosts?in_sync=false&limit=&cursor=`: host configs in object order.
async fn list_hosts(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    refuse_unknown(&params, &["in_sync", "limit", "cursor"])?;
    let in_sync = param::<bool>(&params, "in_sync")?;
    let limit = page_limit(&params)?;
    let mut after = param::<ObjectRef>(&params, "cursor")?;
    let mut hosts = Vec::new();
    // Pages of the store until the page is full (the in_sync filter may skip many).
    loop {
        let page = state.store.list_host_configs(after, limit).await?;
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

async fn show_host(
    State(state): State<Arc<AppState>>,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<Json<nzj_core::host_config::HostConfig>> {
    let unknown = || ApiError::not_found(format!("no host config for {kind}/{id}"));
    let object: ObjectRef = format!("{kind}/{id}").parse().map_err(|_| unknown())?;
    state.store.get_host_config(object).await?.map(Json).ok_or_else(unknown)
}

/// `POST /webhook/netbox`: NetBox's signed deliveries (the signature is the authentication).
async fn netbox_webhook(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(intake) = &state.webhook else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NZJ_WEBHOOK_SECRET is not set: webhooks are refused")
            .into_response();
    };
    let signature = headers.get("x-hook-signature").and_then(|v| v.to_str().ok());
    let answer = intake.receive(signature, &body).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body)).into_response()
}

/// `POST /api/hosts/{object}/sync`: brings one host to NetBox's current state now. 202 with the
/// job; 409 while a host job of the object is pending or running.
async fn sync_host(
    State(state): State<Arc<AppState>>,
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
    // Host jobs in flight are few; look through the pending and running ones for this object.
    for status in [JobStatus::Pending, JobStatus::Running] {
        for name in [JobName::CreateHost, JobName::UpdateHost, JobName::DeleteHost] {
            let query = JobQuery { name: Some(name), status: Some(status), before: None, limit: JobQuery::MAX_LIMIT };
            let busy = state
                .store
                .list_jobs(&query)
                .await?
                .jobs
                .into_iter()
                .find(|j| j.object.as_deref() == Some(object.to_string().as_str()));
            if let Some(job) = busy {
                return Ok((
                    StatusCode::CONFLICT,
                    Json(json!({"error": format!("{object} already has {} {} (job {})", job.name, job.status, job.id), "job": job.id})),
                )
                    .into_response());
            }
        }
    }
    let now = state.launcher.clock.now();
    let job = nzj_queue::QueuedJob { job_id: JobId::new_at(now), name: JobName::UpdateHost, object, data: None };
    let origin = JobOrigin { trigger: Trigger::Api, user: "api".into(), object: None };
    let retention = state.launcher.scheduler.retention();
    match nzj_jobs::enqueue_host_job(state.store.as_ref(), queue.as_ref(), job, origin, now, retention, Vec::new())
        .await
    {
        Ok(record) => Ok((StatusCode::ACCEPTED, Json(record)).into_response()),
        Err(e) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

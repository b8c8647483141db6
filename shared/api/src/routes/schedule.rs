//! `/api/schedule`: each system job's interval, next due time, current run and how the last run
//! ended, whether this process can run it and why not, and interval changes; SyncHostsNow's
//! schedule (off by default, `nzj_core::sync_schedule`) beside them, in the same view.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::request::object_body;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use nzj_core::settings::Changed;
use nzj_core::sync_schedule::SyncSchedule;
use nzj_core::{Interval, JobId, JobName, JobStatus, ScheduleEntry, SystemJob};
use nzj_runtime::Registry;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// A system job's schedule as the API shows it (the plugin's `get_current_job_interval()` and
/// `system_jobs_scheduled()` in one view).
#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub job: JobName,
    /// Minutes, or null when off.
    pub interval: Interval,
    pub next_due: Option<DateTime<Utc>>,
    pub current_run: Option<JobId>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_run: Option<JobId>,
    /// How the last run ended (`completed`, `failed`, ...) and its error, if it failed.
    pub last_status: Option<JobStatus>,
    pub last_error: Option<String>,
    /// When a failed scheduled run is tried again (before `next_due`), if it is.
    pub retry_due: Option<DateTime<Utc>>,
    /// Who set the interval last, and when.
    pub changed: Option<Changed>,
    /// Whether this process can run the job (implemented, and the peers it needs configured).
    pub implemented: bool,
    /// Whether triggers will run it: runnable and not off.
    pub scheduled: bool,
    pub note: Option<String>,
}

impl ScheduleView {
    /// The view of `entry`, with its last run's outcome read from the store.
    async fn read(entry: ScheduleEntry, state: &AppState) -> ApiResult<Self> {
        let last = match &entry.last_run {
            Some(id) => state.store.get_job(id).await?,
            None => None,
        };
        let mut view = ScheduleView::new(entry, &state.launcher.registry);
        view.last_status = last.as_ref().map(|r| r.status);
        view.last_error = last.and_then(|r| r.error);
        Ok(view)
    }

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
            job: entry.job.into(),
            interval: entry.interval,
            next_due: entry.next_due,
            current_run: entry.current_run,
            lease_until: entry.lease_until,
            last_run: entry.last_run,
            last_status: None,
            last_error: None,
            retry_due: entry.retry_due,
            changed: entry.changed,
            implemented,
            scheduled,
            note,
        }
    }
}

/// What `/api/schedule/{job}` names: a system job, or SyncHostsNow.
enum Scheduled {
    System(SystemJob),
    Sync,
}

fn scheduled(name: &str) -> ApiResult<Scheduled> {
    if name == JobName::SyncHostsNow.to_string() {
        return Ok(Scheduled::Sync);
    }
    name.parse::<SystemJob>()
        .map(Scheduled::System)
        .map_err(|e| ApiError::not_found(format!("{e}; SyncHostsNow has a schedule too (off by default)")))
}

impl ScheduleView {
    /// SyncHostsNow's schedule, with the sync that runs now and how the last one ended.
    async fn of_sync(schedule: SyncSchedule, state: &AppState) -> ApiResult<Self> {
        let now = state.launcher.clock.now();
        let running = state.store.get_sync_run().await?.filter(|run| !run.is_free(now));
        let last = match &schedule.last_run {
            Some(id) => state.store.get_job(id).await?,
            None => None,
        };
        let implemented = state.sync.is_some();
        let note = match (implemented, schedule.interval) {
            (false, _) => Some("needs Zabbix and NetBox: never triggered".to_string()),
            (true, Interval::Off) => Some("off: never triggered".to_string()),
            (true, _) => None,
        };
        Ok(ScheduleView {
            job: JobName::SyncHostsNow,
            interval: schedule.interval,
            next_due: schedule.next_due,
            current_run: running.as_ref().map(|run| run.job_id.clone()),
            lease_until: running.map(|run| run.lease_until),
            last_run: schedule.last_run,
            last_status: last.as_ref().map(|r| r.status),
            last_error: last.and_then(|r| r.error),
            retry_due: None,
            changed: schedule.changed,
            implemented,
            scheduled: implemented && schedule.interval != Interval::Off,
            note,
        })
    }
}

pub(crate) async fn show_schedule(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let mut views = Vec::new();
    for job in SystemJob::ALL {
        let entry = state.launcher.scheduler.schedule(*job).await?;
        views.push(ScheduleView::read(entry, &state).await?);
    }
    views.push(ScheduleView::of_sync(state.store.get_sync_schedule().await?, &state).await?);
    Ok(Json(json!({"jobs": views})))
}

pub(crate) async fn show_one_schedule(
    State(state): State<Arc<AppState>>,
    Path(job): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    let view = match scheduled(&job)? {
        Scheduled::System(job) => ScheduleView::read(state.launcher.scheduler.schedule(job).await?, &state).await?,
        Scheduled::Sync => ScheduleView::of_sync(state.store.get_sync_schedule().await?, &state).await?,
    };
    Ok(Json(view))
}

/// `{"interval": <minutes or null>}`; null turns the job off.
pub(crate) async fn set_schedule(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(job): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ScheduleView>> {
    let job = scheduled(&job)?;
    let object = object_body(&body, &["interval"], r#"{"interval": 60}"#)?;
    let raw = object
        .get("interval")
        .ok_or_else(|| ApiError::bad_request(r#"missing field "interval" (minutes, or null for off)"#))?;
    let interval: Interval =
        serde_json::from_value(raw.clone()).map_err(|e| ApiError::bad_request(format!("interval: {e}")))?;
    let view = match job {
        Scheduled::System(job) => {
            let entry = state.launcher.scheduler.set_interval(job, interval, &caller.name).await?;
            tracing::info!(job = %job, interval = %interval, by = %caller.name, "interval changed");
            ScheduleView::read(entry, &state).await?
        }
        Scheduled::Sync => {
            let schedule = set_sync_interval(&state, interval, &caller.name).await?;
            tracing::info!(job = "SyncHostsNow", interval = %interval, by = %caller.name, "interval changed");
            ScheduleView::of_sync(schedule, &state).await?
        }
    };
    Ok(Json(view))
}

/// Sets SyncHostsNow's interval over the schedule as read, again if a tick changed it meanwhile.
async fn set_sync_interval(state: &AppState, interval: Interval, by: &str) -> ApiResult<SyncSchedule> {
    for _ in 0..16 {
        let mut schedule = state.store.get_sync_schedule().await?;
        schedule.set_interval(interval, state.launcher.clock.now(), by);
        match state.store.commit(vec![nzj_store::Write::sync_schedule(schedule.clone())]).await {
            Ok(()) => {
                schedule.version += 1;
                return Ok(schedule);
            }
            Err(nzj_store::StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(axum::http::StatusCode::CONFLICT, "the sync schedule kept changing; try again"))
}

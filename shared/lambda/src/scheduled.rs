//! Scheduled functions: an EventBridge Scheduler event becomes at most one run of a system job,
//! run within the invocation and ended before the Lambda deadline.

use crate::deployment::{app_from_env, init_logging, start_error};
use crate::sqs::counting_zabbix_calls;
use chrono::{DateTime, Duration, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use nzj_app::App;
use nzj_core::job::JobOrigin;
use nzj_core::{JobId, JobName, JobStatus, SystemJob, Trigger};
use nzj_runtime::{ClaimedRun, TriggerOutcome, run_claimed};
use serde_json::{Value, json};
use std::sync::Arc;

/// Time kept back from the Lambda deadline so a run that would overrun fails cleanly instead: a
/// tenth of what is left, between these bounds (10 s of a 15-minute invocation; half a second of
/// the few seconds a local emulator gives).
const MARGIN_MIN: Duration = Duration::milliseconds(500);
const MARGIN_MAX: Duration = Duration::seconds(10);
/// Less than this left for the run: the tick is not claimed (the next one, or a retry with a
/// longer deadline, runs the job), so a run that cannot start never uses up the schedule's slot.
const MIN_RUN: Duration = Duration::seconds(1);

/// How long a run may take when `left` remains before the invocation's deadline, at most
/// `job_timeout`; `None` when too little would be left to start one.
pub fn run_budget(left: Duration, job_timeout: std::time::Duration) -> Option<std::time::Duration> {
    let margin = (left / 10).clamp(MARGIN_MIN, MARGIN_MAX);
    let budget = left - margin;
    (budget >= MIN_RUN).then(|| budget.to_std().unwrap_or_default().min(job_timeout))
}

/// What EventBridge Scheduler sends: the schedule's `Input`, which `template.yaml` fills with the
/// scheduler's context attributes. An EventBridge rule's event (`time`, `id`) is accepted too.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct ScheduledEvent {
    #[serde(default, alias = "time")]
    pub scheduled_time: Option<DateTime<Utc>>,
    #[serde(default, alias = "id")]
    pub execution_id: Option<String>,
    #[serde(default)]
    pub schedule_arn: Option<String>,
    /// Set by the api function instead of the scheduler: a manual run it claimed, to continue here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<JobId>,
}

/// One scheduled trigger of `job`: claims a run if it is due and free, and runs it within this
/// invocation, ending before `deadline`. Duplicate deliveries of the same tick (EventBridge and
/// async Lambda retries) find the job running or not due, and return `skipped`.
pub async fn handle_scheduled(
    app: &App,
    job: SystemJob,
    event: &ScheduledEvent,
    deadline: DateTime<Utc>,
) -> anyhow::Result<Value> {
    let launcher = &app.launcher;
    if let Some(id) = &event.run_id {
        return continue_run(app, job, id, deadline).await;
    }
    let scheduled_time = event.scheduled_time.map(|t| t.to_rfc3339()).unwrap_or_default();
    let execution = event.execution_id.clone().unwrap_or_default();
    if let Some(reason) = launcher.registry.unavailable_reason(job) {
        anyhow::bail!("{job} cannot run here: {reason}");
    }
    // The tick also sweeps the host-job outbox, where the function has the host queue, and starts
    // SyncHostsNow when its schedule is due, where it has the bulk queue and NetBox.
    if let Some(outbox) = app.outbox_sweeper()
        && let Err(e) = outbox.sweep().await
    {
        tracing::error!(error = %e, "outbox sweep failed");
    }
    if let Some(sync) = app.sync_launcher() {
        match sync.sync.launch_scheduled(sync.queue.as_ref()).await {
            Ok(Some(record)) => tracing::info!(job_id = %record.id, "scheduled SyncHostsNow started"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "scheduled SyncHostsNow did not start"),
        }
    }
    let left = deadline - launcher.clock.now();
    let Some(timeout) = run_budget(left, launcher.timeout) else {
        tracing::warn!(job = %job, left_ms = left.num_milliseconds(), "too close to the deadline to start a run; tick not claimed");
        let reason = json!({"reason": "deadline_too_close", "left_ms": left.num_milliseconds()});
        return Ok(json!({"job": job, "skipped": reason}));
    };
    let origin = JobOrigin { trigger: Trigger::Schedule, user: "eventbridge-scheduler".into(), object: None };
    let run = match launcher.scheduler.trigger(job, origin).await? {
        TriggerOutcome::Claimed(run) => *run,
        TriggerOutcome::Skipped(reason) => {
            tracing::info!(job = %job, ?reason, %scheduled_time, %execution, "trigger skipped");
            return Ok(json!({"job": job, "skipped": reason}));
        }
        TriggerOutcome::StallRecorded(id) => return Ok(json!({"job": job, "stalled": id})),
    };
    let handler = launcher.registry.handler(job).expect("a runnable job has a handler");
    let record = run_claimed(&launcher.scheduler, launcher.clock.clone(), handler.as_ref(), run, timeout).await?;
    tracing::info!(job = %job, job_id = %record.id, status = %record.status, %scheduled_time, %execution, "run finished");
    Ok(
        json!({"job": job, "job_id": record.id, "status": record.status, "result": record.result, "error": record.error}),
    )
}

/// A manual run the api function claimed and handed here: run from its record to its end. One that
/// is no longer running (a duplicate invoke, or it stalled meanwhile) is left alone.
async fn continue_run(app: &App, job: SystemJob, id: &JobId, deadline: DateTime<Utc>) -> anyhow::Result<Value> {
    let launcher = &app.launcher;
    let Some(record) = app.store.get_job(id).await? else {
        anyhow::bail!("run {id} of {job} is not in the store");
    };
    if record.name != JobName::from(job) {
        anyhow::bail!("run {id} is a run of {}, not of {job}", record.name);
    }
    if record.status != JobStatus::Running {
        return Ok(json!({"job": job, "job_id": id, "skipped": {"reason": "not_running", "status": record.status}}));
    }
    // Claimed already: whatever is left of the deadline is its time (at least what the run needs
    // to record a clean failure).
    let left = deadline - launcher.clock.now();
    let timeout = run_budget(left, launcher.timeout).unwrap_or(std::time::Duration::from_millis(500));
    let handler = launcher.registry.handler(job).ok_or_else(|| anyhow::anyhow!("{job} cannot run here"))?;
    let run = ClaimedRun { job, record };
    let record = run_claimed(&launcher.scheduler, launcher.clock.clone(), handler.as_ref(), run, timeout).await?;
    tracing::info!(job = %job, job_id = %record.id, status = %record.status, "dispatched run finished");
    Ok(
        json!({"job": job, "job_id": record.id, "status": record.status, "result": record.result, "error": record.error}),
    )
}

/// When the invocation must have answered, from Lambda's deadline in ms since the epoch. A local
/// emulator may send none, or a deadline decades ago (`cargo lambda watch` does), which would
/// leave no time at all: a deadline more than a day in the past cannot be Lambda's, and then the
/// job's own timeout counts, as in `nzj serve`.
pub fn invocation_deadline(deadline_ms: u64, job_timeout: std::time::Duration) -> DateTime<Utc> {
    match DateTime::from_timestamp_millis(deadline_ms as i64) {
        Some(deadline) if deadline > Utc::now() - Duration::days(1) => deadline,
        _ => Utc::now() + Duration::from_std(job_timeout).unwrap_or(MARGIN_MAX) + MARGIN_MAX + MIN_RUN,
    }
}

/// The whole `main` of a scheduled system-job function.
pub async fn run_scheduled_function(job: SystemJob) -> Result<(), lambda_runtime::Error> {
    init_logging();
    let app = Arc::new(app_from_env().await.map_err(start_error)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let app = app.clone();
        async move {
            let deadline = invocation_deadline(event.context.deadline, app.launcher.timeout);
            counting_zabbix_calls(app.zabbix.as_ref(), handle_scheduled(&app, job, &event.payload, deadline))
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emulator_that_sends_no_deadline_gives_the_run_its_job_timeout() {
        let job = std::time::Duration::from_secs(300);
        for emulated in [0, 30_000] {
            let left = invocation_deadline(emulated, job) - Utc::now();
            assert_eq!(run_budget(left, job), Some(job), "{emulated}");
        }
        let soon = (Utc::now() + Duration::seconds(40)).timestamp_millis();
        assert_eq!(invocation_deadline(soon as u64, job).timestamp_millis(), soon);
    }

    #[test]
    fn a_run_gets_what_is_left_less_a_tenth_and_none_when_too_little_is_left() {
        let job = std::time::Duration::from_secs(600);
        // A 15-minute invocation: 10 s kept back, capped by the job timeout.
        assert_eq!(run_budget(Duration::seconds(900), job), Some(job));
        assert_eq!(run_budget(Duration::seconds(300), job), Some(std::time::Duration::from_secs(290)));
        // A local emulator's few seconds: a tenth kept back, not 10 s (which left 0 s before).
        assert_eq!(run_budget(Duration::seconds(3), job), Some(std::time::Duration::from_millis(2500)));
        assert_eq!(run_budget(Duration::seconds(30), job), Some(std::time::Duration::from_secs(27)));
        // Too little to start: no run, so the tick is not claimed.
        assert_eq!(run_budget(Duration::milliseconds(500), job), None);
        assert_eq!(run_budget(Duration::milliseconds(1200), job), None);
        assert_eq!(run_budget(Duration::seconds(-5), job), None);
    }
}

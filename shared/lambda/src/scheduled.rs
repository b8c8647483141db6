//! Scheduled functions: an EventBridge Scheduler event becomes at most one run of a system job,
//! run within the invocation and ended before the Lambda deadline.

use crate::deployment::{app_from_env, init_logging, start_error};
use crate::sqs::counting_zabbix_calls;
use chrono::{DateTime, Duration, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use nzj_app::App;
use nzj_core::job::JobOrigin;
use nzj_core::{SystemJob, Trigger};
use nzj_runtime::{TriggerOutcome, run_claimed};
use serde_json::{Value, json};
use std::sync::Arc;

/// Time kept back from the Lambda deadline so a run that would overrun fails cleanly instead.
const DEADLINE_MARGIN: Duration = Duration::seconds(10);

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
    let origin = JobOrigin { trigger: Trigger::Schedule, user: "eventbridge-scheduler".into(), object: None };
    let run = match launcher.scheduler.trigger(job, origin).await? {
        TriggerOutcome::Claimed(run) => *run,
        TriggerOutcome::Skipped(reason) => {
            tracing::info!(job = %job, ?reason, %scheduled_time, %execution, "trigger skipped");
            return Ok(json!({"job": job, "skipped": reason}));
        }
        TriggerOutcome::StallRecorded(id) => return Ok(json!({"job": job, "stalled": id})),
    };
    let left = deadline - launcher.clock.now() - DEADLINE_MARGIN;
    let timeout = left.to_std().unwrap_or_default().min(launcher.timeout);
    let handler = launcher.registry.handler(job).expect("a runnable job has a handler");
    let record = run_claimed(&launcher.scheduler, launcher.clock.clone(), handler.as_ref(), run, timeout).await?;
    tracing::info!(job = %job, job_id = %record.id, status = %record.status, %scheduled_time, %execution, "run finished");
    Ok(
        json!({"job": job, "job_id": record.id, "status": record.status, "result": record.result, "error": record.error}),
    )
}

/// The whole `main` of a scheduled system-job function.
pub async fn run_scheduled_function(job: SystemJob) -> Result<(), lambda_runtime::Error> {
    init_logging();
    let app = Arc::new(app_from_env().await.map_err(start_error)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let app = app.clone();
        async move {
            let deadline: DateTime<Utc> = event.context.deadline().into();
            counting_zabbix_calls(app.zabbix.as_ref(), handle_scheduled(&app, job, &event.payload, deadline))
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        }
    }))
    .await
}

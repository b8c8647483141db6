//! Running one claimed system job: heartbeats while it works, a timeout, and its outcome recorded.

use crate::scheduler::{ClaimedRun, RuntimeError, Scheduler};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nzj_core::retry::FailureKind;
use nzj_core::{Clock, JobLog, JobRecord, LogLevel};
use std::sync::{Arc, Mutex};

/// Why a job's work failed; becomes the record's `error`, prefixed with `transient:` when a
/// later run may succeed (a peer was unreachable, timed out or answered 5xx). What is done about
/// it is `nzj_core::retry`'s to say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if self.is_transient() { "transient: " } else { "" })]
pub struct JobFailure {
    pub message: String,
    pub kind: FailureKind,
    /// Zabbix's own error, when Zabbix refused the request (kept in the host's config).
    pub zabbix: Option<nzj_core::host_failure::ZabbixRefusal>,
}

impl JobFailure {
    /// A failure that retrying will not fix (validation, a breaker, bad credentials).
    pub fn permanent(message: impl Into<String>) -> Self {
        JobFailure { message: message.into(), kind: FailureKind::Permanent, zabbix: None }
    }

    /// A failure that a later run may not meet (an outage, a timeout).
    pub fn transient(message: impl Into<String>) -> Self {
        JobFailure { message: message.into(), kind: FailureKind::Transient, zabbix: None }
    }

    pub fn is_transient(&self) -> bool {
        self.kind == FailureKind::Transient
    }
}

/// The work of one system job. Implementations live with the job (Zabbix import, cleanup, ...).
#[async_trait]
pub trait SystemJobHandler: Send + Sync {
    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobFailure>;
}

/// What a running job sees: its record as claimed, and its log.
pub struct JobContext {
    pub record: JobRecord,
    clock: Arc<dyn Clock>,
    log: Mutex<JobLog>,
}

impl JobContext {
    pub fn new(record: JobRecord, clock: Arc<dyn Clock>) -> Self {
        JobContext { record, clock, log: Mutex::new(JobLog::default()) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Adds a line to the job's log (kept with the record when the job finishes).
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        let now = self.clock.now();
        self.log.lock().expect("job log lock").push(now, level, message);
    }

    fn take_log(&self) -> JobLog {
        std::mem::take(&mut *self.log.lock().expect("job log lock"))
    }
}

/// Runs `handler` for a claimed run: heartbeats every third of the lease, fails the job if it
/// exceeds `timeout`, and records the outcome. If the run loses its job (its lease expired and
/// a trigger marked it stalled), the work is dropped and [`RuntimeError::LeaseLost`] returned.
pub async fn run_claimed(
    scheduler: &Scheduler,
    clock: Arc<dyn Clock>,
    handler: &dyn SystemJobHandler,
    mut run: ClaimedRun,
    timeout: std::time::Duration,
) -> Result<JobRecord, RuntimeError> {
    crate::metrics::job_started(run.record.name);
    let ctx = JobContext::new(run.record.clone(), clock);
    let beat_every = (scheduler.lease() / 3).to_std().unwrap_or(std::time::Duration::from_secs(1));
    let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + beat_every, beat_every);
    let work = handler.run(&ctx);
    tokio::pin!(work);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result.map_err(|f| f.to_string()),
            () = &mut deadline => break Err(format!("exceeded the job timeout of {} s", timeout.as_secs())),
            _ = beats.tick() => match scheduler.heartbeat(&mut run).await {
                Ok(()) => {}
                Err(lost @ RuntimeError::LeaseLost(_)) => return Err(lost),
                // A store hiccup: keep working; the next beat may get through before the lease ends.
                Err(e) => tracing::warn!(job_id = %run.record.id, error = %e, "heartbeat failed"),
            },
        }
    };
    ctx.log(
        if outcome.is_ok() { LogLevel::Info } else { LogLevel::Error },
        if outcome.is_ok() { "completed" } else { "failed" },
    );
    let record = scheduler.finish(&run, outcome, &ctx.take_log()).await?;
    crate::metrics::job_finished(&record);
    Ok(record)
}

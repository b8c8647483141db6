//! Single-instance scheduling of system jobs on any [`JobStore`].
//!
//! Every operation is read, decide (pure, in `nzj_core`), then one atomic commit conditional on
//! the versions read. When the commit finds a newer version, another writer got there first:
//! the operation re-reads and decides again, so concurrent triggers end as no-ops, not errors.

use chrono::Duration;
use nzj_core::job::{InvalidTransition, JobOrigin};
use nzj_core::{
    Clock, Interval, JobId, JobLog, JobRecord, JobStatus, LogLevel, ScheduleEntry, SkipReason, SystemJob, Trigger,
    TriggerDecision,
};
use nzj_store::{JobStore, StoreError, Write};
use std::sync::Arc;

/// How often an operation re-reads after losing a race before giving up. Each lost race means
/// another writer made progress, so this is only reached under pathological contention.
const MAX_RACES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("gave up after {MAX_RACES} concurrent writes to the same record")]
    Contended,
    #[error("run {0} no longer holds its job (its lease expired and it was marked stalled)")]
    LeaseLost(JobId),
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    #[error("{0} has no handler in this process")]
    NoHandler(SystemJob),
}

/// A run that holds its system job until its lease expires.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub job: SystemJob,
    pub record: JobRecord,
}

#[derive(Debug, Clone)]
pub enum TriggerOutcome {
    Claimed(Box<ClaimedRun>),
    /// Nothing to do: a duplicate or early trigger, a job already running, or off.
    Skipped(SkipReason),
    /// The job is off, but a run whose lease had expired was marked stalled.
    StallRecorded(JobId),
}

pub struct Scheduler {
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    lease: Duration,
    retention: Duration,
}

impl Scheduler {
    pub fn new(store: Arc<dyn JobStore>, clock: Arc<dyn Clock>, lease: Duration, retention: Duration) -> Self {
        Scheduler { store, clock, lease, retention }
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// How long job records are kept (their TTL).
    pub fn retention(&self) -> Duration {
        self.retention
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The job's schedule: as stored, or the defaults if it was never stored.
    pub async fn schedule(&self, job: SystemJob) -> Result<ScheduleEntry, RuntimeError> {
        Ok(self.store.get_schedule(job).await?.unwrap_or_else(|| ScheduleEntry::new(job)))
    }

    /// A scheduled trigger of `job` now: claims a run if the job is due and nobody holds it. Any
    /// number of concurrent or duplicate triggers for the same tick produce exactly one claim.
    pub async fn trigger(&self, job: SystemJob, origin: JobOrigin) -> Result<TriggerOutcome, RuntimeError> {
        self.claim(job, origin, ClaimMode::Scheduled).await
    }

    /// A manual run of `job` now (API, CLI), due or not, off or not. Refused (`Skipped(Running)`,
    /// HTTP 409) while another run holds the job; the schedule's next due time is left alone.
    pub async fn run_now(&self, job: SystemJob, origin: JobOrigin) -> Result<TriggerOutcome, RuntimeError> {
        self.claim(job, origin, ClaimMode::Manual).await
    }

    /// An operator's retry of `previous`, a failed or stalled run of `job`: a manual run, linked
    /// to it both ways in the same commit as the claim (so two retries of one run cannot both
    /// start). Refused as a manual run is while the job runs, and with
    /// [`RuntimeError::Transition`] when `previous` did not fail.
    pub async fn retry(
        &self,
        job: SystemJob,
        origin: JobOrigin,
        previous: &JobId,
    ) -> Result<TriggerOutcome, RuntimeError> {
        self.claim(job, origin, ClaimMode::Retry(previous.clone())).await
    }

    async fn claim(&self, job: SystemJob, origin: JobOrigin, mode: ClaimMode) -> Result<TriggerOutcome, RuntimeError> {
        self.until_committed(|| async {
            let now = self.clock.now();
            let mut entry = self.schedule(job).await?;
            let decision = match mode {
                ClaimMode::Scheduled => entry.decide(now),
                ClaimMode::Manual | ClaimMode::Retry(_) => match entry.decide_manual(now) {
                    Ok(stalled) => TriggerDecision::Claim { stalled },
                    Err(running) => TriggerDecision::Skip(SkipReason::Running { job: running }),
                },
            };
            let (stalled, claim) = match decision {
                TriggerDecision::Skip(reason) => return Ok(Step::Done(TriggerOutcome::Skipped(reason))),
                TriggerDecision::MarkStalled(run) => (Some(run), false),
                TriggerDecision::Claim { stalled } => (stalled, true),
            };
            let mut writes = Vec::new();
            let mut previous_attempt = 0;
            if let Some(run) = &stalled {
                if let Some(mut record) = self.store.get_job(run).await?
                    && record.status == JobStatus::Running
                {
                    record.mark_stalled(now)?;
                    previous_attempt = record.attempt;
                    writes.push(Write::job(record));
                }
                entry.release(run);
            }
            let outcome = if claim {
                let mut record = JobRecord::new_running(job.into(), origin.clone(), now, self.lease, self.retention);
                record.interval = Some(entry.interval);
                if let Some(run) = &stalled {
                    if mode == ClaimMode::Scheduled {
                        record.trigger = Trigger::Retry;
                    }
                    record.attempt = previous_attempt + 1;
                    record.log.push(now, LogLevel::Warning, format!("retry of stalled run {run}"));
                }
                // The run it retries: the operator's choice, or the last scheduled run that failed.
                let previous = match &mode {
                    ClaimMode::Retry(previous) => Some(previous.clone()),
                    ClaimMode::Scheduled if entry.retry_is_due(now) && stalled.is_none() => entry.last_run.clone(),
                    _ => None,
                };
                if let Some(previous) = previous
                    && let Some(mut previous) = self.store.get_job(&previous).await?
                    && (previous.status == JobStatus::Failed || matches!(mode, ClaimMode::Retry(_)))
                {
                    record.retries(&mut previous, now)?;
                    if mode == ClaimMode::Scheduled {
                        record.trigger = Trigger::Retry;
                    }
                    writes.push(Write::job(previous));
                }
                match mode {
                    ClaimMode::Scheduled => entry.claim(record.id.clone(), now, self.lease),
                    ClaimMode::Manual | ClaimMode::Retry(_) => entry.claim_manual(record.id.clone(), now, self.lease),
                }
                writes.push(Write::job(record.clone()));
                TriggerOutcome::Claimed(Box::new(ClaimedRun { job, record: as_written(record) }))
            } else {
                TriggerOutcome::StallRecorded(stalled.expect("MarkStalled names a run"))
            };
            writes.push(Write::schedule(entry));
            Ok(Step::Commit(writes, outcome))
        })
        .await
    }

    /// Extends the run's lease. Fails with [`RuntimeError::LeaseLost`] if the run was marked
    /// stalled or another run holds the job: the holder must then stop working.
    pub async fn heartbeat(&self, run: &mut ClaimedRun) -> Result<(), RuntimeError> {
        let record = self
            .until_committed(|| async {
                let (mut record, mut entry) = self.held(run).await?;
                record.heartbeat(self.clock.now(), self.lease)?;
                entry.lease_until = record.lease_until;
                let writes = vec![Write::job(record.clone()), Write::schedule(entry)];
                Ok(Step::Commit(writes, as_written(record)))
            })
            .await?;
        run.record = record;
        Ok(())
    }

    /// Records the run's outcome and releases the job. A run that lost its job (marked stalled)
    /// cannot finish: its record stays `stalled`.
    pub async fn finish(
        &self,
        run: &ClaimedRun,
        outcome: Result<serde_json::Value, String>,
        log: &JobLog,
    ) -> Result<JobRecord, RuntimeError> {
        self.until_committed(|| async {
            let now = self.clock.now();
            let (mut record, mut entry) = self.held(run).await?;
            record.log.append(log);
            match &outcome {
                Ok(result) => record.complete(now, result.clone())?,
                Err(error) => record.fail(now, error.clone())?,
            }
            // A scheduled run's failure is retried before the next interval; a manual one's is not.
            if entry.release(&record.id) && matches!(record.trigger, Trigger::Schedule | Trigger::Retry) {
                entry.scheduled_run_ended(outcome.is_err(), now);
            }
            let writes = vec![Write::job(record.clone()), Write::schedule(entry)];
            Ok(Step::Commit(writes, as_written(record)))
        })
        .await
    }

    /// The run's current record and schedule entry, if the run still holds its job.
    async fn held(&self, run: &ClaimedRun) -> Result<(JobRecord, ScheduleEntry), RuntimeError> {
        let id = &run.record.id;
        let lost = || RuntimeError::LeaseLost(id.clone());
        let record = self.store.get_job(id).await?.ok_or_else(lost)?;
        let entry = self.schedule(run.job).await?;
        if record.status != JobStatus::Running || entry.current_run.as_ref() != Some(id) {
            return Err(lost());
        }
        Ok((record, entry))
    }

    /// Changes how often `job` runs, recording `by` (a token's name) as who changed it; takes
    /// effect on the next trigger, without a restart.
    pub async fn set_interval(
        &self,
        job: SystemJob,
        interval: Interval,
        by: &str,
    ) -> Result<ScheduleEntry, RuntimeError> {
        self.until_committed(|| async {
            let mut entry = self.schedule(job).await?;
            entry.set_interval(interval, self.clock.now(), by);
            let mut written = entry.clone();
            written.version += 1;
            Ok(Step::Commit(vec![Write::schedule(entry)], written))
        })
        .await
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClaimMode {
    Scheduled,
    Manual,
    /// A manual run retrying this failed or stalled run.
    Retry(JobId),
}

/// What one attempt of an operation decided: nothing to write, or writes to commit atomically.
enum Step<T> {
    Done(T),
    Commit(Vec<Write>, T),
}

impl Scheduler {
    /// Runs `attempt` until its writes commit (or it needs none). A conflict means another
    /// writer got there first, so the attempt re-reads and decides again.
    async fn until_committed<T, F, Fut>(&self, mut attempt: F) -> Result<T, RuntimeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Step<T>, RuntimeError>>,
    {
        for _ in 0..MAX_RACES {
            match attempt().await? {
                Step::Done(value) => return Ok(value),
                Step::Commit(writes, value) => match self.store.commit(writes).await {
                    Ok(()) => return Ok(value),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                },
            }
        }
        Err(RuntimeError::Contended)
    }
}

/// A record as the store holds it after writing it over the version it was read at.
fn as_written(mut record: JobRecord) -> JobRecord {
    record.version += 1;
    record
}

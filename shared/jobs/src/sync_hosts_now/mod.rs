//! SyncHostsNow: reconcile every NetBox device and VM with Zabbix at once (docs/product.md §2, §2.3, §6).
//!
//! A sync runs in steps, one NetBox page of up to 1,000 objects each, so work that does not fit in
//! one Lambda invocation continues in the next through the bulk queue (its own queue: webhooks
//! never wait behind a sync). A page costs one NetBox call, one `host.get` (the page's hosts by
//! their exact managed tags), and a `host.create` / `host.update` per `batch_size` changed hosts.
//! Deletions wait for the last step, when every page has been read, so the max-deletions breaker
//! sees all of them before any is made.

use crate::hosts::HostConverger;
use crate::store_failure;
use nzj_core::job::JobOrigin;
use nzj_core::sync::{SyncCursor, SyncRun};
use nzj_core::sync_schedule::SyncSchedule;
use nzj_core::{Clock, JobId, JobName, JobRecord, JobStatus, Trigger};
use nzj_netbox::NetboxSource;
use nzj_queue::{JobQueue, Message};
use nzj_runtime::JobFailure;
use nzj_store::{StoreError, Write};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

mod deletions;
mod page;
mod worker;

pub use worker::SyncWorker;

/// One step of a sync: the bulk queue's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncStep {
    pub job_id: JobId,
    pub step: u32,
}

impl Message for SyncStep {
    /// One sync at a time, its steps in order.
    fn group(&self) -> String {
        JobName::SyncHostsNow.to_string()
    }

    fn dedup_id(&self) -> String {
        format!("{}#{}", self.job_id, self.step)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A sync is pending or running: this one is refused (HTTP 409).
    #[error("SyncHostsNow is already {status} as job {job}")]
    Busy { job: JobId, status: JobStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sync was recorded, then failed because the bulk queue refused its first step.
    #[error("{0}")]
    Queue(String),
    /// The job asked to be retried did not fail.
    #[error(transparent)]
    NotRetriable(#[from] nzj_core::job::InvalidTransition),
}

pub struct SyncHostsNow {
    converger: HostConverger,
    netbox: Arc<dyn NetboxSource>,
    clock: Arc<dyn Clock>,
    /// How long a step may take before another process may take the sync over.
    lease: chrono::Duration,
    retention: chrono::Duration,
    /// Objects per NetBox page, and per `host.get`: 1,000 (NetBox's largest page) by default.
    page_size: usize,
}

/// Host configs written per store commit (DynamoDB transactions take at most 100 items).
const CONFIGS_PER_COMMIT: usize = 50;

impl SyncHostsNow {
    pub fn new(
        converger: HostConverger,
        netbox: Arc<dyn NetboxSource>,
        clock: Arc<dyn Clock>,
        lease: chrono::Duration,
        retention: chrono::Duration,
    ) -> SyncHostsNow {
        SyncHostsNow { converger, netbox, clock, lease, retention, page_size: nzj_netbox::PAGE_SIZE }
    }

    /// With smaller pages (tests).
    pub fn with_page_size(mut self, page_size: usize) -> SyncHostsNow {
        self.page_size = page_size.max(1);
        self
    }

    pub fn converger(&self) -> &HostConverger {
        &self.converger
    }

    /// Records a new sync and puts its first step on `queue`; refused while a sync is pending or
    /// running. A sync whose process died (lease expired) is marked stalled and replaced.
    pub async fn launch(&self, queue: &dyn JobQueue<SyncStep>, origin: JobOrigin) -> Result<JobRecord, StartError> {
        self.launch_linked(queue, origin, None).await
    }

    /// As [`SyncHostsNow::launch`], as the operator's retry of `previous`, a failed or stalled
    /// sync: linked to it both ways in the commit that starts it.
    pub async fn launch_retry(
        &self,
        queue: &dyn JobQueue<SyncStep>,
        origin: JobOrigin,
        previous: &JobId,
    ) -> Result<JobRecord, StartError> {
        self.launch_linked(queue, origin, Some(previous)).await
    }

    async fn launch_linked(
        &self,
        queue: &dyn JobQueue<SyncStep>,
        origin: JobOrigin,
        retrying: Option<&JobId>,
    ) -> Result<JobRecord, StartError> {
        let (record, step) = self.start_linked(origin, retrying, None).await?;
        self.enqueue_first(queue, record, step).await
    }

    /// Puts a started sync's first step on `queue`; a queue that refuses it fails the sync.
    async fn enqueue_first(
        &self,
        queue: &dyn JobQueue<SyncStep>,
        record: JobRecord,
        step: SyncStep,
    ) -> Result<JobRecord, StartError> {
        if let Err(e) = queue.enqueue(&step).await {
            let message = format!("could not enqueue: {e}");
            self.fail(&record.id, &message).await?;
            return Err(StartError::Queue(message));
        }
        Ok(record)
    }

    /// A scheduler tick (`nzj serve`'s, or EventBridge's on AWS): starts a sync if its schedule
    /// (`nzj_core::sync_schedule`, off by default) is due, committed with the schedule's next due
    /// time so concurrent ticks start one; while a sync runs, the tick is skipped. Returns the
    /// sync started, if one was.
    pub async fn launch_scheduled(&self, queue: &dyn JobQueue<SyncStep>) -> Result<Option<JobRecord>, StartError> {
        let store = &self.converger.store;
        for _ in 0..16 {
            let now = self.clock.now();
            let mut schedule = store.get_sync_schedule().await?;
            if !schedule.is_due(now) {
                return Ok(None);
            }
            let origin = JobOrigin { trigger: Trigger::Schedule, user: "scheduler".into(), object: None };
            match self.start_linked(origin, None, Some(schedule.clone())).await {
                Ok((record, step)) => return self.enqueue_first(queue, record, step).await.map(Some),
                Err(StartError::Busy { job, .. }) => {
                    tracing::info!(running = %job, "SyncHostsNow is due but a sync runs: this turn is skipped");
                    schedule.took_turn(None, now);
                    return match store.commit(vec![Write::sync_schedule(schedule)]).await {
                        Ok(()) | Err(StoreError::Conflict) => Ok(None),
                        Err(e) => Err(e.into()),
                    };
                }
                // The schedule changed since it was read (another tick): read it again.
                Err(StartError::Store(StoreError::Conflict)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Records a new sync (pending) and takes the single-instance lock; returns its first step.
    pub async fn start(&self, origin: JobOrigin) -> Result<(JobRecord, SyncStep), StartError> {
        self.start_linked(origin, None, None).await
    }

    /// `schedule`: the sync schedule as read, when the schedule starts it: written in the same
    /// commit (its turn taken), and a conflict is returned for the caller to read it again.
    async fn start_linked(
        &self,
        origin: JobOrigin,
        retrying: Option<&JobId>,
        schedule: Option<SyncSchedule>,
    ) -> Result<(JobRecord, SyncStep), StartError> {
        let store = &self.converger.store;
        loop {
            let now = self.clock.now();
            let existing = store.get_sync_run().await?;
            let mut writes = Vec::new();
            if let Some(run) = &existing {
                let job = store.get_job(&run.job_id).await?;
                if !run.is_free(now) {
                    let status = job.map_or(JobStatus::Pending, |j| j.status);
                    return Err(StartError::Busy { job: run.job_id.clone(), status });
                }
                // Its process died before the end: the run is stalled, visibly.
                if let Some(mut job) = job.filter(|j| !j.status.is_final()) {
                    if job.status == JobStatus::Pending {
                        job.start(now, chrono::Duration::zero()).ok();
                    }
                    job.mark_stalled(now).ok();
                    writes.push(Write::job(job));
                }
            }
            let mut record = JobRecord::new_pending(JobName::SyncHostsNow, origin.clone(), now, self.retention);
            if let Some(previous) = retrying
                && let Some(mut previous) = store.get_job(previous).await?
            {
                record.retries(&mut previous, now)?;
                writes.push(Write::job(previous));
            }
            let mut run = SyncRun::new(record.id.clone(), now + self.lease);
            run.version = existing.map_or(0, |r| r.version);
            writes.extend([Write::job(record.clone()), Write::sync_run(run)]);
            if let Some(mut schedule) = schedule.clone() {
                schedule.took_turn(Some(record.id.clone()), now);
                writes.push(Write::sync_schedule(schedule));
            }
            match store.commit(writes).await {
                Ok(()) => {
                    let step = SyncStep { job_id: record.id.clone(), step: 0 };
                    let mut record = record;
                    record.version += 1;
                    return Ok((record, step));
                }
                Err(StoreError::Conflict) if schedule.is_some() => return Err(StoreError::Conflict.into()),
                // Another start won the race: it is now the running one.
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs every step in this process, without a queue (tests, the bench).
    pub async fn run_to_end(&self, first: SyncStep) -> Result<(), JobFailure> {
        let mut next = Some(first);
        while let Some(step) = next {
            next = self.run_step(&step).await?;
        }
        Ok(())
    }

    /// Runs one step and returns the next one to enqueue (`None`: the sync is settled). A step
    /// delivered again after it was done only hands out the next step again. A permanent failure
    /// fails the sync; a transient one is returned for the queue to retry.
    pub async fn run_step(&self, step: &SyncStep) -> Result<Option<SyncStep>, JobFailure> {
        let store = &self.converger.store;
        let Some(mut run) = store.get_sync_run().await.map_err(store_failure)? else { return Ok(None) };
        // A step of a sync that was replaced, or that is settled: nothing to do.
        if run.job_id != step.job_id || run.cursor == SyncCursor::Done || run.step < step.step {
            return Ok(None);
        }
        if run.step > step.step {
            return Ok(Some(SyncStep { job_id: run.job_id.clone(), step: run.step }));
        }
        let Some(mut record) = store.get_job(&run.job_id).await.map_err(store_failure)? else {
            return Ok(None);
        };
        if record.status.is_final() {
            return Ok(None);
        }
        let now = self.clock.now();
        if record.status == JobStatus::Pending {
            record.start(now, self.lease).map_err(|e| JobFailure::permanent(e.to_string()))?;
            nzj_runtime::metrics::job_started(record.name);
        } else {
            record.heartbeat(now, self.lease).map_err(|e| JobFailure::permanent(e.to_string()))?;
        }
        let settings = store.get_settings().await.map_err(store_failure)?;
        let done = match run.cursor {
            SyncCursor::Pages { devices, vms } => self.pages(&mut run, &mut record, &settings, devices, vms).await,
            SyncCursor::Page { kind, after_id } => self.page(&mut run, &mut record, &settings, kind, after_id).await,
            SyncCursor::Deletions => self.deletions(&mut run, &mut record, &settings).await,
            SyncCursor::Done => return Ok(None),
        };
        let now = self.clock.now();
        match done {
            Ok(()) => {}
            Err(failure) if failure.is_transient() => return Err(failure),
            Err(failure) => {
                record.fail(now, failure.message.clone()).ok();
                record.result = Some(summary(&run, &failure.message));
                run.cursor = SyncCursor::Done;
            }
        }
        run.step += 1;
        run.lease_until = now + self.lease;
        if run.cursor == SyncCursor::Done && !record.status.is_final() {
            let c = &run.counts;
            let message = format!(
                "{} objects: {} created, {} restored, {} updated, {} disabled, {} unchanged, {} deleted, {} held, {} skipped, {} failed",
                c.total,
                c.created,
                c.restored,
                c.updated,
                c.disabled,
                c.unchanged,
                c.deleted,
                c.held,
                c.skipped,
                c.failed
            );
            record.complete(now, summary(&run, &message)).map_err(|e| JobFailure::permanent(e.to_string()))?;
        } else if !record.status.is_final() {
            record.result = Some(summary(&run, "running"));
        }
        let next = (run.cursor != SyncCursor::Done).then(|| SyncStep { job_id: run.job_id.clone(), step: run.step });
        let c = &run.counts;
        let changed = c.created + c.restored + c.updated + c.disabled + c.deleted;
        // A conflict means a duplicate delivery of this step got there first: retry, and the
        // retry sees the step done.
        store.commit(vec![Write::job(record.clone()), Write::sync_run(run)]).await.map_err(store_failure)?;
        if record.status.is_final() {
            nzj_runtime::metrics::job_finished(&record);
            nzj_runtime::metrics::hosts_changed(record.name, changed);
        }
        Ok(next)
    }

    /// Fails the sync `job` (e.g. its step went to the dead-letter queue) and frees the lock.
    pub async fn fail(&self, job: &JobId, reason: &str) -> Result<(), StoreError> {
        let store = &self.converger.store;
        for _ in 0..8 {
            let now = self.clock.now();
            let mut writes = Vec::new();
            if let Some(mut run) = store.get_sync_run().await?.filter(|r| &r.job_id == job) {
                run.cursor = SyncCursor::Done;
                writes.push(Write::sync_run(run));
            }
            if let Some(mut record) = store.get_job(job).await?.filter(|r| !r.status.is_final()) {
                record.fail(now, reason).ok();
                writes.push(Write::job(record));
            }
            match store.commit(writes).await {
                Err(StoreError::Conflict) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }
}

/// The job's result, with the plugin's keys.
fn summary(run: &SyncRun, message: &str) -> Value {
    let c = &run.counts;
    json!({
        "total": c.total, "created": c.created, "updated": c.updated, "unchanged": c.unchanged,
        "deleted": c.deleted, "failed": c.failed, "restored": c.restored, "disabled": c.disabled,
        "skipped": c.skipped, "held": c.held, "message": message, "expected": run.expected,
    })
}

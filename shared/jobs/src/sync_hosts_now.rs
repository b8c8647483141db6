//! SyncHostsNow: reconcile every NetBox device and VM with Zabbix at once (docs/product.md §2, §2.3, §6).
//!
//! A sync runs in steps, one NetBox page of up to 1,000 objects each, so work that does not fit in
//! one Lambda invocation continues in the next through the bulk queue (its own queue: webhooks
//! never wait behind a sync). A page costs one NetBox call, one `host.get` (the page's hosts by
//! their exact managed tags), and a `host.create` / `host.update` per `batch_size` changed hosts.
//! Deletions wait for the last step, when every page has been read, so the max-deletions breaker
//! sees all of them before any is made.

use crate::hosts::{HostConverger, HostOutcome, HostUpdate};
use crate::{netbox_failure, store_failure, zabbix_failure};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use nzj_core::desired::{CacheView, Desired, DesiredHost, desired_host};
use nzj_core::host_config::HostConfig;
use nzj_core::job::JobOrigin;
use nzj_core::netbox::{NetboxObject, ObjectKind, ObjectRef};
use nzj_core::retry::{FailureKind, RetryPolicy, Settlement};
use nzj_core::settings::Settings;
use nzj_core::sync::{PlannedDeletion, SyncCursor, SyncRun};
use nzj_core::zabbix_cache::CacheKind;
use nzj_core::{Clock, JobId, JobName, JobRecord, JobStatus, LogLevel};
use nzj_netbox::NetboxSource;
use nzj_queue::{Delivery, JobQueue, Message, MessageHandler, QueueError, settle};
use nzj_runtime::JobFailure;
use nzj_store::{StoreError, Write};
use nzj_zabbix::ZabbixHost;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

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
        let (record, step) = self.start(origin).await?;
        if let Err(e) = queue.enqueue(&step).await {
            let message = format!("could not enqueue: {e}");
            self.fail(&record.id, &message).await?;
            return Err(StartError::Queue(message));
        }
        Ok(record)
    }

    /// Records a new sync (pending) and takes the single-instance lock; returns its first step.
    pub async fn start(&self, origin: JobOrigin) -> Result<(JobRecord, SyncStep), StartError> {
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
            let record = JobRecord::new_pending(JobName::SyncHostsNow, origin.clone(), now, self.retention);
            let mut run = SyncRun::new(record.id.clone(), now + self.lease);
            run.version = existing.map_or(0, |r| r.version);
            writes.extend([Write::job(record.clone()), Write::sync_run(run)]);
            match store.commit(writes).await {
                Ok(()) => {
                    let step = SyncStep { job_id: record.id.clone(), step: 0 };
                    let mut record = record;
                    record.version += 1;
                    return Ok((record, step));
                }
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
                "{} objects: {} created, {} updated, {} unchanged, {} deleted, {} failed",
                c.total, c.created, c.updated, c.unchanged, c.deleted, c.failed
            );
            record.complete(now, summary(&run, &message)).map_err(|e| JobFailure::permanent(e.to_string()))?;
        } else if !record.status.is_final() {
            record.result = Some(summary(&run, "running"));
        }
        let next = (run.cursor != SyncCursor::Done).then(|| SyncStep { job_id: run.job_id.clone(), step: run.step });
        let changed = run.counts.created + run.counts.updated + run.counts.deleted;
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

    /// One NetBox page: compute every desired host, read the page's hosts in one `host.get`, and
    /// create and update in batches. Hosts to delete are only planned.
    async fn page(
        &self,
        run: &mut SyncRun,
        record: &mut JobRecord,
        settings: &Settings,
        kind: ObjectKind,
        after_id: u64,
    ) -> Result<(), JobFailure> {
        let (objects, remaining) = self.netbox.page(kind, after_id, self.page_size).await.map_err(netbox_failure)?;
        if after_id == 0 {
            run.expected += remaining.unwrap_or(objects.len() as u64);
        }
        let last_id = objects.iter().filter_map(|o| o["id"].as_u64()).max();
        run.cursor = SyncCursor::after_page(kind, last_id, objects.len(), self.page_size);
        if objects.is_empty() {
            return Ok(());
        }
        let store = &self.converger.store;
        let mut snapshots = Vec::new();
        for cache in CacheKind::ALL {
            snapshots.push(store.get_cache(*cache).await.map_err(store_failure)?);
        }
        if snapshots.iter().any(|s| s.kind == CacheKind::Templates && s.version == 0) {
            return Err(JobFailure::permanent(
                "the Zabbix settings are not imported yet: run ImportZabbixSettings first, then sync again",
            ));
        }
        let view = CacheView::new(&snapshots);
        let planned: Vec<(ObjectRef, Result<Desired, String>)> = objects
            .iter()
            .filter_map(|raw| {
                let id = raw["id"].as_u64()?;
                let object = ObjectRef { kind, id };
                let desired = NetboxObject::from_rest(kind, raw)
                    .map_err(|e| format!("the NetBox object is malformed: {e}"))
                    .and_then(|o| desired_host(&o, settings, &view).map_err(|e| e.to_string()));
                Some((object, desired))
            })
            .collect();
        let refs: Vec<ObjectRef> = planned.iter().map(|(o, _)| *o).collect();
        let found = self.converger.find_managed(settings, &refs, self.page_size).await.map_err(zabbix_failure)?;

        let now = self.clock.now();
        let mut results: Vec<(ObjectRef, Option<DesiredHost>, Result<HostOutcome, JobFailure>)> = Vec::new();
        let (mut creates, mut updates) = (Vec::new(), Vec::new());
        for (object, desired) in &planned {
            match (desired, found.get(object)) {
                (Err(reason), _) => results.push((*object, None, Err(JobFailure::permanent(reason.clone())))),
                (Ok(Desired::Host(desired)), None) => creates.push((*object, desired.as_ref())),
                (Ok(Desired::Host(desired)), Some(existing)) => {
                    let difference = nzj_core::desired::differences(desired, &existing.actual(&settings.tag_prefix));
                    if difference.is_empty() {
                        let outcome = HostOutcome::unchanged(existing);
                        results.push((*object, Some((**desired).clone()), Ok(outcome)));
                    } else {
                        updates.push((*object, HostUpdate { desired, existing, difference }));
                    }
                }
                (Ok(Desired::OutOfScope(reason)), Some(existing)) => {
                    let hostid = existing.hostid.clone();
                    let deletion = PlannedDeletion { object: *object, hostid, reason: reason.clone() };
                    run.plan_deletion(deletion, settings.max_deletions);
                }
                (Ok(Desired::OutOfScope(_)), None) => {}
            }
        }
        let batch = settings.batch_size;
        let desired: Vec<&DesiredHost> = creates.iter().map(|(_, d)| *d).collect();
        for ((object, wanted), outcome) in
            creates.iter().zip(self.converger.create_many(settings, &desired, batch).await)
        {
            results.push((*object, Some((*wanted).clone()), outcome));
        }
        let (objects, updates): (Vec<ObjectRef>, Vec<HostUpdate>) = updates.into_iter().unzip();
        for ((object, update), outcome) in
            objects.iter().zip(&updates).zip(self.converger.update_many(settings, &updates, batch).await)
        {
            results.push((*object, Some(update.desired.clone()), outcome));
        }
        // An outage that outlasted the retries: the whole step is tried again later (everything
        // it did is desired state, so the retry converges).
        if let Some((_, _, Err(failure))) = results.iter().find(|(_, _, r)| r.as_ref().is_err_and(|f| f.is_transient()))
        {
            return Err(failure.clone());
        }
        run.counts.total += planned.len() as u64;
        self.record(run, record, results, now).await
    }

    /// The last step: plan the deletion of hosts whose NetBox object is gone (a host config with a
    /// host that this sync has not seen), check the breaker, then delete.
    async fn deletions(
        &self,
        run: &mut SyncRun,
        record: &mut JobRecord,
        settings: &Settings,
    ) -> Result<(), JobFailure> {
        let store = &self.converger.store;
        let mut gone = Vec::new();
        let mut after = None;
        loop {
            let configs = store.list_host_configs(after, 500).await.map_err(store_failure)?;
            let Some(last) = configs.last() else { break };
            after = Some(last.object);
            gone.extend(
                configs
                    .iter()
                    .filter(|c| c.hostid.is_some() && c.seen_by_sync.as_ref() != Some(&run.job_id))
                    .map(|c| c.object),
            );
        }
        // Only hosts that still carry the object's managed tag are the product's to delete.
        let gone_hosts = self.converger.find_managed(settings, &gone, self.page_size).await.map_err(zabbix_failure)?;
        for (object, host) in &gone_hosts {
            let hostid = host.hostid.clone();
            let deletion = PlannedDeletion { object: *object, hostid, reason: "gone from NetBox".into() };
            run.plan_deletion(deletion, settings.max_deletions);
        }
        // A config whose host is not found any more keeps its stale host id: it is asked about
        // again (in the same one `host.get` per page) by the next sync.
        run.check_deletions(settings.max_deletions).map_err(JobFailure::permanent)?;
        let objects: Vec<ObjectRef> = run.deletions.iter().map(|d| d.object).collect();
        let mut found = gone_hosts;
        let missing: Vec<ObjectRef> = objects.iter().filter(|o| !found.contains_key(o)).copied().collect();
        found.extend(self.converger.find_managed(settings, &missing, self.page_size).await.map_err(zabbix_failure)?);
        let targets: Vec<(ObjectRef, &ZabbixHost)> =
            objects.iter().filter_map(|o| found.get(o).map(|host| (*o, host))).collect();
        let now = self.clock.now();
        let outcomes = self.converger.delete_many(settings, &targets, now, settings.batch_size).await;
        let results = targets.iter().zip(outcomes).map(|((object, _), outcome)| (*object, None, outcome)).collect();
        run.cursor = SyncCursor::Done;
        self.record(run, record, results, now).await
    }

    /// Counts and logs each host's outcome (one log line per changed or failed host) and records it
    /// in the host configs, marked as seen by this sync.
    async fn record(
        &self,
        run: &mut SyncRun,
        record: &mut JobRecord,
        results: Vec<(ObjectRef, Option<DesiredHost>, Result<HostOutcome, JobFailure>)>,
        now: DateTime<Utc>,
    ) -> Result<(), JobFailure> {
        let store = &self.converger.store;
        let objects: Vec<ObjectRef> = results.iter().map(|(o, _, _)| *o).collect();
        let configs: Vec<HostConfig> = futures_util::stream::iter(objects)
            .map(|object| {
                let store = store.clone();
                async move { Ok(store.get_host_config(object).await?.unwrap_or_else(|| HostConfig::new(object))) }
            })
            .buffered(16)
            .collect::<Vec<Result<HostConfig, StoreError>>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(store_failure)?;
        let mut updated = Vec::with_capacity(configs.len());
        for ((object, wanted, outcome), mut config) in results.into_iter().zip(configs) {
            match &outcome {
                Ok(done) => {
                    use crate::hosts::HostAction::*;
                    match done.action {
                        Created | Adopted => run.counts.created += 1,
                        Updated => run.counts.updated += 1,
                        Unchanged => run.counts.unchanged += 1,
                        SoftDeleted { .. } | HardDeleted | AlreadyGone => run.counts.deleted += 1,
                    }
                    if done.action != Unchanged {
                        record.log.push(now, LogLevel::Info, format!("{object}: {}", done.message()));
                        tracing::info!(job_id = %record.id, %object, hostid = ?done.hostid, "{}", done.message());
                    }
                    done.record_in(&mut config, wanted, now);
                }
                Err(failure) => {
                    run.counts.failed += 1;
                    record.log.push(now, LogLevel::Error, format!("{object}: {failure}"));
                    tracing::warn!(job_id = %record.id, %object, error = %failure, "host not synced");
                }
            }
            config.seen_by_sync = Some(run.job_id.clone());
            config.last_job = Some(record.id.clone());
            updated.push(config);
        }
        self.save_configs(updated).await
    }

    /// Writes host configs in chunks; a chunk that lost a race with a host job is written one by
    /// one, and a config a host job changed meanwhile keeps the host job's state (it is newer).
    async fn save_configs(&self, configs: Vec<HostConfig>) -> Result<(), JobFailure> {
        let store = &self.converger.store;
        for chunk in configs.chunks(CONFIGS_PER_COMMIT) {
            match store.commit(chunk.iter().cloned().map(Write::host_config).collect()).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => {
                    for config in chunk {
                        match store.commit(vec![Write::host_config(config.clone())]).await {
                            Ok(()) | Err(StoreError::Conflict) => {}
                            Err(e) => return Err(store_failure(e)),
                        }
                    }
                }
                Err(e) => return Err(store_failure(e)),
            }
        }
        Ok(())
    }
}

/// The job's result, with the plugin's keys.
fn summary(run: &SyncRun, message: &str) -> Value {
    let c = &run.counts;
    json!({
        "total": c.total, "created": c.created, "updated": c.updated, "unchanged": c.unchanged,
        "deleted": c.deleted, "failed": c.failed, "message": message, "expected": run.expected,
    })
}

/// Takes sync steps off the bulk queue and runs them, one at a time; the same code runs in the
/// sync-all Lambda (an SQS batch of one) and in `nzj serve` (a poll loop of its own).
pub struct SyncWorker {
    sync: Arc<SyncHostsNow>,
    queue: Arc<dyn JobQueue<SyncStep>>,
    /// Attempts and backoff: the same numbers as the bulk queue's redrive setting.
    retry: RetryPolicy,
}

impl SyncWorker {
    pub fn new(sync: Arc<SyncHostsNow>, queue: Arc<dyn JobQueue<SyncStep>>, retry: RetryPolicy) -> SyncWorker {
        SyncWorker { sync, queue, retry }
    }

    pub fn sync(&self) -> &Arc<SyncHostsNow> {
        &self.sync
    }

    /// Runs the step and enqueues the next one, and says how to settle the message: done; back
    /// for a retry when the step (or enqueueing the next) failed; after the last attempt the sync
    /// is failed and the message goes to the dead-letter queue.
    pub async fn handle(&self, delivery: &Delivery<SyncStep>) -> Settlement {
        let step = &delivery.job;
        let outcome = match self.sync.run_step(step).await {
            Ok(Some(next)) => match self.queue.enqueue(&next).await {
                Ok(()) => Ok(()),
                // The message comes back, and its step (done) hands out `next` again.
                Err(e) => Err(format!("could not enqueue the next sync step: {e}")),
            },
            Ok(None) => Ok(()),
            Err(failure) => Err(failure.to_string()),
        };
        let settlement =
            self.retry.settle(outcome.as_ref().map(|_| ()).map_err(|_| FailureKind::Transient), delivery.receive_count);
        match (&outcome, &settlement) {
            (Err(failure), Settlement::RetryAfter(_)) => {
                tracing::warn!(job_id = %step.job_id, step = step.step, error = %failure, "sync step will be retried");
            }
            (Err(failure), Settlement::DeadLetter) => {
                let reason = format!(
                    "{failure}; gave up after attempt {}, the step is kept in the dead-letter queue",
                    delivery.receive_count
                );
                if let Err(e) = self.sync.fail(&step.job_id, &reason).await {
                    tracing::error!(job_id = %step.job_id, error = %e, "could not record the failed sync");
                }
            }
            _ => {}
        }
        settlement
    }

    /// One poll of the bulk queue (for `nzj serve`): at most one step. Returns whether a step ran.
    pub async fn poll_once(&self) -> Result<bool, QueueError> {
        let Some(delivery) = self.queue.receive(1).await?.into_iter().next() else { return Ok(false) };
        let settlement = self.handle(&delivery).await;
        settle(self.queue.as_ref(), &delivery, &settlement).await?;
        Ok(true)
    }
}

#[async_trait]
impl MessageHandler<SyncStep> for SyncWorker {
    async fn handle(&self, delivery: &Delivery<SyncStep>) -> Settlement {
        SyncWorker::handle(self, delivery).await
    }

    fn queue(&self) -> &dyn JobQueue<SyncStep> {
        self.queue.as_ref()
    }
}

//! The host worker: takes host jobs off the queue and runs them. The same code runs in the
//! host-worker Lambda (an SQS batch) and in `nzj serve` (a poll loop on the embedded queue).
//!
//! Every message ends settled: its job `completed`, `failed` with a reason, or back to `pending`
//! for a retry with backoff; after the last attempt the job is failed and the message kept in
//! the dead-letter queue. A redelivered message of a settled job changes nothing.

use crate::hosts::{HostAction, HostJobs};
use crate::store_failure;
use nzj_core::desired::{CacheView, Desired, desired_host};
use nzj_core::job::JobOrigin;
use nzj_core::netbox::NetboxObject;
use nzj_core::settings::Settings;
use nzj_core::zabbix_cache::CacheKind;
use nzj_core::{JobName, JobRecord, JobStatus, Trigger};
use nzj_queue::{Delivery, JobQueue, Message, QueueError, QueuedJob};
use nzj_runtime::JobFailure;
use nzj_store::{StoreError, Write};
use std::sync::Arc;
use std::time::Duration;

/// How a message is to be settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Gone from the queue: the job is completed or failed for good (or was settled already).
    Done,
    /// Back in the queue, visible again after the delay.
    RetryAfter(Duration),
    /// The last attempt failed: the job is failed, the message goes to the dead-letter queue.
    DeadLetter,
}

/// The delay before retry number `attempt` (1 for the first): `first`, doubled for each further
/// one, at most `max`.
pub fn backoff(first: Duration, attempt: u32, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    first.saturating_mul(factor).min(max)
}

/// Settles a message on `queue` the way its handler said.
pub async fn settle<M: Message>(
    queue: &dyn JobQueue<M>,
    delivery: &Delivery<M>,
    settlement: &Settlement,
) -> Result<(), QueueError> {
    match settlement {
        Settlement::Done => queue.delete(&delivery.receipt).await,
        Settlement::RetryAfter(delay) => queue.release(delivery, *delay).await,
        Settlement::DeadLetter => queue.release(delivery, Duration::ZERO).await,
    }
}

/// What a queue consumer does with one message: run it and say how to settle it. The host worker
/// and the sync worker both are one, so the Lambda batch handling is shared.
#[async_trait::async_trait]
pub trait MessageHandler<M: Message>: Send + Sync {
    async fn handle(&self, delivery: &Delivery<M>) -> Settlement;
    fn queue(&self) -> &dyn JobQueue<M>;
}

#[async_trait::async_trait]
impl MessageHandler<QueuedJob> for HostWorker {
    async fn handle(&self, delivery: &Delivery) -> Settlement {
        HostWorker::handle(self, delivery).await
    }

    fn queue(&self) -> &dyn JobQueue {
        self.queue.as_ref()
    }
}

pub struct HostWorker {
    pub jobs: HostJobs,
    /// Where host jobs read the current state of their object; without it, the state the event
    /// carried is used.
    pub netbox: Option<Arc<nzj_netbox::NetboxClient>>,
    pub queue: Arc<dyn JobQueue>,
    /// Receives before a message goes to the dead-letter queue (the queue's redrive setting).
    pub max_attempts: u32,
    /// Backoff of the first retry; doubled for each further one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl HostWorker {
    fn backoff_for(&self, attempt: u32) -> Duration {
        backoff(self.backoff, attempt, self.max_backoff)
    }

    /// The job's record, taken for this worker: `Ok(None)` if it is settled already (a duplicate
    /// delivery) or another worker holds it with a live lease.
    async fn claim(&self, job: &QueuedJob) -> Result<Option<JobRecord>, JobFailure> {
        let store = &self.jobs.sync.store;
        for _ in 0..16 {
            let now = self.jobs.clock.now();
            let mut writes = Vec::new();
            let mut record = match store.get_job(&job.job_id).await.map_err(store_failure)? {
                Some(record) if record.status.is_final() => return Ok(None),
                Some(mut record) if record.status == JobStatus::Running => {
                    if !record.lease_expired(now) {
                        return Ok(None);
                    }
                    // Its worker died mid-job: the run is stalled, and a retry converges.
                    record.mark_stalled(now).map_err(|e| JobFailure::permanent(e.to_string()))?;
                    let origin = JobOrigin {
                        trigger: Trigger::Retry,
                        user: "host-worker".into(),
                        object: record.object.clone(),
                    };
                    let mut retry = JobRecord::new_pending(record.name, origin, now, self.jobs.retention);
                    retry.attempt = record.attempt + 1;
                    retry.log.push(now, nzj_core::LogLevel::Warning, format!("retry of stalled job {}", record.id));
                    writes.push(Write::job(record));
                    retry
                }
                Some(record) => record,
                // Enqueued without a record (or the record expired): record it now.
                None => {
                    let origin = JobOrigin {
                        trigger: Trigger::Retry,
                        user: "host-worker".into(),
                        object: Some(job.object.to_string()),
                    };
                    let mut record = JobRecord::new_pending(job.name, origin, now, self.jobs.retention);
                    record.id = job.job_id.clone();
                    record
                }
            };
            record.start(now, self.jobs.lease).map_err(|e| JobFailure::permanent(e.to_string()))?;
            writes.push(Write::job(record.clone()));
            match store.commit(writes).await {
                Ok(()) => {
                    record.version += 1;
                    return Ok(Some(record));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(store_failure(e)),
            }
        }
        Ok(None)
    }

    /// The desired host of the message's object, from `settings` and the cache in the store.
    async fn desired(
        &self,
        job: &QueuedJob,
        settings: &Settings,
    ) -> Result<Result<Desired, nzj_core::desired::MappingError>, JobFailure> {
        if job.name == JobName::DeleteHost {
            return Ok(Ok(Desired::OutOfScope("deleted in NetBox".into())));
        }
        // NetBox's current state, whatever order the events came in; else what the event carried.
        let fetched;
        let data = match (&self.netbox, &job.data) {
            (Some(netbox), _) => match netbox.get_object(job.object).await {
                Ok(Some(current)) => {
                    fetched = current;
                    &fetched
                }
                Ok(None) => return Ok(Ok(Desired::OutOfScope("gone from NetBox".into()))),
                Err(e) => return Err(crate::netbox_failure(e)),
            },
            (None, Some(data)) => data,
            (None, None) => {
                return Ok(Err(nzj_core::desired::MappingError(format!(
                    "reading {} needs NetBox (NZJ_NETBOX_URL, NZJ_NETBOX_TOKEN): the event did not carry it",
                    job.object
                ))));
            }
        };
        let object = match NetboxObject::from_rest(job.object.kind, data) {
            Ok(object) => object,
            Err(e) => return Ok(Err(nzj_core::desired::MappingError(format!("the NetBox object is malformed: {e}")))),
        };
        let store = &self.jobs.sync.store;
        let mut snapshots = Vec::new();
        for kind in CacheKind::ALL {
            snapshots.push(store.get_cache(*kind).await.map_err(store_failure)?);
        }
        let desired = desired_host(&object, settings, &CacheView::new(&snapshots));
        // Before the first import nothing can be mapped: wait for it rather than fail for good.
        if desired.is_err() && snapshots.iter().any(|s| s.version == 0 && s.kind == CacheKind::Templates) {
            return Err(JobFailure::transient(
                "the Zabbix settings are not imported yet (ImportZabbixSettings has not run); waiting for it",
            ));
        }
        Ok(desired)
    }

    /// Runs one delivery to its end and says how to settle its message.
    pub async fn handle(&self, delivery: &Delivery) -> Settlement {
        match self.try_handle(delivery).await {
            Ok(settlement) => settlement,
            // The store itself is away: nothing was recorded; try again later.
            Err(failure) => {
                tracing::warn!(job_id = %delivery.job.job_id, error = %failure, "host job not recorded");
                if delivery.receive_count >= self.max_attempts {
                    Settlement::DeadLetter
                } else {
                    Settlement::RetryAfter(self.backoff_for(delivery.receive_count))
                }
            }
        }
    }

    async fn try_handle(&self, delivery: &Delivery) -> Result<Settlement, JobFailure> {
        let job = &delivery.job;
        let Some(record) = self.claim(job).await? else { return Ok(Settlement::Done) };
        let last_attempt = delivery.receive_count >= self.max_attempts;
        let settings = self.jobs.sync.store.get_settings().await.map_err(store_failure)?;
        // The job is ours now: whatever fails from here on settles its record.
        let (mut record, outcome) = match self.desired(job, &settings).await {
            Ok(desired) => self.jobs.run_record(record, job.object, desired, &settings, !last_attempt).await?,
            Err(failure) if failure.transient && !last_attempt => (record, Err(failure)),
            Err(failure) => {
                let reason = Err(nzj_core::desired::MappingError(failure.message.clone()));
                let (record, _) = self.jobs.run_record(record, job.object, reason, &settings, false).await?;
                (record, Err(failure))
            }
        };
        // A transient failure before the last attempt leaves the job pending, not failed.
        Ok(match outcome {
            Ok(HostAction::Created | HostAction::Updated | HostAction::Unchanged | HostAction::Adopted)
            | Ok(HostAction::SoftDeleted { .. } | HostAction::HardDeleted | HostAction::AlreadyGone) => {
                Settlement::Done
            }
            Err(failure) if failure.transient && !last_attempt => {
                let delay = self.backoff_for(delivery.receive_count);
                let now = self.jobs.clock.now();
                record
                    .retry_later(now, &failure.to_string(), chrono::Duration::from_std(delay).unwrap_or_default())
                    .ok();
                self.jobs.sync.store.commit(vec![Write::job(record)]).await.map_err(store_failure)?;
                Settlement::RetryAfter(delay)
            }
            Err(failure) if failure.transient => Settlement::DeadLetter,
            Err(_) => Settlement::Done,
        })
    }

    /// Settles a message the way `handle` said.
    pub async fn settle(&self, delivery: &Delivery, settlement: &Settlement) -> Result<(), QueueError> {
        settle(self.queue.as_ref(), delivery, settlement).await
    }

    /// One poll of the queue (for `nzj serve`): objects in parallel, each object's jobs in order;
    /// once a job of an object is not done, that object's later jobs wait. Returns how many
    /// messages were handled.
    pub async fn poll_once(&self, max: usize) -> Result<usize, QueueError> {
        let deliveries = self.queue.receive(max).await?;
        let mut groups: Vec<Vec<Delivery>> = Vec::new();
        for delivery in deliveries {
            match groups.iter_mut().find(|g| g[0].job.object == delivery.job.object) {
                Some(group) => group.push(delivery),
                None => groups.push(vec![delivery]),
            }
        }
        let handled = groups.iter().map(|g| g.len()).sum();
        let runs = groups.into_iter().map(|group| async move {
            let mut blocked = false;
            for delivery in group {
                let settlement =
                    if blocked { Settlement::RetryAfter(Duration::ZERO) } else { self.handle(&delivery).await };
                blocked |= settlement != Settlement::Done;
                if let Err(e) = self.settle(&delivery, &settlement).await {
                    tracing::error!(job_id = %delivery.job.job_id, error = %e, "could not settle a host-job message");
                }
            }
        });
        futures_util::future::join_all(runs).await;
        Ok(handled)
    }
}

/// Records a host job as `pending` (with `extra` writes, atomically: a webhook's delivery record)
/// and puts it on the queue; what a webhook or a manual sync does. If the queue refuses it, the job
/// is failed with that reason, so nothing is silently lost. A store conflict is returned as is.
pub async fn enqueue_host_job(
    store: &dyn nzj_store::JobStore,
    queue: &dyn JobQueue,
    job: QueuedJob,
    origin: JobOrigin,
    now: chrono::DateTime<chrono::Utc>,
    retention: chrono::Duration,
    extra: Vec<Write>,
) -> Result<JobRecord, EnqueueError> {
    let mut record =
        JobRecord::new_pending(job.name, JobOrigin { object: Some(job.object.to_string()), ..origin }, now, retention);
    record.id = job.job_id.clone();
    let mut writes = extra;
    writes.push(Write::job(record.clone()));
    store.commit(writes).await?;
    record.version += 1;
    if let Err(e) = queue.enqueue(&job).await {
        let message = format!("could not enqueue: {e}");
        record.fail(now, message.clone()).expect("a pending job can fail");
        store.commit(vec![Write::job(record)]).await?;
        return Err(EnqueueError::Queue(message));
    }
    Ok(record)
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The job was recorded, then failed because the queue refused it.
    #[error("{0}")]
    Queue(String),
}

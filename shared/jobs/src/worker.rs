//! The host worker: takes host jobs off the queue and runs them. The same code runs in the
//! host-worker Lambda (an SQS batch) and in `nzj serve` (a poll loop on the embedded queue).
//!
//! Every message ends settled: its job `completed`, `failed` with a reason, or back to `pending`
//! for a retry with backoff; after the last attempt the job is failed and the message kept in
//! the dead-letter queue (`nzj_core::retry` decides which). A redelivered message of a settled job
//! changes nothing.

use crate::hosts::HostJobs;
use crate::store_failure;
use nzj_core::desired::{CacheView, Desired, desired_host};
use nzj_core::job::JobOrigin;
use nzj_core::netbox::NetboxObject;
use nzj_core::retry::{FailureKind, RetryPolicy, Settlement};
use nzj_core::settings::Settings;
use nzj_core::zabbix_cache::CacheKind;
use nzj_core::{JobName, JobRecord, JobStatus, Trigger};
use nzj_netbox::NetboxSource;
use nzj_queue::{Delivery, JobQueue, Message, MessageHandler, QueueError, QueuedJob, run_fifo_groups, settle};
use nzj_runtime::JobFailure;
use nzj_store::{StoreError, Write};
use std::sync::Arc;
use std::time::Duration;

#[async_trait::async_trait]
impl MessageHandler<QueuedJob> for HostWorker {
    async fn handle(&self, delivery: &Delivery) -> Settlement {
        HostWorker::handle(self, delivery).await
    }

    fn queue(&self) -> &dyn JobQueue {
        self.queue.as_ref()
    }
}

/// The object as NetBox has it (`None`: gone), and its desired host.
type Wanted = (Option<NetboxObject>, Result<Desired, nzj_core::desired::MappingError>);

/// What the claim of a message's job found.
enum Claim {
    /// The live job, now running and leased to this worker.
    Run(Box<JobRecord>),
    /// Settled already (a duplicate delivery): nothing to do.
    Settled,
    /// Another worker holds it with a live lease: look again after this long.
    Held(Duration),
}

/// How a delivery ended: ran (settled, or failed with a kind), or found its job held elsewhere.
enum Handled {
    Ran(Result<(), FailureKind>),
    Held(Duration),
}

/// Past a holder's lease, so the message comes back when the lease is surely over.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

pub struct HostWorker {
    jobs: HostJobs,
    /// Where host jobs read the current state of their object; without it, the state the event
    /// carried is used.
    netbox: Option<Arc<dyn NetboxSource>>,
    queue: Arc<dyn JobQueue>,
    /// Attempts and backoff: the same numbers as the queue's redrive setting.
    retry: RetryPolicy,
}

impl HostWorker {
    pub fn new(
        jobs: HostJobs,
        netbox: Option<Arc<dyn NetboxSource>>,
        queue: Arc<dyn JobQueue>,
        retry: RetryPolicy,
    ) -> HostWorker {
        HostWorker { jobs, netbox, queue, retry }
    }

    pub fn jobs(&self) -> &HostJobs {
        &self.jobs
    }

    /// The job's record, taken for this worker. The message names the job it was enqueued for;
    /// if that run stalled, its retry (`retried_by`) is the live job, and the claim follows the
    /// link, so a retry is never left pending without a message (docs/guarantees.md).
    async fn claim(&self, job: &QueuedJob) -> Result<Claim, JobFailure> {
        let store = &self.jobs.converger.store;
        let mut id = job.job_id.clone();
        for _ in 0..64 {
            let now = self.jobs.clock.now();
            let mut writes = Vec::new();
            let mut record = match store.get_job(&id).await.map_err(store_failure)? {
                Some(record) if record.status == JobStatus::Stalled => match record.retried_by.clone() {
                    Some(next) => {
                        id = next;
                        continue;
                    }
                    // Stalled before runs were linked to their retries: its retry starts now.
                    None => self.retry_stalled(record, now, &mut writes),
                },
                // Final, or held for an operator (who decides with `nzj deletions`).
                Some(record) if record.status.is_final() || record.status == JobStatus::Held => {
                    return Ok(Claim::Settled);
                }
                Some(mut record) if record.status == JobStatus::Running => {
                    if !record.lease_expired(now) {
                        // Another worker holds it: the message must come back after the lease,
                        // never vanish (that worker may die, or lose its final commit).
                        let left = record.lease_until.map_or(chrono::Duration::zero(), |l| l - now);
                        return Ok(Claim::Held(left.to_std().unwrap_or_default() + LEASE_MARGIN));
                    }
                    // Its worker died mid-job: the run is stalled, and a retry converges.
                    record.mark_stalled(now).map_err(|e| JobFailure::permanent(e.to_string()))?;
                    self.retry_stalled(record, now, &mut writes)
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
                    record.id = id.clone();
                    record
                }
            };
            record.start(now, self.jobs.lease).map_err(|e| JobFailure::permanent(e.to_string()))?;
            writes.push(Write::job(record.clone()));
            match store.commit(writes).await {
                Ok(()) => {
                    record.version += 1;
                    return Ok(Claim::Run(Box::new(record)));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(store_failure(e)),
            }
        }
        Err(JobFailure::transient(format!("job {} kept changing while it was claimed", job.job_id)))
    }

    /// The retry of a stalled run, linked to it; the stalled record's write goes into `writes`.
    fn retry_stalled(
        &self,
        mut stalled: JobRecord,
        now: chrono::DateTime<chrono::Utc>,
        writes: &mut Vec<Write>,
    ) -> JobRecord {
        let retry = stalled.retry_of_stalled("host-worker", now, self.jobs.retention);
        writes.push(Write::job(stalled));
        retry
    }

    /// The desired host of the message's object, from `settings` and the cache in the store,
    /// with the NetBox object it was computed from (`None`: gone from NetBox).
    async fn desired(&self, job: &QueuedJob, settings: &Settings) -> Result<Wanted, JobFailure> {
        let gone = |reason: &str| Ok((None, Ok(Desired::OutOfScope(reason.into()))));
        if job.name == JobName::DeleteHost {
            return gone("deleted in NetBox");
        }
        // NetBox's current state, whatever order the events came in; else what the event carried.
        let fetched;
        let data = match (&self.netbox, &job.data) {
            (Some(netbox), _) => match netbox.get_object(job.object, &settings.netbox_fields()).await {
                Ok(Some(current)) => {
                    fetched = current;
                    &fetched
                }
                Ok(None) => return gone("gone from NetBox"),
                Err(e) => return Err(crate::netbox_failure(e)),
            },
            (None, Some(data)) => data,
            (None, None) => {
                return Ok((
                    None,
                    Err(nzj_core::desired::MappingError(format!(
                        "reading {} needs NetBox (NZJ_NETBOX_URL, NZJ_NETBOX_TOKEN): the event did not carry it",
                        job.object
                    ))),
                ));
            }
        };
        let mut object = match NetboxObject::from_rest(job.object.kind, data) {
            Ok(object) => object,
            Err(e) => {
                return Ok((
                    None,
                    Err(nzj_core::desired::MappingError(format!("the NetBox object is malformed: {e}"))),
                ));
            }
        };
        // Regions and site groups: only when a template uses them (three list reads).
        if let (Some(netbox), Some(site)) = (&self.netbox, object.site_id)
            && nzj_core::overrides::needs_site_place(settings, [&object])
        {
            let places = netbox.site_places().await.map_err(crate::netbox_failure)?;
            object.place = Some(places.get(&site).cloned().unwrap_or_default());
        }
        let snapshots = crate::load_cache(self.jobs.converger.store.as_ref()).await.map_err(store_failure)?;
        let desired = desired_host(&object, settings, &CacheView::new(&snapshots));
        // Before the first import nothing can be mapped: wait for it rather than fail for good.
        if desired.is_err() && snapshots.iter().any(|s| s.version == 0 && s.kind == CacheKind::Templates) {
            return Err(JobFailure::transient(
                "the Zabbix settings are not imported yet (ImportZabbixSettings has not run); waiting for it",
            ));
        }
        Ok((Some(object), desired))
    }

    /// Runs one delivery to its end and says how to settle its message.
    pub async fn handle(&self, delivery: &Delivery) -> Settlement {
        let outcome = match self.try_handle(delivery).await {
            Ok(Handled::Held(wait)) => return Settlement::Postpone(wait),
            Ok(Handled::Ran(outcome)) => outcome,
            // The store itself is away: nothing was recorded; the message must come back.
            Err(failure) => {
                tracing::warn!(job_id = %delivery.job.job_id, error = %failure, "host job not recorded");
                Err(FailureKind::Transient)
            }
        };
        self.retry.settle(outcome, delivery.receive_count)
    }

    /// Runs the job: `Ok` when it is settled (completed, failed for good, or settled already),
    /// `Err(kind)` when it failed and is not (a transient failure left it pending for a retry, or
    /// failed it as the last attempt); `Err` of the outer result when the store could not record it.
    async fn try_handle(&self, delivery: &Delivery) -> Result<Handled, JobFailure> {
        let job = &delivery.job;
        let record = match self.claim(job).await? {
            Claim::Run(record) => *record,
            Claim::Settled => return Ok(Handled::Ran(Ok(()))),
            Claim::Held(wait) => return Ok(Handled::Held(wait)),
        };
        let may_retry = self.retry.has_attempts_left(delivery.receive_count);
        let settings = self.jobs.converger.store.get_settings().await.map_err(store_failure)?;
        // The job is ours now: whatever fails from here on settles its record.
        let (mut record, outcome) = match self.desired(job, &settings).await {
            Ok((netbox, desired)) => {
                self.jobs.run_record(record, job.object, desired, netbox, &settings, may_retry).await?
            }
            Err(failure) if failure.is_transient() && may_retry => (record, Err(failure)),
            Err(failure) => {
                let reason = Err(nzj_core::desired::MappingError(failure.message.clone()));
                let (record, _) = self.jobs.run_record(record, job.object, reason, None, &settings, false).await?;
                (record, Err(failure))
            }
        };
        Ok(Handled::Ran(match outcome {
            Ok(_) => Ok(()),
            // A transient failure before the last attempt leaves the job pending, not failed.
            Err(failure) if failure.is_transient() && may_retry => {
                let delay = self.retry.backoff(delivery.receive_count);
                let now = self.jobs.clock.now();
                record
                    .retry_later(now, &failure.to_string(), chrono::Duration::from_std(delay).unwrap_or_default())
                    .ok();
                self.jobs.converger.store.commit(vec![Write::job(record)]).await.map_err(store_failure)?;
                Err(FailureKind::Transient)
            }
            Err(failure) => Err(failure.kind),
        }))
    }

    /// One poll of the queue (for `nzj serve`): objects in parallel, each object's jobs in order;
    /// once a job of an object is not done, that object's later jobs wait. Returns how many
    /// messages were received.
    pub async fn poll_once(&self, max: usize) -> Result<usize, QueueError> {
        let deliveries = self.queue.receive(max).await?;
        let received = deliveries.len();
        let ran = run_fifo_groups(
            deliveries,
            |d| d.job.group(),
            |delivery| async move {
                let settlement = self.handle(&delivery).await;
                self.settle(&delivery, &settlement).await;
                (delivery, settlement)
            },
        )
        .await;
        for (delivery, _) in ran.iter().filter(|(_, settlement)| settlement.is_none()) {
            self.settle(delivery, &Settlement::RetryAfter(Duration::ZERO)).await;
        }
        Ok(received)
    }

    async fn settle(&self, delivery: &Delivery, settlement: &Settlement) {
        if let Err(e) = settle(self.queue.as_ref(), delivery, settlement).await {
            tracing::error!(job_id = %delivery.job.job_id, error = %e, "could not settle a host-job message");
        }
    }
}

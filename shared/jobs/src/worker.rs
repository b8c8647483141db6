//! The host worker: takes host jobs off the queue and runs them. The same code runs in the
//! host-worker Lambda (an SQS batch) and in `nzj serve` (a poll loop on the embedded queue).
//!
//! Jobs run in rounds: a round holds the next job of each object (per-object order is kept), their
//! NetBox objects are read in one request per kind, and every job that wants a host converges
//! with the others of its round (one `host.get`, array `host.create`/`host.update` calls of
//! `batch_size`), each job's record settled on its own. A burst of webhooks thus becomes array
//! calls with no wait added: what arrives while a round runs is the next round.
//!
//! Every message ends settled: its job `completed`, `failed` with a reason, or back to `pending`
//! for a retry with backoff; after the last attempt the job is failed and the message kept in
//! the dead-letter queue (`nzj_core::retry` decides which). A redelivered message of a settled job
//! changes nothing.

use crate::hosts::{HostAction, HostJobs, RoundJob};
use crate::store_failure;
use nzj_core::desired::{CacheView, Desired, desired_host};
use nzj_core::job::JobOrigin;
use nzj_core::netbox::{NetboxObject, ObjectKind};
use nzj_core::retry::{FailureKind, RetryPolicy, Settlement};
use nzj_core::settings::Settings;
use nzj_core::zabbix_cache::CacheKind;
use nzj_core::{JobName, JobRecord, JobStatus, Trigger};
use nzj_netbox::NetboxSource;
use nzj_queue::{Delivery, JobQueue, Message, MessageHandler, QueueError, QueuedJob, run_fifo_rounds, settle};
use nzj_runtime::JobFailure;
use nzj_store::{StoreError, Write};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[async_trait::async_trait]
impl MessageHandler<QueuedJob> for HostWorker {
    async fn handle(&self, delivery: &Delivery) -> Settlement {
        HostWorker::handle(self, delivery).await
    }

    async fn handle_round(&self, deliveries: &[&Delivery]) -> Vec<Settlement> {
        HostWorker::handle_round(self, deliveries).await
    }

    fn queue(&self) -> &dyn JobQueue {
        self.queue.as_ref()
    }
}

/// The object as NetBox has it (`None`: gone), and its desired host.
type Wanted = (Option<NetboxObject>, Result<Desired, nzj_core::desired::MappingError>);

/// The NetBox objects a round read, by kind (a kind whose read failed: why): those in scope by id,
/// and the ids of those NetBox has but the scope filter leaves out.
type Current = HashMap<ObjectKind, Result<(HashMap<u64, serde_json::Value>, Vec<u64>), JobFailure>>;

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
                    // Another worker holds it, or held it until lately: the message must come back
                    // later, never vanish (that worker may die, or lose its final commit). A worker
                    // that died may have left a create at work in Zabbix: the job is taken over
                    // only once that is surely done, so the retry's read finds its host.
                    let Some(free_at) = record.takeover_at(self.calls_done_within()) else {
                        return Ok(Claim::Held(LEASE_MARGIN));
                    };
                    if now < free_at {
                        return Ok(Claim::Held((free_at - now).to_std().unwrap_or_default() + LEASE_MARGIN));
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

    /// The desired host of each job's object, from `settings` and the cache in the store, with the
    /// NetBox object it was computed from (`None`: gone from NetBox). NetBox is read once per kind
    /// for the round; without NetBox, the state the event carried is used.
    async fn desired_round(&self, jobs: &[&QueuedJob], settings: &Settings) -> Vec<Result<Wanted, JobFailure>> {
        let current = self.read_current(jobs, settings).await;
        let mut found: Vec<Result<Result<NetboxObject, Wanted>, JobFailure>> =
            jobs.iter().map(|job| self.object_of(job, &current)).collect();
        // Regions and site groups: once for the round, only when a template uses them.
        if let Some(netbox) = &self.netbox
            && nzj_core::overrides::needs_site_place(
                settings,
                found.iter().filter_map(|f| f.as_ref().ok()?.as_ref().ok()),
            )
        {
            match netbox.site_places().await {
                Ok(places) => {
                    for o in found.iter_mut().filter_map(|f| f.as_mut().ok()?.as_mut().ok()) {
                        o.place = o.site_id.map(|site| places.get(&site).cloned().unwrap_or_default());
                    }
                }
                Err(e) => {
                    let failure = crate::netbox_failure(e);
                    for f in found.iter_mut().filter(|f| matches!(f, Ok(Ok(_)))) {
                        *f = Err(failure.clone());
                    }
                }
            }
        }
        if !found.iter().any(|f| matches!(f, Ok(Ok(_)))) {
            return found.into_iter().map(|f| f.map(|f| f.unwrap_err())).collect();
        }
        let snapshots = match crate::load_cache(self.jobs.converger.store.as_ref()).await {
            Ok(snapshots) => snapshots,
            Err(e) => {
                let failure = store_failure(e);
                return jobs.iter().map(|_| Err(failure.clone())).collect();
            }
        };
        let view = CacheView::new(&snapshots);
        let not_imported = snapshots.iter().any(|s| s.version == 0 && s.kind == CacheKind::Templates);
        found
            .into_iter()
            .map(|found| match found? {
                Err(wanted) => Ok(wanted),
                Ok(object) => {
                    let desired = desired_host(&object, settings, &view);
                    // Before the first import nothing can be mapped: wait for it rather than fail for good.
                    if desired.is_err() && not_imported {
                        return Err(JobFailure::transient(
                            "the Zabbix settings are not imported yet (ImportZabbixSettings has not run); waiting for it",
                        ));
                    }
                    Ok((Some(object), desired))
                }
            })
            .collect()
    }

    /// The current NetBox objects of the round's jobs (one request per kind), through the scope
    /// filter of their kind ([`nzj_netbox::objects_in_scope`]).
    async fn read_current(&self, jobs: &[&QueuedJob], settings: &Settings) -> Current {
        let mut current = Current::new();
        let Some(netbox) = &self.netbox else { return current };
        let mut ids: HashMap<ObjectKind, Vec<u64>> = HashMap::new();
        for job in jobs.iter().filter(|job| job.name != JobName::DeleteHost) {
            ids.entry(job.object.kind).or_default().push(job.object.id);
        }
        let fields = settings.netbox_fields();
        for (kind, ids) in ids {
            let filter = settings.scope_filter(kind);
            let read = nzj_netbox::objects_in_scope(netbox.as_ref(), kind, &ids, &fields, &filter).await;
            let read = read.map_err(crate::netbox_failure).map(|scoped| {
                let by_id = scoped.passing.into_iter().filter_map(|v| Some((v["id"].as_u64()?, v))).collect();
                (by_id, scoped.outside)
            });
            current.insert(kind, read);
        }
        current
    }

    /// The job's NetBox object, or (`Err` inside) what it wants without one: gone, or unmappable.
    fn object_of(&self, job: &QueuedJob, current: &Current) -> Result<Result<NetboxObject, Wanted>, JobFailure> {
        let gone = |reason: &str| Ok(Err((None, Ok(Desired::OutOfScope(reason.into())))));
        let unmappable = |reason: String| Ok(Err((None, Err(nzj_core::desired::MappingError(reason)))));
        if job.name == JobName::DeleteHost {
            return gone("deleted in NetBox");
        }
        // NetBox's current state, whatever order the events came in; else what the event carried.
        let data = match (&self.netbox, &job.data) {
            (Some(_), _) => match current.get(&job.object.kind) {
                Some(Ok((by_id, outside))) => match by_id.get(&job.object.id) {
                    Some(data) => data,
                    None if outside.contains(&job.object.id) => {
                        return gone(&nzj_core::scope_filter::outside_reason(job.object.kind));
                    }
                    None => return gone("gone from NetBox"),
                },
                Some(Err(failure)) => return Err(failure.clone()),
                None => return gone("gone from NetBox"),
            },
            (None, Some(data)) => data,
            (None, None) => {
                return unmappable(format!(
                    "reading {} needs NetBox (NZJ_NETBOX_URL, NZJ_NETBOX_TOKEN): the event did not carry it",
                    job.object
                ));
            }
        };
        match NetboxObject::from_rest(job.object.kind, data) {
            Ok(object) => Ok(Ok(object)),
            Err(e) => unmappable(format!("the NetBox object is malformed: {e}")),
        }
    }

    /// Runs one delivery to its end and says how to settle its message.
    pub async fn handle(&self, delivery: &Delivery) -> Settlement {
        self.handle_round(&[delivery]).await.pop().expect("one settlement per delivery")
    }

    /// Runs a round of deliveries of different objects to their end, converging their hosts
    /// together, and says how to settle each message, in order.
    pub async fn handle_round(&self, deliveries: &[&Delivery]) -> Vec<Settlement> {
        let handled = self.try_round(deliveries).await;
        deliveries
            .iter()
            .zip(handled)
            .map(|(delivery, handled)| {
                let outcome = match handled {
                    Ok(Handled::Held(wait)) => return Settlement::Postpone(wait),
                    Ok(Handled::Ran(outcome)) => outcome,
                    // The store itself is away: nothing was recorded; the message must come back.
                    Err(failure) => {
                        tracing::warn!(job_id = %delivery.job.job_id, error = %failure, "host job not recorded");
                        Err(FailureKind::Transient)
                    }
                };
                self.retry.settle(outcome, delivery.receive_count)
            })
            .collect()
    }

    /// Claims every job of the round, computes what each wants, converges the ones that want a
    /// host in one pass and the others (deletions, keeps, failures) one by one, side by side.
    async fn try_round(&self, deliveries: &[&Delivery]) -> Vec<Result<Handled, JobFailure>> {
        let claims = futures_util::future::join_all(deliveries.iter().map(|d| self.claim(&d.job))).await;
        let mut handled: Vec<Option<Result<Handled, JobFailure>>> = Vec::with_capacity(deliveries.len());
        let mut running = Vec::new();
        for (i, claim) in claims.into_iter().enumerate() {
            handled.push(match claim {
                Ok(Claim::Run(record)) => {
                    running.push((i, *record));
                    None
                }
                Ok(Claim::Settled) => Some(Ok(Handled::Ran(Ok(())))),
                Ok(Claim::Held(wait)) => Some(Ok(Handled::Held(wait))),
                Err(failure) => Some(Err(failure)),
            });
        }
        if !running.is_empty() {
            for (i, result) in self.run_claimed(deliveries, running).await {
                handled[i] = Some(result);
            }
        }
        handled.into_iter().map(|h| h.expect("every delivery handled")).collect()
    }

    /// How long after a lease ended the calls its holder sent are surely done in Zabbix.
    fn calls_done_within(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.jobs.converger.zabbix.calls_done_within()).unwrap_or(chrono::Duration::MAX)
    }

    /// Runs the claimed jobs (index into `deliveries`, running record) and settles their records,
    /// keeping their leases alive meanwhile.
    async fn run_claimed(
        &self,
        deliveries: &[&Delivery],
        running: Vec<(usize, JobRecord)>,
    ) -> Vec<(usize, Result<Handled, JobFailure>)> {
        let records = running.iter().map(|(_, record)| record.clone()).collect();
        self.jobs.held.keep_while(records, self.run_held(deliveries, running)).await
    }

    async fn run_held(
        &self,
        deliveries: &[&Delivery],
        running: Vec<(usize, JobRecord)>,
    ) -> Vec<(usize, Result<Handled, JobFailure>)> {
        let settings = match self.jobs.converger.store.get_settings().await {
            Ok(settings) => settings,
            Err(e) => {
                let failure = store_failure(e);
                return running.into_iter().map(|(i, _)| (i, Err(failure.clone()))).collect();
            }
        };
        let jobs: Vec<&QueuedJob> = running.iter().map(|(i, _)| &deliveries[*i].job).collect();
        let wanted = self.desired_round(&jobs, &settings).await;
        // The jobs are ours now: whatever fails from here on settles their records.
        let (mut together, mut alone, mut done) = (Vec::new(), Vec::new(), Vec::new());
        for ((i, record), wanted) in running.into_iter().zip(wanted) {
            let delivery = deliveries[i];
            let may_retry = self.retry.has_attempts_left(delivery.receive_count);
            let object = delivery.job.object;
            match wanted {
                Ok((netbox, Ok(Desired::Host(desired)))) => {
                    let job = RoundJob { record, object, desired: Some(*desired), netbox, retry_allowed: may_retry };
                    together.push((i, job));
                }
                Ok((netbox, desired)) => alone.push((i, record, desired, netbox, may_retry, None)),
                Err(failure) if failure.is_transient() && may_retry => done.push((i, Ok((record, Err(failure))))),
                Err(failure) => {
                    let reason = Err(nzj_core::desired::MappingError(failure.message.clone()));
                    alone.push((i, record, reason, None, false, Some(failure)));
                }
            }
        }
        let (indices, together): (Vec<usize>, Vec<RoundJob>) = together.into_iter().unzip();
        let alone = alone.into_iter().map(|(i, record, desired, netbox, may_retry, failure)| {
            let object = deliveries[i].job.object;
            let settings = &settings;
            async move {
                let ran = self.jobs.run_record(record, object, desired, netbox, settings, may_retry).await;
                // A job that failed before converging keeps that failure as its outcome.
                let ran = match failure {
                    Some(failure) => ran.map(|(record, _)| (record, Err(failure))),
                    None => ran,
                };
                (i, ran)
            }
        });
        let (ran_together, ran_alone) =
            futures_util::future::join(self.jobs.run_round(together, &settings), futures_util::future::join_all(alone))
                .await;
        done.extend(indices.into_iter().zip(ran_together));
        done.extend(ran_alone);
        futures_util::future::join_all(done.into_iter().map(|(i, ran)| async move {
            let handled = match ran {
                Ok((record, outcome)) => self.finish(deliveries[i], record, outcome).await,
                Err(failure) => Err(failure),
            };
            (i, handled)
        }))
        .await
    }

    /// A run job's record, finished: a transient failure before the last attempt leaves the job
    /// pending for its retry (with backoff), not failed.
    async fn finish(
        &self,
        delivery: &Delivery,
        mut record: JobRecord,
        outcome: Result<HostAction, JobFailure>,
    ) -> Result<Handled, JobFailure> {
        Ok(Handled::Ran(match outcome {
            Ok(_) => Ok(()),
            Err(failure) if failure.is_transient() && self.retry.has_attempts_left(delivery.receive_count) => {
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

    /// One poll of up to `batch_size` messages (the setting; 10 if the store cannot say), so a
    /// burst waiting in the queue is taken into one round whole.
    pub async fn poll(&self) -> Result<usize, QueueError> {
        let max = self.jobs.converger.store.get_settings().await.map_or(10, |s| s.batch_size);
        self.poll_once(max).await
    }

    /// One poll of the queue (for `nzj serve`): up to `max` messages, run in rounds (one job per
    /// object each, converged together); once a job of an object is not done, that object's later
    /// jobs wait. Returns how many messages were received.
    pub async fn poll_once(&self, max: usize) -> Result<usize, QueueError> {
        let deliveries = self.queue.receive(max).await?;
        let received = deliveries.len();
        let ran = run_fifo_rounds(
            deliveries,
            |d| d.job.group(),
            |round| async move {
                let settlements = self.handle_round(&round.iter().collect::<Vec<_>>()).await;
                for (delivery, settlement) in round.iter().zip(&settlements) {
                    self.settle(delivery, settlement).await;
                }
                round.into_iter().zip(settlements).collect()
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

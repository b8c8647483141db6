//! The outbox of host jobs: how a job and its queue message never part (docs/design.md, "The
//! outbox"). A job is committed `pending` together with its message (in the record's `outbox`)
//! and any extra writes (a webhook's delivery record); then the message is enqueued and the
//! record marked sent. A process killed between the two leaves a pending record holding its
//! message, and nothing is lost: the sweeper (on every scheduler tick) sends such records once
//! they are a few seconds old, and a resent webhook delivery sends its job before naming it.
//! Queues deduplicate by job id, so a message sent twice runs once.

use nzj_core::job::JobOrigin;
use nzj_core::{Clock, JobId, JobName, JobRecord, JobStatus};
use nzj_queue::{JobQueue, QueuedJob};
use nzj_store::{JobQuery, JobStore, StoreError, Write};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The job is recorded with its message, but the queue refused it now: the sweeper sends it.
    #[error("recorded, but the queue refused it for now (it is sent later): {0}")]
    Queue(String),
}

/// Records a host job as `pending` with its message (and `extra` writes, atomically: a webhook's
/// delivery record), then sends it. What a webhook, the API and a manual sync do. A store
/// conflict (the extra writes lost a race) is returned as is, with nothing written.
pub async fn enqueue_host_job(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    job: QueuedJob,
    origin: JobOrigin,
    now: chrono::DateTime<chrono::Utc>,
    retention: chrono::Duration,
    extra: Vec<Write>,
) -> Result<JobRecord, EnqueueError> {
    let record =
        JobRecord::new_pending(job.name, JobOrigin { object: Some(job.object.to_string()), ..origin }, now, retention);
    enqueue_record(store, queue, record, job, extra).await
}

/// As [`enqueue_host_job`], for a pending record the caller made (a released deletion, linked to
/// the held job it runs): it gets the message's job id and the message.
pub async fn enqueue_record(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    mut record: JobRecord,
    job: QueuedJob,
    extra: Vec<Write>,
) -> Result<JobRecord, EnqueueError> {
    record.id = job.job_id.clone();
    record.outbox = Some(serde_json::to_value(&job).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    let mut writes = extra;
    writes.push(Write::job(record.clone()));
    store.commit(writes).await?;
    record.version += 1;
    send(store, queue, record).await
}

/// Sends a recorded job's message if it still holds one, and marks it sent. Returns the record as
/// it is now.
pub async fn send(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    mut record: JobRecord,
) -> Result<JobRecord, EnqueueError> {
    let Some(message) = record.outbox.clone() else { return Ok(record) };
    let job: QueuedJob = serde_json::from_value(message)
        .map_err(|e| StoreError::Corrupt(format!("job {}: its queued message is unreadable: {e}", record.id)))?;
    queue.enqueue(&job).await.map_err(|e| EnqueueError::Queue(e.to_string()))?;
    record.outbox = None;
    match store.commit(vec![Write::job(record.clone())]).await {
        Ok(()) => record.version += 1,
        // A worker took it already (which also marks it sent), or another sender did.
        Err(StoreError::Conflict) => {}
        // Sent but not marked: the sweeper may send it again, which the queue deduplicates.
        Err(e) => tracing::warn!(job_id = %record.id, error = %e, "job sent but not marked sent"),
    }
    Ok(record)
}

/// Sends the messages of host jobs that were recorded but, a while later, still not sent.
pub struct OutboxSweeper {
    store: Arc<dyn JobStore>,
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    /// How old an unsent record must be: younger ones are most likely being sent right now.
    min_age: chrono::Duration,
}

/// Pending host jobs looked at per sweep, at most: a backlog this long is worked through over
/// several ticks, oldest last page first.
const SWEEP_PAGES: usize = 20;

impl OutboxSweeper {
    pub const MIN_AGE: chrono::Duration = chrono::Duration::seconds(5);

    pub fn new(store: Arc<dyn JobStore>, queue: Arc<dyn JobQueue>, clock: Arc<dyn Clock>) -> OutboxSweeper {
        OutboxSweeper { store, queue, clock, min_age: Self::MIN_AGE }
    }

    /// The same sweeper, sending records from `min_age` old (tests: at once).
    pub fn with_min_age(self, min_age: chrono::Duration) -> OutboxSweeper {
        OutboxSweeper { min_age, ..self }
    }

    /// One sweep: sends every unsent pending host job older than the minimum age; returns how
    /// many it sent.
    pub async fn sweep(&self) -> Result<usize, EnqueueError> {
        let before = JobId::new_at(self.clock.now() - self.min_age);
        let mut sent = 0;
        for name in [JobName::CreateHost, JobName::UpdateHost, JobName::DeleteHost] {
            let mut query = JobQuery {
                name: Some(name),
                status: Some(JobStatus::Pending),
                before: Some(before.clone()),
                limit: JobQuery::MAX_LIMIT,
                ..Default::default()
            };
            for _ in 0..SWEEP_PAGES {
                let page = self.store.list_jobs(&query).await?;
                for record in page.jobs.into_iter().filter(|r| r.outbox.is_some()) {
                    let id = record.id.clone();
                    send(self.store.as_ref(), self.queue.as_ref(), record).await?;
                    tracing::warn!(job_id = %id, job = %name, "outbox: sent a job recorded but never enqueued");
                    nzj_runtime::metrics::outbox_resent();
                    sent += 1;
                }
                match page.next_cursor {
                    Some(cursor) => query.before = Some(cursor),
                    None => break,
                }
            }
        }
        Ok(sent)
    }
}

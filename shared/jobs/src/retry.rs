//! An operator's retry of a failed or stalled host job (`POST /api/jobs/{id}/retry`,
//! `nzj jobs retry ID`, `nzj hosts retry`): a new job for the same object through the normal path
//! (recorded with its message, then enqueued), and the two records naming each other, written in
//! one commit with the new job, so two retries of the same job at the same moment start one job.
//! Refused while the object has a job pending or running (it would do the same work), and for a
//! job retried already (the chain goes on from its retry). System jobs
//! and syncs are retried by their own launchers (`Scheduler::retry`, `SyncHostsNow::launch_retry`).

use crate::outbox::{EnqueueError, enqueue_record};
use nzj_core::job::{InvalidTransition, JobOrigin};
use nzj_core::netbox::ObjectRef;
use nzj_core::{JobId, JobName, JobRecord, JobStatus};
use nzj_queue::{JobQueue, QueuedJob};
use nzj_store::{JobQuery, JobStore, StoreError, Write};

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error(transparent)]
    NotRetriable(#[from] InvalidTransition),
    /// Another job does (or will do) this work now (HTTP 409).
    #[error("{what}")]
    Busy { job: JobId, what: String },
    #[error(transparent)]
    Store(StoreError),
    /// Recorded, but the queue refused it for now: the sweeper sends it.
    #[error("recorded, but the queue refused it for now (it is sent later): {0}")]
    Queue(String),
}

/// A pending or running host job of `object`, if there is one. Host jobs in flight are few: the
/// pending and running lists are read, not every job.
pub async fn busy_host_job(store: &dyn JobStore, object: ObjectRef) -> Result<Option<JobRecord>, StoreError> {
    let object = object.to_string();
    for status in [JobStatus::Pending, JobStatus::Running] {
        for name in [JobName::CreateHost, JobName::UpdateHost, JobName::DeleteHost] {
            let query =
                JobQuery { name: Some(name), status: Some(status), limit: JobQuery::MAX_LIMIT, ..Default::default() };
            let jobs = store.list_jobs(&query).await?.jobs;
            if let Some(job) = jobs.into_iter().find(|j| j.object.as_deref() == Some(object.as_str())) {
                return Ok(Some(job));
            }
        }
    }
    Ok(None)
}

/// A job is retried once: its chain goes on from its retry. The retry of `previous` and why it is
/// not retried again, if it was retried (a retry past its retention no longer counts).
pub async fn retried_already(
    store: &dyn JobStore,
    previous: &JobRecord,
) -> Result<Option<(JobId, String)>, StoreError> {
    let Some(id) = &previous.retried_by else { return Ok(None) };
    let Some(retry) = store.get_job(id).await? else { return Ok(None) };
    let what = match retry.status {
        JobStatus::Completed => {
            format!("job {} was retried as job {}, which completed: nothing is left to retry", previous.id, retry.id)
        }
        status if status.is_final() => {
            format!("job {} was retried as job {} ({status}): retry that one", previous.id, retry.id)
        }
        status => format!("job {} is retried already as job {} ({status})", previous.id, retry.id),
    };
    Ok(Some((retry.id, what)))
}

/// Retries `previous`, a failed or stalled host job, as a new job for its object started by
/// `origin`; returns the new record (pending, its message sent or left for the sweeper).
pub async fn retry_host_job(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    mut previous: JobRecord,
    origin: JobOrigin,
    now: chrono::DateTime<chrono::Utc>,
    retention: chrono::Duration,
) -> Result<JobRecord, RetryError> {
    let Some(object) = previous.object.as_deref().and_then(|o| o.parse::<ObjectRef>().ok()) else {
        return Err(
            InvalidTransition { id: previous.id, status: previous.status, action: "retry without an object" }.into()
        );
    };
    if let Some((job, what)) = retried_already(store, &previous).await.map_err(RetryError::Store)? {
        return Err(RetryError::Busy { job, what });
    }
    if let Some(busy) = busy_host_job(store, object).await.map_err(RetryError::Store)? {
        let what = format!("{object} already has {} {} (job {})", busy.name, busy.status, busy.id);
        return Err(RetryError::Busy { job: busy.id, what });
    }
    let job = QueuedJob { job_id: JobId::new_at(now), name: previous.name, object, data: None };
    let origin = JobOrigin { object: Some(object.to_string()), ..origin };
    let mut record = JobRecord::new_pending(previous.name, origin, now, retention);
    record.id = job.job_id.clone();
    record.retries(&mut previous, now)?;
    let previous_id = previous.id.clone();
    match enqueue_record(store, queue, record, job, vec![Write::job(previous)]).await {
        Ok(record) => Ok(record),
        // The record changed since it was read: another retry (or its sweeper) got there first.
        Err(EnqueueError::Store(StoreError::Conflict)) => Err(RetryError::Busy {
            job: previous_id.clone(),
            what: format!("job {previous_id} was retried at the same moment"),
        }),
        Err(EnqueueError::Store(e)) => Err(RetryError::Store(e)),
        Err(EnqueueError::Queue(e)) => Err(RetryError::Queue(e)),
    }
}

//! Held deletions and what an operator decides about them (`nzj deletions`, `/api/deletions`).
//! A deletion the breaker had no room for is a job in status `held` whose result names the
//! object and host. Releasing one records a DeleteHost job (linked both ways, `released_by` the
//! operator) that runs past the breaker, and enqueues it through the outbox; discarding one
//! completes it and leaves the host as it is. Either way the held record says what was decided,
//! and a decision on a job that is no longer held is refused, so two operators cannot run one
//! deletion twice.

use crate::outbox::{EnqueueError, enqueue_record};
use nzj_core::netbox::ObjectRef;
use nzj_core::{Clock, JobId, JobRecord, JobStatus};
use nzj_queue::{JobQueue, QueuedJob};
use nzj_store::{JobQuery, JobStore, StoreError, Write};
use std::sync::Arc;

/// Every held deletion, newest first.
pub async fn held(store: &dyn JobStore) -> Result<Vec<JobRecord>, StoreError> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let query =
            JobQuery { status: Some(JobStatus::Held), before, limit: JobQuery::MAX_LIMIT, ..Default::default() };
        let page = store.list_jobs(&query).await?;
        out.extend(page.jobs);
        match page.next_cursor {
            Some(cursor) => before = Some(cursor),
            None => return Ok(out),
        }
    }
}

/// Which held deletions a decision is about.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    Ids(Vec<JobId>),
}

/// What a decision did to one held deletion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decided {
    pub job: JobId,
    /// The DeleteHost job that runs a released deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_as: Option<JobId>,
    /// Why it was not decided (unknown, no longer held, the queue refused it for now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Decided {
    fn refused(job: JobId, why: impl Into<String>) -> Decided {
        Decided { job, runs_as: None, error: Some(why.into()) }
    }
}

/// Why a decision found the job decided already (its commit lost to another's).
const DECIDED_MEANWHILE: &str = "decided by someone else meanwhile";

pub struct HeldDeletions {
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    retention: chrono::Duration,
}

impl HeldDeletions {
    pub fn new(store: Arc<dyn JobStore>, clock: Arc<dyn Clock>, retention: chrono::Duration) -> HeldDeletions {
        HeldDeletions { store, clock, retention }
    }

    /// The held jobs `selection` names, each or the reason it cannot be decided on.
    async fn select(&self, selection: &Selection) -> Result<Vec<Result<JobRecord, Decided>>, StoreError> {
        let ids = match selection {
            Selection::All => return Ok(held(self.store.as_ref()).await?.into_iter().map(Ok).collect()),
            Selection::Ids(ids) => ids,
        };
        let mut out = Vec::new();
        for id in ids {
            let refuse = |error: String| Err(Decided::refused(id.clone(), error));
            out.push(match self.store.get_job(id).await? {
                Some(job) if job.status == JobStatus::Held => Ok(job),
                Some(job) => refuse(format!("job {id} is {}, not held", job.status)),
                None => refuse(format!("no job {id}")),
            });
        }
        Ok(out)
    }

    /// Runs the selected deletions past the breaker.
    pub async fn release(
        &self,
        selection: &Selection,
        user: &str,
        queue: &dyn JobQueue,
    ) -> Result<Vec<Decided>, StoreError> {
        let mut out = Vec::new();
        for job in self.select(selection).await? {
            let mut job = match job {
                Ok(job) => job,
                Err(refused) => {
                    out.push(refused);
                    continue;
                }
            };
            let Some(object) = job.object.as_deref().and_then(|o| o.parse::<ObjectRef>().ok()) else {
                out.push(Decided::refused(job.id.clone(), "names no object"));
                continue;
            };
            let now = self.clock.now();
            let id = job.id.clone();
            let released = job.release(user, now, self.retention).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let message = QueuedJob { job_id: released.id.clone(), name: released.name, object, data: None };
            let decided =
                match enqueue_record(self.store.as_ref(), queue, released, message, vec![Write::job(job)]).await {
                    Ok(record) => Decided { job: id, runs_as: Some(record.id), error: None },
                    // Recorded with its message: the outbox sweeper sends it.
                    Err(EnqueueError::Queue(e)) => {
                        Decided::refused(id, format!("released; the queue refused it for now: {e}"))
                    }
                    Err(EnqueueError::Store(StoreError::Conflict)) => Decided::refused(id, DECIDED_MEANWHILE),
                    Err(EnqueueError::Store(e)) => return Err(e),
                };
            tracing::info!(job_id = %decided.job, runs_as = ?decided.runs_as, user, "held deletion released");
            out.push(decided);
        }
        Ok(out)
    }

    /// Drops the selected deletions: their hosts stay.
    pub async fn discard(&self, selection: &Selection, user: &str) -> Result<Vec<Decided>, StoreError> {
        let mut out = Vec::new();
        for job in self.select(selection).await? {
            let mut job = match job {
                Ok(job) => job,
                Err(refused) => {
                    out.push(refused);
                    continue;
                }
            };
            let id = job.id.clone();
            job.settle_held(self.clock.now(), format!("discarded by {user}: the host is kept"))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let decided = match self.store.commit(vec![Write::job(job)]).await {
                Ok(()) => Decided { job: id, runs_as: None, error: None },
                Err(StoreError::Conflict) => Decided::refused(id, DECIDED_MEANWHILE),
                Err(e) => return Err(e),
            };
            tracing::info!(job_id = %decided.job, user, "held deletion discarded");
            out.push(decided);
        }
        Ok(out)
    }
}

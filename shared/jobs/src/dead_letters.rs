//! Dead letters (`nzj dlq`, `/api/dlq`): the messages the host and bulk queues gave up on, each
//! shown with its job, object and last error, then redriven or purged (README, "Dead letters").
//!
//! A dead letter's job was failed when its message died, and a worker never runs a settled job
//! again, so putting the message back as it was would change nothing. Redriving a dead letter is
//! therefore its job run again through the normal path: a failed host job retried (a new job
//! linked to it, `retry_host_job`), a failed sync retried (`SyncHostsNow::launch_retry`); a job
//! still pending or running (its failure was never recorded) gets its message back as it was.
//! Only then is the dead letter removed, so a crash in between leaves it, and redriving it again
//! finds its job retried already and only removes it. Ids say their queue: `host:17`, `bulk:3`.

use crate::outbox::enqueue_host_job;
use crate::retry::{RetryError, busy_host_job, retry_host_job};
use crate::sync_hosts_now::{StartError, SyncHostsNow, SyncStep};
use nzj_core::job::JobOrigin;
use nzj_core::{Clock, JobId, JobName, JobRecord, JobStatus};
use nzj_queue::{DeadLetter, JobQueue, Message, QueueError, QueuedJob};
use nzj_store::{JobStore, StoreError};
use serde::Serialize;
use std::sync::Arc;

/// How many dead letters of each queue one listing (or `--all`) takes at most.
pub const MAX_DEAD_LETTERS: usize = 10_000;

/// One dead letter as an operator reads it: where it is, its job and why that job failed.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterEntry {
    /// `<queue>:<id in that queue>`: what `show`, `redrive` and `purge` take.
    pub id: String,
    pub queue: &'static str,
    pub job_id: Option<JobId>,
    pub name: Option<JobName>,
    pub object: Option<String>,
    pub receive_count: u32,
    /// The job's status now (`None`: its record is gone, past its retention).
    pub status: Option<JobStatus>,
    /// The job's error, or why the message cannot be read.
    pub error: Option<String>,
    pub failed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The job that retried this one, if one did.
    pub retried_by: Option<JobId>,
}

/// What redriving one dead letter did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedriveOutcome {
    /// Its job runs again as `job` (a retry, or its own message sent back); the letter is gone.
    Redriven,
    /// Another job does or did its work (`job`); the letter is gone.
    Superseded,
    /// Left where it is (`message` says why).
    Kept,
}

#[derive(Debug, Clone, Serialize)]
pub struct Redriven {
    pub id: String,
    pub outcome: RedriveOutcome,
    pub job: Option<JobId>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An id that names no queue here (HTTP 400).
    #[error("{0}")]
    BadId(String),
}

/// The dead-letter queues of this deployment and what redriving needs.
pub struct DeadLetters {
    pub store: Arc<dyn JobStore>,
    pub clock: Arc<dyn Clock>,
    pub retention: chrono::Duration,
    pub host: Option<Arc<dyn JobQueue>>,
    pub bulk: Option<(Arc<SyncHostsNow>, Arc<dyn JobQueue<SyncStep>>)>,
}

/// What a queue's messages say about their job.
trait JobMessage: Message {
    fn job_id(&self) -> &JobId;
    fn name(&self) -> JobName;
    fn object(&self) -> Option<String>;
}

impl JobMessage for QueuedJob {
    fn job_id(&self) -> &JobId {
        &self.job_id
    }
    fn name(&self) -> JobName {
        self.name
    }
    fn object(&self) -> Option<String> {
        Some(self.object.to_string())
    }
}

impl JobMessage for SyncStep {
    fn job_id(&self) -> &JobId {
        &self.job_id
    }
    fn name(&self) -> JobName {
        JobName::SyncHostsNow
    }
    fn object(&self) -> Option<String> {
        None
    }
}

/// Splits `host:17` into its queue and the id there.
fn split_id(id: &str) -> Result<(&str, &str), DeadLetterError> {
    match id.split_once(':') {
        Some((queue @ ("host" | "bulk"), raw)) if !raw.is_empty() => Ok((queue, raw)),
        _ => Err(DeadLetterError::BadId(format!(
            "{id:?} is not a dead letter's id (host:<id> or bulk:<id>, as `nzj dlq ls` shows them)"
        ))),
    }
}

impl DeadLetters {
    /// Every dead letter (up to [`MAX_DEAD_LETTERS`] per queue), the host queue's first.
    pub async fn list(&self) -> Result<Vec<DeadLetterEntry>, DeadLetterError> {
        let mut entries = Vec::new();
        if let Some(queue) = &self.host {
            for letter in queue.list_dead_letters(MAX_DEAD_LETTERS).await? {
                entries.push(self.entry("host", letter).await?);
            }
        }
        if let Some((_, queue)) = &self.bulk {
            for letter in queue.list_dead_letters(MAX_DEAD_LETTERS).await? {
                entries.push(self.entry("bulk", letter).await?);
            }
        }
        Ok(entries)
    }

    /// One dead letter with its message, `None` if there is no such letter.
    pub async fn show(&self, id: &str) -> Result<Option<(DeadLetterEntry, serde_json::Value)>, DeadLetterError> {
        let (queue, _) = split_id(id)?;
        let found = match (queue, &self.host, &self.bulk) {
            ("host", Some(q), _) => self.find(q.as_ref(), "host", id).await?,
            ("bulk", _, Some((_, q))) => self.find(q.as_ref(), "bulk", id).await?,
            _ => None,
        };
        Ok(found)
    }

    async fn find<M: JobMessage>(
        &self,
        queue: &dyn JobQueue<M>,
        name: &'static str,
        id: &str,
    ) -> Result<Option<(DeadLetterEntry, serde_json::Value)>, DeadLetterError> {
        let letters = queue.list_dead_letters(MAX_DEAD_LETTERS).await?;
        let Some(letter) = letters.into_iter().find(|l| format!("{name}:{}", l.id) == id) else { return Ok(None) };
        let message = match &letter.job {
            Ok(job) => serde_json::to_value(job).unwrap_or_default(),
            Err(unreadable) => serde_json::Value::String(unreadable.clone()),
        };
        Ok(Some((self.entry(name, letter).await?, message)))
    }

    async fn entry<M: JobMessage>(
        &self,
        queue: &'static str,
        letter: DeadLetter<M>,
    ) -> Result<DeadLetterEntry, DeadLetterError> {
        let id = format!("{queue}:{}", letter.id);
        let mut entry = DeadLetterEntry {
            id,
            queue,
            job_id: None,
            name: None,
            object: None,
            receive_count: letter.receive_count,
            status: None,
            error: None,
            failed_at: None,
            retried_by: None,
        };
        match letter.job {
            Ok(job) => {
                let record = self.store.get_job(job.job_id()).await?;
                entry.job_id = Some(job.job_id().clone());
                entry.name = Some(job.name());
                entry.object = job.object();
                if let Some(record) = record {
                    entry.status = Some(record.status);
                    entry.error = record.error;
                    entry.failed_at = record.completed;
                    entry.retried_by = record.retried_by;
                }
            }
            Err(unreadable) => entry.error = Some(unreadable),
        }
        Ok(entry)
    }

    /// Redrives the dead letters with these ids (`None`: all of them), each started by `origin`.
    pub async fn redrive(&self, ids: Option<&[String]>, origin: &JobOrigin) -> Result<Vec<Redriven>, DeadLetterError> {
        let wanted = self.wanted(ids)?;
        let mut results = Vec::new();
        if let Some(queue) = &self.host {
            let letters = self.letters(queue.as_ref(), "host", &wanted).await?;
            for letter in letters {
                let result = self.redrive_host(queue.as_ref(), &letter, origin).await;
                results.push(self.done("host", &letter, result));
            }
            self.remove_settled(queue.as_ref(), "host", &results).await?;
        }
        if let Some((sync, queue)) = &self.bulk {
            let letters = self.letters(queue.as_ref(), "bulk", &wanted).await?;
            for letter in letters {
                let result = self.redrive_step(sync, queue.as_ref(), &letter, origin).await;
                results.push(self.done("bulk", &letter, result));
            }
            self.remove_settled(queue.as_ref(), "bulk", &results).await?;
        }
        self.not_found(ids, &mut results);
        Ok(results)
    }

    /// Removes the dead letters with these ids (`None`: all of them) without running anything.
    pub async fn purge(&self, ids: Option<&[String]>) -> Result<usize, DeadLetterError> {
        let wanted = self.wanted(ids)?;
        let mut removed = 0;
        if let Some(queue) = &self.host {
            let letters = self.letters(queue.as_ref(), "host", &wanted).await?;
            removed += queue.remove_dead_letters(&letters.iter().map(|l| l.id.clone()).collect::<Vec<_>>()).await?;
        }
        if let Some((_, queue)) = &self.bulk {
            let letters = self.letters(queue.as_ref(), "bulk", &wanted).await?;
            removed += queue.remove_dead_letters(&letters.iter().map(|l| l.id.clone()).collect::<Vec<_>>()).await?;
        }
        Ok(removed)
    }

    /// The ids asked for, checked (`None`: all).
    fn wanted(&self, ids: Option<&[String]>) -> Result<Option<Vec<String>>, DeadLetterError> {
        let Some(ids) = ids else { return Ok(None) };
        for id in ids {
            split_id(id)?;
        }
        Ok(Some(ids.to_vec()))
    }

    /// The queue's dead letters that were asked for.
    async fn letters<M: JobMessage>(
        &self,
        queue: &dyn JobQueue<M>,
        name: &str,
        wanted: &Option<Vec<String>>,
    ) -> Result<Vec<DeadLetter<M>>, DeadLetterError> {
        if wanted.as_ref().is_some_and(|ids| !ids.iter().any(|id| id.starts_with(&format!("{name}:")))) {
            return Ok(Vec::new());
        }
        let letters = queue.list_dead_letters(MAX_DEAD_LETTERS).await?;
        Ok(letters
            .into_iter()
            .filter(|l| wanted.as_ref().is_none_or(|ids| ids.contains(&format!("{name}:{}", l.id))))
            .collect())
    }

    fn done<M>(&self, queue: &str, letter: &DeadLetter<M>, result: Redriven) -> Redriven {
        Redriven { id: format!("{queue}:{}", letter.id), ..result }
    }

    /// Removes the letters whose work runs again or is done by another job.
    async fn remove_settled<M: Message>(
        &self,
        queue: &dyn JobQueue<M>,
        name: &str,
        results: &[Redriven],
    ) -> Result<(), DeadLetterError> {
        let prefix = format!("{name}:");
        let settled: Vec<String> = results
            .iter()
            .filter(|r| r.outcome != RedriveOutcome::Kept)
            .filter_map(|r| r.id.strip_prefix(&prefix).map(str::to_string))
            .collect();
        if !settled.is_empty() {
            queue.remove_dead_letters(&settled).await?;
        }
        Ok(())
    }

    /// An id asked for that no queue holds is reported, not passed over in silence.
    fn not_found(&self, ids: Option<&[String]>, results: &mut Vec<Redriven>) {
        for id in ids.unwrap_or_default() {
            if !results.iter().any(|r| &r.id == id) {
                results.push(kept(id.clone(), "no such dead letter (redriven or purged already?)".into()));
            }
        }
    }

    async fn redrive_host(&self, queue: &dyn JobQueue, letter: &DeadLetter, origin: &JobOrigin) -> Redriven {
        let (job, record) = match self.job_of(letter).await {
            Ok(read) => read,
            Err(kept) => return kept,
        };
        match record {
            Some(record) if matches!(record.status, JobStatus::Failed | JobStatus::Stalled) => {
                let now = self.clock.now();
                let origin = origin.clone();
                match retry_host_job(self.store.as_ref(), queue, record, origin, now, self.retention).await {
                    Ok(retry) => redriven(retry.id, "retried"),
                    // Recorded with its message: the outbox sweeper sends it.
                    Err(RetryError::Queue(e)) => kept(String::new(), e),
                    Err(RetryError::Busy { job, what }) => superseded(job, what),
                    Err(e) => kept(String::new(), e.to_string()),
                }
            }
            Some(record) => self.pending_or_done(queue, job, &record).await,
            // Its record is gone (past its retention): the object is synced anew.
            None => self.sync_anew(queue, job, origin).await,
        }
    }

    async fn sync_anew(&self, queue: &dyn JobQueue, job: &QueuedJob, origin: &JobOrigin) -> Redriven {
        match busy_host_job(self.store.as_ref(), job.object).await {
            Ok(Some(busy)) => {
                let what = format!("{} has job {} {}", job.object, busy.id, busy.status);
                return superseded(busy.id, what);
            }
            Ok(None) => {}
            Err(e) => return kept(String::new(), e.to_string()),
        }
        let now = self.clock.now();
        let fresh = QueuedJob { job_id: JobId::new_at(now), name: job.name, object: job.object, data: None };
        match enqueue_host_job(self.store.as_ref(), queue, fresh, origin.clone(), now, self.retention, Vec::new()).await
        {
            Ok(record) => redriven(record.id, "its job is gone (past its retention), the object synced anew"),
            Err(e) => kept(String::new(), e.to_string()),
        }
    }

    async fn redrive_step(
        &self,
        sync: &SyncHostsNow,
        queue: &dyn JobQueue<SyncStep>,
        letter: &DeadLetter<SyncStep>,
        origin: &JobOrigin,
    ) -> Redriven {
        let (step, record) = match self.job_of(letter).await {
            Ok(read) => read,
            Err(kept) => return kept,
        };
        match record {
            Some(record) if matches!(record.status, JobStatus::Failed | JobStatus::Stalled) => {
                match sync.launch_retry(queue, origin.clone(), &step.job_id).await {
                    Ok(retry) => redriven(retry.id, "retried"),
                    Err(StartError::Busy { job, status }) => {
                        superseded(job.clone(), format!("SyncHostsNow is {status} as job {job}"))
                    }
                    Err(e) => kept(String::new(), e.to_string()),
                }
            }
            Some(record) => self.pending_or_done(queue, step, &record).await,
            None => superseded_by_nothing(&step.job_id),
        }
    }

    /// A letter's message and its job's record; `Err`: the letter is kept (it cannot be read, or
    /// the store failed).
    async fn job_of<'l, M: JobMessage>(
        &self,
        letter: &'l DeadLetter<M>,
    ) -> Result<(&'l M, Option<JobRecord>), Redriven> {
        let job = letter.job.as_ref().map_err(|unreadable| kept(String::new(), format!("{unreadable}; purge it")))?;
        let record = self.store.get_job(job.job_id()).await.map_err(|e| kept(String::new(), e.to_string()))?;
        Ok((job, record))
    }

    /// A dead letter whose job did not fail: a job still pending or running (its failure was
    /// never recorded) gets its message back as it was; a retried or finished one is done.
    async fn pending_or_done<M: JobMessage>(&self, queue: &dyn JobQueue<M>, job: &M, record: &JobRecord) -> Redriven {
        if let Some(retry) = &record.retried_by {
            return superseded(retry.clone(), format!("job {} was retried as job {retry}", record.id));
        }
        if matches!(record.status, JobStatus::Pending | JobStatus::Running) {
            return match queue.enqueue(job).await {
                Ok(()) => redriven(record.id.clone(), "its message sent again"),
                Err(e) => kept(String::new(), e.to_string()),
            };
        }
        superseded(record.id.clone(), format!("job {} is {}: nothing to run again", record.id, record.status))
    }
}

fn redriven(job: JobId, how: &str) -> Redriven {
    let message = format!("{how}: job {job}");
    Redriven { id: String::new(), outcome: RedriveOutcome::Redriven, job: Some(job), message }
}

fn superseded(job: JobId, message: String) -> Redriven {
    Redriven { id: String::new(), outcome: RedriveOutcome::Superseded, job: Some(job), message }
}

fn superseded_by_nothing(job: &JobId) -> Redriven {
    let message = format!("sync {job} is gone (past its retention): removed; start a new one if needed");
    Redriven { id: String::new(), outcome: RedriveOutcome::Superseded, job: None, message }
}

fn kept(id: String, message: String) -> Redriven {
    Redriven { id, outcome: RedriveOutcome::Kept, job: None, message }
}

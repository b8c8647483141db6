//! The host-job queue: one port, two adapters (SQS FIFO on AWS, SQLite in `nzj serve`).
//!
//! Semantics both give, and the conformance suite checks:
//! - FIFO per NetBox object: while one message of an object is in flight, the object's later
//!   messages wait; different objects run in parallel.
//! - A message enqueued twice with the same job id is delivered once (deduplication).
//! - A received message is invisible for the visibility timeout; if its worker dies, it comes back.
//! - `release` hands a message back for a retry after a delay; after `max_receives` receives a
//!   released message goes to the dead-letter queue instead, where it is kept until it is listed,
//!   redriven (`nzj_jobs::dead_letters`) or removed.

use async_trait::async_trait;
use nzj_core::JobId;
use nzj_core::JobName;
use nzj_core::netbox::ObjectRef;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

mod consumer;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqs")]
mod sqs;

pub use consumer::{MessageHandler, run_fifo_rounds, settle};
#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION as SQLITE_SCHEMA_VERSION, SqliteQueue};
#[cfg(feature = "sqs")]
pub use sqs::SqsQueue;

/// One host job to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedJob {
    /// The job record, created (pending) when the job was enqueued.
    pub job_id: JobId,
    pub name: JobName,
    pub object: ObjectRef,
    /// The NetBox object as the event that caused the job described it, if any.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// What a queue carries: a message with the FIFO group it runs in order with, and the id that
/// deduplicates a second enqueue of it.
pub trait Message: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    fn group(&self) -> String;
    fn dedup_id(&self) -> String;
}

impl Message for QueuedJob {
    /// Jobs of one NetBox object run in order.
    fn group(&self) -> String {
        self.object.to_string()
    }

    fn dedup_id(&self) -> String {
        self.job_id.to_string()
    }
}

/// A received message: the job, the handle to settle it with, and how often it was received.
#[derive(Debug, Clone)]
pub struct Delivery<M = QueuedJob> {
    pub job: M,
    pub receipt: String,
    pub receive_count: u32,
}

/// A message the dead-letter queue keeps: its id there (what `remove_dead_letters` takes), the
/// message (or, for one that cannot be read, why and how it begins), and how often it was received.
#[derive(Debug, Clone)]
pub struct DeadLetter<M = QueuedJob> {
    pub id: String,
    pub job: Result<M, String>,
    pub receive_count: u32,
}

impl<M: Message> DeadLetter<M> {
    /// Reads a dead letter's body; an unreadable one is kept as its error and first characters.
    pub fn read(id: String, body: &str, receive_count: u32) -> Self {
        let job = serde_json::from_str(body).map_err(|e| {
            let start: String = body.chars().take(200).collect();
            format!("unreadable message ({e}): {start}")
        });
        DeadLetter { id, job, receive_count }
    }
}

/// What waits in a queue, where the queue can say cheaply (the embedded one): messages waiting or
/// being worked on, and how long ago the oldest of them was enqueued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    pub messages: usize,
    pub oldest: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("unreadable message: {0}")]
    Corrupt(String),
}

/// A queue of messages `M`: host jobs (the default) or the steps of a bulk sync.
#[async_trait]
pub trait JobQueue<M: Message = QueuedJob>: Send + Sync {
    /// Enqueues `job` in its group; a second enqueue with the same deduplication id is a no-op.
    async fn enqueue(&self, job: &M) -> Result<(), QueueError>;

    /// Up to `max` messages whose groups have nothing in flight, each made invisible for the
    /// visibility timeout.
    async fn receive(&self, max: usize) -> Result<Vec<Delivery<M>>, QueueError>;

    /// The job is settled (completed, or failed for good): the message is gone.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;

    /// The job should be tried again after `delay`; after the last allowed receive the message
    /// goes to the dead-letter queue instead.
    async fn release(&self, delivery: &Delivery<M>, delay: Duration) -> Result<(), QueueError>;

    /// The message's job is held elsewhere: visible again after `delay`, and this receive does
    /// not count as an attempt (the embedded queue takes it back; SQS's redrive counts receives
    /// itself, so its `maxReceiveCount` must leave room for these, docs/design.md).
    async fn postpone(&self, delivery: &Delivery<M>, delay: Duration) -> Result<(), QueueError>;

    /// Whether the queue takes messages now, for `/healthz`: cheap. By default yes; the embedded
    /// queue says whether its last write failed (a full disk, read-only files).
    async fn check_writable(&self) -> Result<(), QueueError> {
        Ok(())
    }

    /// How many messages the dead-letter queue holds.
    async fn dead_letters(&self) -> Result<usize, QueueError>;

    /// Up to `max` of the dead-letter queue's messages, oldest first, left where they are.
    async fn list_dead_letters(&self, max: usize) -> Result<Vec<DeadLetter<M>>, QueueError>;

    /// Removes the dead letters with these ids (ids not there are passed over); returns how many
    /// were removed.
    async fn remove_dead_letters(&self, ids: &[String]) -> Result<usize, QueueError>;

    /// What waits in the queue, where the queue can say cheaply (the embedded one); on AWS
    /// CloudWatch has SQS's figures (`ApproximateAgeOfOldestMessage` is not an attribute).
    async fn backlog(&self) -> Result<Option<Backlog>, QueueError> {
        Ok(None)
    }
}

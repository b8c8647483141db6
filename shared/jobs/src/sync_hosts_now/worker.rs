//! The sync worker: SyncHostsNow's steps taken off the bulk queue and settled by the retry
//! policy.

use super::{SyncHostsNow, SyncStep};
use async_trait::async_trait;
use nzj_core::retry::{FailureKind, RetryPolicy, Settlement};
use nzj_queue::{Delivery, JobQueue, MessageHandler, QueueError, settle};
use std::sync::Arc;

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

//! The AWS queue: an SQS FIFO queue (`MessageGroupId` = the message's group, e.g. the NetBox
//! object; deduplication id = e.g. the job id) with a redrive policy to its dead-letter queue
//! after `max_receives`.

use crate::{DeadLetter, Delivery, JobQueue, Message, QueueError, QueuedJob};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
    QueueAttributeName,
};
use std::marker::PhantomData;
use std::time::Duration;

pub struct SqsQueue<M = QueuedJob> {
    client: Client,
    url: String,
    dead_letter_url: String,
    visibility: Duration,
    max_receives: u32,
    message: PhantomData<fn() -> M>,
}

impl<M> Clone for SqsQueue<M> {
    fn clone(&self) -> Self {
        SqsQueue {
            client: self.client.clone(),
            url: self.url.clone(),
            dead_letter_url: self.dead_letter_url.clone(),
            visibility: self.visibility,
            max_receives: self.max_receives,
            message: PhantomData,
        }
    }
}

fn unavailable<E: ProvideErrorMetadata + std::fmt::Debug, R>(e: SdkError<E, R>) -> QueueError {
    match e.as_service_error() {
        Some(s) => QueueError::Unavailable(format!("{}: {}", s.code().unwrap_or("error"), s.message().unwrap_or(""))),
        None => QueueError::Unavailable(e.to_string()),
    }
}

impl<M> SqsQueue<M> {
    pub fn new(client: Client, url: String, dead_letter_url: String, visibility: Duration, max_receives: u32) -> Self {
        SqsQueue { client, url, dead_letter_url, visibility, max_receives, message: PhantomData }
    }

    /// Creates `<name>.fifo` and its dead-letter queue `<name>-dlq.fifo` if missing (local peers
    /// and tests; on AWS `template.yaml` creates them).
    pub async fn ensure(
        client: Client,
        name: &str,
        visibility: Duration,
        max_receives: u32,
    ) -> Result<Self, QueueError> {
        let dead = client
            .create_queue()
            .queue_name(format!("{name}-dlq.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .map_err(unavailable)?;
        let dead_letter_url = dead.queue_url().unwrap_or_default().to_string();
        let arn = client
            .get_queue_attributes()
            .queue_url(&dead_letter_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(unavailable)?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| QueueError::Unavailable("dead-letter queue without an ARN".into()))?;
        let redrive = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives.to_string()});
        let main = client
            .create_queue()
            .queue_name(format!("{name}.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::VisibilityTimeout, visibility.as_secs().to_string())
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(unavailable)?;
        let url = main.queue_url().unwrap_or_default().to_string();
        Ok(SqsQueue::new(client, url, dead_letter_url, visibility, max_receives))
    }
}

/// SQS cannot look at a message without receiving it: the dead-letter queue is read by receiving
/// its messages (hidden for this long, in case the reader dies) and making them visible again.
const DEAD_LETTER_READ_HIDE_SECONDS: i32 = 30;

/// How many dead letters one removal reads at most, looking for the ids it was given.
const DEAD_LETTER_SCAN_LIMIT: usize = 10_000;

impl<M: Message> SqsQueue<M> {
    /// Receives up to `max` messages of the dead-letter queue, deletes the ones `remove` picks and
    /// makes the others visible again at once; returns every message received. A FIFO group whose
    /// first message is hidden hands out no later one, so a group with more than ten dead
    /// letters shows its first ten until those are redriven or removed.
    async fn sweep_dead_letters(
        &self,
        max: usize,
        remove: impl Fn(&str) -> bool,
    ) -> Result<Vec<DeadLetter<M>>, QueueError> {
        let mut seen: Vec<DeadLetter<M>> = Vec::new();
        let mut receipts: Vec<(String, String)> = Vec::new();
        let outcome = async {
            while seen.len() < max {
                let out = self
                    .client
                    .receive_message()
                    .queue_url(&self.dead_letter_url)
                    .max_number_of_messages((max - seen.len()).clamp(1, 10) as i32)
                    .wait_time_seconds(1)
                    .visibility_timeout(DEAD_LETTER_READ_HIDE_SECONDS)
                    .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                    .send()
                    .await
                    .map_err(unavailable)?;
                if out.messages().is_empty() {
                    break;
                }
                for m in out.messages() {
                    let id = m.message_id().unwrap_or_default().to_string();
                    let count = m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1);
                    receipts.push((id.clone(), m.receipt_handle().unwrap_or_default().to_string()));
                    seen.push(DeadLetter::read(id, m.body().unwrap_or_default(), count));
                }
            }
            Ok::<_, QueueError>(())
        }
        .await;
        // Whatever happened, what was not removed is made visible again (else it hides 30 s).
        let (gone, back): (Vec<_>, Vec<_>) = receipts.into_iter().partition(|(id, _)| outcome.is_ok() && remove(id));
        for (n, chunk) in gone.chunks(10).enumerate() {
            let entries = chunk.iter().enumerate().map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder().id(format!("{n}-{i}")).receipt_handle(receipt).build()
            });
            let entries = entries.collect::<Result<Vec<_>, _>>().map_err(|e| QueueError::Unavailable(e.to_string()))?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.dead_letter_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(unavailable)?;
            if let Some(failed) = out.failed().first() {
                return Err(QueueError::Unavailable(format!("a dead letter was not removed: {}", failed.code())));
            }
        }
        for (n, chunk) in back.chunks(10).enumerate() {
            let entries = chunk.iter().enumerate().map(|(i, (_, receipt))| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("{n}-{i}"))
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .build()
            });
            let entries = entries.collect::<Result<Vec<_>, _>>().map_err(|e| QueueError::Unavailable(e.to_string()))?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.dead_letter_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(unavailable)?;
        }
        outcome?;
        Ok(seen)
    }
}

impl<M> SqsQueue<M> {
    /// Makes a received message visible again after `seconds` (SQS allows up to 12 hours).
    async fn visible_after(&self, delivery: &Delivery<M>, seconds: u64) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&delivery.receipt)
            .visibility_timeout(seconds.min(43_200) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl<M: Message> JobQueue<M> for SqsQueue<M> {
    async fn enqueue(&self, job: &M) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(job.group())
            .message_deduplication_id(job.dedup_id())
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<Delivery<M>>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(1)
            .visibility_timeout(self.visibility.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(unavailable)?;
        out.messages()
            .iter()
            .map(|m| {
                let job: M = serde_json::from_str(m.body().unwrap_or_default())
                    .map_err(|e| QueueError::Corrupt(e.to_string()))?;
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Ok(Delivery { job, receipt: m.receipt_handle().unwrap_or_default().to_string(), receive_count })
            })
            .collect()
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, delivery: &Delivery<M>, delay: Duration) -> Result<(), QueueError> {
        // After the last allowed receive, visible at once: SQS's redrive moves it to the DLQ.
        let delay = if delivery.receive_count >= self.max_receives { Duration::ZERO } else { delay };
        self.visible_after(delivery, delay.as_secs()).await
    }

    async fn postpone(&self, delivery: &Delivery<M>, delay: Duration) -> Result<(), QueueError> {
        self.visible_after(delivery, delay.as_secs().max(1)).await
    }

    async fn dead_letters(&self) -> Result<usize, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.dead_letter_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    async fn list_dead_letters(&self, max: usize) -> Result<Vec<DeadLetter<M>>, QueueError> {
        self.sweep_dead_letters(max, |_| false).await
    }

    async fn remove_dead_letters(&self, ids: &[String]) -> Result<usize, QueueError> {
        let seen = self.sweep_dead_letters(DEAD_LETTER_SCAN_LIMIT, |id| ids.iter().any(|i| i == id)).await?;
        Ok(seen.iter().filter(|d| ids.contains(&d.id)).count())
    }
}

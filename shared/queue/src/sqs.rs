//! The AWS queue: an SQS FIFO queue (`MessageGroupId` = the message's group, e.g. the NetBox
//! object; deduplication id = e.g. the job id) with a redrive policy to its dead-letter queue
//! after `max_receives`.

use crate::{Delivery, JobQueue, Message, QueueError, QueuedJob};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
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
}

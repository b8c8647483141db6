//! What the function handler tests share: moto's endpoint (`make test` starts it) and a fresh
//! DynamoDB table per test.
#![allow(dead_code)]

use aws_lambda_events::event::sqs::SqsEvent;
use nzj_store::DynamoDbStore;
use serde_json::{Value, json};

pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make test`"))
}

/// The AWS SDK configured for moto.
pub async fn moto() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(var("AWS_ENDPOINT_URL"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// A job table of its own, created on moto.
pub async fn fresh_store(aws: &aws_config::SdkConfig) -> DynamoDbStore {
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(aws), format!("nzj-fn-{}", uuid::Uuid::now_v7()));
    store.ensure_table().await.unwrap();
    store
}

/// What Lambda's SQS poller hands the function: the messages it received as an SQS event.
pub async fn poll(sqs: &aws_sdk_sqs::Client, url: &str) -> SqsEvent {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let records: Vec<Value> = out
        .messages()
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> =
                m.attributes().unwrap().iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect();
            json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                   "attributes": attributes, "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// What Lambda's SQS poller does after the function returns: deletes every message not reported
/// as failed.
pub async fn delete_succeeded(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    event: &SqsEvent,
    response: &aws_lambda_events::event::sqs::SqsBatchResponse,
) {
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        if response.batch_item_failures.iter().any(|f| f.item_identifier == id) {
            continue;
        }
        let receipt = record.receipt_handle.clone().unwrap_or_default();
        sqs.delete_message().queue_url(url).receipt_handle(receipt).send().await.unwrap();
    }
}

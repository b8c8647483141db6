//! The AWS side of the job tests: moto (`make test` starts it and sets AWS_ENDPOINT_URL), a
//! DynamoDB table and SQS queues of a test's own.

use nzj_queue::{Message, SqsQueue};
use nzj_store::DynamoDbStore;
use std::time::Duration;

pub async fn moto() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run `make test`, which starts moto");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// A fresh table named `name`.
pub async fn table(config: &aws_config::SdkConfig, name: &str) -> DynamoDbStore {
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(config), name.to_string());
    store.ensure_table().await.unwrap();
    store
}

/// A fresh FIFO queue `<name>.fifo` and its dead-letter queue.
pub async fn queue<M: Message>(
    config: &aws_config::SdkConfig,
    name: &str,
    visibility: Duration,
    max_receives: u32,
) -> SqsQueue<M> {
    SqsQueue::ensure(aws_sdk_sqs::Client::new(config), name, visibility, max_receives).await.unwrap()
}

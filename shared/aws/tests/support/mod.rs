//! What the function handler tests share: moto's endpoint (`make test` starts it) and a fresh
//! DynamoDB table per test.
#![allow(dead_code)]

use nzj_store::DynamoDbStore;

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

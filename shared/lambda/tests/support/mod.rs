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

/// The IAM actions a store's DynamoDB requests needed, as IAM evaluates them: the operation's own,
/// and for `TransactWriteItems` the action of each item (Put: `PutItem`, Delete: `DeleteItem`).
#[derive(Debug, Clone, Default)]
pub struct Actions(pub std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>);

impl aws_sdk_dynamodb::config::Intercept for Actions {
    fn name(&self) -> &'static str {
        "iam-actions"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_string();
        let mut actions = self.0.lock().unwrap();
        if operation == "TransactWriteItems" {
            let body: Value = serde_json::from_slice(context.request().body().bytes().unwrap_or_default())?;
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for kind in item.as_object().unwrap().keys() {
                    let action =
                        if kind == "ConditionCheck" { "ConditionCheckItem".into() } else { format!("{kind}Item") };
                    actions.insert(format!("dynamodb:{action}"));
                }
            }
        } else {
            actions.insert(format!("dynamodb:{operation}"));
        }
        Ok(())
    }
}

/// A job table of its own on moto, its client recording the IAM actions of what it sends from
/// then on (creating the table is the test's, not the function's).
pub async fn recording_store(aws: &aws_config::SdkConfig) -> (DynamoDbStore, Actions) {
    let actions = Actions::default();
    let config = aws_sdk_dynamodb::config::Builder::from(aws).interceptor(actions.clone()).build();
    let table = format!("nzj-fn-{}", uuid::Uuid::now_v7());
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config), table);
    store.ensure_table().await.unwrap();
    actions.0.lock().unwrap().clear();
    (store, actions)
}

/// `template.yaml`, as the template tests read it.
pub fn template() -> serde_norway::Value {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The DynamoDB actions `template` allows the function built from `binary`, with its logical id.
pub fn dynamodb_actions(template: &serde_norway::Value, binary: &str) -> (String, std::collections::BTreeSet<String>) {
    let resources = template["Resources"].as_mapping().unwrap();
    let (id, function) = resources
        .iter()
        .find(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"] == binary)
        .unwrap_or_else(|| panic!("{binary} is not in template.yaml"));
    let allowed = function["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("Statement"))
        .flat_map(|s| s.as_sequence().unwrap().clone())
        .flat_map(|s| s["Action"].as_sequence().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    (id.as_str().unwrap().to_string(), allowed)
}

/// Fails unless `template.yaml` allows the function `binary` every DynamoDB action it took.
pub fn assert_allowed(binary: &str, actions: &Actions) {
    let (id, allowed) = dynamodb_actions(&template(), binary);
    let taken = actions.0.lock().unwrap().clone();
    assert!(!taken.is_empty(), "{binary}: no DynamoDB request was recorded");
    let missing: Vec<&String> = taken.difference(&allowed).collect();
    assert!(missing.is_empty(), "{id} ({binary}) took {missing:?}, which template.yaml does not allow it");
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

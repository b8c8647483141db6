//! The webhook function's handler on its sample Function URL event (a real NetBox 4.7 delivery
//! with its captured signature), against moto's DynamoDB and SQS FIFO.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine as _;
use nzj_app::{App, Queues};
use nzj_core::config::Config;
use nzj_lambda::handle_webhook_request;
use nzj_queue::{JobQueue, SqsQueue};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

mod support;

fn event() -> LambdaFunctionUrlRequest {
    let text = std::fs::read_to_string(format!("{}/../../events/webhook.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_signed_delivery_is_queued_once_and_a_forged_one_is_refused() {
    let aws = support::moto().await;
    let (store, actions) = support::recording_store(&aws).await;
    let config = Config::from_sources([("NZJ_WEBHOOK_SECRET".to_string(), "s3cret".to_string())], None).unwrap();
    let name = format!("nzj-wh-{}", uuid::Uuid::now_v7().simple());
    let queue =
        Arc::new(SqsQueue::ensure(aws_sdk_sqs::Client::new(&aws), &name, Duration::from_secs(30), 3).await.unwrap());
    let queues = Queues { host: Some(queue.clone()), bulk: None };
    let deployment = App::build(&config, Arc::new(store), queues).unwrap();
    let intake = deployment.webhook_intake().unwrap();

    let first = handle_webhook_request(&intake, event()).await;
    let answer: Value = serde_json::from_str(first.body.as_deref().unwrap()).unwrap();
    assert_eq!(first.status_code, 202, "{answer}");
    assert_eq!(answer["object"], "dcim.device/1");

    // Lambda may hand over the body base64-encoded: the same delivery, so a duplicate.
    let mut encoded = event();
    encoded.body = Some(base64::engine::general_purpose::STANDARD.encode(encoded.body.unwrap()));
    encoded.is_base64_encoded = true;
    let second = handle_webhook_request(&intake, encoded).await;
    let again: Value = serde_json::from_str(second.body.as_deref().unwrap()).unwrap();
    assert_eq!((second.status_code, &again["job"]), (200, &answer["job"]));

    let mut forged = event();
    forged.body = Some(forged.body.unwrap().replace("rtr-76683", "rtr-evil"));
    assert_eq!(handle_webhook_request(&intake, forged).await.status_code, 401);

    let queued = queue.receive(10).await.unwrap();
    assert_eq!(queued.len(), 1, "one message for one delivery");
    assert_eq!(queued[0].job.job_id.to_string(), answer["job"].as_str().unwrap());
    // Least privilege: no more than template.yaml allows the webhook function.
    support::assert_allowed("webhook", &actions);
}

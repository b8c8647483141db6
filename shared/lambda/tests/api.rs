//! The api function's handler on its sample event (a SigV4-signed Function URL request, already
//! authenticated by IAM when it reaches the function), against moto's DynamoDB: the same jobs API
//! as `nzj serve`, with no bearer token.

use nzj_app::{App, Queues};
use nzj_core::config::Config;
use nzj_queue::SqliteQueue;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

mod support;

fn sample_event() -> http::Request<axum::body::Body> {
    let text = std::fs::read_to_string(format!("{}/../../events/api.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let event: lambda_http::request::LambdaRequest = serde_json::from_str(&text).unwrap();
    let request: http::Request<lambda_http::Body> = event.into();
    request.map(|body| axum::body::Body::from(body.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_event_lists_jobs_through_the_same_api_as_serve_without_a_bearer_token() {
    let aws = support::moto().await;
    let (store, actions) = support::recording_store(&aws).await;
    let store = Arc::new(store);
    let config = Config::from_sources(Vec::<(String, String)>::new(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host_queue = Arc::new(SqliteQueue::open(&dir.path().join("h.sqlite3"), Duration::from_secs(60), 3).unwrap());
    let bulk_queue = Arc::new(SqliteQueue::open(&dir.path().join("b.sqlite3"), Duration::from_secs(60), 3).unwrap());
    let queues = Queues { host: Some(host_queue), bulk: Some(bulk_queue) };
    let deployment = App::build(&config, store.clone(), queues).unwrap();
    let state = Arc::new(deployment.api_state(nzj_api::ApiAuth::Upstream, nzj_runtime::RunPlace::InRequest));

    let response = nzj_lambda::api_router(state.clone()).oneshot(sample_event()).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed["jobs"], serde_json::json!([]), "{listed}");

    // Without Zabbix, a manual run says what is missing, as in serve.
    let run = http::Request::post("/api/jobs")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"name": "MaintenanceCleanup"}"#))
        .unwrap();
    let response = nzj_lambda::api_router(state.clone()).oneshot(run).await.unwrap();
    assert_eq!(response.status(), 503);

    // A change records the IAM principal of the request context as who made it.
    let mut change = sample_event();
    *change.method_mut() = http::Method::PUT;
    *change.uri_mut() = "/api/schedule/MaintenanceCleanup".parse().unwrap();
    change.headers_mut().insert("content-type", "application/json".parse().unwrap());
    *change.body_mut() = axum::body::Body::from(r#"{"interval": 30}"#);
    let response = nzj_lambda::api_router(state).oneshot(change).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let view: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(view["changed"]["by"], "arn:aws:iam::123456789012:user/operator", "{view}");
    support::assert_allowed("api", &actions);
}

//! What the API tests share: the app as `nzj serve` builds it (`nzj_app::App`, on an embedded
//! store and embedded queues of its own in a temporary directory), served on a random port.
#![allow(dead_code)]

use nzj_app::{App, Queues};
use nzj_core::config::Config;
use nzj_core::tokens::{Role, Tokens};
use nzj_jobs::SyncStep;
use nzj_queue::{JobQueue, SqliteQueue};
use nzj_runtime::Registry;
use nzj_store::{JobStore, SqliteStore};
use std::sync::Arc;
use std::time::Duration;

/// `NZJ_API_TOKEN`: the admin token, named `admin`.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// Named tokens beside it: `vera` a viewer, `otto` an operator (`nzj tokens new` makes such).
pub fn viewer_token() -> String {
    named_token("vera", Role::Viewer).0
}

pub fn operator_token() -> String {
    named_token("otto", Role::Operator).0
}

fn named_token(name: &str, role: Role) -> (String, String) {
    let seed = [name.len() as u8 + role as u8 * 16; 32];
    let (token, line) = nzj_core::tokens::new_token_line(name, role, seed).unwrap();
    (token.expose().to_string(), line)
}

/// The tokens every test app takes: the admin `TOKEN`, and `vera` and `otto`.
pub fn test_tokens() -> Tokens {
    let lines = [named_token("vera", Role::Viewer).1, named_token("otto", Role::Operator).1].join("\n");
    Tokens::parse(&lines).unwrap().with_env_token(&nzj_core::Secret::new(TOKEN)).unwrap()
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub store: Arc<dyn JobStore>,
    pub host_queue: Arc<dyn JobQueue>,
    _dir: tempfile::TempDir,
}

/// Starts the API for the configuration `env` (NZJ_* pairs), with `registry`'s system jobs when
/// given (else those the configuration allows).
pub async fn spawn_app(env: &[(&str, &str)], registry: Option<Registry>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = Config::from_sources(env, None).unwrap();
    let store: Arc<dyn JobStore> = Arc::new(SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap());
    let host_queue: Arc<dyn JobQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("queue.sqlite3"), Duration::from_secs(60), 5).unwrap());
    let bulk_queue: Arc<dyn JobQueue<SyncStep>> =
        Arc::new(SqliteQueue::open(&dir.path().join("bulk.sqlite3"), Duration::from_secs(60), 5).unwrap());
    let queues = Queues { host: Some(host_queue.clone()), bulk: Some(bulk_queue) };
    let mut app = App::build(&config, store.clone(), queues).unwrap();
    if let Some(registry) = registry {
        app = app.with_registry(registry);
    }
    let state = Arc::new(app.api_state(nzj_api::ApiAuth::Tokens(test_tokens()), nzj_runtime::RunPlace::Background));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, nzj_api::router(state)).await.unwrap() });
    TestApp { base, store, host_queue, _dir: dir }
}

/// Sends `method` to `path` with `token` and `body` as JSON: the status and the JSON answer
/// (`null` if none).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// POSTs `body` as JSON to `path` with `token`.
pub async fn post(app: &TestApp, path: &str, body: &str, token: &str) -> (reqwest::StatusCode, serde_json::Value) {
    call(app, reqwest::Method::POST, path, token, body).await
}

//! The CLI's HTTP client for the jobs API: where it points (a deployment's `--endpoint`, else the
//! local `nzj serve`), how it authenticates (bearer token or SigV4), and how an error answer
//! reads. The commands that use it are in `cmd/`, one file per command group.

use crate::serve::token_path;
use anyhow::{Context, anyhow};
use nzj_core::config::{DEFAULT_DATA_DIR, DEFAULT_LISTEN};
use serde_json::Value;
use std::path::PathBuf;

/// Where the CLI's API commands point and how they authenticate: flags, each with its variable.
#[derive(clap::Args)]
pub struct ApiTarget {
    /// Base URL of the nzj API [default: the local `nzj serve`, http://$NZJ_LISTEN]
    #[arg(long, env = "NZJ_ENDPOINT", global = true)]
    endpoint: Option<String>,
    /// API bearer token [default: $NZJ_DATA_DIR/api-token, written by `nzj serve`]
    #[arg(long, env = "NZJ_API_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Where the local `nzj serve` listens, when --endpoint is not given
    #[arg(long = "serve-listen", env = "NZJ_LISTEN", default_value = DEFAULT_LISTEN, global = true, hide = true)]
    serve_listen: String,
    /// Where the local `nzj serve` keeps its token, when --token is not given
    #[arg(long = "serve-data-dir", env = "NZJ_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true, hide = true)]
    serve_data_dir: PathBuf,
    /// Sign requests with SigV4 (AWS credentials) even when the endpoint is not a Function URL
    #[arg(long, env = "NZJ_SIGV4", global = true, value_parser = clap::builder::FalseyValueParser::new())]
    sigv4: bool,
}

pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// Requests to a deployment's Function URL (IAM auth) are SigV4-signed, as are all requests
    /// with `--sigv4`; the signer (credentials, region) is made on first use.
    sigv4: Option<tokio::sync::OnceCell<crate::sigv4::Signer>>,
}

impl ApiClient {
    /// The endpoint from `--endpoint`, else the local `nzj serve`; the token from `--token`, else
    /// the one `nzj serve` keeps in its data directory.
    pub fn new(target: ApiTarget) -> Self {
        let base = target
            .endpoint
            .unwrap_or_else(|| format!("http://{}", target.serve_listen.replace("0.0.0.0", "127.0.0.1")));
        let token = target
            .token
            .or_else(|| std::fs::read_to_string(token_path(&target.serve_data_dir)).ok().map(|t| t.trim().to_string()));
        let function_url =
            reqwest::Url::parse(&base).ok().and_then(|u| u.host_str().and_then(crate::sigv4::region_of)).is_some();
        let sigv4 = (function_url || target.sigv4).then(tokio::sync::OnceCell::new);
        ApiClient { base: base.trim_end_matches('/').to_string(), token, http: reqwest::Client::new(), sigv4 }
    }

    /// Sends `request` (signed or with the token): the status and the JSON answer (`null` if none).
    async fn execute(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut request = match (&self.token, &self.sigv4) {
            (Some(token), None) => request.bearer_auth(token),
            _ => request,
        }
        .build()?;
        if let Some(signer) = &self.sigv4 {
            let signer = signer.get_or_try_init(|| crate::sigv4::Signer::for_endpoint(request.url())).await?;
            signer.sign(&mut request, std::time::SystemTime::now()).await?;
        }
        let response = self
            .http
            .execute(request)
            .await
            .with_context(|| format!("cannot reach the nzj API at {} (is `nzj serve` running?)", self.base))?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let (status, body) = self.execute(request).await?;
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"].as_str().unwrap_or("no message").to_string();
        if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
            return Err(anyhow!(
                "{status}: {message}; set NZJ_API_TOKEN, or run where `nzj serve` keeps its data (NZJ_DATA_DIR)"
            ));
        }
        Err(anyhow!("{status}: {message}"))
    }

    /// Any call, its refusal included, as `nzj ui` passes it on: the status and the JSON answer.
    /// `path` carries its query string.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.execute(request).await
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).header("x-nzj-client", "cli").json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.delete(format!("{}{path}", self.base))).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(self.http.put(format!("{}{path}", self.base)).json(&body)).await
    }
}

pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn print_json(value: &Value) {
    outln!("{}", serde_json::to_string_pretty(value).expect("JSON value"));
}

/// The body of a decision on `ids`, or on all with `--all` (`what`: what to name, and where to
/// find them).
pub fn selection(ids: &[String], all: bool, what: &str) -> anyhow::Result<Value> {
    match (all, ids.is_empty()) {
        (true, true) => Ok(serde_json::json!({"all": true})),
        (false, false) => Ok(serde_json::json!({"ids": ids})),
        (true, false) => anyhow::bail!("name ids or --all, not both"),
        (false, true) => anyhow::bail!("name the {what}, or --all"),
    }
}

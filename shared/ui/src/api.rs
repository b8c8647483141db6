//! How the page reaches the jobs API: every read and every action is one API call, so the page
//! has no second code path for what a job does, and the API's roles and checks apply to it as to
//! the CLI. In `nzj serve` the call goes to the API's own router in the same process
//! ([`InProcessApi`], with the session's bearer token); `nzj ui` supplies its own [`Api`] that
//! sends the call over HTTP to a deployment, signed with SigV4.

use axum::Router;
use axum::body::Body;
use http::{Method, Request, header};
use nzj_core::Secret;
use serde_json::Value;
use tower::ServiceExt;

/// An API answer: the HTTP status and the JSON body (`null` when there is none).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The API's own message for a refused call (`{"error": ...}`), else the status.
    pub fn error(&self) -> String {
        match self.body["error"].as_str() {
            Some(message) => message.to_string(),
            None => format!("the API answered {}", self.status),
        }
    }
}

/// One call to the jobs API, as the holder of `credential` (a bearer token; `None` where the
/// API is reached some other way, e.g. SigV4).
#[async_trait::async_trait]
pub trait Api: Send + Sync {
    /// `path` includes the query string (`/api/jobs?status=failed`). `Err` only when the API
    /// could not be reached at all.
    async fn call(
        &self,
        credential: Option<&Secret>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, String>;
}

/// The API router of this process, called without a network hop.
pub struct InProcessApi {
    router: Router,
}

impl InProcessApi {
    pub fn new(router: Router) -> Self {
        InProcessApi { router }
    }
}

#[async_trait::async_trait]
impl Api for InProcessApi {
    async fn call(
        &self,
        credential: Option<&Secret>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = credential {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let request = request.body(body).map_err(|e| format!("cannot build the API request: {e}"))?;
        let response = self.router.clone().oneshot(request).await.map_err(|e| format!("the API failed: {e}"))?;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .map_err(|e| format!("cannot read the API's answer: {e}"))?;
        Ok(Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }
}

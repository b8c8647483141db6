//! API errors: every failure is JSON `{"error": "..."}` with the status that says what went
//! wrong, and each error of the layers below maps to one status here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nzj_jobs::MaintenanceError;
use nzj_queue::QueueError;
use nzj_runtime::RuntimeError;
use nzj_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        tracing::error!(error = %e, "queue error");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Store(e) => e.into(),
            other => ApiError::new(StatusCode::CONFLICT, other.to_string()),
        }
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The body limit is enforced below the handlers, whose 413 is plain text: said in JSON like
/// every other error (docs/product.md §6).
pub(crate) async fn json_too_large(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return response;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the request body is too large: the API takes up to {} bytes, a NetBox delivery up to {} bytes",
            crate::MAX_BODY_BYTES,
            nzj_netbox::MAX_BODY_BYTES
        ),
    )
    .into_response()
}

impl From<MaintenanceError> for ApiError {
    fn from(e: MaintenanceError) -> Self {
        match e {
            MaintenanceError::Invalid(message) => ApiError::bad_request(message),
            MaintenanceError::NotFound(_) => ApiError::not_found(e.to_string()),
            MaintenanceError::Store(e) => e.into(),
            // Zabbix away: try again later. Zabbix refusing: its answer is the message.
            MaintenanceError::Zabbix(z) if z.is_transient() => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, z.to_string())
            }
            MaintenanceError::Zabbix(z) => ApiError::new(StatusCode::BAD_GATEWAY, z.to_string()),
        }
    }
}

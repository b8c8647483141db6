//! `POST /webhook/netbox`: NetBox deliveries, authenticated by their signature, handed to the
//! webhook intake.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `POST /webhook/netbox`: NetBox's signed deliveries (the signature is the authentication).
pub(crate) async fn netbox_webhook(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(intake) = &state.webhook else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NZJ_WEBHOOK_SECRET is not set: webhooks are refused")
            .into_response();
    };
    let signature = headers.get("x-hook-signature").and_then(|v| v.to_str().ok());
    let answer = intake.receive(signature, &body).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body)).into_response()
}

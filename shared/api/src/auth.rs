//! Who may call `/api`: the bearer token in constant time (`nzj serve`), or nobody checks here
//! because the Function URL's IAM auth already did (the api function).

use crate::ApiAuth;
use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub(crate) async fn require_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let valid = match &state.auth {
        ApiAuth::Upstream => true,
        ApiAuth::Bearer(token) => presented.is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.expose().as_bytes()))),
    };
    if valid {
        next.run(request).await
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response()
    }
}

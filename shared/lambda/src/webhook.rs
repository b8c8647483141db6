//! The webhook function: a Function URL request (auth NONE; every delivery is signature-checked)
//! becomes a call of the shared webhook intake.

use crate::deployment::{app_from_env, init_logging, missing, start_error};
use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use base64::Engine as _;
use lambda_runtime::{LambdaEvent, service_fn};
use nzj_jobs::WebhookIntake;
use serde_json::{Value, json};
use std::sync::Arc;

/// One Function URL request to the webhook function.
pub async fn handle_webhook_request(
    intake: &WebhookIntake,
    request: LambdaFunctionUrlRequest,
) -> LambdaFunctionUrlResponse {
    let body = match (request.body, request.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.into_bytes(),
        (Some(text), true) => match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) => bytes,
            Err(e) => return url_response(400, &json!({"error": format!("body is not valid base64: {e}")})),
        },
    };
    let signature = request.headers.get("x-hook-signature").and_then(|v| v.to_str().ok());
    let answer = intake.receive(signature, &body).await;
    url_response(answer.status, &answer.body)
}

fn url_response(status: u16, body: &Value) -> LambdaFunctionUrlResponse {
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert("content-type", "application/json".parse().expect("header value"));
    response.body = Some(body.to_string());
    response
}

/// The whole `main` of the webhook function.
pub async fn run_webhook_function() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let app = app_from_env().await.map_err(start_error)?;
    if app.config.webhook_secret.is_none() {
        return Err(missing("configuration", "NZJ_WEBHOOK_SECRET: required by the webhook function"));
    }
    let intake = Arc::new(
        app.webhook_intake().ok_or_else(|| missing("webhook", "needs NZJ_HOST_QUEUE_URL and NZJ_HOST_DLQ_URL"))?,
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
        let intake = intake.clone();
        async move { Ok::<_, lambda_runtime::Error>(handle_webhook_request(&intake, event.payload).await) }
    }))
    .await
}

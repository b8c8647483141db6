//! The api function: the jobs API of `nzj serve` on a Function URL with IAM auth (SigV4, so no
//! bearer token); host syncs go on the host queue, SyncHostsNow's steps on the bulk queue, and a
//! manual system-job run goes to the job's own function, invoked asynchronously (`dispatch.rs`;
//! without the functions named, it runs within its request: a Lambda is frozen once it answers).
//! The caller that jobs and changes record as their user is the IAM principal the Function URL
//! authenticated, read from the request context.

use crate::deployment::{app_from, init_logging, start_error};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use nzj_api::{AppState, UpstreamCaller};
use std::sync::Arc;

/// The whole `main` of the api function.
pub async fn run_api_function() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let aws = aws_config::load_from_env().await;
    let app = app_from(&aws).await.map_err(start_error)?;
    let runs = match crate::LambdaDispatcher::from_env(&aws, &std::env::vars().collect()) {
        Some(dispatcher) => nzj_runtime::RunPlace::Dispatched(Arc::new(dispatcher)),
        None => nzj_runtime::RunPlace::InRequest,
    };
    let state = app.api_state(nzj_api::ApiAuth::Upstream, runs);
    lambda_http::run(api_router(Arc::new(state))).await
}

/// The API's router with each request's IAM principal passed on as its caller.
pub fn api_router(state: Arc<AppState>) -> axum::Router {
    nzj_api::router(state).layer(axum::middleware::map_request(iam_caller))
}

async fn iam_caller(mut request: axum::extract::Request) -> axum::extract::Request {
    let principal = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            let iam = context.authorizer.as_ref().and_then(|a| a.iam.as_ref());
            iam.and_then(|iam| iam.user_arn.clone().or_else(|| iam.user_id.clone()))
        }
        _ => None,
    };
    if let Some(principal) = principal {
        request.extensions_mut().insert(UpstreamCaller(principal));
    }
    request
}

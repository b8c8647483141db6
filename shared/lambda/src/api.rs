//! The api function: the jobs API of `nzj serve` on a Function URL with IAM auth (SigV4, so no
//! bearer token); host syncs go on the host queue, SyncHostsNow's steps on the bulk queue, and a
//! manual system-job run runs within its request (a Lambda function is frozen once it answers).

use crate::deployment::{app_from_env, init_logging, start_error};
use std::sync::Arc;

/// The whole `main` of the api function.
pub async fn run_api_function() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let app = app_from_env().await.map_err(start_error)?;
    let state = app.api_state(nzj_api::ApiAuth::Upstream, true);
    lambda_http::run(nzj_api::router(Arc::new(state))).await
}

//! The Lambda glue: what turns an AWS event into a call of the shared code, so each function's
//! `main.rs` is one line. The product itself is built by `nzj-app`; the AWS adapters (DynamoDB,
//! SQS) live in `nzj-store` and `nzj-queue`.
//!
//! - `deployment.rs`: the app of a Lambda process, from the environment (secrets from SSM);
//! - `scheduled.rs`: an EventBridge Scheduler event -> at most one run of a system job;
//! - `sqs.rs`: an SQS batch -> the host or sync worker, with partial batch responses;
//! - `webhook.rs`: a Function URL request -> the webhook intake;
//! - `api.rs`: the jobs API on a Function URL with IAM auth;
//! - `dispatch.rs`: a manual run handed to the job's own function, invoked asynchronously.

mod api;
mod deployment;
mod dispatch;
mod scheduled;
mod sqs;
mod webhook;

pub use api::{api_router, run_api_function};
pub use deployment::{SECRET_VARIABLES, app_from_env, init_logging, with_secrets_from_ssm};
pub use dispatch::{FUNCTION_VARIABLES, LambdaDispatcher};
pub use scheduled::{ScheduledEvent, handle_scheduled, run_scheduled_function};
pub use sqs::{handle_sqs_batch, run_host_worker_function, run_sync_all_function};
pub use webhook::{handle_webhook_request, run_webhook_function};

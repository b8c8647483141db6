//! SyncHostsNow's steps from the SQS FIFO bulk queue, one NetBox page per invocation.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    nzj_lambda::run_sync_all_function().await
}

//! NetBox webhooks through a Lambda Function URL: verified, recorded and enqueued on the host queue.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    nzj_lambda::run_webhook_function().await
}

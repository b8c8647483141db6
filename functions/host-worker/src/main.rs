//! Host jobs from the SQS FIFO host queue, with partial batch responses.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    nzj_lambda::run_host_worker_function().await
}

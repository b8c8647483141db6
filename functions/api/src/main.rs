//! The jobs API (the same routes as `nzj serve`) on a Lambda Function URL with IAM auth.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    nzj_lambda::run_api_function().await
}

//! MaintenanceCleanup on EventBridge Scheduler: one run per due tick, never two at once.

use nzj_core::SystemJob;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    nzj_lambda::run_scheduled_function(SystemJob::MaintenanceCleanup).await
}

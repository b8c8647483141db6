//! Manual runs on AWS, in the job's own function: the api function claims the run (so it can
//! answer 202 with the job at once, as `nzj serve` does) and invokes the job's function
//! asynchronously with the run's id; that function continues the run from its record
//! (`scheduled.rs`), with its own timeout and its own single-instance slot. A run whose invoke
//! fails is failed at once by the API, never left running with no process on it.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use nzj_core::SystemJob;
use nzj_runtime::{ClaimedRun, RunDispatcher};
use serde_json::json;
use std::collections::BTreeMap;

/// The variable naming each system job's function (the template sets them on the api function).
pub const FUNCTION_VARIABLES: [(SystemJob, &str); 3] = [
    (SystemJob::ImportZabbixSettings, "NZJ_IMPORT_SETTINGS_FUNCTION"),
    (SystemJob::MaintenanceCleanup, "NZJ_MAINTENANCE_CLEANUP_FUNCTION"),
    (SystemJob::HostConfigSyncRefresh, "NZJ_SYNC_REFRESH_FUNCTION"),
];

/// Invokes the job's function with `{"run_id": ...}`, asynchronously (`InvocationType=Event`).
pub struct LambdaDispatcher {
    client: aws_sdk_lambda::Client,
    functions: BTreeMap<SystemJob, String>,
}

impl LambdaDispatcher {
    /// From the environment: `None` unless every job's function is named (then runs stay within
    /// the request, as before).
    pub fn from_env(aws: &aws_config::SdkConfig, env: &BTreeMap<String, String>) -> Option<LambdaDispatcher> {
        let functions = FUNCTION_VARIABLES
            .iter()
            .map(|(job, var)| Some((*job, env.get(*var).filter(|v| !v.trim().is_empty())?.clone())))
            .collect::<Option<BTreeMap<_, _>>>()?;
        Some(LambdaDispatcher { client: aws_sdk_lambda::Client::new(aws), functions })
    }
}

#[async_trait]
impl RunDispatcher for LambdaDispatcher {
    async fn dispatch(&self, run: &ClaimedRun) -> Result<(), String> {
        let function = self.functions.get(&run.job).ok_or_else(|| format!("no function is named for {}", run.job))?;
        let payload = json!({"run_id": run.record.id}).to_string();
        self.client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("invoking {function}: {}", aws_sdk_lambda::error::DisplayErrorContext(e)))
    }
}

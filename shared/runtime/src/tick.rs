//! Launching claimed runs, and the scheduler tick that `nzj serve` runs on a timer.

use crate::runner::{SystemJobHandler, run_claimed};
use crate::scheduler::{ClaimedRun, RuntimeError, Scheduler, TriggerOutcome};
use nzj_core::job::JobOrigin;
use nzj_core::{Clock, SystemJob, Trigger};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The system jobs this process can run. A job without a handler is never triggered: it is not
/// scheduled, and the API says why (a peer it needs is not configured, or this process does not
/// run it: each scheduled Lambda function registers only its own job).
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<SystemJob, Arc<dyn SystemJobHandler>>,
    unavailable: BTreeMap<SystemJob, String>,
}

impl Registry {
    pub fn with(mut self, job: SystemJob, handler: Arc<dyn SystemJobHandler>) -> Self {
        self.handlers.insert(job, handler);
        self
    }

    /// Records why `job` cannot run in this process.
    pub fn without(mut self, job: SystemJob, reason: impl Into<String>) -> Self {
        self.unavailable.insert(job, reason.into());
        self
    }

    /// Why `job` cannot run here; `None` if it can.
    pub fn unavailable_reason(&self, job: SystemJob) -> Option<String> {
        if self.implements(job) {
            return None;
        }
        Some(self.unavailable.get(&job).cloned().unwrap_or_else(|| "this process does not run it".to_string()))
    }

    pub fn implements(&self, job: SystemJob) -> bool {
        self.handlers.contains_key(&job)
    }

    pub fn handler(&self, job: SystemJob) -> Option<Arc<dyn SystemJobHandler>> {
        self.handlers.get(&job).cloned()
    }

    pub fn jobs(&self) -> impl Iterator<Item = SystemJob> + '_ {
        self.handlers.keys().copied()
    }
}

/// Where a manual run of a system job runs once claimed: in the background of this process
/// (`nzj serve`), within the request (a Lambda is frozen once it answers), or in the job's own
/// function, invoked asynchronously (the api function on AWS: a run may take longer than a
/// request should wait).
#[derive(Clone)]
pub enum RunPlace {
    Background,
    InRequest,
    Dispatched(Arc<dyn RunDispatcher>),
}

/// Hands a claimed run to the process that runs it (on AWS, the job's function, invoked
/// asynchronously with the run's id); that process continues the run from its record.
#[async_trait::async_trait]
pub trait RunDispatcher: Send + Sync {
    async fn dispatch(&self, run: &ClaimedRun) -> Result<(), String>;
}

/// Starts claimed runs in the background: heartbeats, timeout, outcome recorded. Shared by the
/// scheduler tick and manual runs from the API.
#[derive(Clone)]
pub struct Launcher {
    pub scheduler: Arc<Scheduler>,
    pub clock: Arc<dyn Clock>,
    pub registry: Registry,
    pub timeout: std::time::Duration,
}

impl Launcher {
    /// Runs `run` to its end here and returns its record: where nothing may run after the answer
    /// (a Lambda function is frozen once it has answered).
    pub async fn run_to_end(&self, run: ClaimedRun) -> Result<nzj_core::JobRecord, RuntimeError> {
        let handler = self.registry.handler(run.job).ok_or(RuntimeError::NoHandler(run.job))?;
        run_claimed(&self.scheduler, self.clock.clone(), handler.as_ref(), run, self.timeout).await
    }

    /// Runs `run` in the background with its job's handler.
    pub fn launch(&self, run: ClaimedRun) {
        let Some(handler) = self.registry.handler(run.job) else {
            tracing::error!(job = %run.job, "claimed a run of a job with no handler");
            return;
        };
        let (scheduler, clock, timeout) = (self.scheduler.clone(), self.clock.clone(), self.timeout);
        tokio::spawn(async move {
            let (job, id) = (run.job, run.record.id.clone());
            match run_claimed(&scheduler, clock, handler.as_ref(), run, timeout).await {
                Ok(record) => tracing::info!(job = %job, job_id = %id, status = %record.status, "job finished"),
                Err(e) => tracing::error!(job = %job, job_id = %id, error = %e, "job run ended without a result"),
            }
        });
    }

    /// One scheduler tick: triggers every runnable system job once and launches the claimed runs.
    /// On AWS, EventBridge Scheduler invokes each job's function instead.
    pub async fn tick(&self) -> Vec<(SystemJob, Result<TriggerOutcome, RuntimeError>)> {
        let mut outcomes = Vec::new();
        for job in self.registry.jobs() {
            let origin = JobOrigin { trigger: Trigger::Schedule, user: "scheduler".into(), object: None };
            let outcome = self.scheduler.trigger(job, origin).await;
            if let Ok(TriggerOutcome::Claimed(run)) = &outcome {
                self.launch((**run).clone());
            }
            outcomes.push((job, outcome));
        }
        outcomes
    }
}

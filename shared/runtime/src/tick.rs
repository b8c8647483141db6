//! One scheduler tick: trigger every implemented system job, start the runs that were claimed.
//! On AWS, EventBridge Scheduler invokes each job's function; in `nzj serve`, a timer calls this.

use crate::runner::{SystemJobHandler, run_claimed};
use crate::scheduler::{RuntimeError, Scheduler, TriggerOutcome};
use nzj_core::job::JobOrigin;
use nzj_core::{Clock, SystemJob, Trigger};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The system jobs this build can run. A job without a handler is never triggered: it is not
/// scheduled, and the API says so.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<SystemJob, Arc<dyn SystemJobHandler>>,
}

impl Registry {
    pub fn with(mut self, job: SystemJob, handler: Arc<dyn SystemJobHandler>) -> Self {
        self.handlers.insert(job, handler);
        self
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

/// Triggers every implemented system job once; claimed runs are started in the background.
/// Returns what each trigger did.
pub async fn tick(
    scheduler: &Arc<Scheduler>,
    clock: &Arc<dyn Clock>,
    registry: &Registry,
    timeout: std::time::Duration,
) -> Vec<(SystemJob, Result<TriggerOutcome, RuntimeError>)> {
    let mut outcomes = Vec::new();
    for job in registry.jobs() {
        let origin = JobOrigin {
            trigger: Trigger::Schedule,
            user: "scheduler".into(),
            object: None,
        };
        let outcome = scheduler.trigger(job, origin).await;
        if let (Ok(TriggerOutcome::Claimed(run)), Some(handler)) = (&outcome, registry.handler(job))
        {
            let (scheduler, clock, run) = (scheduler.clone(), clock.clone(), (**run).clone());
            tokio::spawn(async move {
                let id = run.record.id.clone();
                match run_claimed(&scheduler, clock, handler.as_ref(), run, timeout).await {
                    Ok(record) => {
                        tracing::info!(job = %job, job_id = %id, status = %record.status, "job finished")
                    }
                    Err(e) => {
                        tracing::error!(job = %job, job_id = %id, error = %e, "job run ended without a result")
                    }
                }
            });
        }
        outcomes.push((job, outcome));
    }
    outcomes
}

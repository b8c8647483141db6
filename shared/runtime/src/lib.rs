//! Running jobs: single-instance triggers, leases and heartbeats, recording results.
//!
//! [`Scheduler`] turns the pure rules of `nzj_core::schedule` into conditional writes on a
//! [`JobStore`]; [`runner`] runs a claimed job with heartbeats and a timeout; [`Launcher`] starts
//! runs and ticks the scheduler (what EventBridge Scheduler does on AWS) for `nzj serve`.

pub mod metrics;
pub mod runner;
pub mod scheduler;
pub mod tick;

pub use runner::{JobContext, JobFailure, SystemJobHandler, run_claimed};
pub use scheduler::{ClaimedRun, RuntimeError, Scheduler, TriggerOutcome};
pub use tick::{Launcher, Registry, RunDispatcher, RunPlace};

//! Retries of system jobs on both stores: an operator's retry of a failed run is one new run,
//! linked both ways, however many ask at once; a failed scheduled run is tried again after a
//! backoff instead of waiting for its next interval, and the schedule stays as it was.

mod support;

use async_trait::async_trait;
use chrono::Duration;
use nzj_core::job::JobOrigin;
use nzj_core::{Clock, JobRecord, JobStatus, SkipReason, SystemJob, Trigger};
use nzj_runtime::{JobContext, JobFailure, RuntimeError, Scheduler, SystemJobHandler, TriggerOutcome, run_claimed};
use nzj_store::JobStore;
use serde_json::json;
use std::sync::Arc;
use support::{claimed, clock, scheduled, scheduler};

for_each_store!(
    a_failed_system_job_retried_by_id_is_one_new_run_linked_both_ways,
    a_failed_scheduled_run_is_retried_after_a_backoff_not_a_day,
);

const JOB: SystemJob = SystemJob::ImportZabbixSettings;

struct Fails;

#[async_trait]
impl SystemJobHandler for Fails {
    async fn run(&self, _ctx: &JobContext) -> Result<serde_json::Value, JobFailure> {
        Err(JobFailure::permanent("Zabbix refused"))
    }
}

fn operator() -> JobOrigin {
    JobOrigin { trigger: Trigger::Cli, user: "cli".into(), object: None }
}

async fn failed_run(scheduler: &Arc<Scheduler>, clock: Arc<dyn Clock>, origin: JobOrigin) -> JobRecord {
    let run = match origin.trigger {
        Trigger::Schedule => claimed(scheduler.trigger(JOB, origin).await.unwrap()),
        _ => claimed(scheduler.run_now(JOB, origin).await.unwrap()),
    };
    let failed = run_claimed(scheduler, clock, &Fails, run, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    failed
}

async fn a_failed_system_job_retried_by_id_is_one_new_run_linked_both_ways(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let failed = failed_run(&scheduler, clock.clone(), operator()).await;

    // Two operators retry it at the same moment: one new run.
    let (a, b) =
        tokio::join!(scheduler.retry(JOB, operator(), &failed.id), scheduler.retry(JOB, operator(), &failed.id));
    let outcomes = [a.unwrap(), b.unwrap()];
    let runs: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            TriggerOutcome::Claimed(run) => Some((**run).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 1, "{outcomes:?}");
    let run = &runs[0];
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, TriggerOutcome::Skipped(SkipReason::Running { job }) if *job == run.record.id))
    );
    let retry = store.get_job(&run.record.id).await.unwrap().unwrap();
    assert_eq!((retry.retry_of.as_ref(), retry.attempt, retry.trigger), (Some(&failed.id), 2, Trigger::Cli));
    assert!(retry.log.entries[0].message.contains("Zabbix refused"), "the retry says what it retries: {:?}", retry.log);
    let failed = store.get_job(&failed.id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.retried_by.as_ref()), (JobStatus::Failed, Some(&retry.id)));

    let done = scheduler.finish(run, Ok(json!({})), &Default::default()).await.unwrap();
    // A job that did not fail is not retried.
    match scheduler.retry(JOB, operator(), &done.id).await {
        Err(RuntimeError::Transition(e)) => assert_eq!(e.status, JobStatus::Completed),
        other => panic!("a completed job retried: {other:?}"),
    }
}

async fn a_failed_scheduled_run_is_retried_after_a_backoff_not_a_day(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let failed = failed_run(&scheduler, clock.clone(), scheduled()).await;
    let daily = scheduler.schedule(JOB).await.unwrap().next_due;

    clock.advance(Duration::seconds(30));
    assert!(matches!(
        scheduler.trigger(JOB, scheduled()).await.unwrap(),
        TriggerOutcome::Skipped(SkipReason::NotDue { .. })
    ));
    clock.advance(Duration::seconds(31));
    let retry = claimed(scheduler.trigger(JOB, scheduled()).await.unwrap());
    assert_eq!((retry.record.trigger, retry.record.retry_of.as_ref()), (Trigger::Retry, Some(&failed.id)));
    assert_eq!(scheduler.schedule(JOB).await.unwrap().next_due, daily, "the daily schedule stays");
    let failed = store.get_job(&failed.id).await.unwrap().unwrap();
    assert_eq!(failed.retried_by.as_ref(), Some(&retry.record.id));
    scheduler.finish(&retry, Ok(json!({})), &Default::default()).await.unwrap();
    let entry = scheduler.schedule(JOB).await.unwrap();
    assert_eq!((entry.failures, entry.retry_due), (0, None), "a success ends the series");

    // A manual run that fails leaves the schedule alone.
    failed_run(&scheduler, clock.clone(), operator()).await;
    assert_eq!(scheduler.schedule(JOB).await.unwrap().retry_due, None);
}

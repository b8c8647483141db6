//! One conformance suite for every job store: the embedded SQLite store and DynamoDB (against
//! moto, a real-protocol endpoint; `make test` starts one and sets `AWS_ENDPOINT_URL`).
//! Each guarantee is one async fn below; `for_each_store!` runs it on both stores.

use chrono::{DateTime, Duration, Utc};
use nzj_core::job::JobOrigin;
use nzj_core::{Clock, Interval, JobName, JobRecord, JobStatus, SkipReason, SystemJob, Trigger};
use nzj_runtime::{
    JobContext, JobFailure, Launcher, Registry, RuntimeError, SystemJobHandler, TriggerOutcome, run_claimed,
};
use nzj_store::{JobQuery, JobStore, StoreError, Write};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod support;

use support::{LEASE, claimed, clock, scheduled, scheduler, start};

for_each_store!(
    a_job_round_trips_and_each_write_bumps_its_version,
    a_stale_write_conflicts_and_nothing_of_its_commit_is_applied,
    listing_is_newest_first_filtered_and_pages_cover_every_job_once,
    concurrent_triggers_of_one_tick_claim_exactly_one_run,
    the_same_trigger_delivered_twice_is_a_no_op,
    a_run_that_stops_heartbeating_is_stalled_and_the_next_trigger_claims_the_job,
    heartbeats_keep_a_long_run_holding_its_job,
    after_a_long_downtime_the_next_trigger_makes_one_run_not_a_burst,
    an_interval_change_takes_effect_on_the_next_trigger_and_off_stops_the_job,
    a_run_records_its_result_and_log_and_a_timeout_fails_it,
    a_tick_triggers_only_implemented_jobs,
    the_zabbix_cache_round_trips_per_kind_with_versions,
    a_manual_run_is_refused_while_the_job_runs_and_keeps_the_schedule,
    maintenance_windows_round_trip_list_in_order_and_delete_only_at_their_version,
    settings_default_until_written_and_a_stale_write_is_refused,
    of_two_syncs_starting_at_once_one_takes_the_sync_run_and_the_other_conflicts,
);

fn new_job(name: JobName, at: DateTime<Utc>) -> JobRecord {
    let origin = JobOrigin { trigger: Trigger::Api, user: "tests".into(), object: None };
    JobRecord::new_running(name, origin, at, LEASE, Duration::days(30))
}

async fn jobs_named(store: &Arc<dyn JobStore>, name: JobName) -> Vec<JobRecord> {
    let query = JobQuery { name: Some(name), limit: JobQuery::MAX_LIMIT, ..Default::default() };
    store.list_jobs(&query).await.unwrap().jobs
}

async fn a_job_round_trips_and_each_write_bumps_its_version(store: Arc<dyn JobStore>) {
    let job = new_job(JobName::UpdateHost, start());
    store.commit(vec![Write::job(job.clone())]).await.unwrap();
    let mut read = store.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(read.version, 1);
    assert_eq!(JobRecord { version: 0, ..read.clone() }, job);

    read.complete(start(), json!({"message": "ok"})).unwrap();
    store.commit(vec![Write::job(read.clone())]).await.unwrap();
    let again = store.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(again.version, 2);
    assert_eq!(again.status, JobStatus::Completed);
    assert_eq!(again.result, Some(json!({"message": "ok"})));
    assert!(store.get_job(&new_job(JobName::UpdateHost, start()).id).await.unwrap().is_none());
}

async fn a_stale_write_conflicts_and_nothing_of_its_commit_is_applied(store: Arc<dyn JobStore>) {
    let job = new_job(JobName::CreateHost, start());
    store.commit(vec![Write::job(job.clone())]).await.unwrap();
    // Creating it again, or writing over version 0, is a conflict.
    assert!(matches!(store.commit(vec![Write::job(job.clone())]).await, Err(StoreError::Conflict)));

    let fresh = new_job(JobName::DeleteHost, start());
    let mut entry = nzj_core::ScheduleEntry::new(SystemJob::MaintenanceCleanup);
    entry.set_interval(Interval::Every(5), start(), "test");
    // A commit with good writes (new schedule entry, new job) and one stale write fails whole.
    let result =
        store.commit(vec![Write::schedule(entry.clone()), Write::job(fresh.clone()), Write::job(job.clone())]).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    assert!(store.get_job(&fresh.id).await.unwrap().is_none());
    assert!(store.get_schedule(SystemJob::MaintenanceCleanup).await.unwrap().is_none());

    store.commit(vec![Write::schedule(entry.clone())]).await.unwrap();
    let stored = store.get_schedule(SystemJob::MaintenanceCleanup).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.interval, Interval::Every(5));
    assert!(matches!(store.commit(vec![Write::schedule(entry)]).await, Err(StoreError::Conflict)));
}

async fn listing_is_newest_first_filtered_and_pages_cover_every_job_once(store: Arc<dyn JobStore>) {
    let names = [JobName::CreateHost, JobName::UpdateHost, JobName::ImportZabbixSettings];
    let mut all = Vec::new();
    for i in 0..30 {
        let mut job = new_job(names[i % 3], start() + Duration::milliseconds(i as i64 * 10));
        if i % 4 == 0 {
            job.fail(start(), "boom").unwrap();
        }
        all.push(job.clone());
        store.commit(vec![Write::job(job)]).await.unwrap();
    }
    all.sort_by(|a, b| b.id.cmp(&a.id));

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_jobs(&JobQuery { before, limit: 7, ..Default::default() }).await.unwrap();
        assert!(page.jobs.len() <= 7);
        seen.extend(page.jobs.iter().map(|j| j.id.clone()));
        match page.next_cursor {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, all.iter().map(|j| j.id.clone()).collect::<Vec<_>>());

    let failed_updates = store
        .list_jobs(&JobQuery {
            name: Some(JobName::UpdateHost),
            status: Some(JobStatus::Failed),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|j| j.name == JobName::UpdateHost && j.status == JobStatus::Failed)
        .map(|j| j.id.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(failed_updates.jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), expected);
    assert_eq!(failed_updates.next_cursor, None);

    let running = store
        .list_jobs(&JobQuery { status: Some(JobStatus::Running), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(running.jobs.len(), all.iter().filter(|j| j.status == JobStatus::Running).count());
    assert!(running.jobs.iter().all(|j| j.status == JobStatus::Running));
}

async fn concurrent_triggers_of_one_tick_claim_exactly_one_run(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let triggers: Vec<_> = (0..64)
        .map(|_| {
            let scheduler = scheduler.clone();
            tokio::spawn(async move { scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await })
        })
        .collect();
    let mut claims = 0;
    for trigger in triggers {
        match trigger.await.unwrap() {
            Ok(TriggerOutcome::Claimed(_)) => claims += 1,
            Ok(TriggerOutcome::Skipped(SkipReason::Running { .. })) => {}
            other => panic!("a concurrent trigger must claim or be a no-op, got {other:?}"),
        }
    }
    assert_eq!(claims, 1);
    let runs = jobs_named(&store, JobName::ImportZabbixSettings).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, JobStatus::Running);
    let entry = store.get_schedule(SystemJob::ImportZabbixSettings).await.unwrap().unwrap();
    assert_eq!(entry.current_run.as_ref(), Some(&runs[0].id));
}

async fn the_same_trigger_delivered_twice_is_a_no_op(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let run = claimed(scheduler.trigger(SystemJob::MaintenanceCleanup, scheduled()).await.unwrap());
    let again = scheduler.trigger(SystemJob::MaintenanceCleanup, scheduled()).await.unwrap();
    assert!(matches!(again, TriggerOutcome::Skipped(SkipReason::Running { ref job }) if *job == run.record.id));

    scheduler.finish(&run, Ok(json!({"deleted": 0})), &Default::default()).await.unwrap();
    // The same tick redelivered after the run finished (an async Lambda retry): not due.
    clock.advance(Duration::seconds(5));
    let late = scheduler.trigger(SystemJob::MaintenanceCleanup, scheduled()).await.unwrap();
    assert!(matches!(late, TriggerOutcome::Skipped(SkipReason::NotDue { .. })), "{late:?}");
    assert_eq!(jobs_named(&store, JobName::MaintenanceCleanup).await.len(), 1);
}

async fn a_run_that_stops_heartbeating_is_stalled_and_the_next_trigger_claims_the_job(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let mut dead = claimed(scheduler.trigger(SystemJob::HostConfigSyncRefresh, scheduled()).await.unwrap());

    clock.advance(LEASE - Duration::seconds(1));
    let early = scheduler.trigger(SystemJob::HostConfigSyncRefresh, scheduled()).await.unwrap();
    assert!(matches!(early, TriggerOutcome::Skipped(SkipReason::Running { .. })));

    clock.advance(Duration::seconds(1));
    let retry = claimed(scheduler.trigger(SystemJob::HostConfigSyncRefresh, scheduled()).await.unwrap());
    assert_ne!(retry.record.id, dead.record.id);
    assert_eq!(retry.record.trigger, Trigger::Retry);
    assert_eq!(retry.record.attempt, 2);

    let stalled = store.get_job(&dead.record.id).await.unwrap().unwrap();
    assert_eq!(stalled.status, JobStatus::Stalled);
    assert!(stalled.error.unwrap().contains("lease expired"));

    // The old holder wakes up: it may neither heartbeat nor record a result.
    assert!(matches!(scheduler.heartbeat(&mut dead).await, Err(RuntimeError::LeaseLost(_))));
    let late = scheduler.finish(&dead, Ok(json!({})), &Default::default()).await;
    assert!(matches!(late, Err(RuntimeError::LeaseLost(_))));
    assert_eq!(store.get_job(&dead.record.id).await.unwrap().unwrap().status, JobStatus::Stalled);

    let done = scheduler.finish(&retry, Ok(json!({"total": 0})), &Default::default()).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    let stalled_jobs =
        store.list_jobs(&JobQuery { status: Some(JobStatus::Stalled), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(stalled_jobs.jobs.len(), 1, "stalled jobs stay visible");
}

async fn heartbeats_keep_a_long_run_holding_its_job(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let mut run = claimed(scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await.unwrap());
    for _ in 0..5 {
        clock.advance(LEASE / 2);
        scheduler.heartbeat(&mut run).await.unwrap();
        let other = scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await.unwrap();
        assert!(matches!(other, TriggerOutcome::Skipped(SkipReason::Running { .. })), "{other:?}");
    }
    let done = scheduler.finish(&run, Ok(json!({})), &Default::default()).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.attempt, 1);
}

async fn after_a_long_downtime_the_next_trigger_makes_one_run_not_a_burst(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    scheduler.set_interval(SystemJob::MaintenanceCleanup, Interval::Every(5), "test").await.unwrap();
    let first = claimed(scheduler.trigger(SystemJob::MaintenanceCleanup, scheduled()).await.unwrap());
    scheduler.finish(&first, Ok(json!({})), &Default::default()).await.unwrap();

    clock.advance(Duration::minutes(5 * 200));
    let mut claims = 0;
    for _ in 0..20 {
        if let TriggerOutcome::Claimed(run) =
            scheduler.trigger(SystemJob::MaintenanceCleanup, scheduled()).await.unwrap()
        {
            claims += 1;
            scheduler.finish(&run, Ok(json!({})), &Default::default()).await.unwrap();
        }
        clock.advance(Duration::seconds(10));
    }
    assert_eq!(claims, 1, "one catch-up run after downtime");
    let entry = scheduler.schedule(SystemJob::MaintenanceCleanup).await.unwrap();
    // Claimed 20 steps of 10 s ago; the next run is one interval after that claim.
    assert_eq!(entry.next_due, Some(clock.now() - Duration::seconds(200) + Duration::minutes(5)));
}

async fn an_interval_change_takes_effect_on_the_next_trigger_and_off_stops_the_job(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let run = claimed(scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await.unwrap());
    scheduler.finish(&run, Ok(json!({})), &Default::default()).await.unwrap();
    clock.advance(Duration::minutes(20));
    // Daily by default: not due after 20 minutes.
    assert!(matches!(
        scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await.unwrap(),
        TriggerOutcome::Skipped(SkipReason::NotDue { .. })
    ));
    scheduler.set_interval(SystemJob::ImportZabbixSettings, Interval::Every(15), "test").await.unwrap();
    let run = claimed(scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await.unwrap());
    assert_eq!(run.record.interval, Some(Interval::Every(15)));
    scheduler.finish(&run, Ok(json!({})), &Default::default()).await.unwrap();

    scheduler.set_interval(SystemJob::ImportZabbixSettings, Interval::Off, "test").await.unwrap();
    for _ in 0..3 {
        clock.advance(Duration::days(2));
        assert!(matches!(
            scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await.unwrap(),
            TriggerOutcome::Skipped(SkipReason::Off)
        ));
    }
    assert_eq!(jobs_named(&store, JobName::ImportZabbixSettings).await.len(), 2);
}

struct Counting {
    runs: AtomicUsize,
}

#[async_trait::async_trait]
impl SystemJobHandler for Counting {
    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobFailure> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        ctx.log(nzj_core::LogLevel::Info, format!("run number {n}"));
        Ok(json!({"added": n}))
    }
}

struct Hangs;

#[async_trait::async_trait]
impl SystemJobHandler for Hangs {
    async fn run(&self, _ctx: &JobContext) -> Result<serde_json::Value, JobFailure> {
        std::future::pending().await
    }
}

async fn a_run_records_its_result_and_log_and_a_timeout_fails_it(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let handler = Counting { runs: AtomicUsize::new(0) };
    let run = claimed(scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await.unwrap());
    let timeout = std::time::Duration::from_secs(30);
    let done = run_claimed(&scheduler, dyn_clock.clone(), &handler, run, timeout).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.result, Some(json!({"added": 1})));
    let stored = store.get_job(&done.id).await.unwrap().unwrap();
    assert!(stored.log.entries.iter().any(|l| l.message == "run number 1"));

    let run = claimed(scheduler.trigger(SystemJob::MaintenanceCleanup, scheduled()).await.unwrap());
    let short = std::time::Duration::from_millis(50);
    let failed = run_claimed(&scheduler, dyn_clock, &Hangs, run, short).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.error.as_deref().unwrap().contains("timeout"), "{:?}", failed.error);
    let entry = scheduler.schedule(SystemJob::MaintenanceCleanup).await.unwrap();
    assert_eq!(entry.current_run, None, "a timed-out run releases its job");
}

async fn a_tick_triggers_only_implemented_jobs(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let timeout = std::time::Duration::from_secs(30);
    let launcher =
        |registry: Registry| Launcher { scheduler: scheduler.clone(), clock: dyn_clock.clone(), registry, timeout };
    assert!(launcher(Registry::default()).tick().await.is_empty());
    assert!(store.list_jobs(&JobQuery { limit: 10, ..Default::default() }).await.unwrap().jobs.is_empty());

    let counting = Arc::new(Counting { runs: AtomicUsize::new(0) });
    let registry = Registry::default().with(SystemJob::MaintenanceCleanup, counting.clone());
    let outcomes = launcher(registry).tick().await;
    assert_eq!(outcomes.len(), 1);
    assert!(matches!(outcomes[0], (SystemJob::MaintenanceCleanup, Ok(TriggerOutcome::Claimed(_)))));
    for _ in 0..200 {
        if jobs_named(&store, JobName::MaintenanceCleanup).await[0].status == JobStatus::Completed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let runs = jobs_named(&store, JobName::MaintenanceCleanup).await;
    assert_eq!(runs[0].status, JobStatus::Completed);
    assert_eq!(counting.runs.load(Ordering::SeqCst), 1);
    assert!(jobs_named(&store, JobName::ImportZabbixSettings).await.is_empty());
}

async fn the_zabbix_cache_round_trips_per_kind_with_versions(store: Arc<dyn JobStore>) {
    use nzj_core::zabbix_cache::{CacheKind, CachedObject};
    let empty = store.get_cache(CacheKind::Templates).await.unwrap();
    assert_eq!((empty.objects.len(), empty.version), (0, 0));

    let mut templates = empty.clone();
    templates.objects = (0..300)
        .map(|i| CachedObject {
            id: format!("{}", 10_000 + i),
            name: format!("Template {i}"),
            attributes: [("parents".to_string(), json!([format!("{}", 10_000 + i / 2)]))].into(),
        })
        .collect();
    let mut groups = store.get_cache(CacheKind::HostGroups).await.unwrap();
    groups.objects =
        vec![CachedObject { id: "2".into(), name: "Linux servers".into(), attributes: Default::default() }];
    store.commit(vec![Write::cache(templates.clone()), Write::cache(groups)]).await.unwrap();

    let read = store.get_cache(CacheKind::Templates).await.unwrap();
    assert_eq!(read.version, 1);
    assert_eq!(read.objects, templates.objects);
    assert_eq!(store.get_cache(CacheKind::HostGroups).await.unwrap().objects.len(), 1);
    assert!(store.get_cache(CacheKind::Proxies).await.unwrap().objects.is_empty());
    // A second writer that read version 0 loses.
    assert!(matches!(store.commit(vec![Write::cache(templates)]).await, Err(StoreError::Conflict)));
}

async fn a_manual_run_is_refused_while_the_job_runs_and_keeps_the_schedule(store: Arc<dyn JobStore>) {
    let clock = clock();
    let scheduler = scheduler(&store, &clock);
    let api = JobOrigin { trigger: Trigger::Api, user: "api".into(), object: None };
    let scheduled_run = claimed(scheduler.trigger(SystemJob::ImportZabbixSettings, scheduled()).await.unwrap());
    let next_due = scheduler.schedule(SystemJob::ImportZabbixSettings).await.unwrap().next_due;

    let refused = scheduler.run_now(SystemJob::ImportZabbixSettings, api.clone()).await.unwrap();
    assert!(
        matches!(refused, TriggerOutcome::Skipped(SkipReason::Running { ref job }) if *job == scheduled_run.record.id)
    );
    scheduler.finish(&scheduled_run, Ok(json!({})), &Default::default()).await.unwrap();

    // Not due, and off: a manual run goes ahead all the same, once.
    scheduler.set_interval(SystemJob::ImportZabbixSettings, Interval::Off, "test").await.unwrap();
    let manual = claimed(scheduler.run_now(SystemJob::ImportZabbixSettings, api.clone()).await.unwrap());
    assert_eq!(manual.record.trigger, Trigger::Api);
    assert!(matches!(
        scheduler.run_now(SystemJob::ImportZabbixSettings, api).await.unwrap(),
        TriggerOutcome::Skipped(SkipReason::Running { .. })
    ));
    scheduler.finish(&manual, Ok(json!({})), &Default::default()).await.unwrap();
    assert_eq!(scheduler.schedule(SystemJob::ImportZabbixSettings).await.unwrap().next_due, next_due);
}

async fn maintenance_windows_round_trip_list_in_order_and_delete_only_at_their_version(store: Arc<dyn JobStore>) {
    use nzj_core::maintenance::{Maintenance, MaintenanceRequest, MaintenanceTargets};
    let window = |i: i64| {
        let request = MaintenanceRequest {
            name: format!("window {i}"),
            description: String::new(),
            active_since: start(),
            active_till: start() + Duration::hours(1),
            targets: MaintenanceTargets { sites: vec!["ams1".into()], ..Default::default() },
        };
        Maintenance::new(request, start() + Duration::milliseconds(i))
    };
    let (first, second) = (window(1), window(2));
    store.commit(vec![Write::maintenance(second.clone()), Write::maintenance(first.clone())]).await.unwrap();
    let listed = store.list_maintenances().await.unwrap();
    assert_eq!(listed.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["window 1", "window 2"]);
    let mut read = store.get_maintenance(&first.id).await.unwrap().unwrap();
    assert_eq!(read.version, 1);
    read.zabbix_id = Some("42".into());
    store.commit(vec![Write::maintenance(read.clone())]).await.unwrap();
    assert_eq!(store.get_maintenance(&first.id).await.unwrap().unwrap().zabbix_id.as_deref(), Some("42"));

    let stale = Write::DeleteMaintenance { id: first.id.clone(), expected_version: 1 };
    assert!(matches!(store.commit(vec![stale]).await, Err(StoreError::Conflict)));
    store.commit(vec![Write::DeleteMaintenance { id: first.id.clone(), expected_version: 2 }]).await.unwrap();
    assert!(store.get_maintenance(&first.id).await.unwrap().is_none());
    let gone = Write::DeleteMaintenance { id: first.id.clone(), expected_version: 2 };
    assert!(matches!(store.commit(vec![gone]).await, Err(StoreError::Conflict)), "deleting twice conflicts");
    assert_eq!(store.list_maintenances().await.unwrap().len(), 1);
}

async fn settings_default_until_written_and_a_stale_write_is_refused(store: Arc<dyn JobStore>) {
    use nzj_core::settings::{DeletePolicy, Settings};
    let read = store.get_settings().await.unwrap();
    assert_eq!(read, Settings::default());
    let mut mine = read.clone();
    mine.delete_policy = DeletePolicy::Hard;
    store.commit(vec![Write::settings(mine)]).await.unwrap();
    let stored = store.get_settings().await.unwrap();
    assert_eq!((stored.version, stored.delete_policy), (1, DeletePolicy::Hard));
    // Someone else's write based on the same (now stale) read loses.
    let mut theirs = read;
    theirs.max_deletions = 1;
    assert!(matches!(store.commit(vec![Write::settings(theirs)]).await, Err(StoreError::Conflict)));
    assert_eq!(store.get_settings().await.unwrap().max_deletions, Settings::default().max_deletions);
}

async fn of_two_syncs_starting_at_once_one_takes_the_sync_run_and_the_other_conflicts(store: Arc<dyn JobStore>) {
    use nzj_core::sync::SyncRun;
    assert_eq!(store.get_sync_run().await.unwrap(), None);
    let at = start();
    let (a, b) = (new_job(JobName::SyncHostsNow, at), new_job(JobName::SyncHostsNow, at));
    let starts = [a.clone(), b.clone()].map(|job| {
        let store = store.clone();
        tokio::spawn(async move {
            let run = SyncRun::new(job.id.clone(), at + LEASE);
            store.commit(vec![Write::job(job), Write::sync_run(run)]).await
        })
    });
    let mut won = Vec::new();
    for (start, job) in starts.into_iter().zip([&a, &b]) {
        match start.await.unwrap() {
            Ok(()) => won.push(job.id.clone()),
            Err(StoreError::Conflict) => {
                assert_eq!(store.get_job(&job.id).await.unwrap(), None, "the loser recorded nothing")
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won.len(), 1);
    let run = store.get_sync_run().await.unwrap().unwrap();
    assert_eq!((run.job_id.clone(), run.version), (won[0].clone(), 1));
}

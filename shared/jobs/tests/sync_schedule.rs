//! SyncHostsNow on a schedule, against real Zabbix 6.0 and 7.0: off by default; turned on, it is
//! due at once and eight ticks at the same moment start one sync; a tick while that sync runs is
//! skipped (the next turn an interval later, not a burst after it); the sync it started runs to the
//! end, and the schedule names it as its last run.

mod support;

use nzj_core::settings::Settings;
use nzj_core::sync_schedule::SyncSchedule;
use nzj_core::{Interval, JobStatus, Trigger};
use nzj_jobs::SyncStep;
use nzj_queue::{JobQueue, SqliteQueue};
use nzj_store::Write;
use std::time::Duration;
use support::Peer;
use support::sync::Sync;

for_each_zabbix!(a_scheduled_sync_starts_once_per_turn_and_skips_while_one_runs);

/// The same on DynamoDB (moto), whose conditional writes make the single start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_a_scheduled_sync_starts_once_per_turn_and_skips_while_one_runs() {
    let config = support::aws::moto().await;
    let name = format!("nzj-syncsched-{}", uuid::Uuid::now_v7().simple());
    let store: std::sync::Arc<dyn nzj_store::JobStore> = std::sync::Arc::new(support::aws::table(&config, &name).await);
    let env = support::Env::on(store, tempfile::tempdir().unwrap());
    let peer = support::peer("ZBX70", "7.0");
    let s = Sync::on(env, &peer, 3, 1000, Settings::default()).await;
    scheduled_sync_starts_once_per_turn(&peer, s).await;
}

async fn a_scheduled_sync_starts_once_per_turn_and_skips_while_one_runs(peer: Peer) {
    let s = Sync::new(&peer, 3, 1000, Settings::default()).await;
    scheduled_sync_starts_once_per_turn(&peer, s).await;
}

async fn scheduled_sync_starts_once_per_turn(peer: &Peer, s: Sync) {
    let dir = tempfile::tempdir().unwrap();
    let queue: SqliteQueue<SyncStep> =
        SqliteQueue::open(&dir.path().join("bulk.sqlite3"), Duration::from_secs(60), 3).unwrap();
    let store = &s.env.store;
    assert_eq!(s.sync.launch_scheduled(&queue).await.unwrap(), None, "off by default");

    let mut schedule = store.get_sync_schedule().await.unwrap();
    schedule.set_interval(Interval::Every(1), nzj_core::Clock::now(s.clock.as_ref()), "alice");
    store.commit(vec![Write::sync_schedule(schedule)]).await.unwrap();
    let ticks = (0..8).map(|_| s.sync.launch_scheduled(&queue));
    let started: Vec<_> = futures_util::future::join_all(ticks).await.into_iter().map(Result::unwrap).collect();
    let started: Vec<_> = started.into_iter().flatten().collect();
    assert_eq!(started.len(), 1, "eight ticks at once start one sync: {started:?}");
    let sync = &started[0];
    assert_eq!((sync.trigger, sync.user.as_str(), sync.status), (Trigger::Schedule, "scheduler", JobStatus::Pending));
    let schedule: SyncSchedule = store.get_sync_schedule().await.unwrap();
    assert_eq!(schedule.last_run.as_ref(), Some(&sync.id));
    assert_eq!(schedule.next_due, Some(nzj_core::Clock::now(s.clock.as_ref()) + chrono::Duration::minutes(1)));

    // A minute later the first sync still runs (its step waits, its lease of 5 minutes holds):
    // the turn is skipped.
    s.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(s.sync.launch_scheduled(&queue).await.unwrap(), None);
    let skipped = store.get_sync_schedule().await.unwrap();
    assert_eq!(
        skipped.next_due,
        Some(nzj_core::Clock::now(s.clock.as_ref()) + chrono::Duration::minutes(1)),
        "an interval from the skip"
    );
    assert_eq!(skipped.last_run.as_ref(), Some(&sync.id));

    // The sync runs to the end from its queued step; the next turn starts the next one.
    let steps = queue.receive(10).await.unwrap();
    assert_eq!(steps.len(), 1, "one sync, one first step");
    s.sync.run_to_end(steps[0].job.clone()).await.unwrap();
    let done = store.get_job(&sync.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    assert_eq!(s.sync.launch_scheduled(&queue).await.unwrap(), None, "not due yet");
    s.clock.advance(chrono::Duration::minutes(1));
    let next = s.sync.launch_scheduled(&queue).await.unwrap().expect("the next turn starts a sync");
    assert_ne!(next.id, sync.id);

    let ids: Vec<serde_json::Value> = s.hosts().await.values().flatten().map(|h| h["hostid"].clone()).collect();
    support::setup_call(&peer.client(), "host.delete", serde_json::json!(ids)).await;
}

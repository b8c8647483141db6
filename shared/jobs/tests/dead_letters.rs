//! Dead letters (`nzj dlq`), against real Zabbix 6.0 and 7.0, on the embedded store and queue and
//! on DynamoDB and SQS (moto): a host job that gave up while Zabbix was unreachable is listed with
//! its job and error; redriven, its job runs again as a retry linked to it and converges; a
//! redrive interrupted after the retry started (the crash between retry and removal) only removes
//! the letter the second time, starting no second job; purge drops a letter and runs nothing. A
//! dead sync step, redriven, retries the sync, which runs to the end.

mod support;

use nzj_core::job::JobOrigin;
use nzj_core::netbox::{ObjectKind, ObjectRef};
use nzj_core::retry::RetryPolicy;
use nzj_core::{JobId, JobName, JobRecord, JobStatus, SystemJob, Trigger};
use nzj_jobs::{
    DeadLetters, HostConverger, HostJobs, HostWorker, ImportZabbixSettings, RedriveOutcome, SyncHostsNow, SyncStep,
    SyncWorker,
};
use nzj_netbox::NetboxInMemory;
use nzj_queue::{JobQueue, QueuedJob, SqliteQueue};
use nzj_store::{JobQuery, JobStore, SqliteStore};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{CutProxy, Env, Peer, setup_call};

const ATTEMPTS: u32 = 2;

macro_rules! for_each_zabbix_and_pair {
    ($($name:ident),+ $(,)?) => {
        mod embedded_zabbix60 { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::support::peer("ZBX60", "6.0"), super::embedded().await).await } )+ }
        mod embedded_zabbix70 { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::support::peer("ZBX70", "7.0"), super::embedded().await).await } )+ }
        mod dynamodb_sqs_zabbix70 { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::support::peer("ZBX70", "7.0"), super::aws().await).await } )+ }
    };
}

for_each_zabbix_and_pair!(
    a_dead_lettered_host_job_redriven_converges_and_a_second_redrive_starts_nothing,
    a_dead_lettered_sync_step_redriven_retries_the_sync_to_the_end,
);

/// A store, and host and bulk queues that give up after [`ATTEMPTS`] receives.
struct Pair {
    env: Env,
    queue: Arc<dyn JobQueue>,
    bulk: Arc<dyn JobQueue<SyncStep>>,
}

async fn embedded() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite3"), Duration::from_secs(1), ATTEMPTS).unwrap();
    let bulk = SqliteQueue::open(&dir.path().join("b.sqlite3"), Duration::from_secs(5), ATTEMPTS).unwrap();
    let store: Arc<dyn JobStore> = Arc::new(SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap());
    Pair { env: Env::on(store, dir), queue: Arc::new(queue), bulk: Arc::new(bulk) }
}

async fn aws() -> Pair {
    let config = support::aws::moto().await;
    let name = format!("nzj-dlq-{}", uuid::Uuid::now_v7().simple());
    let store: Arc<dyn JobStore> = Arc::new(support::aws::table(&config, &name).await);
    let queue = support::aws::queue::<QueuedJob>(&config, &name, Duration::from_secs(2), ATTEMPTS).await;
    let bulk =
        support::aws::queue::<SyncStep>(&config, &format!("{name}-bulk"), Duration::from_secs(5), ATTEMPTS).await;
    Pair { env: Env::on(store, tempfile::tempdir().unwrap()), queue: Arc::new(queue), bulk: Arc::new(bulk) }
}

fn operator() -> JobOrigin {
    JobOrigin { trigger: Trigger::Cli, user: "otto".into(), object: None }
}

async fn a_dead_lettered_host_job_redriven_converges_and_a_second_redrive_starts_nothing(peer: Peer, pair: Pair) {
    let Pair { env, queue, .. } = pair;
    let store = env.store.clone();
    let import = ImportZabbixSettings::new(peer.client(), store.clone(), 100_000);
    assert_eq!(env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
    let proxy = CutProxy::start(&peer.url).await;
    proxy.allow(0);
    let converger = HostConverger::new(support::client_at(&proxy.url, &peer.token), store.clone());
    let jobs = HostJobs::new(converger, env.clock.clone(), chrono::Duration::seconds(1), chrono::Duration::days(1));
    let (a, data_a) = support::device("nzj-dlq");
    let (b, data_b) = support::device("nzj-dlq");
    let name = data_a["name"].as_str().unwrap().to_string();
    let netbox = NetboxInMemory::new(ObjectKind::Device, [data_a, data_b]);
    let retry = RetryPolicy { max_attempts: ATTEMPTS, backoff: Duration::ZERO, max_backoff: Duration::ZERO };
    let worker = HostWorker::new(jobs, Some(Arc::new(netbox)), queue.clone(), retry);
    let letters = DeadLetters {
        store: store.clone(),
        clock: env.clock.clone(),
        retention: chrono::Duration::days(1),
        host: Some(queue.clone()),
        bulk: None,
    };

    // Zabbix unreachable: both jobs give up, and their messages are dead letters.
    let job_a = enqueue(store.as_ref(), queue.as_ref(), a).await;
    let job_b = enqueue(store.as_ref(), queue.as_ref(), b).await;
    for job in [&job_a, &job_b] {
        assert_eq!(until_settled(&worker, store.as_ref(), job).await.status, JobStatus::Failed);
    }
    let listed = until_listed(&letters, 2).await;
    let entry_a = listed.iter().find(|e| e.job_id.as_ref() == Some(&job_a)).expect("a's dead letter").clone();
    assert_eq!((entry_a.name, entry_a.object.as_deref()), (Some(JobName::CreateHost), Some(a.to_string().as_str())));
    assert_eq!(entry_a.status, Some(JobStatus::Failed));
    assert!(entry_a.error.as_deref().is_some_and(|e| e.contains("dead-letter queue")), "{entry_a:?}");
    assert!(entry_a.id.starts_with("host:") && entry_a.failed_at.is_some(), "{entry_a:?}");
    let entry_b = listed.iter().find(|e| e.job_id.as_ref() == Some(&job_b)).unwrap().clone();
    let (shown, message) = letters.show(&entry_a.id).await.unwrap().expect("shown by its id");
    assert_eq!((shown.id, message["job_id"].as_str()), (entry_a.id.clone(), Some(job_a.to_string().as_str())));

    // Zabbix is back: a's letter is redriven, its job retried through the normal path.
    proxy.allow_all();
    let results = letters.redrive(Some(std::slice::from_ref(&entry_a.id)), &operator()).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].outcome, RedriveOutcome::Redriven, "{results:?}");
    let retry_id = results[0].job.clone().unwrap();
    let retried = until_settled(&worker, store.as_ref(), &retry_id).await;
    assert_eq!(retried.status, JobStatus::Completed, "{:?}", retried.error);
    assert_eq!((retried.retry_of.as_ref(), retried.user.as_str()), (Some(&job_a), "otto"));
    let failed = store.get_job(&job_a).await.unwrap().unwrap();
    assert_eq!(failed.retried_by.as_ref(), Some(&retry_id), "both records link");
    let found =
        peer.client().call("host.get", json!({"output": ["hostid"], "filter": {"host": [&name]}})).await.unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "the redriven job created the host");
    let left = letters.list().await.unwrap();
    let left: Vec<&str> = left.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(left, [entry_b.id.as_str()], "a's letter is gone");
    let again = letters.redrive(Some(std::slice::from_ref(&entry_a.id)), &operator()).await.unwrap();
    assert_eq!(again[0].outcome, RedriveOutcome::Kept, "a letter redriven already is not there: {again:?}");

    // A redrive that died after retrying b's job and before removing its letter: the next
    // redrive finds the retry, starts nothing, and removes the letter.
    let failed_b = store.get_job(&job_b).await.unwrap().unwrap();
    let now = chrono::Utc::now();
    let retry_b =
        nzj_jobs::retry_host_job(store.as_ref(), queue.as_ref(), failed_b, operator(), now, chrono::Duration::days(1))
            .await
            .unwrap();
    let results = letters.redrive(None, &operator()).await.unwrap();
    assert_eq!((results.len(), results[0].outcome.clone()), (1, RedriveOutcome::Superseded), "{results:?}");
    assert_eq!(results[0].job.as_ref(), Some(&retry_b.id));
    assert!(letters.list().await.unwrap().is_empty());
    let query = JobQuery { object: Some(b.to_string()), limit: 10, ..Default::default() };
    assert_eq!(store.list_jobs(&query).await.unwrap().jobs.len(), 2, "b's failed job and one retry, no more");
    until_settled(&worker, store.as_ref(), &retry_b.id).await;

    // Purged: the letter is gone and nothing runs.
    proxy.allow(0);
    let job_c = enqueue(store.as_ref(), queue.as_ref(), a).await;
    until_settled(&worker, store.as_ref(), &job_c).await;
    let listed = until_listed(&letters, 1).await;
    assert_eq!(letters.purge(Some(&[listed[0].id.clone()])).await.unwrap(), 1);
    assert!(letters.list().await.unwrap().is_empty());
    assert!(queue.receive(10).await.unwrap().is_empty(), "a purge runs nothing");
    assert!(letters.redrive(Some(&["queue:1".into()]), &operator()).await.is_err(), "an id of no queue");

    proxy.allow_all();
    let hosts = peer
        .client()
        .call("host.get", json!({"output": ["hostid"], "search": {"host": "nzj-dlq"}, "startSearch": true}))
        .await
        .unwrap();
    let ids: Vec<&serde_json::Value> = hosts.as_array().unwrap().iter().map(|h| &h["hostid"]).collect();
    if !ids.is_empty() {
        setup_call(&peer.client(), "host.delete", json!(ids)).await;
    }
}

async fn enqueue(store: &dyn JobStore, queue: &dyn JobQueue, object: ObjectRef) -> JobId {
    let now = chrono::Utc::now();
    let job = QueuedJob { job_id: JobId::new_at(now), name: JobName::CreateHost, object, data: None };
    let webhook = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: None };
    let days = chrono::Duration::days(1);
    nzj_jobs::enqueue_host_job(store, queue, job, webhook, now, days, Vec::new()).await.unwrap().id
}

async fn until_settled(worker: &HostWorker, store: &dyn JobStore, id: &JobId) -> JobRecord {
    for _ in 0..60 {
        let record = store.get_job(id).await.unwrap().unwrap();
        if record.status.is_final() {
            return record;
        }
        worker.poll_once(10).await.unwrap();
    }
    panic!("job {id} did not settle");
}

/// The dead letters once there are `n` (SQS moves a message to its dead-letter queue at the
/// receive after its last, so the queues are received from meanwhile: they hand out nothing).
async fn until_listed(letters: &DeadLetters, n: usize) -> Vec<nzj_jobs::DeadLetterEntry> {
    for _ in 0..20 {
        let listed = letters.list().await.unwrap();
        if listed.len() >= n {
            assert_eq!(listed.len(), n, "{listed:?}");
            return listed;
        }
        if let Some(queue) = &letters.host {
            assert!(queue.receive(10).await.unwrap().is_empty(), "a dead job's message is not handed out");
        }
        if let Some((_, queue)) = &letters.bulk {
            assert!(queue.receive(10).await.unwrap().is_empty(), "a dead sync's step is not handed out");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{n} dead letters never showed");
}

/// A sync whose step gave up while Zabbix was unreachable: its dead letter, redriven, starts the
/// sync's retry (linked to it), which runs to the end on the bulk queue.
async fn a_dead_lettered_sync_step_redriven_retries_the_sync_to_the_end(peer: Peer, pair: Pair) {
    let Pair { env, bulk, .. } = pair;
    let store = env.store.clone();
    let import = ImportZabbixSettings::new(peer.client(), store.clone(), 100_000);
    assert_eq!(env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
    let proxy = CutProxy::start(&peer.url).await;
    proxy.allow(0);
    let inventory = Arc::new(support::sync::devices(3));
    let sync = Arc::new(SyncHostsNow::new(
        HostConverger::new(support::client_at(&proxy.url, &peer.token), store.clone()),
        inventory.clone(),
        env.clock.clone(),
        chrono::Duration::minutes(5),
        chrono::Duration::days(1),
    ));
    let retry = RetryPolicy { max_attempts: ATTEMPTS, backoff: Duration::ZERO, max_backoff: Duration::ZERO };
    let worker = SyncWorker::new(sync.clone(), bulk.clone(), retry);
    let letters = DeadLetters {
        store: store.clone(),
        clock: env.clock.clone(),
        retention: chrono::Duration::days(1),
        host: None,
        bulk: Some((sync.clone(), bulk.clone())),
    };

    let first = sync.launch(bulk.as_ref(), operator()).await.unwrap();
    let failed = until_sync_settled(&worker, store.as_ref(), &first.id).await;
    assert_eq!(failed.status, JobStatus::Failed, "{:?}", failed.error);
    let listed = until_listed(&letters, 1).await;
    assert_eq!((listed[0].name, listed[0].job_id.as_ref()), (Some(JobName::SyncHostsNow), Some(&first.id)));
    assert!(listed[0].id.starts_with("bulk:"), "{listed:?}");

    proxy.allow_all();
    let results = letters.redrive(None, &operator()).await.unwrap();
    assert_eq!(results[0].outcome, RedriveOutcome::Redriven, "{results:?}");
    let again = results[0].job.clone().unwrap();
    let done = until_sync_settled(&worker, store.as_ref(), &again).await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    assert_eq!(done.retry_of.as_ref(), Some(&first.id));
    assert_eq!(store.get_job(&first.id).await.unwrap().unwrap().retried_by, Some(again));
    assert!(letters.list().await.unwrap().is_empty());

    let names: Vec<String> =
        inventory.0.lock().unwrap().values().map(|d| d["name"].as_str().unwrap().to_string()).collect();
    let ours = peer.client().call("host.get", json!({"output": ["hostid"], "filter": {"host": names}})).await.unwrap();
    assert_eq!(ours.as_array().unwrap().len(), 3, "the retried sync created every host");
    let ids: Vec<&serde_json::Value> = ours.as_array().unwrap().iter().map(|h| &h["hostid"]).collect();
    setup_call(&peer.client(), "host.delete", json!(ids)).await;
}

async fn until_sync_settled(worker: &SyncWorker, store: &dyn JobStore, id: &JobId) -> JobRecord {
    for _ in 0..60 {
        let record = store.get_job(id).await.unwrap().unwrap();
        if record.status.is_final() {
            return record;
        }
        worker.poll_once().await.unwrap();
    }
    panic!("sync {id} did not settle");
}

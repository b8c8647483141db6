//! The deletion breaker (docs/product.md §4): one window for every deleting path, kept right by
//! conditional writes. On both stores (SQLite, and DynamoDB on moto), 32 workers at once never
//! admit more than the limit; on real Zabbix 6.0 and 7.0, a burst of 200 deletions through the
//! worker deletes 50 and holds 150, none lost: released ones run, discarded ones keep their host.

mod support;

use chrono::Utc;
use nzj_core::desired::{CacheView, Desired, desired_host};
use nzj_core::job::JobOrigin;
use nzj_core::netbox::{NetboxObject, ObjectKind, ObjectRef};
use nzj_core::retry::RetryPolicy;
use nzj_core::settings::Settings;
use nzj_core::zabbix_cache::CacheKind;
use nzj_core::{JobId, JobName, JobRecord, JobStatus, SystemJob, Trigger};
use nzj_jobs::deletions::{Selection, held};
use nzj_jobs::hosts::admit_deletions;
use nzj_jobs::{HeldDeletions, HostConverger, HostJobs, HostWorker, ImportZabbixSettings, enqueue_host_job};
use nzj_queue::{JobQueue, QueuedJob, SqliteQueue};
use nzj_store::{DynamoDbStore, JobQuery, JobStore, SqliteStore, Write};
use serde_json::{Value, json};
use std::sync::Arc;
use support::{Env, Peer, setup_call};

for_each_zabbix!(a_burst_of_200_deletions_deletes_50_holds_the_rest_and_none_is_lost);

macro_rules! for_each_store {
    ($($name:ident),+ $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { let (store, _dir) = super::sqlite(); super::$name(store).await } )+ }
        mod dynamodb { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(super::dynamodb().await).await } )+ }
    };
}

for_each_store!(thirty_two_workers_at_once_never_delete_more_than_the_limit_in_a_window);

fn sqlite() -> (Arc<dyn JobStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Arc::new(SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap()), dir)
}

async fn dynamodb() -> Arc<dyn JobStore> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run `make test`, which starts moto");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    let store =
        DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&config), format!("nzj-breaker-{}", uuid::Uuid::now_v7()));
    store.ensure_table().await.unwrap();
    Arc::new(store)
}

async fn thirty_two_workers_at_once_never_delete_more_than_the_limit_in_a_window(store: Arc<dyn JobStore>) {
    let settings = Settings { max_deletions: 50, deletion_window_minutes: 10, ..Settings::default() };
    let now = Utc::now();
    // 32 workers, each wanting 1 to 4 deletions at a time, 5 times: 400 wanted in all.
    let workers = (0..32).map(|worker| {
        let (store, settings) = (store.clone(), settings.clone());
        tokio::spawn(async move {
            let mut admitted = 0;
            for round in 0..5 {
                admitted += admit_deletions(store.as_ref(), &settings, 1 + (worker + round) % 4, now).await.unwrap();
            }
            admitted
        })
    });
    let admitted: usize = futures_util::future::join_all(workers).await.into_iter().map(|r| r.unwrap()).sum();
    assert_eq!(admitted, 50, "exactly the limit: never more, and the window is used up");
    assert_eq!(store.get_deletion_window().await.unwrap().admitted.len(), 50);
    assert_eq!(admit_deletions(store.as_ref(), &settings, 1, now).await.unwrap(), 0);
    // Past the window, room again.
    let later = now + chrono::Duration::minutes(11);
    assert_eq!(admit_deletions(store.as_ref(), &settings, 60, later).await.unwrap(), 50);
}

struct Burst {
    env: Env,
    worker: HostWorker,
    queue: Arc<dyn JobQueue>,
    _queue_dir: tempfile::TempDir,
}

impl Burst {
    /// Polls as `nzj serve` does until nothing is left on the queue and every job is settled.
    async fn drain(&self) {
        for _ in 0..400 {
            let received = self.worker.poll_once(10).await.unwrap();
            let open = self.jobs().await.iter().filter(|j| !j.status.is_final() && j.status != JobStatus::Held).count();
            if received == 0 && open == 0 {
                return;
            }
        }
        panic!("the queue did not drain");
    }

    async fn jobs(&self) -> Vec<JobRecord> {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = self.env.store.list_jobs(&JobQuery { before, limit: 500, ..Default::default() }).await.unwrap();
            out.extend(page.jobs);
            match page.next_cursor {
                Some(c) => before = Some(c),
                None => return out,
            }
        }
    }

    async fn managed(&self, objects: &[ObjectRef]) -> usize {
        let zabbix = self.worker.jobs().converger().zabbix();
        let found = zabbix.find_managed("netbox:object", objects, 1000).await.unwrap();
        found.hosts.len()
    }
}

async fn a_burst_of_200_deletions_deletes_50_holds_the_rest_and_none_is_lost(peer: Peer) {
    let env = Env::new();
    let zabbix = peer.client();
    let import = ImportZabbixSettings::new(zabbix.clone(), env.store.clone(), 100_000);
    assert_eq!(env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
    let settings = Settings { max_deletions: 50, deletion_window_minutes: 10, ..Settings::default() };
    env.store.commit(vec![Write::settings(settings.clone())]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<dyn JobQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("q.sqlite3"), std::time::Duration::from_secs(5), 3).unwrap());
    let converger = HostConverger::new(zabbix.clone(), env.store.clone());
    let jobs = HostJobs::new(converger, env.clock.clone(), chrono::Duration::seconds(60), chrono::Duration::days(1));
    let retry =
        RetryPolicy { max_attempts: 3, backoff: std::time::Duration::ZERO, max_backoff: std::time::Duration::ZERO };
    let b = Burst { env, worker: HostWorker::new(jobs, None, queue.clone(), retry), queue, _queue_dir: dir };

    // 200 hosts, created in one array call.
    let mut snapshots = Vec::new();
    for kind in CacheKind::ALL {
        snapshots.push(b.env.store.get_cache(*kind).await.unwrap());
    }
    let view = CacheView::new(&snapshots);
    let devices: Vec<(ObjectRef, Value)> = (0..200).map(|_| support::device("nzj-br")).collect();
    let desired: Vec<_> = devices
        .iter()
        .map(|(_, data)| {
            match desired_host(&NetboxObject::from_rest(ObjectKind::Device, data).unwrap(), &settings, &view) {
                Ok(Desired::Host(host)) => *host,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let converger = b.worker.jobs().converger();
    for created in converger.create_many(&settings, &desired.iter().collect::<Vec<_>>(), 200).await {
        created.unwrap();
    }
    let objects: Vec<ObjectRef> = devices.iter().map(|(o, _)| *o).collect();
    assert_eq!(b.managed(&objects).await, 200);

    // NetBox deletes all 200 at once: 200 DeleteHost webhooks.
    for object in &objects {
        let job =
            QueuedJob { job_id: JobId::new_at(Utc::now()), name: JobName::DeleteHost, object: *object, data: None };
        let origin = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: None };
        let store = b.env.store.as_ref();
        enqueue_host_job(store, b.queue.as_ref(), job, origin, Utc::now(), chrono::Duration::days(1), Vec::new())
            .await
            .unwrap();
    }
    b.drain().await;
    let all: Vec<JobRecord> = b.jobs().await.into_iter().filter(|j| j.name == JobName::DeleteHost).collect();
    let deleted = all.iter().filter(|j| j.status == JobStatus::Completed).count();
    let held_jobs = held(b.env.store.as_ref()).await.unwrap();
    assert_eq!((deleted, held_jobs.len(), all.len()), (50, 150, 200), "50 deleted, the rest held, none lost");
    assert_eq!(b.managed(&objects).await, 150, "the held ones' hosts are all still there");
    for job in &held_jobs {
        let result = job.result.as_ref().unwrap();
        assert!(result["host"].as_str().unwrap().starts_with("nzj-br-"), "which host, not only how many: {result}");
        assert!(result["hostid"].is_string() && result["message"].as_str().unwrap().contains("held by the breaker"));
        assert!(job.log.entries.iter().any(|e| e.message.contains("nzj deletions release")));
    }

    // Discard 10: they stay, completed saying so. Discarding again is refused.
    let decisions = HeldDeletions::new(b.env.store.clone(), b.env.clock.clone(), chrono::Duration::days(1));
    let discard: Vec<JobId> = held_jobs.iter().take(10).map(|j| j.id.clone()).collect();
    let decided = decisions.discard(&Selection::Ids(discard.clone()), "alice").await.unwrap();
    assert!(decided.iter().all(|d| d.error.is_none()), "{decided:?}");
    let again = decisions.discard(&Selection::Ids(discard[..1].to_vec()), "bob").await.unwrap();
    assert!(again[0].error.as_deref().unwrap().contains("not held"), "{again:?}");
    let record = b.env.store.get_job(&discard[0]).await.unwrap().unwrap();
    assert_eq!(record.result.unwrap()["message"], "discarded by alice: the host is kept");

    // Release the other 140: they run past the breaker (its window is full) and delete.
    let released = decisions.release(&Selection::All, "alice", b.queue.as_ref()).await.unwrap();
    assert_eq!(released.len(), 140);
    assert!(released.iter().all(|d| d.runs_as.is_some()), "{released:?}");
    b.drain().await;
    assert!(held(b.env.store.as_ref()).await.unwrap().is_empty());
    assert_eq!(b.managed(&objects).await, 10, "only the discarded deletions' hosts remain");
    let runs = b.jobs().await;
    let released_runs: Vec<&JobRecord> = runs.iter().filter(|j| j.released_by.as_deref() == Some("alice")).collect();
    assert_eq!(released_runs.len(), 140);
    assert!(released_runs.iter().all(|j| j.status == JobStatus::Completed && j.retry_of.is_some()));

    // The window is still full: the next deletion of a kept host is held again.
    let kept = held_jobs[0].object.as_deref().unwrap().parse::<ObjectRef>().unwrap();
    let job = QueuedJob { job_id: JobId::new_at(Utc::now()), name: JobName::DeleteHost, object: kept, data: None };
    let origin = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: None };
    enqueue_host_job(
        b.env.store.as_ref(),
        b.queue.as_ref(),
        job.clone(),
        origin,
        Utc::now(),
        chrono::Duration::days(1),
        vec![],
    )
    .await
    .unwrap();
    b.drain().await;
    assert_eq!(b.env.store.get_job(&job.job_id).await.unwrap().unwrap().status, JobStatus::Held);

    // Clean up every host this test made (the graveyard ones have other tags now).
    let graveyard = zabbix.find_managed("netbox:deleted", &objects, 1000).await.unwrap();
    let remaining = zabbix.find_managed("netbox:object", &objects, 1000).await.unwrap();
    let ids: Vec<Value> = graveyard.hosts.values().chain(remaining.hosts.values()).map(|h| json!(h.hostid)).collect();
    setup_call(&zabbix, "host.delete", Value::Array(ids)).await;
}

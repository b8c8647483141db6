//! A burst of webhooks becomes array calls: the host worker converges the jobs it receives
//! together (one `host.get` for the round, `host.create` in arrays of `batch_size`), keeps each
//! object's jobs in order, and settles each job on its own. Against real Zabbix 6.0 and 7.0.

mod support;

use nzj_core::job::JobOrigin;
use nzj_core::netbox::ObjectRef;
use nzj_core::retry::RetryPolicy;
use nzj_core::{JobId, JobName, JobStatus, SystemJob, Trigger};
use nzj_jobs::{HostConverger, HostJobs, HostWorker, ImportZabbixSettings, enqueue_host_job};
use nzj_queue::{JobQueue, QueuedJob, SqliteQueue};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::{Env, Peer, setup_call};

for_each_zabbix!(
    a_burst_of_30_creates_costs_one_host_get_and_one_host_create_and_settles_each_job,
    a_round_takes_one_job_per_object_so_an_update_after_its_create_runs_second,
);

struct Setup {
    env: Env,
    worker: HostWorker,
    queue: Arc<dyn JobQueue>,
    _queue_dir: tempfile::TempDir,
}

async fn setup(peer: &Peer) -> Setup {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<dyn JobQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("q.sqlite3"), Duration::from_secs(30), 3).unwrap());
    let converger = HostConverger::new(peer.client(), env.store.clone());
    let jobs = HostJobs::new(converger, env.clock.clone(), chrono::Duration::minutes(5), chrono::Duration::days(1));
    let retry = RetryPolicy { max_attempts: 3, backoff: Duration::ZERO, max_backoff: Duration::ZERO };
    let worker = HostWorker::new(jobs, None, queue.clone(), retry);
    let import = ImportZabbixSettings::new(peer.client(), env.store.clone(), 100_000);
    assert_eq!(env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
    Setup { env, worker, queue, _queue_dir: dir }
}

async fn enqueue(s: &Setup, name: JobName, object: ObjectRef, data: Value) -> JobId {
    let job = QueuedJob { job_id: JobId::new_at(chrono::Utc::now()), name, object, data: Some(data) };
    let origin = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: None };
    let now = chrono::Utc::now();
    enqueue_host_job(
        s.env.store.as_ref(),
        s.queue.as_ref(),
        job.clone(),
        origin,
        now,
        chrono::Duration::days(1),
        vec![],
    )
    .await
    .unwrap();
    job.job_id
}

/// Zabbix calls made by `work`, by method.
async fn calls_of<F: std::future::Future>(s: &Setup, work: F) -> (F::Output, BTreeMap<String, u64>) {
    let zabbix = s.worker.jobs().converger().zabbix();
    let before = zabbix.calls().snapshot();
    let out = work.await;
    (out, support::since(&before, zabbix.calls().snapshot()))
}

async fn delete_hosts(peer: &Peer, prefix: &str) {
    let found = peer
        .client()
        .call("host.get", json!({"output": ["hostid"], "search": {"host": prefix}, "startSearch": true}))
        .await
        .unwrap();
    let ids: Vec<Value> = found.as_array().unwrap().iter().map(|h| h["hostid"].clone()).collect();
    if !ids.is_empty() {
        setup_call(&peer.client(), "host.delete", Value::Array(ids)).await;
    }
}

async fn a_burst_of_30_creates_costs_one_host_get_and_one_host_create_and_settles_each_job(peer: Peer) {
    let s = setup(&peer).await;
    let prefix = support::unique("nzj-burst");
    let mut ids = Vec::new();
    for _ in 0..30 {
        let (object, data) = support::device(&prefix);
        ids.push(enqueue(&s, JobName::CreateHost, object, data).await);
    }
    // One job whose object cannot be read: it fails alone, the others are not held back by it.
    let (broken, mut data) = support::device(&prefix);
    data["status"] = json!(42);
    let broken_id = enqueue(&s, JobName::CreateHost, broken, data).await;

    let (received, calls) = calls_of(&s, s.worker.poll_once(100)).await;
    assert_eq!(received.unwrap(), 31);
    // The default batch_size (200) holds the burst: one read of the round, one array create.
    assert_eq!(calls.get("host.get"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("host.create"), Some(&1), "{calls:?}");
    assert!(calls.keys().all(|m| !m.starts_with("host.") || m == "host.get" || m == "host.create"), "{calls:?}");

    let mut hostids = std::collections::BTreeSet::new();
    for id in &ids {
        let record = s.env.store.get_job(id).await.unwrap().unwrap();
        assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
        assert!(record.log.entries.iter().any(|e| e.message.contains("created")), "{:?}", record.log);
        hostids.insert(record.result.unwrap()["hostid"].as_str().unwrap().to_string());
    }
    assert_eq!(hostids.len(), 30, "one host per job, each job its own");
    let broken = s.env.store.get_job(&broken_id).await.unwrap().unwrap();
    assert_eq!(broken.status, JobStatus::Failed);
    assert!(broken.error.as_deref().unwrap_or_default().contains("malformed"), "{:?}", broken.error);
    assert_eq!(s.queue.backlog().await.unwrap().unwrap().messages, 0, "every message settled");
    delete_hosts(&peer, &prefix).await;
}

async fn a_round_takes_one_job_per_object_so_an_update_after_its_create_runs_second(peer: Peer) {
    let s = setup(&peer).await;
    let prefix = support::unique("nzj-order");
    let (object, data) = support::device(&prefix);
    let create = enqueue(&s, JobName::CreateHost, object, data.clone()).await;
    let mut renamed = data.clone();
    renamed["name"] = json!(format!("{prefix}-renamed"));
    let update = enqueue(&s, JobName::UpdateHost, object, renamed).await;
    let (other, other_data) = support::device(&prefix);
    let other_job = enqueue(&s, JobName::CreateHost, other, other_data).await;

    // The queue hands out an object's next job once its previous one is settled; whichever way
    // it comes, a round never holds two jobs of one object.
    let (received, calls) = calls_of(&s, async {
        let mut received = 0;
        while received < 3 {
            let got = s.worker.poll_once(100).await.unwrap();
            assert!(got > 0, "a job was lost: {received} of 3 received");
            received += got;
        }
        received
    })
    .await;
    assert_eq!(received, 3);
    // Both creates in one array, then the update, after its create.
    assert_eq!(calls.get("host.create"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("host.update"), Some(&1), "{calls:?}");
    for id in [&create, &update, &other_job] {
        let record = s.env.store.get_job(id).await.unwrap().unwrap();
        assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    }
    let first = s.env.store.get_job(&create).await.unwrap().unwrap();
    let second = s.env.store.get_job(&update).await.unwrap().unwrap();
    assert!(first.completed <= second.started, "the update ran after its create");
    let hosts = peer
        .client()
        .call("host.get", json!({"output": ["host"], "search": {"host": prefix.as_str()}, "startSearch": true}))
        .await
        .unwrap();
    let names: Vec<&str> = hosts.as_array().unwrap().iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&format!("{prefix}-renamed").as_str()), "{names:?}");
    delete_hosts(&peer, &prefix).await;
}

//! An operator's retry of a failed host job (`POST /api/jobs/{id}/retry`), against real Zabbix
//! 6.0 and 7.0: the retry goes through the normal path and converges, the two records name each
//! other, the failed job's log keeps every attempt, and a job is retried once however many ask.

mod support;

use nzj_core::job::JobOrigin;
use nzj_core::netbox::ObjectKind;
use nzj_core::retry::RetryPolicy;
use nzj_core::{JobId, JobName, JobRecord, JobStatus, SystemJob, Trigger};
use nzj_jobs::{HostConverger, HostJobs, HostWorker, ImportZabbixSettings, RetryError, enqueue_host_job};
use nzj_netbox::NetboxInMemory;
use nzj_queue::{JobQueue, QueuedJob, SqliteQueue};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{CutProxy, Env, Peer, setup_call};

for_each_zabbix!(a_failed_host_job_retried_by_id_converges_and_both_records_link);

fn cli() -> JobOrigin {
    JobOrigin { trigger: Trigger::Cli, user: "cli".into(), object: None }
}

async fn a_failed_host_job_retried_by_id_converges_and_both_records_link(peer: Peer) {
    let proxy = CutProxy::start(&peer.url).await;
    let env = Env::new();
    let import = ImportZabbixSettings::new(peer.client(), env.store.clone(), 100_000);
    assert_eq!(env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
    proxy.allow(0);
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<dyn JobQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("q.sqlite3"), Duration::from_secs(1), 2).unwrap());
    let converger = HostConverger::new(support::client_at(&proxy.url, &peer.token), env.store.clone());
    let jobs = HostJobs::new(converger, env.clock.clone(), chrono::Duration::seconds(1), chrono::Duration::days(1));
    let (object, data) = support::device("nzj-retry");
    let name = data["name"].as_str().unwrap().to_string();
    let netbox = Arc::new(NetboxInMemory::new(ObjectKind::Device, [data]));
    let retry = RetryPolicy { max_attempts: 2, backoff: Duration::ZERO, max_backoff: Duration::ZERO };
    let worker = HostWorker::new(jobs, Some(netbox), queue.clone(), retry);
    let store = env.store.as_ref();
    let now = chrono::Utc::now;
    let days = chrono::Duration::days(1);

    // Zabbix unreachable: two attempts, then failed and dead-lettered.
    let job = QueuedJob { job_id: JobId::new_at(now()), name: JobName::CreateHost, object, data: None };
    let webhook = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: None };
    enqueue_host_job(store, queue.as_ref(), job.clone(), webhook, now(), days, Vec::new()).await.unwrap();
    for _ in 0..2 {
        assert_eq!(worker.poll_once(10).await.unwrap(), 1);
    }
    let failed = store.get_job(&job.job_id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.attempt), (JobStatus::Failed, 2), "{:?}", failed.error);
    let lines: Vec<&str> = failed.log.entries.iter().map(|l| l.message.as_str()).collect();
    assert!(
        lines.iter().any(|l| l.starts_with("attempt 1 failed, retrying"))
            && lines.iter().any(|l| l.contains("gave up")),
        "the log keeps every attempt: {lines:#?}"
    );

    // Zabbix is back: the operator retries the job by its id.
    proxy.allow_all();
    let retried = nzj_jobs::retry_host_job(store, queue.as_ref(), failed.clone(), cli(), now(), days).await.unwrap();
    assert_eq!((retried.status, retried.retry_of.as_ref(), retried.attempt), (JobStatus::Pending, Some(&failed.id), 3));
    assert_eq!((retried.name, retried.object.as_deref()), (JobName::CreateHost, Some(object.to_string().as_str())));
    let failed = store.get_job(&failed.id).await.unwrap().unwrap();
    assert_eq!(failed.retried_by.as_ref(), Some(&retried.id), "the failed job names its retry");
    // Asked again while the retry waits: refused, naming the live retry.
    match nzj_jobs::retry_host_job(store, queue.as_ref(), failed.clone(), cli(), now(), days).await {
        Err(RetryError::Busy { job, .. }) => assert_eq!(job, retried.id),
        other => panic!("a second retry while the first waits: {other:?}"),
    }
    let done = settled(&worker, store, &retried.id).await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    let found =
        peer.client().call("host.get", json!({"output": ["hostid"], "filter": {"host": [&name]}})).await.unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "the retry created the host");
    // A completed job is not retried, nor a failed one whose retry completed.
    assert!(matches!(
        nzj_jobs::retry_host_job(store, queue.as_ref(), done.clone(), cli(), now(), days).await,
        Err(RetryError::NotRetriable(_))
    ));
    let failed = store.get_job(&failed.id).await.unwrap().unwrap();
    match nzj_jobs::retry_host_job(store, queue.as_ref(), failed, cli(), now(), days).await {
        Err(RetryError::Busy { job, what }) => {
            assert_eq!(job, done.id);
            assert!(what.contains("which completed: nothing is left to retry"), "{what}");
        }
        other => panic!("a failed job whose retry completed, retried again: {other:?}"),
    }

    // Two operators retry another failed job at the same moment: one retry starts.
    let mut other = JobRecord::new_pending(
        JobName::UpdateHost,
        JobOrigin { object: Some(object.to_string()), ..cli() },
        now(),
        days,
    );
    other.start(now(), chrono::Duration::seconds(1)).unwrap();
    other.fail(now(), "permanent: refused").unwrap();
    store.commit(vec![nzj_store::Write::job(other.clone())]).await.unwrap();
    let other = store.get_job(&other.id).await.unwrap().unwrap();
    let (a, b) = tokio::join!(
        nzj_jobs::retry_host_job(store, queue.as_ref(), other.clone(), cli(), now(), days),
        nzj_jobs::retry_host_job(store, queue.as_ref(), other.clone(), cli(), now(), days),
    );
    assert_eq!([&a, &b].iter().filter(|r| r.is_ok()).count(), 1, "{a:?} {b:?}");
    let started = a.or(b).unwrap();
    settled(&worker, store, &started.id).await;

    for host in found.as_array().unwrap() {
        setup_call(&peer.client(), "host.delete", json!([host["hostid"]])).await;
    }
}

async fn settled(worker: &HostWorker, store: &dyn nzj_store::JobStore, id: &JobId) -> JobRecord {
    for _ in 0..50 {
        let record = store.get_job(id).await.unwrap().unwrap();
        if record.status.is_final() {
            return record;
        }
        worker.poll_once(10).await.unwrap();
    }
    panic!("job {id} did not settle");
}

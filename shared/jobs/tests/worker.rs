//! The host worker on the embedded queue, against real Zabbix 6.0 and 7.0.

mod support;

use nzj_core::job::JobOrigin;
use nzj_core::netbox::ObjectRef;
use nzj_core::retry::{RetryPolicy, Settlement};
use nzj_core::{JobId, JobName, JobStatus, SystemJob, Trigger};
use nzj_jobs::{HostConverger, HostJobs, HostWorker, ImportZabbixSettings, enqueue_host_job};
use nzj_netbox::{NetboxInMemory, NetboxSource};
use nzj_queue::{JobQueue, QueuedJob, SqliteQueue};
use nzj_store::JobQuery;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{CutProxy, Env, Peer, SlowCreateProxy, setup_call};

for_each_zabbix!(
    a_queued_job_runs_once_even_when_its_message_comes_again,
    a_worker_killed_mid_job_leaves_a_stalled_job_whose_retry_converges,
    an_unreachable_zabbix_is_retried_with_backoff_then_failed_and_dead_lettered,
    a_permanent_failure_fails_the_job_at_once_without_retries,
    a_job_before_the_first_import_waits_for_it_instead_of_failing,
    a_stalled_jobs_retry_survives_a_transient_failure_and_converges,
    a_message_delivered_while_another_worker_holds_the_job_comes_back_later,
    a_worker_that_died_with_a_create_at_work_in_zabbix_is_taken_over_after_it_and_the_object_has_one_host,
    a_round_that_outlasts_its_lease_keeps_its_jobs_while_another_worker_waits,
);

const LEASE: chrono::Duration = chrono::Duration::seconds(1);
const VISIBILITY: Duration = Duration::from_secs(1);
/// The workers' Zabbix timeout: a job whose worker died is taken over this long plus its settle
/// time (5 s) after its lease ended (`ZabbixClient::calls_done_within`).
const ZABBIX_TIMEOUT: Duration = Duration::from_secs(5);

struct Setup {
    env: Env,
    worker: HostWorker,
    queue: Arc<dyn JobQueue>,
    _queue_dir: tempfile::TempDir,
}

async fn setup(peer: &Peer, zabbix_url: &str) -> Setup {
    let s = setup_before_import(peer, zabbix_url).await;
    import(peer, &s).await;
    s
}

async fn import(peer: &Peer, s: &Setup) {
    let import = ImportZabbixSettings::new(peer.client(), s.env.store.clone(), 100_000);
    assert_eq!(s.env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
}

/// A fresh deployment: nothing imported from Zabbix yet.
async fn setup_before_import(peer: &Peer, zabbix_url: &str) -> Setup {
    setup_with_attempts(peer, zabbix_url, 2).await
}

async fn setup_with_attempts(peer: &Peer, zabbix_url: &str, attempts: u32) -> Setup {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<dyn JobQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("q.sqlite3"), VISIBILITY, attempts).unwrap());
    let worker = worker(&env, &queue, peer, zabbix_url, attempts, None);
    Setup { env, worker, queue, _queue_dir: dir }
}

/// A worker on `env`'s store and `queue`, talking to Zabbix at `zabbix_url` (and reading NetBox
/// from `netbox`, if given).
fn worker(
    env: &Env,
    queue: &Arc<dyn JobQueue>,
    peer: &Peer,
    zabbix_url: &str,
    attempts: u32,
    netbox: Option<Arc<dyn NetboxSource>>,
) -> HostWorker {
    let zabbix = support::client_with_timeout(zabbix_url, &peer.token, ZABBIX_TIMEOUT);
    let converger = HostConverger::new(zabbix, env.store.clone());
    let jobs = HostJobs::new(converger, env.clock.clone(), LEASE, chrono::Duration::days(1));
    let retry = RetryPolicy { max_attempts: attempts, backoff: Duration::ZERO, max_backoff: Duration::ZERO };
    HostWorker::new(jobs, netbox, queue.clone(), retry)
}

fn device() -> (ObjectRef, Value) {
    support::device("nzj-wk")
}

async fn enqueue(s: &Setup, name: JobName, object: ObjectRef, data: Option<Value>) -> QueuedJob {
    let job = QueuedJob { job_id: JobId::new_at(chrono::Utc::now()), name, object, data };
    let origin = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: None };
    let record = enqueue_host_job(
        s.env.store.as_ref(),
        s.queue.as_ref(),
        job.clone(),
        origin,
        chrono::Utc::now(),
        chrono::Duration::days(1),
        Vec::new(),
    )
    .await
    .unwrap();
    assert_eq!(record.status, JobStatus::Pending);
    job
}

async fn jobs_of(s: &Setup, object: ObjectRef) -> Vec<nzj_core::JobRecord> {
    let all = s.env.store.list_jobs(&JobQuery { limit: 100, ..Default::default() }).await.unwrap().jobs;
    all.into_iter().filter(|j| j.object.as_deref() == Some(object.to_string().as_str())).collect()
}

/// Polls as a worker does until `id` is settled (the tests share one Zabbix, whose database can
/// refuse concurrent writes for a moment: such a job is retried, here without backoff).
async fn settled(s: &Setup, id: &JobId) -> nzj_core::JobRecord {
    for _ in 0..150 {
        let record = s.env.store.get_job(id).await.unwrap().unwrap();
        if record.status.is_final() {
            return record;
        }
        s.worker.poll_once(10).await.unwrap();
    }
    panic!("job {id} did not settle");
}

async fn host_count(peer: &Peer, name: &str) -> usize {
    let found =
        peer.client().call("host.get", json!({"output": ["hostid"], "filter": {"host": [name]}})).await.unwrap();
    found.as_array().unwrap().len()
}

async fn cleanup(peer: &Peer, name: &str) {
    let found =
        peer.client().call("host.get", json!({"output": ["hostid"], "filter": {"host": [name]}})).await.unwrap();
    for host in found.as_array().unwrap() {
        setup_call(&peer.client(), "host.delete", json!([host["hostid"]])).await;
    }
}

async fn a_queued_job_runs_once_even_when_its_message_comes_again(peer: Peer) {
    let s = setup(&peer, &peer.url).await;
    let (object, data) = device();
    let name = data["name"].as_str().unwrap().to_string();
    let job = enqueue(&s, JobName::CreateHost, object, Some(data)).await;
    assert_eq!(s.worker.poll_once(10).await.unwrap(), 1);
    let record = settled(&s, &job.job_id).await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    assert_eq!(host_count(&peer, &name).await, 1);

    // At-least-once delivery: the same message again changes nothing and is settled.
    let again = nzj_queue::Delivery { job: job.clone(), receipt: "redelivered".into(), receive_count: 1 };
    assert_eq!(s.worker.handle(&again).await, Settlement::Done);
    assert_eq!(jobs_of(&s, object).await.len(), 1);
    assert!(s.queue.receive(10).await.unwrap().is_empty());
    cleanup(&peer, &name).await;
}

async fn a_worker_killed_mid_job_leaves_a_stalled_job_whose_retry_converges(peer: Peer) {
    let s = setup(&peer, &peer.url).await;
    let (object, data) = device();
    let name = data["name"].as_str().unwrap().to_string();
    let job = enqueue(&s, JobName::CreateHost, object, Some(data)).await;
    // A worker takes the message and starts the job, then dies: no result, no settlement.
    start_and_die(&s, &job, LEASE).await;

    // After the lease and the visibility timeout, the message comes back; once what the dead
    // worker may have sent to Zabbix is surely done, the run is found stalled.
    poll_until_stalled(&s, &job.job_id).await;
    let runs = jobs_of(&s, object).await;
    let retry = runs.iter().find(|j| j.id != job.job_id).expect("a retry job");
    let retry = settled(&s, &retry.id).await;
    assert_eq!((retry.status, retry.trigger), (JobStatus::Completed, Trigger::Retry));
    assert!(retry.attempt >= 2);
    assert_eq!(host_count(&peer, &name).await, 1);
    cleanup(&peer, &name).await;
}

async fn an_unreachable_zabbix_is_retried_with_backoff_then_failed_and_dead_lettered(peer: Peer) {
    let proxy = CutProxy::start(&peer.url).await;
    proxy.allow(0);
    let s = setup(&peer, &proxy.url).await;
    let (object, data) = device();
    let job = enqueue(&s, JobName::UpdateHost, object, Some(data)).await;

    assert_eq!(s.worker.poll_once(10).await.unwrap(), 1);
    let record = s.env.store.get_job(&job.job_id).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempt), (JobStatus::Pending, 2), "{:?}", record.error);
    assert!(record.log.entries.iter().any(|l| l.message.contains("retrying")));

    assert_eq!(s.worker.poll_once(10).await.unwrap(), 1);
    let record = s.env.store.get_job(&job.job_id).await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Failed);
    let error = record.error.unwrap();
    assert!(error.starts_with("transient:") && error.contains("dead-letter queue"), "{error}");
    assert_eq!(s.queue.dead_letters().await.unwrap(), 1, "the message is kept");
    assert!(s.queue.receive(10).await.unwrap().is_empty());
}

async fn a_permanent_failure_fails_the_job_at_once_without_retries(peer: Peer) {
    let s = setup(&peer, &peer.url).await;
    let mut settings = s.env.store.get_settings().await.unwrap();
    settings.rules[0].templates = vec!["No such template".into()];
    s.env.store.commit(vec![nzj_store::Write::settings(settings)]).await.unwrap();
    let (object, data) = device();
    let job = enqueue(&s, JobName::CreateHost, object, Some(data)).await;
    let before = s.worker.jobs().converger().zabbix().calls().total();
    assert_eq!(s.worker.poll_once(10).await.unwrap(), 1);
    let record = s.env.store.get_job(&job.job_id).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempt), (JobStatus::Failed, 1));
    assert!(record.error.unwrap().contains("No such template"));
    assert_eq!(s.worker.jobs().converger().zabbix().calls().total(), before, "a mapping error costs no Zabbix call");
    assert!(s.queue.receive(10).await.unwrap().is_empty(), "no retry storm");
    assert_eq!(s.queue.dead_letters().await.unwrap(), 0);
}

async fn a_job_before_the_first_import_waits_for_it_instead_of_failing(peer: Peer) {
    let s = setup_before_import(&peer, &peer.url).await;
    let (object, data) = device();
    let name = data["name"].as_str().unwrap().to_string();
    let job = enqueue(&s, JobName::CreateHost, object, Some(data)).await;
    assert_eq!(s.worker.poll_once(10).await.unwrap(), 1);
    let record = s.env.store.get_job(&job.job_id).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempt), (JobStatus::Pending, 2));
    assert!(record.error.as_deref().unwrap().contains("not imported yet"), "{:?}", record.error);

    import(&peer, &s).await;
    let record = settled(&s, &job.job_id).await;
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    cleanup(&peer, &name).await;
}

/// Takes the message and starts its job as a worker would, then "dies": no result, no
/// settlement. `lease`: how long the dead worker's lease runs.
async fn start_and_die(s: &Setup, job: &QueuedJob, lease: chrono::Duration) {
    let taken = s.queue.receive(1).await.unwrap();
    assert_eq!(taken.len(), 1);
    let mut record = s.env.store.get_job(&job.job_id).await.unwrap().unwrap();
    record.start(chrono::Utc::now(), lease).unwrap();
    s.env.store.commit(vec![nzj_store::Write::job(record)]).await.unwrap();
}

/// Polls until the run `id`, whose worker died, is found stalled: its message comes back after
/// the visibility timeout, and waits until the calls that worker may have sent are surely done.
async fn poll_until_stalled(s: &Setup, id: &JobId) -> nzj_core::JobRecord {
    for _ in 0..300 {
        s.worker.poll_once(10).await.unwrap();
        let record = s.env.store.get_job(id).await.unwrap().unwrap();
        if record.status == JobStatus::Stalled {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} was never found stalled");
}

/// Polls until a message is handled (it comes back after its visibility timeout); how many.
async fn poll_until_handled(s: &Setup) -> usize {
    for _ in 0..80 {
        let handled = s.worker.poll_once(10).await.unwrap();
        if handled > 0 {
            return handled;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    0
}

async fn a_stalled_jobs_retry_survives_a_transient_failure_and_converges(peer: Peer) {
    let proxy = CutProxy::start(&peer.url).await;
    let s = setup_with_attempts(&peer, &proxy.url, 4).await;
    import(&peer, &s).await;
    let (object, data) = device();
    let name = data["name"].as_str().unwrap().to_string();
    let job = enqueue(&s, JobName::CreateHost, object, Some(data)).await;
    start_and_die(&s, &job, LEASE).await;

    // The message comes back: the run is stalled, and its retry meets a Zabbix that is away.
    proxy.allow(0);
    let stalled = poll_until_stalled(&s, &job.job_id).await;
    let retry_id = stalled.retried_by.clone().expect("the stalled run names its retry");
    let retry = s.env.store.get_job(&retry_id).await.unwrap().unwrap();
    assert_eq!((retry.status, retry.retry_of.as_ref()), (JobStatus::Pending, Some(&job.job_id)), "{:?}", retry.error);

    // The message still names the stalled job; its next delivery runs the live retry.
    proxy.allow_all();
    let retry = settled(&s, &retry_id).await;
    assert_eq!(retry.status, JobStatus::Completed, "{:?}", retry.error);
    assert_eq!(host_count(&peer, &name).await, 1);
    assert!(s.queue.receive(10).await.unwrap().is_empty(), "settled: the message is gone");
    assert_eq!(s.queue.dead_letters().await.unwrap(), 0);
    cleanup(&peer, &name).await;
}

async fn a_message_delivered_while_another_worker_holds_the_job_comes_back_later(peer: Peer) {
    let s = setup(&peer, &peer.url).await;
    let (object, data) = device();
    let name = data["name"].as_str().unwrap().to_string();
    let job = enqueue(&s, JobName::CreateHost, object, Some(data)).await;
    // The holder's lease outlasts the message's visibility: a redelivery in the gap finds the job
    // running with a live lease. Then the holder dies.
    start_and_die(&s, &job, chrono::Duration::seconds(3)).await;
    assert_eq!(poll_until_handled(&s).await, 1);
    let record = s.env.store.get_job(&job.job_id).await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Running, "held by the other worker: left alone");

    // The message was postponed, not deleted: after the lease it comes back, and the retry of the
    // stalled run converges.
    let stalled = poll_until_stalled(&s, &job.job_id).await;
    let retry = settled(&s, stalled.retried_by.as_ref().unwrap()).await;
    assert_eq!(retry.status, JobStatus::Completed, "{:?}", retry.error);
    assert_eq!(host_count(&peer, &name).await, 1);
    assert_eq!(s.queue.dead_letters().await.unwrap(), 0, "a postponement is not an attempt");
    cleanup(&peer, &name).await;
}

/// `object`'s managed hosts (id and name), by its managed tag.
async fn managed_hosts(peer: &Peer, object: ObjectRef) -> Vec<Value> {
    let query = json!({"output": ["hostid", "host"], "tags": [{"tag": "netbox:object", "value": object.to_string(), "operator": 1}]});
    peer.client().call("host.get", query).await.unwrap().as_array().unwrap().clone()
}

async fn a_worker_that_died_with_a_create_at_work_in_zabbix_is_taken_over_after_it_and_the_object_has_one_host(
    peer: Peer,
) {
    // The dying worker's host.create reaches Zabbix 3 s after it was sent: after the worker is
    // gone and after its lease (1 s) ended. Meanwhile the device is renamed in NetBox, so a
    // retry that looked too early would not meet the late create on the name: both would stay.
    let proxy = SlowCreateProxy::late_requests(&peer.url, Duration::from_secs(3)).await;
    let s = setup(&peer, &peer.url).await;
    let (object, data) = device();
    let netbox = Arc::new(NetboxInMemory::new(object.kind, [data.clone()]));
    let dying = worker(&s.env, &s.queue, &peer, &proxy.url, 2, Some(netbox.clone()));
    let job = enqueue(&s, JobName::CreateHost, object, Some(data.clone())).await;
    {
        let run = dying.poll_once(10);
        tokio::pin!(run);
        loop {
            tokio::select! {
                _ = &mut run => panic!("the run ended before its create was sent"),
                () = tokio::time::sleep(Duration::from_millis(20)) => if proxy.creates() == 1 { break },
            }
        }
        // The worker dies here (its run is dropped); its create is on its way to Zabbix.
    }
    drop(dying);
    let renamed = format!("{}-renamed", data["name"].as_str().unwrap());
    netbox.0.lock().unwrap().get_mut(&object).unwrap()["name"] = json!(renamed);
    let taker = Setup { worker: worker(&s.env, &s.queue, &peer, &peer.url, 2, Some(netbox.clone())), ..s };

    let stalled = poll_until_stalled(&taker, &job.job_id).await;
    let retry = settled(&taker, stalled.retried_by.as_ref().expect("a retry")).await;
    assert_eq!(retry.status, JobStatus::Completed, "{:?}", retry.error);
    // The late create is done by now, whenever the retry ran.
    for _ in 0..100 {
        if proxy.answered() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(proxy.answered(), 1, "Zabbix answered the dead worker's create");
    let hosts = managed_hosts(&peer, object).await;
    // Taken over at the lease's end, the retry created the renamed host beside the late one.
    assert_eq!(hosts.len(), 1, "one host for the object: {hosts:?}");
    assert_eq!(hosts[0]["host"], json!(renamed), "the late-created host was found and renamed");
    assert_eq!(proxy.creates(), 1);
    setup_call(&peer.client(), "host.delete", json!([hosts[0]["hostid"]])).await;
}

async fn a_round_that_outlasts_its_lease_keeps_its_jobs_while_another_worker_waits(peer: Peer) {
    // Every create is answered 4 s late (under the 5 s timeout), one host per call: the round of
    // five takes 20 s or more, longer than the lease (1 s) and the takeover wait after it (10 s).
    let proxy = SlowCreateProxy::start(&peer.url, Duration::from_secs(4)).await;
    let s = setup(&peer, &peer.url).await;
    let mut settings = s.env.store.get_settings().await.unwrap();
    settings.batch_size = 1;
    s.env.store.commit(vec![nzj_store::Write::settings(settings)]).await.unwrap();
    let slow = worker(&s.env, &s.queue, &peer, &proxy.url, 2, None);
    let devices: Vec<(ObjectRef, Value)> = (0..5).map(|_| device()).collect();
    let mut jobs = Vec::new();
    for (object, data) in &devices {
        jobs.push(enqueue(&s, JobName::CreateHost, *object, Some(data.clone())).await.job_id);
    }
    // The slow worker takes all five; another polls the same queue all along (their messages come
    // back after the 1 s visibility timeout, and again after being postponed past the takeover
    // wait) until the round is over.
    let round = slow.poll_once(10);
    tokio::pin!(round);
    let mut received = 0;
    let taken = loop {
        tokio::select! {
            taken = &mut round => break taken.unwrap(),
            () = tokio::time::sleep(Duration::from_millis(200)) => received += s.worker.poll_once(10).await.unwrap(),
        }
    };
    assert_eq!(taken, 5);
    // More than once each: the other worker looked again once a takeover would have been allowed.
    assert!(received > 5, "the other worker received the messages again during the round: {received}");
    for id in &jobs {
        let record = s.env.store.get_job(id).await.unwrap().unwrap();
        // Without heartbeats the other worker took the jobs over mid-round (stalled, retried).
        assert_eq!(record.status, JobStatus::Completed, "{id}: {:?} {:?}", record.error, record.retried_by);
        assert_eq!(record.retried_by, None);
    }
    for (object, data) in &devices {
        assert_eq!(jobs_of(&s, *object).await.len(), 1, "no retry of a live run");
        assert_eq!(host_count(&peer, data["name"].as_str().unwrap()).await, 1);
        cleanup(&peer, data["name"].as_str().unwrap()).await;
    }
}

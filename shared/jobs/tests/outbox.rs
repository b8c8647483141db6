//! The outbox: a host job recorded but never enqueued (the process died between the two, or the
//! queue refused it) is not lost. On both pairs of adapters: the embedded store and queue, and
//! DynamoDB and SQS FIFO on moto (`make test` starts it). The crash between commit and enqueue
//! cannot be produced on demand by a real queue, so a wrapper refuses the first enqueue; the
//! queue behind it and the store are real.

mod support;

use async_trait::async_trait;
use nzj_core::{Clock, JobStatus, Secret, SystemClock};
use nzj_jobs::{OutboxSweeper, WebhookIntake};
use nzj_queue::{Delivery, JobQueue, QueueError, QueuedJob, SqliteQueue};
use nzj_store::{JobQuery, JobStore, SqliteStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A real queue that refuses the next `n` enqueues, as a process killed before it enqueued.
struct RefusingQueue {
    inner: Arc<dyn JobQueue>,
    refuse: AtomicU32,
}

#[async_trait]
impl JobQueue for RefusingQueue {
    async fn enqueue(&self, job: &QueuedJob) -> Result<(), QueueError> {
        if self.refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(QueueError::Unavailable("injected: the process died before it enqueued".into()));
        }
        self.inner.enqueue(job).await
    }
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive(max).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.delete(receipt).await
    }
    async fn release(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        self.inner.release(delivery, delay).await
    }
    async fn postpone(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        self.inner.postpone(delivery, delay).await
    }
    async fn dead_letters(&self) -> Result<usize, QueueError> {
        self.inner.dead_letters().await
    }
    async fn list_dead_letters(&self, max: usize) -> Result<Vec<nzj_queue::DeadLetter>, QueueError> {
        self.inner.list_dead_letters(max).await
    }
    async fn remove_dead_letters(&self, ids: &[String]) -> Result<usize, QueueError> {
        self.inner.remove_dead_letters(ids).await
    }
}

struct Pair {
    store: Arc<dyn JobStore>,
    queue: Arc<RefusingQueue>,
    _dir: Option<tempfile::TempDir>,
}

async fn embedded() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn JobStore> = Arc::new(SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap());
    let inner: Arc<dyn JobQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("queue.sqlite3"), Duration::from_secs(30), 3).unwrap());
    Pair { store, queue: Arc::new(RefusingQueue { inner, refuse: AtomicU32::new(1) }), _dir: Some(dir) }
}

async fn aws() -> Pair {
    let config = support::aws::moto().await;
    let name = format!("nzj-outbox-{}", uuid::Uuid::now_v7().simple());
    let store = support::aws::table(&config, &name).await;
    let inner: Arc<dyn JobQueue> = Arc::new(support::aws::queue(&config, &name, Duration::from_secs(30), 3).await);
    Pair { store: Arc::new(store), queue: Arc::new(RefusingQueue { inner, refuse: AtomicU32::new(1) }), _dir: None }
}

macro_rules! for_each_pair {
    ($($name:ident),+ $(,)?) => {
        mod embedded { $( #[tokio::test] async fn $name() { super::$name(super::embedded().await).await } )+ }
        mod dynamodb_sqs { $( #[tokio::test] async fn $name() { super::$name(super::aws().await).await } )+ }
    };
}

for_each_pair!(
    a_job_recorded_but_never_enqueued_is_sent_by_the_sweeper,
    a_resent_delivery_sends_its_unsent_job_before_naming_it,
);

fn delivery() -> (Vec<u8>, String) {
    let dir = format!("{}/../../tests/fixtures/netbox-4.7-webhooks", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(format!("{dir}/04_dcim.device_updated.body.json")).unwrap();
    let signature = nzj_netbox::sign(b"s3cret", &body);
    (body, signature)
}

fn intake(pair: &Pair) -> WebhookIntake {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    WebhookIntake::new(Secret::new("s3cret"), pair.store.clone(), pair.queue.clone(), clock, chrono::Duration::days(1))
}

/// The one job recorded so far.
async fn the_job(pair: &Pair) -> nzj_core::JobRecord {
    let jobs = pair.store.list_jobs(&JobQuery { limit: 10, ..Default::default() }).await.unwrap().jobs;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.into_iter().next().unwrap()
}

async fn a_job_recorded_but_never_enqueued_is_sent_by_the_sweeper(pair: Pair) {
    let (body, signature) = delivery();
    let first = intake(&pair).receive(Some(&signature), &body).await;
    assert_eq!(first.status, 503, "not acknowledged: {}", first.body);
    let job = the_job(&pair).await;
    assert_eq!(job.status, JobStatus::Pending, "{:?}", job.error);
    assert!(job.outbox.is_some(), "the record keeps its message until it is sent");
    assert!(pair.queue.receive(10).await.unwrap().is_empty());

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sweeper =
        OutboxSweeper::new(pair.store.clone(), pair.queue.clone(), clock).with_min_age(chrono::Duration::zero());
    assert_eq!(sweeper.sweep().await.unwrap(), 1);
    let queued = pair.queue.receive(10).await.unwrap();
    assert_eq!(queued.iter().map(|d| &d.job.job_id).collect::<Vec<_>>(), [&job.id]);
    assert!(the_job(&pair).await.outbox.is_none(), "marked sent");
    assert_eq!(sweeper.sweep().await.unwrap(), 0, "sent once");
}

async fn a_resent_delivery_sends_its_unsent_job_before_naming_it(pair: Pair) {
    let (body, signature) = delivery();
    let first = intake(&pair).receive(Some(&signature), &body).await;
    assert_eq!(first.status, 503, "{}", first.body);
    // NetBox resends a delivery that got no 2xx.
    let again = intake(&pair).receive(Some(&signature), &body).await;
    assert_eq!((again.status, again.body["status"].as_str()), (200, Some("duplicate")), "{}", again.body);
    let job = the_job(&pair).await;
    assert_eq!(again.body["job"].as_str(), Some(job.id.to_string().as_str()));
    assert_eq!(job.status, JobStatus::Pending);
    let queued = pair.queue.receive(10).await.unwrap();
    assert_eq!(queued.iter().map(|d| &d.job.job_id).collect::<Vec<_>>(), [&job.id], "the change is not lost");
}

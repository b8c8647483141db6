//! One conformance suite for both host-job queues: embedded SQLite, and SQS FIFO against moto
//! (`make test` starts it and sets AWS_ENDPOINT_URL).

use nzj_core::netbox::{ObjectKind, ObjectRef};
use nzj_core::{JobId, JobName};
use nzj_queue::{JobQueue, QueuedJob, SqliteQueue, SqsQueue};
use std::sync::Arc;
use std::time::Duration;

/// Longer than a receive's long poll (1 s), so a message in flight stays so within one step.
const VISIBILITY: Duration = Duration::from_secs(3);
const MAX_RECEIVES: u32 = 2;

struct Fixture {
    queue: Arc<dyn JobQueue>,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(&dir.path().join("queue.sqlite3"), VISIBILITY, MAX_RECEIVES).unwrap();
    Fixture { queue: Arc::new(queue), _dir: Some(dir) }
}

async fn sqs_fixture() -> Fixture {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run `make test`, which starts moto");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    let name = format!("nzj-test-{}", uuid::Uuid::now_v7().simple());
    let queue = SqsQueue::ensure(aws_sdk_sqs::Client::new(&config), &name, VISIBILITY, MAX_RECEIVES).await.unwrap();
    Fixture { queue: Arc::new(queue), _dir: None }
}

macro_rules! for_each_queue {
    ($($name:ident),+ $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { let f = super::sqlite_fixture().await; super::$name(f.queue.clone()).await; } )+ }
        mod sqs { $( #[tokio::test] async fn $name() { let f = super::sqs_fixture().await; super::$name(f.queue.clone()).await; } )+ }
    };
}

for_each_queue!(
    jobs_of_one_object_run_in_order_and_objects_in_parallel,
    the_same_job_enqueued_twice_is_delivered_once,
    a_message_whose_worker_died_comes_back_after_the_visibility_timeout,
    a_released_message_comes_back_and_after_the_last_receive_goes_to_the_dead_letters,
    a_postponed_message_comes_back_after_its_delay_and_is_not_dead_lettered,
    dead_letters_are_listed_with_their_job_and_stay_until_removed_by_id,
    the_backlog_counts_what_waits_and_ages_its_oldest,
);

fn job(device: u64) -> QueuedJob {
    QueuedJob {
        job_id: JobId::new_at(chrono::Utc::now()),
        name: JobName::UpdateHost,
        object: ObjectRef { kind: ObjectKind::Device, id: device },
        data: Some(serde_json::json!({"id": device})),
    }
}

/// Receives until a message comes (or 10 s have passed: then nothing).
async fn receive_within_10s(queue: &dyn JobQueue) -> Vec<nzj_queue::Delivery> {
    for _ in 0..40 {
        let got = queue.receive(1).await.unwrap();
        if !got.is_empty() {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Vec::new()
}

async fn jobs_of_one_object_run_in_order_and_objects_in_parallel(queue: Arc<dyn JobQueue>) {
    let (a1, a2, b1) = (job(1), job(1), job(2));
    for j in [&a1, &a2, &b1] {
        queue.enqueue(j).await.unwrap();
    }
    // A receive may hand over several messages of one object (SQS FIFO does), but in order; and
    // while any of an object's messages are in flight, no other receive gets that object's.
    let first = queue.receive(10).await.unwrap();
    let ids: Vec<_> = first.iter().map(|d| d.job.job_id.clone()).collect();
    assert!(ids.contains(&a1.job_id) && ids.contains(&b1.job_id), "both objects at once: {ids:?}");
    if let Some(second_of_a) = ids.iter().position(|id| *id == a2.job_id) {
        assert!(ids.iter().position(|id| *id == a1.job_id).unwrap() < second_of_a, "in order");
    }
    let meanwhile = queue.receive(10).await.unwrap();
    assert!(meanwhile.iter().all(|d| d.job.object != a1.object), "nothing of an object in flight is handed out again");
    for d in first.iter().chain(&meanwhile) {
        queue.delete(&d.receipt).await.unwrap();
    }
    if !ids.contains(&a2.job_id) {
        let next = queue.receive(10).await.unwrap();
        assert_eq!(next.iter().map(|d| &d.job).collect::<Vec<_>>(), [&a2]);
        queue.delete(&next[0].receipt).await.unwrap();
    }
}

async fn the_same_job_enqueued_twice_is_delivered_once(queue: Arc<dyn JobQueue>) {
    let j = job(7);
    queue.enqueue(&j).await.unwrap();
    queue.enqueue(&j).await.unwrap();
    let got = queue.receive(10).await.unwrap();
    assert_eq!(got.len(), 1);
    queue.delete(&got[0].receipt).await.unwrap();
    // (SQS keeps deduplicating for five minutes after; moto forgets at delete. Workers do not rely
    // on it: a job whose record is settled is not run again.)
}

async fn a_message_whose_worker_died_comes_back_after_the_visibility_timeout(queue: Arc<dyn JobQueue>) {
    let j = job(9);
    queue.enqueue(&j).await.unwrap();
    let first = queue.receive(1).await.unwrap();
    assert_eq!(first[0].receive_count, 1);
    // The worker dies: no delete, no release.
    let again = receive_within_10s(queue.as_ref()).await;
    assert_eq!(again.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(again[0].job, j);
    assert_eq!(again[0].receive_count, 2);
    queue.delete(&again[0].receipt).await.unwrap();
}

async fn a_released_message_comes_back_and_after_the_last_receive_goes_to_the_dead_letters(queue: Arc<dyn JobQueue>) {
    let j = job(11);
    queue.enqueue(&j).await.unwrap();
    let first = queue.receive(1).await.unwrap();
    queue.release(&first[0], Duration::ZERO).await.unwrap();
    let second = queue.receive(1).await.unwrap();
    assert_eq!((second.len(), second[0].receive_count), (1, 2));
    queue.release(&second[0], Duration::ZERO).await.unwrap();
    // That was the last allowed receive: the message is dead, not delivered again.
    assert!(queue.receive(1).await.unwrap().is_empty());
    assert_eq!(queue.dead_letters().await.unwrap(), 1);
}

async fn a_postponed_message_comes_back_after_its_delay_and_is_not_dead_lettered(queue: Arc<dyn JobQueue>) {
    let j = job(13);
    queue.enqueue(&j).await.unwrap();
    let first = queue.receive(1).await.unwrap();
    queue.postpone(&first[0], Duration::from_secs(2)).await.unwrap();
    assert!(queue.receive(1).await.unwrap().is_empty(), "not before its delay");
    let again = receive_within_10s(queue.as_ref()).await;
    assert_eq!(again.len(), 1, "it comes back");
    // On the last allowed receive a release would dead-letter it; a postponement never does.
    queue.postpone(&again[0], Duration::ZERO).await.unwrap();
    assert_eq!(queue.dead_letters().await.unwrap(), 0);
}

/// Receives both messages and releases them until they are dead (`MAX_RECEIVES` receives).
async fn dead_letter_both(queue: &dyn JobQueue, a: &QueuedJob, b: &QueuedJob) {
    queue.enqueue(a).await.unwrap();
    queue.enqueue(b).await.unwrap();
    for _ in 0..MAX_RECEIVES {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.extend(queue.receive(10).await.unwrap());
            if got.len() == 2 {
                break;
            }
        }
        assert_eq!(got.len(), 2, "both messages are handed out");
        for d in &got {
            queue.release(d, Duration::ZERO).await.unwrap();
        }
    }
    assert!(queue.receive(10).await.unwrap().is_empty(), "dead, not delivered again");
}

async fn dead_letters_are_listed_with_their_job_and_stay_until_removed_by_id(queue: Arc<dyn JobQueue>) {
    let (a, b) = (job(21), job(22));
    dead_letter_both(queue.as_ref(), &a, &b).await;
    let listed = queue.list_dead_letters(100).await.unwrap();
    let mut jobs: Vec<QueuedJob> = listed.iter().map(|d| d.job.clone().unwrap()).collect();
    jobs.sort_by_key(|j| j.object.id);
    assert_eq!(jobs, [a.clone(), b.clone()]);
    assert!(listed.iter().all(|d| d.receive_count >= MAX_RECEIVES), "{listed:?}");
    // Listing leaves them where they are (on SQS: received, then visible again at once).
    assert_eq!(queue.list_dead_letters(100).await.unwrap().len(), 2);
    assert_eq!(queue.list_dead_letters(1).await.unwrap().len(), 1, "at most `max`");
    assert_eq!(queue.dead_letters().await.unwrap(), 2);

    let id_of_a = listed.iter().find(|d| d.job.as_ref().unwrap() == &a).unwrap().id.clone();
    let removed = queue.remove_dead_letters(&[id_of_a.clone(), "no-such-id".into()]).await.unwrap();
    assert_eq!(removed, 1, "only the dead letter named, and an unknown id passed over");
    let left = queue.list_dead_letters(100).await.unwrap();
    assert_eq!(left.iter().map(|d| d.job.clone().unwrap()).collect::<Vec<_>>(), [b]);
    assert_eq!(queue.remove_dead_letters(&[id_of_a]).await.unwrap(), 0, "removing twice removes nothing");
    assert_eq!(queue.dead_letters().await.unwrap(), 1);
}

async fn the_backlog_counts_what_waits_and_ages_its_oldest(queue: Arc<dyn JobQueue>) {
    // SQS says nothing cheaply (CloudWatch has its figures); the embedded queue counts.
    let Some(empty) = queue.backlog().await.unwrap() else { return };
    assert_eq!(empty, nzj_queue::Backlog { messages: 0, oldest: None });
    queue.enqueue(&job(31)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    queue.enqueue(&job(32)).await.unwrap();
    let backlog = queue.backlog().await.unwrap().unwrap();
    assert_eq!(backlog.messages, 2);
    assert!(backlog.oldest.unwrap() >= Duration::from_millis(20), "the oldest one's age: {backlog:?}");
    let got = queue.receive(10).await.unwrap();
    assert_eq!(queue.backlog().await.unwrap().unwrap().messages, 2, "in flight still counts");
    for d in got {
        queue.delete(&d.receipt).await.unwrap();
    }
    assert_eq!(queue.backlog().await.unwrap().unwrap(), nzj_queue::Backlog { messages: 0, oldest: None });
}

/// A queue file written before schema versions (user_version 0) keeps its messages; one from a
/// newer nzj is refused with a message naming it.
#[tokio::test]
async fn an_embedded_queue_written_before_schema_versions_keeps_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite3");
    let job = QueuedJob {
        job_id: JobId::new_at(chrono::Utc::now()),
        name: JobName::UpdateHost,
        object: ObjectRef { kind: ObjectKind::Device, id: 7 },
        data: None,
    };
    SqliteQueue::<QueuedJob>::open(&path, VISIBILITY, MAX_RECEIVES).unwrap().enqueue(&job).await.unwrap();
    // Version 1 is the unversioned schema as it was (without the later columns); user_version 0
    // is what that release left.
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch("DROP INDEX queue_done; ALTER TABLE queue DROP COLUMN enqueued_at; PRAGMA user_version = 0;")
        .unwrap();
    drop(old);
    let queue = SqliteQueue::<QueuedJob>::open(&path, VISIBILITY, MAX_RECEIVES).unwrap();
    let received = queue.receive(10).await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].job, job);
    let version: i64 =
        rusqlite::Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, nzj_queue::SQLITE_SCHEMA_VERSION as i64);

    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let error = SqliteQueue::<QueuedJob>::open(&path, VISIBILITY, MAX_RECEIVES).err().expect("refused").to_string();
    assert!(error.contains("newer nzj") && error.contains("queue.sqlite3"), "{error}");
}

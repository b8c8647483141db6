//! The host-worker function's handler on SQS batches, against moto (SQS FIFO, DynamoDB) and a real
//! Zabbix 7.0: Lambda's SQS poller is played by receiving the messages and building its event.

use aws_lambda_events::event::sqs::SqsEvent;
use nzj_app::{App, Queues};
use nzj_core::config::Config;
use nzj_core::job::JobOrigin;
use nzj_core::netbox::{ObjectKind, ObjectRef};
use nzj_core::{JobId, JobName, JobStatus, Trigger};
use nzj_jobs::enqueue_host_job;
use nzj_lambda::{handle_scheduled, handle_sqs_batch};
use nzj_queue::{QueuedJob, SqsQueue};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::var;

mod support;

struct Setup {
    deployment: App,
    actions: support::Actions,
    queue: Arc<SqsQueue>,
    sqs: aws_sdk_sqs::Client,
    url: String,
}

async fn setup(zabbix_url: String) -> Setup {
    let env = [
        ("NZJ_ZABBIX_URL".to_string(), zabbix_url),
        ("NZJ_ZABBIX_TOKEN".to_string(), var("ZBX70_TOKEN")),
        ("NZJ_HOST_JOB_BACKOFF_SECONDS".to_string(), "1".to_string()),
    ];
    let config = Config::from_sources(env, None).unwrap();
    let aws = support::moto().await;
    let (store, actions) = support::recording_store(&aws).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let name = format!("nzj-hw-{}", uuid::Uuid::now_v7().simple());
    let queue = Arc::new(SqsQueue::ensure(sqs.clone(), &name, Duration::from_secs(30), 3).await.unwrap());
    let deployment = App::build(&config, Arc::new(store), Queues { host: Some(queue.clone()), bulk: None }).unwrap();
    let url =
        sqs.get_queue_url().queue_name(format!("{name}.fifo")).send().await.unwrap().queue_url().unwrap().to_string();
    Setup { deployment, actions, queue, sqs, url }
}

fn device() -> (ObjectRef, Value) {
    let text = include_str!("../../../tests/fixtures/netbox-4.7-webhooks/04_dcim.device_updated.body.json");
    let mut data = serde_json::from_str::<Value>(text).unwrap()["data"].take();
    let id = uuid::Uuid::now_v7().as_u64_pair().1 >> 12;
    data["id"] = json!(id);
    data["name"] = json!(format!("nzj-hw-{}", uuid::Uuid::now_v7().simple()));
    (ObjectRef { kind: ObjectKind::Device, id }, data)
}

async fn enqueue(s: &Setup, name: JobName, object: ObjectRef, data: Value) -> JobId {
    let job = QueuedJob { job_id: JobId::new_at(chrono::Utc::now()), name, object, data: Some(data) };
    let origin = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: None };
    enqueue_host_job(
        s.deployment.store.as_ref(),
        s.queue.as_ref(),
        job.clone(),
        origin,
        chrono::Utc::now(),
        chrono::Duration::days(1),
        Vec::new(),
    )
    .await
    .unwrap();
    job.job_id
}

async fn poll(s: &Setup) -> SqsEvent {
    support::poll(&s.sqs, &s.url).await
}

async fn status(s: &Setup, id: &JobId) -> (JobStatus, u32) {
    let record = s.deployment.store.get_job(id).await.unwrap().unwrap();
    if record.status == JobStatus::Failed {
        eprintln!("job {id} failed: {:?}", record.error);
    }
    (record.status, record.attempt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_runs_each_objects_jobs_in_order_and_reports_no_failures() {
    let s = setup(var("ZBX70_API_URL")).await;
    let import = nzj_lambda::ScheduledEvent::default();
    let deadline = chrono::Utc::now() + chrono::Duration::minutes(5);
    let imported =
        handle_scheduled(&s.deployment, nzj_core::SystemJob::ImportZabbixSettings, &import, deadline).await.unwrap();
    assert_eq!(imported["status"], "completed", "{imported}");
    let worker = s.deployment.host_worker().unwrap();
    let ((a, mut a_data), (b, b_data)) = (device(), device());
    let a1 = enqueue(&s, JobName::CreateHost, a, a_data.clone()).await;
    a_data["primary_ip4"]["address"] = json!("192.0.2.55/24");
    let a2 = enqueue(&s, JobName::UpdateHost, a, a_data.clone()).await;
    let b1 = enqueue(&s, JobName::CreateHost, b, b_data.clone()).await;
    // Lambda's poller, until every job is done (a job Zabbix refuses for contention is retried).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let event = poll(&s).await;
        handle_sqs_batch(&worker, event).await;
        let mut done = true;
        for id in [&a1, &a2, &b1] {
            let (state, _) = status(&s, id).await;
            assert_ne!(state, JobStatus::Failed);
            done &= state == JobStatus::Completed;
        }
        if done {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "jobs did not complete");
    }
    let zbx = worker.jobs().converger().zabbix().clone();
    let host = zbx
        .call(
            "host.get",
            json!({"output": ["hostid"], "selectInterfaces": ["ip"], "filter": {"host": [a_data["name"]]}}),
        )
        .await
        .unwrap();
    assert_eq!(host[0]["interfaces"][0]["ip"], "192.0.2.55", "the later job of the object ran last");
    for name in [&a_data["name"], &b_data["name"]] {
        let found = zbx.call("host.get", json!({"output": ["hostid"], "filter": {"host": [name]}})).await.unwrap();
        zbx.call("host.delete", json!([found[0]["hostid"]])).await.unwrap();
    }
    support::assert_allowed("host-worker", &s.actions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_zabbix_is_unreachable_the_failed_objects_later_jobs_are_not_run() {
    // Nothing listens here: every Zabbix call is a transient failure.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = setup(format!("http://127.0.0.1:{port}/api_jsonrpc.php")).await;
    // No templates in the mapping: the desired host needs no imported cache.
    let mut settings = s.deployment.store.get_settings().await.unwrap();
    settings.rules[0].templates.clear();
    s.deployment.store.commit(vec![nzj_store::Write::settings(settings)]).await.unwrap();
    let worker = s.deployment.host_worker().unwrap();
    let ((a, a_data), (b, b_data)) = (device(), device());
    let a1 = enqueue(&s, JobName::CreateHost, a, a_data.clone()).await;
    let a2 = enqueue(&s, JobName::UpdateHost, a, a_data).await;
    let b1 = enqueue(&s, JobName::CreateHost, b, b_data).await;
    let event = poll(&s).await;
    let ids: Vec<String> = event.records.iter().map(|r| r.message_id.clone().unwrap()).collect();
    let response = handle_sqs_batch(&worker, event).await;
    let mut failed: Vec<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
    failed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(failed, expected, "every message of a failed object is reported failed");
    assert_eq!(status(&s, &a1).await, (JobStatus::Pending, 2), "tried, back to pending");
    assert_eq!(status(&s, &b1).await, (JobStatus::Pending, 2));
    if ids.len() == 3 {
        assert_eq!(status(&s, &a2).await, (JobStatus::Pending, 1), "a2 waits behind a1, not run");
    }
}

#[test]
fn the_sample_event_parses_as_an_sqs_event_of_host_jobs() {
    let text =
        std::fs::read_to_string(format!("{}/../../events/host-worker.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let event: SqsEvent = serde_json::from_str(&text).unwrap();
    let job: QueuedJob = serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(job.object.to_string(), "dcim.device/1");
    assert_eq!(event.records[0].attributes["MessageGroupId"], "dcim.device/1");
}

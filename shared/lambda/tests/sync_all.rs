//! The sync-all function's handler on SQS batches of the bulk queue, against moto (SQS FIFO,
//! DynamoDB) and a real Zabbix 7.0: Lambda's SQS poller is played by receiving the messages and
//! building its event. NetBox's device pages are stood in for (`make test` has no NetBox; `make
//! e2e` syncs from a real one).

use aws_lambda_events::event::sqs::SqsEvent;
use nzj_app::{App, Queues};
use nzj_core::config::Config;
use nzj_core::job::JobOrigin;
use nzj_core::netbox::ObjectKind;
use nzj_core::retry::RetryPolicy;
use nzj_core::{JobStatus, SystemClock, Trigger};
use nzj_jobs::{HostConverger, SyncHostsNow, SyncStep, SyncWorker};
use nzj_lambda::{handle_scheduled, handle_sqs_batch};
use nzj_netbox::NetboxInMemory;
use nzj_queue::SqsQueue;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::var;

mod support;

fn devices(n: u64) -> Vec<Value> {
    let text = include_str!("../../../tests/fixtures/netbox-4.7-webhooks/04_dcim.device_updated.body.json");
    let template = serde_json::from_str::<Value>(text).unwrap()["data"].take();
    let first = (uuid::Uuid::now_v7().as_u64_pair().1 >> 20) * 1000;
    let prefix = format!("nzj-sa-{}", uuid::Uuid::now_v7().simple());
    (0..n)
        .map(|i| {
            let mut device = template.clone();
            device["id"] = json!(first + i);
            device["name"] = json!(format!("{prefix}-{i}"));
            device
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_on_the_bulk_queue_run_a_sync_to_its_end_a_page_of_each_kind_per_step() {
    let env =
        [("NZJ_ZABBIX_URL".to_string(), var("ZBX70_API_URL")), ("NZJ_ZABBIX_TOKEN".to_string(), var("ZBX70_TOKEN"))];
    let config = Config::from_sources(env, None).unwrap();
    let aws = support::moto().await;
    let (store, actions) = support::recording_store(&aws).await;
    let store = Arc::new(store);
    let deployment = App::build(&config, store.clone(), Queues::default()).unwrap();
    let deadline = chrono::Utc::now() + chrono::Duration::minutes(5);
    let import = nzj_lambda::ScheduledEvent::default();
    let imported =
        handle_scheduled(&deployment, nzj_core::SystemJob::ImportZabbixSettings, &import, deadline).await.unwrap();
    assert_eq!(imported["status"], "completed", "{imported}");
    support::assert_allowed("import-settings", &actions);
    actions.0.lock().unwrap().clear();

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let name = format!("nzj-bulk-{}", uuid::Uuid::now_v7().simple());
    let bulk: Arc<SqsQueue<SyncStep>> =
        Arc::new(SqsQueue::ensure(sqs.clone(), &name, Duration::from_secs(60), 3).await.unwrap());
    let url =
        sqs.get_queue_url().queue_name(format!("{name}.fifo")).send().await.unwrap().queue_url().unwrap().to_string();
    let zabbix = deployment.zabbix.clone().unwrap();
    let devices = devices(5);
    // NetBox in memory (this test has no NetBox), so the sync is built from its parts.
    let netbox = Arc::new(NetboxInMemory::new(ObjectKind::Device, devices.clone()));
    let (lease, retention) = (chrono::Duration::minutes(15), chrono::Duration::days(1));
    let converger = HostConverger::new(zabbix.clone(), store.clone());
    let sync = SyncHostsNow::new(converger, netbox, Arc::new(SystemClock), lease, retention).with_page_size(2);
    let retry = RetryPolicy::new(3, Duration::from_secs(1));
    let worker = SyncWorker::new(Arc::new(sync), bulk.clone(), retry);
    let origin = JobOrigin { trigger: Trigger::Api, user: "tests".into(), object: None };
    let job = worker.sync().launch(bulk.as_ref(), origin).await.unwrap();

    // Lambda's poller: each invocation runs one step, which enqueues the next.
    let mut invocations = 0;
    let record = loop {
        let event = poll(&sqs, &url).await;
        if !event.records.is_empty() {
            invocations += 1;
            let response = handle_sqs_batch(&worker, event.clone()).await;
            assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
            support::delete_succeeded(&sqs, &url, &event, &response).await;
        }
        let record = store_job(&deployment, &job.id).await;
        if record.status.is_final() {
            break record;
        }
        assert!(invocations < 20, "the sync did not finish");
    };
    assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
    let result = record.result.unwrap();
    assert_eq!((result["total"].as_u64(), result["created"].as_u64()), (Some(5), Some(5)), "{result}");
    // Pages of 2, 2 and 1 devices (the first read beside the empty page of VMs), then the
    // deletions: four steps.
    assert_eq!(invocations, 4);
    for device in &devices {
        let found =
            zabbix.call("host.get", json!({"output": ["hostid"], "filter": {"host": [device["name"]]}})).await.unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1);
        zabbix.call("host.delete", json!([found[0]["hostid"]])).await.unwrap();
    }
    support::assert_allowed("sync-all", &actions);
}

async fn poll(sqs: &aws_sdk_sqs::Client, url: &str) -> SqsEvent {
    support::poll(sqs, url).await
}

async fn store_job(deployment: &App, id: &nzj_core::JobId) -> nzj_core::JobRecord {
    deployment.store.get_job(id).await.unwrap().unwrap()
}

#[test]
fn the_sample_event_parses_as_an_sqs_event_of_one_sync_step() {
    let text = std::fs::read_to_string(format!("{}/../../events/sync-all.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let event: SqsEvent = serde_json::from_str(&text).unwrap();
    let step: SyncStep = serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(step.step, 0);
    assert_eq!(event.records[0].attributes["MessageGroupId"], "SyncHostsNow");
}

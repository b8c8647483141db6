//! What the runtime's store suites share: each store as a fixture (the embedded SQLite store, and
//! DynamoDB against moto, a real-protocol endpoint; `make test` starts one and sets
//! `AWS_ENDPOINT_URL`), `for_each_store!` to run one guarantee on both, and a scheduler on a
//! manual clock.
#![allow(dead_code)]

use chrono::{DateTime, Duration, DurationRound, Utc};
use nzj_core::job::JobOrigin;
use nzj_core::{ManualClock, Trigger};
use nzj_runtime::{ClaimedRun, Scheduler, TriggerOutcome};
use nzj_store::{DynamoDbStore, JobStore, SqliteStore};
use std::sync::Arc;

pub const LEASE: Duration = Duration::seconds(60);

pub struct Fixture {
    pub store: Arc<dyn JobStore>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap();
    Fixture { store: Arc::new(store), _dir: Some(dir) }
}

/// The client configuration of the moto endpoint `make test` starts.
pub async fn dynamodb_config() -> aws_sdk_dynamodb::config::Builder {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL must point at a DynamoDB endpoint: run `make test`, which starts moto \
         (infra/aws-local.sh) and sets it",
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    aws_sdk_dynamodb::config::Builder::from(&config)
}

/// A store on a new table of its own, with a client made from `config`.
pub async fn dynamodb_store(config: aws_sdk_dynamodb::config::Builder) -> DynamoDbStore {
    let table = format!("nzj-test-{}", uuid::Uuid::now_v7());
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config.build()), table);
    store.ensure_table().await.unwrap();
    store
}

pub async fn dynamodb_fixture() -> Fixture {
    Fixture { store: Arc::new(dynamodb_store(dynamodb_config().await).await), _dir: None }
}

#[macro_export]
macro_rules! for_each_store {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fixture = super::support::sqlite_fixture().await;
                    super::$name(fixture.store.clone()).await;
                }
            )+
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fixture = super::support::dynamodb_fixture().await;
                    super::$name(fixture.store.clone()).await;
                }
            )+
        }
    };
}

pub fn start() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start()))
}

pub fn scheduler(store: &Arc<dyn JobStore>, clock: &Arc<ManualClock>) -> Arc<Scheduler> {
    Arc::new(Scheduler::new(store.clone(), clock.clone(), LEASE, Duration::days(30)))
}

pub fn scheduled() -> JobOrigin {
    JobOrigin { trigger: Trigger::Schedule, user: "scheduler".into(), object: None }
}

pub fn claimed(outcome: TriggerOutcome) -> ClaimedRun {
    match outcome {
        TriggerOutcome::Claimed(run) => *run,
        other => panic!("expected a claim, got {other:?}"),
    }
}

//! Job listing filters on both stores (`GET /api/jobs`, `nzj jobs ls`): by time range, user,
//! object, trigger, kind, name and status, alone and together, each page continuing the same
//! filters, return exactly the jobs that match; on DynamoDB every listing is an index Query,
//! never a table Scan.

mod support;

use chrono::{DateTime, Duration, Utc};
use nzj_core::job::JobOrigin;
use nzj_core::{JobKind, JobName, JobRecord, JobStatus, Trigger};
use nzj_store::{JobQuery, JobStore, Write};
use std::sync::{Arc, Mutex};
use support::start;

for_each_store!(filters_return_exactly_the_matching_jobs_page_after_page);

/// 36 jobs, one a minute, with every mix of name, user, object, trigger and status.
async fn jobs(store: &Arc<dyn JobStore>) -> Vec<JobRecord> {
    let names = [JobName::UpdateHost, JobName::CreateHost, JobName::ImportZabbixSettings, JobName::SyncHostsNow];
    let users = ["netbox", "alice", "scheduler"];
    let triggers = [Trigger::Webhook, Trigger::Cli, Trigger::Schedule];
    let mut all = Vec::new();
    for i in 0..36 {
        let name = names[i % 4];
        let object = (name.kind() == JobKind::Host).then(|| format!("dcim.device/{}", i % 3));
        let origin = JobOrigin { trigger: triggers[i % 3], user: users[(i / 3) % 3].into(), object };
        let mut job = JobRecord::new_running(name, origin, at(i as i64), Duration::seconds(60), Duration::days(30));
        if i % 5 == 0 {
            job.fail(at(i as i64), "refused").unwrap();
        } else {
            job.complete(at(i as i64), serde_json::json!({})).unwrap();
        }
        store.commit(vec![Write::job(job.clone())]).await.unwrap();
        all.push(job);
    }
    all
}

/// Minute `minute` of the test's own timeline (one start for the whole run).
fn at(minute: i64) -> DateTime<Utc> {
    static START: std::sync::OnceLock<DateTime<Utc>> = std::sync::OnceLock::new();
    *START.get_or_init(start) + Duration::minutes(minute)
}

/// Every page of `query`, each asking for the next with the same filters.
async fn every_page(store: &Arc<dyn JobStore>, mut query: JobQuery) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let page = store.list_jobs(&query).await.unwrap();
        assert!(page.jobs.len() <= query.limit);
        ids.extend(page.jobs.iter().map(|j| j.id.to_string()));
        match page.next_cursor {
            Some(cursor) => query.before = Some(cursor),
            None => return ids,
        }
    }
}

fn queries() -> Vec<JobQuery> {
    let q = JobQuery { limit: 4, ..Default::default() };
    vec![
        JobQuery { since: Some(at(10)), until: Some(at(20)), ..q.clone() },
        JobQuery { since: Some(at(30)), ..q.clone() },
        JobQuery { until: Some(at(3)), ..q.clone() },
        JobQuery { user: Some("alice".into()), ..q.clone() },
        JobQuery { object: Some("dcim.device/1".into()), ..q.clone() },
        JobQuery { object: Some("dcim.device/1".into()), since: Some(at(5)), until: Some(at(30)), ..q.clone() },
        JobQuery { object: Some("dcim.device/2".into()), status: Some(JobStatus::Failed), ..q.clone() },
        JobQuery { object: Some("dcim.device/0".into()), name: Some(JobName::CreateHost), ..q.clone() },
        JobQuery { trigger: Some(Trigger::Cli), ..q.clone() },
        JobQuery { kind: Some(JobKind::Host), user: Some("netbox".into()), ..q.clone() },
        JobQuery { kind: Some(JobKind::System), trigger: Some(Trigger::Schedule), since: Some(at(6)), ..q.clone() },
        JobQuery { user: Some("nobody".into()), ..q.clone() },
        JobQuery { object: Some("dcim.device/404".into()), ..q.clone() },
    ]
}

async fn filters_return_exactly_the_matching_jobs_page_after_page(store: Arc<dyn JobStore>) {
    let all = jobs(&store).await;
    for query in queries() {
        let mut expected: Vec<&JobRecord> = all.iter().filter(|j| query.matches(j)).collect();
        expected.sort_by(|a, b| b.id.cmp(&a.id));
        let expected: Vec<String> = expected.iter().map(|j| j.id.to_string()).collect();
        assert_eq!(every_page(&store, query.clone()).await, expected, "{query:?}");
    }
    // The range bounds: since is inclusive, until exclusive, to the millisecond.
    let one = JobQuery { since: Some(at(7)), until: Some(at(8)), limit: 10, ..Default::default() };
    assert_eq!(every_page(&store, one).await, [all[7].id.to_string()]);
}

/// Records each DynamoDB operation a client sends (its `X-Amz-Target`).
#[derive(Debug, Clone, Default)]
struct Operations(Arc<Mutex<Vec<String>>>);

impl aws_sdk_dynamodb::config::Intercept for Operations {
    fn name(&self) -> &'static str {
        "operations"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("?");
        self.0.lock().unwrap().push(target.rsplit('.').next().unwrap_or(target).to_string());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_every_filter_reads_an_index_never_the_table() {
    let operations = Operations::default();
    let config = support::dynamodb_config().await.interceptor(operations.clone());
    let store: Arc<dyn JobStore> = Arc::new(support::dynamodb_store(config).await);
    jobs(&store).await;
    operations.0.lock().unwrap().clear();
    for query in queries() {
        every_page(&store, query).await;
    }
    let seen = operations.0.lock().unwrap().clone();
    assert!(!seen.is_empty() && seen.iter().all(|op| op == "Query"), "{seen:?}");
}

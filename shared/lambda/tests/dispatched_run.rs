//! A manual run on AWS goes to the job's own function: the api function claims it, answers 202
//! with the job at once, and invokes the function asynchronously with the run's id; the function
//! runs it to its end. Against moto's DynamoDB and a real Zabbix 7.0. Lambda's asynchronous invoke
//! itself is stood in for by a dispatcher that records the run and calls the function's handler
//! later: moto runs Lambda functions in Docker, which this machine lacks.

use chrono::{Duration, Utc};
use nzj_app::{App, Queues};
use nzj_core::config::Config;
use nzj_core::{JobId, JobStatus, SystemJob};
use nzj_lambda::{ScheduledEvent, handle_scheduled};
use nzj_runtime::{ClaimedRun, RunDispatcher, RunPlace};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use support::var;
use tower::ServiceExt;

mod support;

/// Records what it was asked to start, as Lambda's queue of asynchronous invokes would hold it.
#[derive(Default)]
struct Invokes {
    runs: Mutex<Vec<JobId>>,
    refuse: bool,
}

#[async_trait::async_trait]
impl RunDispatcher for Invokes {
    async fn dispatch(&self, run: &ClaimedRun) -> Result<(), String> {
        if self.refuse {
            return Err("TooManyRequestsException: Rate Exceeded.".into());
        }
        self.runs.lock().unwrap().push(run.record.id.clone());
        Ok(())
    }
}

async fn deployment() -> Arc<App> {
    let env =
        [("NZJ_ZABBIX_URL".to_string(), var("ZBX70_API_URL")), ("NZJ_ZABBIX_TOKEN".to_string(), var("ZBX70_TOKEN"))];
    let config = Config::from_sources(env, None).unwrap();
    let store = support::fresh_store(&support::moto().await).await;
    Arc::new(App::build(&config, Arc::new(store), Queues::default()).unwrap())
}

async fn post_run(app: &App, invokes: Arc<Invokes>) -> (u16, Value) {
    let state = Arc::new(app.api_state(nzj_api::ApiAuth::Upstream, RunPlace::Dispatched(invokes)));
    let request = http::Request::post("/api/jobs")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"name": "ImportZabbixSettings"}"#))
        .unwrap();
    let response = nzj_lambda::api_router(state).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_answers_202_at_once_and_runs_to_its_end_in_the_jobs_function() {
    let app = deployment().await;
    let invokes = Arc::new(Invokes::default());
    let (status, running) = post_run(&app, invokes.clone()).await;
    assert_eq!(status, 202, "{running}");
    assert_eq!(running["status"], "running", "answered before the run, not after it: {running}");
    let id: JobId = serde_json::from_value(running["id"].clone()).unwrap();
    assert_eq!(*invokes.runs.lock().unwrap(), vec![id.clone()]);
    // While it runs, another manual run is refused, as in serve.
    assert_eq!(post_run(&app, invokes.clone()).await.0, 409);

    // The invoke reaches the job's function, which runs it from its record.
    let event = ScheduledEvent { run_id: Some(id.clone()), ..Default::default() };
    let deadline = Utc::now() + Duration::minutes(5);
    let done = handle_scheduled(&app, SystemJob::ImportZabbixSettings, &event, deadline).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(app.store.get_job(&id).await.unwrap().unwrap().status, JobStatus::Completed);
    // Lambda may deliver an asynchronous invoke twice: the second finds the run settled.
    let again = handle_scheduled(&app, SystemJob::ImportZabbixSettings, &event, deadline).await.unwrap();
    assert_eq!(again["skipped"]["reason"], "not_running", "{again}");
    // A run id handed to another job's function is refused, not run as that job.
    let wrong = handle_scheduled(&app, SystemJob::MaintenanceCleanup, &event, deadline).await;
    assert!(wrong.unwrap_err().to_string().contains("not of MaintenanceCleanup"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_function_cannot_be_invoked_fails_at_once_instead_of_stalling() {
    let app = deployment().await;
    let refusing = Arc::new(Invokes { refuse: true, ..Default::default() });
    let (status, answer) = post_run(&app, refusing).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("Rate Exceeded"), "{answer}");
    let id: JobId = serde_json::from_value(answer["job"].clone()).unwrap();
    let record = app.store.get_job(&id).await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Failed);
    // Nothing holds the job: the next manual run is taken.
    let (status, _) = post_run(&app, Arc::new(Invokes::default())).await;
    assert_eq!(status, 202);
}

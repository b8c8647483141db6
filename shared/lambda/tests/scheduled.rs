//! The scheduled functions' handler on its sample event (events/), against moto's DynamoDB and a
//! real Zabbix 7.0: the SAM-local workflow without Docker.

use chrono::{Duration, Utc};
use nzj_app::{App, Queues};
use nzj_core::SystemJob;
use nzj_core::config::Config;
use nzj_lambda::{ScheduledEvent, handle_scheduled};
use nzj_store::JobQuery;
use std::sync::Arc;
use support::var;

mod support;

async fn deployment() -> App {
    recording_deployment().await.0
}

/// A deployment whose store records the DynamoDB actions it takes.
async fn recording_deployment() -> (App, support::Actions) {
    let env =
        [("NZJ_ZABBIX_URL".to_string(), var("ZBX70_API_URL")), ("NZJ_ZABBIX_TOKEN".to_string(), var("ZBX70_TOKEN"))];
    let config = Config::from_sources(env, None).unwrap();
    let (store, actions) = support::recording_store(&support::moto().await).await;
    (App::build(&config, Arc::new(store), Queues::default()).unwrap(), actions)
}

fn event(file: &str) -> ScheduledEvent {
    let path = format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_event_runs_the_job_once_and_duplicate_deliveries_are_skipped() {
    for (file, job, binary) in [
        ("import-settings.json", SystemJob::ImportZabbixSettings, "import-settings"),
        ("maintenance-cleanup.json", SystemJob::MaintenanceCleanup, "maintenance-cleanup"),
        ("sync-refresh.json", SystemJob::HostConfigSyncRefresh, "sync-refresh"),
    ] {
        let (deployment, actions) = recording_deployment().await;
        let deployment = Arc::new(deployment);
        let event = event(file);
        assert!(event.scheduled_time.is_some());
        let deadline = Utc::now() + Duration::minutes(15);

        let first = handle_scheduled(&deployment, job, &event, deadline).await.unwrap();
        assert_eq!(first["status"], "completed", "{first}");

        // EventBridge and async Lambda retries deliver the same tick again, even at once.
        let duplicates: Vec<_> = (0..8)
            .map(|_| {
                let (deployment, event) = (deployment.clone(), event.clone());
                tokio::spawn(async move { handle_scheduled(&deployment, job, &event, deadline).await.unwrap() })
            })
            .collect();
        for duplicate in duplicates {
            let answer = duplicate.await.unwrap();
            assert_eq!(answer["skipped"]["reason"], "not_due", "{answer}");
        }
        let runs = deployment.store.list_jobs(&JobQuery { limit: 50, ..Default::default() }).await.unwrap();
        assert_eq!(runs.jobs.len(), 1, "one run for one tick");
        assert_eq!(runs.jobs[0].user, "eventbridge-scheduler");
        support::assert_allowed(binary, &actions);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_too_close_to_its_deadline_claims_nothing_and_the_next_one_runs_the_job() {
    let deployment = deployment().await;
    let event = event("import-settings.json");
    let job = SystemJob::ImportZabbixSettings;
    // What a short emulator deadline gave before: "exceeded the job timeout of 0 s", the slot used.
    let close = handle_scheduled(&deployment, job, &event, Utc::now() + Duration::milliseconds(800)).await.unwrap();
    assert_eq!(close["skipped"]["reason"], "deadline_too_close", "{close}");
    let runs = deployment.store.list_jobs(&JobQuery { limit: 50, ..Default::default() }).await.unwrap();
    assert!(runs.jobs.is_empty(), "no run recorded: {:?}", runs.jobs);
    // A few seconds (a local emulator's): the run gets most of them, and the tick is its.
    let next = handle_scheduled(&deployment, job, &event, Utc::now() + Duration::seconds(20)).await.unwrap();
    assert_eq!(next["status"], "completed", "{next}");
}

#[tokio::test]
async fn a_function_without_zabbix_configured_fails_with_what_is_missing() {
    let store = support::fresh_store(&support::moto().await).await;
    let config = Config::from_sources(Vec::<(String, String)>::new(), None).unwrap();
    let deployment = App::build(&config, Arc::new(store), Queues::default()).unwrap();
    let event = event("import-settings.json");
    let err = handle_scheduled(&deployment, SystemJob::ImportZabbixSettings, &event, Utc::now()).await;
    assert!(err.unwrap_err().to_string().contains("NZJ_ZABBIX_URL"));
}

#[tokio::test]
async fn secrets_named_by_parameter_are_read_from_ssm_and_a_missing_one_names_the_parameter_only() {
    let aws = support::moto().await;
    let ssm = aws_sdk_ssm::Client::new(&aws);
    let name = format!("/nzj-test/{}/zabbix-token", uuid::Uuid::now_v7().simple());
    ssm.put_parameter()
        .name(&name)
        .value("zbx-secret-value")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let env = vec![
        ("NZJ_ZABBIX_URL".to_string(), "http://127.0.0.1:9/api_jsonrpc.php".to_string()),
        ("NZJ_ZABBIX_TOKEN_PARAMETER".to_string(), name.clone()),
    ];
    let resolved = nzj_lambda::with_secrets_from_ssm(&ssm, env).await.unwrap();
    assert!(resolved.contains(&("NZJ_ZABBIX_TOKEN".to_string(), "zbx-secret-value".to_string())));
    let config = nzj_core::config::Config::from_sources(resolved, None).unwrap();
    assert!(config.zabbix.is_some());

    let missing = vec![("NZJ_WEBHOOK_SECRET_PARAMETER".to_string(), "/nzj-test/nope".to_string())];
    let error = nzj_lambda::with_secrets_from_ssm(&ssm, missing).await.unwrap_err().to_string();
    assert!(error.contains("NZJ_WEBHOOK_SECRET_PARAMETER") && error.contains("/nzj-test/nope"), "{error}");
}

//! `/api/deletions` black-box: held deletions listed with the hosts they would delete; a release
//! runs one (a pending DeleteHost job on the host queue, `released_by` the operator) exactly
//! once; a discard keeps the host; malformed, unauthorised and repeated decisions are refused
//! clearly and change nothing.

use nzj_core::job::JobOrigin;
use nzj_core::{JobId, JobName, JobRecord, JobStatus, Trigger};
use nzj_store::{JobStore, Write};
use reqwest::StatusCode;
use serde_json::{Value, json};

mod support;
use support::{TOKEN, post};

/// A DeleteHost job the breaker held, for the host `hostid` of `object`.
async fn held(store: &dyn JobStore, object: &str, hostid: &str) -> JobRecord {
    let now = chrono::Utc::now();
    let origin = JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: Some(object.into()) };
    let mut job =
        JobRecord::new_running(JobName::DeleteHost, origin, now, chrono::Duration::zero(), chrono::Duration::days(1));
    let result = json!({"message": "held", "object": object, "hostid": hostid, "host": format!("sw-{hostid}")});
    job.hold(now, "deletion held by the breaker", result).unwrap();
    store.commit(vec![Write::job(job.clone())]).await.unwrap();
    job.version += 1;
    job
}

#[tokio::test]
async fn held_deletions_are_listed_released_once_or_discarded_and_bad_decisions_are_refused() {
    let app = support::spawn_app(&[], None).await;
    let first = held(app.store.as_ref(), "dcim.device/1", "10001").await;
    let second = held(app.store.as_ref(), "dcim.device/2", "10002").await;

    let listed: Value = reqwest::Client::new()
        .get(format!("{}/api/deletions", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["deletions"][1]["host"], "sw-10001", "which hosts, newest first: {listed}");

    let bad = [
        ("not json", "body is not valid JSON"),
        ("[]", "body must be an object"),
        ("{}", "nothing selected"),
        (r#"{"all": true, "ids": ["x"]}"#, "not both"),
        (r#"{"ids": ["not-a-job-id"]}"#, "is not a job id"),
        (r#"{"ids": []}"#, "a list of 1 to 1000"),
        (r#"{"all": "yes"}"#, "true or false"),
        (r#"{"all": true, "force": true}"#, "unknown field"),
        (r#"{"all": true, "user": "alice"}"#, "unknown field \"user\""),
    ];
    for (body, says) in bad {
        let (status, answer) = post(&app, "/api/deletions/release", body, TOKEN).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{body}: {answer}");
    }
    let (status, _) = post(&app, "/api/deletions/release", r#"{"all": true}"#, "wrong-token-0123456789").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.store.get_job(&first.id).await.unwrap().unwrap().status, JobStatus::Held, "nothing changed");

    // Who decided is the token's name (here `NZJ_API_TOKEN`'s, `admin`), never what a body claims.
    let body = json!({"ids": [first.id]}).to_string();
    let (status, answer) = post(&app, "/api/deletions/release", &body, TOKEN).await;
    assert_eq!((status, answer["decided"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    let runs_as: JobId = answer["deletions"][0]["runs_as"].as_str().unwrap().parse().unwrap();
    let run = app.store.get_job(&runs_as).await.unwrap().unwrap();
    assert_eq!(
        (run.name, run.status, run.released_by.as_deref()),
        (JobName::DeleteHost, JobStatus::Pending, Some("admin"))
    );
    assert_eq!(run.retry_of.as_ref(), Some(&first.id));
    let queued = app.host_queue.receive(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].job.job_id.clone(), queued[0].job.object.to_string()), (runs_as, "dcim.device/1".into()));
    let decided = app.store.get_job(&first.id).await.unwrap().unwrap();
    assert_eq!(decided.status, JobStatus::Completed);
    assert!(decided.result.unwrap()["message"].as_str().unwrap().starts_with("released by admin"));

    // The same release again (a double click, a second operator): refused, nothing enqueued.
    let (status, answer) = post(&app, "/api/deletions/release", &body, TOKEN).await;
    assert_eq!((status, answer["refused"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    assert!(answer["deletions"][0]["error"].as_str().unwrap().contains("not held"), "{answer}");
    let unknown = json!({"ids": [JobId::new_at(chrono::Utc::now())]}).to_string();
    let (_, answer) = post(&app, "/api/deletions/discard", &unknown, TOKEN).await;
    assert!(answer["deletions"][0]["error"].as_str().unwrap().contains("no job"), "{answer}");

    let (status, answer) = post(&app, "/api/deletions/discard", r#"{"all": true}"#, TOKEN).await;
    assert_eq!((status, answer["decided"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    let kept = app.store.get_job(&second.id).await.unwrap().unwrap();
    assert_eq!(kept.result.unwrap()["message"], "discarded by admin: the host is kept");
    assert!(app.host_queue.receive(10).await.unwrap().is_empty(), "a discard runs nothing");
}

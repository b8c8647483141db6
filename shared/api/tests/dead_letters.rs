//! `/api/dlq` over HTTP: a dead letter is listed and shown to a viewer, redriven by an operator (a
//! letter whose job record is gone has its object synced anew, as the operator's job), purged by an
//! admin only, and malformed selections are refused with what is wrong.

use nzj_core::netbox::{ObjectKind, ObjectRef};
use nzj_core::{JobId, JobName, JobStatus};
use nzj_queue::QueuedJob;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

mod support;
use support::{TOKEN, call, operator_token, post, viewer_token};

#[tokio::test]
async fn a_dead_letter_is_listed_redriven_by_an_operator_and_purged_by_an_admin_only() {
    let app = support::spawn_app(&[], None).await;
    let object = ObjectRef { kind: ObjectKind::Device, id: 41 };
    let job = QueuedJob { job_id: JobId::new_at(chrono::Utc::now()), name: JobName::UpdateHost, object, data: None };
    app.host_queue.enqueue(&job).await.unwrap();
    // Given up on: released after every receive the queue allows (5 in the test app).
    for _ in 0..5 {
        let got = app.host_queue.receive(10).await.unwrap();
        app.host_queue.release(&got[0], Duration::ZERO).await.unwrap();
    }

    let (status, listed) = call(&app, reqwest::Method::GET, "/api/dlq", &viewer_token(), "").await;
    assert_eq!((status, listed["count"].as_u64()), (StatusCode::OK, Some(1)), "{listed}");
    let entry = &listed["dead_letters"][0];
    assert_eq!(entry["job_id"], job.job_id.to_string());
    assert_eq!((entry["object"].as_str(), entry["queue"].as_str()), (Some("dcim.device/41"), Some("host")));
    assert_eq!(entry["status"], Value::Null, "its record is gone");
    let id = entry["id"].as_str().unwrap().to_string();
    let (status, shown) = call(&app, reqwest::Method::GET, &format!("/api/dlq/{id}"), &viewer_token(), "").await;
    assert_eq!((status, shown["message"]["job_id"].clone()), (StatusCode::OK, entry["job_id"].clone()));
    let (status, _) = call(&app, reqwest::Method::GET, "/api/dlq/host:999", &viewer_token(), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = call(&app, reqwest::Method::GET, "/api/dlq/nonsense", &viewer_token(), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    for (body, says) in [
        ("{}", "nothing selected"),
        (r#"{"ids": ["x"]}"#, "is not a dead letter's id"),
        (r#"{"ids": ["queue:1"]}"#, "host:<id> or bulk:<id>"),
        (r#"{"ids": [], "all": false}"#, "a list of 1 to 1000"),
        (r#"{"all": true, "ids": ["host:1"]}"#, "not both"),
        (r#"{"all": true, "force": true}"#, "unknown field"),
        ("not json", "not valid JSON"),
    ] {
        let (status, answer) = post(&app, "/api/dlq/redrive", body, &operator_token()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{body}: {answer}");
    }
    let (status, _) = post(&app, "/api/dlq/redrive", r#"{"all": true}"#, &viewer_token()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer does not redrive");
    let (status, _) = post(&app, "/api/dlq/purge", r#"{"all": true}"#, &operator_token()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator does not purge");
    assert_eq!(app.host_queue.dead_letters().await.unwrap(), 1, "nothing changed");

    let body = format!(r#"{{"ids": ["{id}"]}}"#);
    let (status, answer) = post(&app, "/api/dlq/redrive", &body, &operator_token()).await;
    assert_eq!((status, answer["redriven"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    let result = &answer["results"][0];
    assert_eq!((result["id"].as_str(), result["outcome"].as_str()), (Some(id.as_str()), Some("redriven")));
    let new_job: JobId = result["job"].as_str().unwrap().parse().unwrap();
    let record = app.store.get_job(&new_job).await.unwrap().unwrap();
    assert_eq!((record.status, record.user.as_str()), (JobStatus::Pending, "otto"));
    assert_eq!(record.object.as_deref(), Some("dcim.device/41"));
    let queued = app.host_queue.receive(10).await.unwrap();
    assert_eq!(queued.iter().map(|d| d.job.job_id.clone()).collect::<Vec<_>>(), [new_job], "its message is sent");
    assert_eq!(app.host_queue.dead_letters().await.unwrap(), 0, "the letter is gone");

    let (status, answer) = post(&app, "/api/dlq/redrive", &body, &operator_token()).await;
    assert_eq!((status, answer["kept"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    assert!(answer["results"][0]["message"].as_str().unwrap().contains("no such dead letter"), "{answer}");
    let (status, answer) = post(&app, "/api/dlq/purge", r#"{"all": true}"#, TOKEN).await;
    assert_eq!((status, answer["removed"].as_u64()), (StatusCode::OK, Some(0)), "{answer}");
}

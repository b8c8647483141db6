//! `POST /webhook/netbox` on `nzj serve`'s router, with the real NetBox 4.7 deliveries and their
//! captured signatures (secret `s3cret`): every row of docs/product.md §8 that concerns webhooks.

use nzj_core::JobStatus;
use nzj_queue::JobQueue;
use nzj_runtime::Registry;
use nzj_store::{JobQuery, JobStore};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;

mod support;

struct Hook {
    url: String,
    store: Arc<dyn JobStore>,
    queue: Arc<dyn JobQueue>,
    client: reqwest::Client,
    _app: support::TestApp,
}

async fn spawn(secret: Option<&str>) -> Hook {
    let env: Vec<(&str, &str)> = secret.map(|s| ("NZJ_WEBHOOK_SECRET", s)).into_iter().collect();
    let app = support::spawn_app(&env, Some(Registry::default())).await;
    let url = format!("{}/webhook/netbox", app.base);
    Hook { url, store: app.store.clone(), queue: app.host_queue.clone(), client: reqwest::Client::new(), _app: app }
}

fn fixture(name: &str) -> (Vec<u8>, String) {
    let dir = format!("{}/../../tests/fixtures/netbox-4.7-webhooks", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(format!("{dir}/{name}.body.json")).unwrap();
    (body, std::fs::read_to_string(format!("{dir}/{name}.sig")).unwrap().trim().to_string())
}

impl Hook {
    async fn post(&self, body: Vec<u8>, signature: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.post(&self.url).header("content-type", "application/json").body(body);
        if let Some(signature) = signature {
            request = request.header("X-Hook-Signature", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn recorded(&self) -> usize {
        self.store.list_jobs(&JobQuery { limit: 100, ..Default::default() }).await.unwrap().jobs.len()
    }

    async fn queued(&self) -> usize {
        self.queue.receive(100).await.unwrap().len()
    }
}

fn sign(body: &[u8]) -> String {
    nzj_netbox::sign(b"s3cret", body)
}

#[tokio::test]
async fn a_signed_delivery_records_a_pending_job_and_enqueues_it_before_answering() {
    let hook = spawn(Some("s3cret")).await;
    let (body, sig) = fixture("04_dcim.device_updated");
    let (status, answer) = hook.post(body, Some(&sig)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        (answer["status"].as_str(), answer["name"].as_str(), answer["object"].as_str()),
        (Some("queued"), Some("UpdateHost"), Some("dcim.device/1"))
    );
    let id = answer["job"].as_str().unwrap().parse().unwrap();
    let job = hook.store.get_job(&id).await.unwrap().unwrap();
    assert_eq!(
        (job.status, job.user.as_str(), job.object.as_deref()),
        (JobStatus::Pending, "admin", Some("dcim.device/1"))
    );
    assert_eq!(hook.queued().await, 1);
}

#[tokio::test]
async fn the_same_delivery_twice_gives_one_job_and_the_second_answer_names_it() {
    let hook = spawn(Some("s3cret")).await;
    let (body, sig) = fixture("01_dcim.device_created");
    let (first, a) = hook.post(body.clone(), Some(&sig)).await;
    let (second, b) = hook.post(body, Some(&sig)).await;
    assert_eq!((first, second), (StatusCode::ACCEPTED, StatusCode::OK));
    assert_eq!(b["status"], "duplicate");
    assert_eq!(b["job"], a["job"]);
    assert_eq!((hook.recorded().await, hook.queued().await), (1, 1));
}

#[tokio::test]
async fn missing_or_wrong_signatures_are_401_and_nothing_is_recorded_or_enqueued() {
    let hook = spawn(Some("s3cret")).await;
    let (body, sig) = fixture("12_dcim.device_deleted");
    let (status, _) = hook.post(body.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let flipped = format!("{}{}", if sig.starts_with('0') { '1' } else { '0' }, &sig[1..]);
    let (status, answer) = hook.post(body.clone(), Some(&flipped)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    let (status, _) = hook.post(tampered, Some(&sig)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!((hook.recorded().await, hook.queued().await), (0, 0));

    let refusing = spawn(None).await;
    let (status, answer) = refusing.post(body, Some(&sig)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "without a secret every delivery is refused");
    assert!(answer["error"].as_str().unwrap().contains("NZJ_WEBHOOK_SECRET"));
}

#[tokio::test]
async fn malformed_oversized_and_unhandled_deliveries_get_clear_answers() {
    let hook = spawn(Some("s3cret")).await;
    let not_json = b"{not json".to_vec();
    let (status, answer) = hook.post(not_json.clone(), Some(&sign(&not_json))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().contains("not JSON"));
    let not_webhook = br#"{"hello": "world"}"#.to_vec();
    let (status, answer) = hook.post(not_webhook.clone(), Some(&sign(&not_webhook))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().contains("not a NetBox webhook"));

    let site = br#"{"event": "created", "object_type": "dcim.site", "data": {"id": 4}}"#.to_vec();
    let (status, answer) = hook.post(site.clone(), Some(&sign(&site))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["status"], "ignored");

    let mut huge = br#"{"event": "created", "object_type": "dcim.device", "data": {"id": 1, "pad": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', nzj_netbox::MAX_BODY_BYTES));
    huge.extend(br#""}}"#);
    let (status, answer) = hook.post(huge.clone(), Some(&sign(&huge))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer["error"].as_str().unwrap().contains("over the limit"), "{answer}");
    // Far over: refused before the intake reads it, and still in JSON.
    let far = vec![b'x'; 3 * nzj_netbox::MAX_BODY_BYTES];
    let (status, answer) = hook.post(far.clone(), Some(&sign(&far))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer["error"].as_str().unwrap().contains("too large"), "{answer}");
    assert_eq!((hook.recorded().await, hook.queued().await), (0, 0), "nothing recorded for any of them");
}

/// The write-back's own deliveries, captured from a real NetBox 4.7 by
/// infra/capture-netbox-fixtures.py (signed with `s3cret`).
fn write_back_delivery(name: &str) -> Vec<u8> {
    let dir = format!("{}/../../tests/fixtures/netbox-4.7-rest", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(format!("{dir}/{name}.body.json")).unwrap()
}

#[tokio::test]
async fn netbox_echoing_our_own_write_back_starts_no_job_but_a_persons_change_beside_it_does() {
    let hook = spawn(Some("s3cret")).await;
    for name in ["write_back_only", "write_back_bulk_0", "write_back_bulk_1"] {
        let body = write_back_delivery(name);
        let (status, answer) = hook.post(body.clone(), Some(&sign(&body))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}: {answer}");
        assert_eq!(answer["status"], "ignored", "{name}: {answer}");
        assert!(answer["reason"].as_str().unwrap().contains("write-back"), "{answer}");
    }
    assert_eq!((hook.recorded().await, hook.queued().await), (0, 0), "no job for our own echo");

    // A description changed in the same PATCH as our field: the person's change is a job.
    let body = write_back_delivery("write_back_and_user_change");
    let (status, answer) = hook.post(body.clone(), Some(&sign(&body))).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::ACCEPTED, Some("queued")), "{answer}");
    // A delivery without snapshots (or with a change of something else) is a job as before.
    let (body, sig) = fixture("08_dcim.device_updated");
    let (_, answer) = hook.post(body, Some(&sig)).await;
    assert_eq!(answer["status"], "queued", "{answer}");
    assert_eq!(hook.recorded().await, 2);
}

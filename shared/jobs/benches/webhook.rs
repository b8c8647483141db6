//! `make bench`: NetBox webhook deliveries handled per second by `nzj serve`'s intake on the
//! embedded store (signature, parse, idempotency record + job record, enqueue), against a
//! baseline measured in the same run: signature check and parse alone. Medians of 5 rounds.
//! Set NZJ_BENCH_DELIVERIES to change the deliveries per round (default 2000).

use nzj_core::{Clock, Secret, SystemClock};
use nzj_jobs::WebhookIntake;
use nzj_queue::SqliteQueue;
use nzj_store::SqliteStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;

/// `count` distinct signed deliveries, from the real NetBox 4.7 device payload.
fn deliveries(count: usize) -> Vec<(Vec<u8>, String)> {
    let text = include_str!("../../../tests/fixtures/netbox-4.7-webhooks/04_dcim.device_updated.body.json");
    let template: serde_json::Value = serde_json::from_str(text).unwrap();
    (0..count)
        .map(|i| {
            let mut body = template.clone();
            body["data"]["id"] = serde_json::json!(i + 1);
            body["data"]["name"] = serde_json::json!(format!("bench-{i}"));
            let bytes = serde_json::to_vec(&body).unwrap();
            let signature = nzj_netbox::sign(b"s3cret", &bytes);
            (bytes, signature)
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("NZJ_BENCH_DELIVERIES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let input = deliveries(count);

    let mut baseline = Vec::new();
    let mut intake_rates = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for (body, sig) in &input {
            nzj_netbox::verify_signature(b"s3cret", body, Some(sig)).unwrap();
            let event = nzj_netbox::parse(body).unwrap();
            std::hint::black_box(nzj_netbox::route(&event).unwrap());
        }
        baseline.push(count as f64 / start.elapsed().as_secs_f64());

        let dir = tempfile::tempdir().unwrap();
        let intake = WebhookIntake::new(
            Secret::new("s3cret"),
            Arc::new(SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap()),
            Arc::new(SqliteQueue::open(&dir.path().join("queue.sqlite3"), Duration::from_secs(60), 5).unwrap()),
            Arc::new(SystemClock) as Arc<dyn Clock>,
            chrono::Duration::days(30),
        );
        let start = Instant::now();
        for (body, sig) in &input {
            let answer = intake.receive(Some(sig), body).await;
            assert_eq!(answer.status, 202, "{}", answer.body);
        }
        intake_rates.push(count as f64 / start.elapsed().as_secs_f64());
    }
    let (base, full) = (median(baseline), median(intake_rates));
    println!("webhook intake on the embedded store ({cores} cores, {count} deliveries x {ROUNDS} rounds, medians)");
    println!("  verify + parse + route only (baseline)        {base:>10.0} deliveries/s");
    println!("  + idempotency record, job record, enqueue      {full:>10.0} deliveries/s");
    println!("  ratio baseline / full intake                    {:>10.1}x", base / full);
}

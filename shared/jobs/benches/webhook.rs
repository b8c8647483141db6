//! `make bench`: NetBox webhook deliveries handled per second by `nzj serve`'s intake on the
//! embedded store (signature, parse, idempotency record + job record, enqueue, every commit
//! durable), with 1, 8 and 32 deliveries in flight at once (concurrent commits are grouped, see
//! `nzj_sqlite`), against a baseline measured in the same run: signature check and parse alone.
//! Medians of 5 rounds.
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

/// Deliveries per second through one intake with `concurrency` deliveries in flight at once (as
/// NetBox's webhook workers and `nzj serve`'s HTTP server allow), and the durable commits they took.
async fn intake_rate(input: &[(Vec<u8>, String)], concurrency: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap());
    let queue = Arc::new(SqliteQueue::open(&dir.path().join("queue.sqlite3"), Duration::from_secs(60), 5).unwrap());
    let intake = Arc::new(WebhookIntake::new(
        Secret::new("s3cret"),
        store.clone(),
        queue.clone(),
        Arc::new(SystemClock) as Arc<dyn Clock>,
        chrono::Duration::days(30),
    ));
    let shares: Vec<Vec<(Vec<u8>, String)>> =
        (0..concurrency).map(|k| input.iter().skip(k).step_by(concurrency).cloned().collect()).collect();
    let start = Instant::now();
    let senders = shares.into_iter().map(|share| {
        let intake = intake.clone();
        tokio::spawn(async move {
            for (body, sig) in &share {
                let answer = intake.receive(Some(sig), body).await;
                assert_eq!(answer.status, 202, "{}", answer.body);
            }
        })
    });
    for sender in senders.collect::<Vec<_>>() {
        sender.await.unwrap();
    }
    let rate = input.len() as f64 / start.elapsed().as_secs_f64();
    (rate, (store.commits() + queue.commits()) as f64 / input.len() as f64)
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("NZJ_BENCH_DELIVERIES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let input = deliveries(count);

    let mut baseline = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for (body, sig) in &input {
            nzj_netbox::verify_signature(b"s3cret", body, Some(sig)).unwrap();
            let event = nzj_netbox::parse(body).unwrap();
            std::hint::black_box(nzj_netbox::route(&event).unwrap());
        }
        baseline.push(count as f64 / start.elapsed().as_secs_f64());
    }
    let base = median(baseline);
    println!("webhook intake on the embedded store ({cores} cores, {count} deliveries x {ROUNDS} rounds, medians;");
    println!("every commit durable: SQLite synchronous=FULL, concurrent commits grouped)");
    println!("  verify + parse + route only (baseline)             {base:>8.0} deliveries/s");
    for concurrency in [1, 8, 32] {
        let mut rates = Vec::new();
        let mut per_delivery = Vec::new();
        for _ in 0..ROUNDS {
            let (rate, commits) = intake_rate(&input, concurrency).await;
            rates.push(rate);
            per_delivery.push(commits);
        }
        let (rate, commits) = (median(rates), median(per_delivery));
        println!(
            "  full intake, {concurrency:>2} at once   {rate:>8.0} deliveries/s   {commits:>5.2} commits per delivery   baseline/intake {:>6.1}x",
            base / rate
        );
    }
}

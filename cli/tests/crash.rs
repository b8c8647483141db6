//! Crash consistency of `nzj serve` with a real Zabbix 7.0: a burst of distinct signed NetBox
//! deliveries while the process is killed (`kill -9`) at random moments and restarted on the same
//! data dir; every delivery that got no 2xx is sent again, as NetBox does. At the end: every
//! acknowledged delivery's job completed (through the retry of a stalled run if it was killed
//! mid-job), no job is left pending or running, and every device has exactly one host.
//! The seed of the kill times is printed, to replay a failure (`NZJ_CRASH_SEED`).

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Serve, delivery, request};

const DELIVERIES: u64 = 200;
const KILLS: usize = 6;

/// A small xorshift: random enough for kill times, and replayable from its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make test`, which starts Zabbix 7.0"))
}

struct Harness {
    listen: String,
    data: std::path::PathBuf,
    env: Vec<(String, String)>,
}

impl Harness {
    fn spawn(&self) -> Serve {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Serve::spawn(&self.listen, &self.data, "", &env)
    }

    fn api(&self, method: &str, path: &str, body: &[u8]) -> Option<(u16, Value)> {
        let token = std::fs::read_to_string(self.data.join("api-token")).ok()?;
        let auth = format!("Bearer {}", token.trim());
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        let (status, text) = request(&self.listen, method, path, &headers, body)?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    fn job(&self, id: &str) -> Value {
        let (status, job) = self.api("GET", &format!("/api/jobs/{id}"), b"").expect("the API answers");
        assert_eq!(status, 200, "job {id}: {job}");
        job
    }

    /// How many jobs are in `status`, up to 500.
    fn count(&self, status: &str) -> usize {
        match self.api("GET", &format!("/api/jobs?status={status}&limit=500"), b"") {
            Some((200, page)) => page["jobs"].as_array().map_or(usize::MAX, Vec::len),
            _ => usize::MAX,
        }
    }
}

#[test]
fn killed_at_random_during_a_burst_nothing_acknowledged_is_lost_and_each_device_has_one_host() {
    crash_burst(1_000_000_000, Vec::new());
}

#[test]
fn on_dynamodb_killed_at_random_during_a_burst_nothing_acknowledged_is_lost_and_each_device_has_one_host() {
    let mut store = vec![
        ("NZJ_STORE".to_string(), "dynamodb".to_string()),
        ("NZJ_DYNAMODB_TABLE".to_string(), format!("nzj-crash-{}", std::process::id())),
    ];
    for name in
        ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"]
    {
        store.push((name.to_string(), env_var(name)));
    }
    crash_burst(2_000_000_000, store);
}

/// The burst and its checks, with `nzj serve` on the store `store_env` configures; device ids
/// from `first_id` on.
fn crash_burst(first_id: u64, store_env: Vec<(String, String)>) {
    let seed = std::env::var("NZJ_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("crash test seed: NZJ_CRASH_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let harness = Arc::new(Harness {
        listen: support::free_listen(),
        data: dir.path().join("data"),
        env: vec![
            ("NZJ_ZABBIX_URL".into(), env_var("ZBX70_API_URL")),
            ("NZJ_ZABBIX_TOKEN".into(), env_var("ZBX70_TOKEN")),
            // Short leases and ticks, so killed runs are found stalled and the outbox is swept
            // within the test.
            ("NZJ_JOB_LEASE_SECONDS".into(), "5".into()),
            ("NZJ_SCHEDULER_TICK_SECONDS".into(), "1".into()),
            ("NZJ_HOST_JOB_BACKOFF_SECONDS".into(), "1".into()),
            ("NZJ_HOST_JOB_ATTEMPTS".into(), "20".into()),
            // A killed run is taken over this long (plus its settle time, 10 s) after its lease:
            // what it sent to Zabbix is done by then (the default, 30 s, would add 35 s).
            ("NZJ_ZABBIX_TIMEOUT_SECONDS".into(), "10".into()),
        ]
        .into_iter()
        .chain(store_env)
        .collect(),
    });
    let serve = Arc::new(Mutex::new(harness.spawn()));
    assert!(serve.lock().unwrap().healthy_within(Duration::from_secs(30)));
    let (status, import) = harness.api("POST", "/api/jobs", br#"{"name": "ImportZabbixSettings"}"#).unwrap();
    assert!(status == 202 || status == 409, "{import}");

    // Devices of this run only: ids far from other tests', names unique to the run.
    let base = first_id + (seed % 1_000_000) * 1_000;
    let devices: Vec<u64> = (0..DELIVERIES).map(|n| base + n).collect();

    // The killer: kill -9 at random moments of the burst, restart on the same data dir.
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (serve, harness, done) = (serve.clone(), harness.clone(), done.clone());
        std::thread::spawn(move || {
            let mut random = Random(seed);
            for _ in 0..KILLS {
                std::thread::sleep(Duration::from_millis(100 + random.below(900)));
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let mut serve = serve.lock().unwrap();
                let _ = serve.child.kill();
                let _ = serve.child.wait();
                *serve = harness.spawn();
            }
        })
    };

    // The burst, as NetBox sends it: each delivery until it is acknowledged.
    let mut acknowledged: BTreeMap<u64, String> = BTreeMap::new();
    let mut unanswered: Vec<u64> = devices.clone();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut resends = 0;
    while !unanswered.is_empty() {
        assert!(Instant::now() < deadline, "{} deliveries never acknowledged", unanswered.len());
        let mut again = Vec::new();
        for device in unanswered {
            let (body, signature) = delivery(device);
            // Not under the killer's lock: a kill may land in the middle of a request.
            let answer = support::deliver(&harness.listen, &body, &signature);
            match answer {
                Some((status @ (200 | 202), answer)) => {
                    let job = answer["job"].as_str().unwrap_or_else(|| panic!("{status}: {answer}")).to_string();
                    if let Some(first) = acknowledged.insert(device, job.clone()) {
                        assert_eq!(first, job, "a delivery is one job, however often it is sent");
                    }
                }
                Some((400..=499, answer)) => panic!("device {device}: refused {answer}"),
                _ => again.push(device),
            }
        }
        if !again.is_empty() {
            resends += again.len();
            std::thread::sleep(Duration::from_millis(200));
        }
        unanswered = again;
    }
    done.store(true, Ordering::SeqCst);
    killer.join().unwrap();
    eprintln!("{} deliveries acknowledged, {resends} sent again after no answer", acknowledged.len());

    // Everything settles without anyone's help.
    let settle = Instant::now() + Duration::from_secs(240);
    while harness.count("pending") + harness.count("running") > 0 {
        assert!(
            Instant::now() < settle,
            "jobs left pending or running: {} / {}",
            harness.count("pending"),
            harness.count("running")
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Every acknowledged delivery's job completed, itself or through its retries.
    let mut retried = 0;
    for (device, id) in &acknowledged {
        let mut job = harness.job(id);
        let mut hops = 0;
        while job["status"] == "stalled" {
            let next = job["retried_by"].as_str().unwrap_or_else(|| panic!("stalled job without a retry: {job}"));
            job = harness.job(next);
            hops += 1;
            assert!(hops < 50);
        }
        assert_eq!(job["status"], "completed", "device {device}: {job}");
        retried += usize::from(hops > 0);
    }
    eprintln!("{retried} jobs were killed mid-run and completed by the retry of the stalled run");

    // Exactly one host per device.
    let mut cleanup = Vec::new();
    for device in &devices {
        let object = format!("dcim.device/{device}");
        let ids: Vec<Value> = support::zabbix70_managed_hosts(&object).iter().map(|h| h["hostid"].clone()).collect();
        if ids.len() != 1 {
            // What ran for the object, to see how it got its hosts.
            let jobs = harness.api("GET", &format!("/api/jobs?object={object}&limit=50"), b"");
            for job in jobs.and_then(|(_, page)| page["jobs"].as_array().cloned()).unwrap_or_default() {
                let id = job["id"].as_str().unwrap_or_default();
                eprintln!("{object}: {}", harness.job(id));
            }
        }
        assert_eq!(ids.len(), 1, "{object}: {ids:?}");
        cleanup.extend(ids);
    }
    drop(serve);
    let _ = support::zabbix70_call("host.delete", Value::Array(cleanup));
}

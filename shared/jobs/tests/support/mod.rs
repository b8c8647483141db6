//! What the job tests share: the real Zabbix peers (`make test` starts 6.0 and 7.0 and sets
//! ZBX60_*/ZBX70_*), a fresh embedded store per test, running a job as the scheduler would,
//! and a TCP proxy that can cut Zabbix off mid-run.
#![allow(dead_code)]

pub mod aws;
pub mod hosts;
pub mod sync;

use chrono::Duration;
use nzj_core::job::JobOrigin;
use nzj_core::{Clock, JobRecord, Secret, SystemClock, SystemJob, Trigger};
use nzj_runtime::{Scheduler, SystemJobHandler, TriggerOutcome, run_claimed};
use nzj_store::{JobStore, SqliteStore};
use nzj_zabbix::{ZabbixAuth, ZabbixClient, ZabbixClientConfig};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Peer {
    pub url: String,
    pub token: String,
    pub major_minor: &'static str,
}

pub fn peer(prefix: &str, major_minor: &'static str) -> Peer {
    let var = |name: &str| {
        std::env::var(format!("{prefix}_{name}")).unwrap_or_else(|_| {
            panic!("{prefix}_{name} is not set: run `make test`, which starts Zabbix 6.0 and 7.0 (infra/zabbix.sh)")
        })
    };
    Peer { url: var("API_URL"), token: var("TOKEN"), major_minor }
}

#[macro_export]
macro_rules! for_each_zabbix {
    ($($name:ident),+ $(,)?) => {
        mod zabbix60 { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::support::peer("ZBX60", "6.0")).await } )+ }
        mod zabbix70 { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::support::peer("ZBX70", "7.0")).await } )+ }
    };
}

pub fn client_at(url: &str, token: &str) -> Arc<ZabbixClient> {
    client_with_timeout(url, token, std::time::Duration::from_secs(60))
}

impl Peer {
    pub fn client(&self) -> Arc<ZabbixClient> {
        client_at(&self.url, &self.token)
    }
}

/// A fresh embedded store and a scheduler on it.
pub struct Env {
    pub store: Arc<dyn JobStore>,
    pub scheduler: Arc<Scheduler>,
    pub clock: Arc<dyn Clock>,
    _dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn JobStore> = Arc::new(SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap());
        Env::on(store, dir)
    }

    /// The scheduler on `store` (e.g. DynamoDB); `dir` is kept as long as the env.
    pub fn on(store: Arc<dyn JobStore>, dir: tempfile::TempDir) -> Env {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let scheduler =
            Arc::new(Scheduler::new(store.clone(), clock.clone(), Duration::seconds(60), Duration::days(1)));
        Env { store, scheduler, clock, _dir: dir }
    }

    /// Runs `job` now as a manual run would, to its end, and returns its record.
    pub async fn run(&self, job: SystemJob, handler: &dyn SystemJobHandler) -> JobRecord {
        let origin = JobOrigin { trigger: Trigger::Api, user: "tests".into(), object: None };
        let run = match self.scheduler.run_now(job, origin).await.unwrap() {
            TriggerOutcome::Claimed(run) => *run,
            other => panic!("expected a claim, got {other:?}"),
        };
        run_claimed(&self.scheduler, self.clock.clone(), handler, run, std::time::Duration::from_secs(120))
            .await
            .unwrap()
    }
}

/// A device from the real NetBox 4.7 "device updated" payload, with an id and a name
/// (`<prefix>-...`) of its own, so tests on the shared Zabbix do not collide.
pub fn device(prefix: &str) -> (nzj_core::netbox::ObjectRef, Value) {
    let text = include_str!("../../../../tests/fixtures/netbox-4.7-webhooks/04_dcim.device_updated.body.json");
    let mut data = serde_json::from_str::<Value>(text).unwrap()["data"].take();
    let id = uuid::Uuid::now_v7().as_u64_pair().1 >> 12;
    data["id"] = serde_json::json!(id);
    data["name"] = serde_json::json!(unique(prefix));
    (nzj_core::netbox::ObjectRef { kind: nzj_core::netbox::ObjectKind::Device, id }, data)
}

/// A unique name for objects a test creates in the shared Zabbix.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

pub fn first_id(result: &Value, key: &str) -> String {
    result[key][0].as_str().unwrap().to_string()
}

/// A TCP proxy in front of a real Zabbix that lets a set number of HTTP requests through and then
/// cuts every connection: a network outage in the middle of a job, on demand. (A real peer cannot
/// be made to fail at a chosen request; the Zabbix behind the proxy is real.)
pub struct CutProxy {
    pub url: String,
    remaining: Arc<AtomicI64>,
}

impl CutProxy {
    pub async fn start(zabbix_url: &str) -> CutProxy {
        let target = zabbix_url.trim_start_matches("http://").split('/').next().unwrap().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api_jsonrpc.php", listener.local_addr().unwrap());
        let remaining = Arc::new(AtomicI64::new(-1));
        let budget = remaining.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, budget) = (target.clone(), budget.clone());
                tokio::spawn(async move {
                    if budget.load(Ordering::SeqCst) == 0 {
                        return; // cut: refuse by closing at once
                    }
                    let Ok(server) = tokio::net::TcpStream::connect(&target).await else { return };
                    pump(client, server, budget).await;
                });
            }
        });
        CutProxy { url, remaining }
    }

    /// Lets `n` more requests through, then cuts.
    pub fn allow(&self, n: i64) {
        self.remaining.store(n, Ordering::SeqCst);
    }

    pub fn allow_all(&self) {
        self.remaining.store(-1, Ordering::SeqCst);
    }
}

async fn pump(mut client: tokio::net::TcpStream, mut server: tokio::net::TcpStream, budget: Arc<AtomicI64>) {
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    let mut up = vec![0u8; 64 * 1024];
    let mut down = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            n = from_client.read(&mut up) => {
                let Ok(n) = n else { return };
                if n == 0 { return; }
                let requests = up[..n].windows(5).filter(|w| w == b"POST ").count() as i64;
                if requests > 0 {
                    let left = budget.load(Ordering::SeqCst);
                    if left >= 0 && left < requests {
                        budget.store(0, Ordering::SeqCst);
                        return; // the outage: drop both connections mid-conversation
                    }
                    if left >= 0 {
                        budget.store(left - requests, Ordering::SeqCst);
                    }
                }
                if to_server.write_all(&up[..n]).await.is_err() { return; }
            }
            n = from_server.read(&mut down) => {
                let Ok(n) = n else { return };
                if n == 0 { return; }
                if to_client.write_all(&down[..n]).await.is_err() { return; }
            }
        }
    }
}

/// A TCP proxy in front of a real Zabbix that holds every `host.create` answer for `delay`
/// before passing it on, and counts the `host.create` requests: a Zabbix slower than the
/// client's timeout, on demand. Zabbix itself gets each request at once and does the work.
/// ([`SlowCreateProxy::late_requests`] holds the requests instead.)
pub struct SlowCreateProxy {
    pub url: String,
    pub creates: Arc<AtomicI64>,
    /// How many `host.create` requests Zabbix has answered (to the client or, gone, to nobody).
    pub answered: Arc<AtomicI64>,
}

impl SlowCreateProxy {
    pub async fn start(zabbix_url: &str, delay: std::time::Duration) -> SlowCreateProxy {
        Self::holding(zabbix_url, delay, false).await
    }

    /// Holds every `host.create` request for `delay` before Zabbix gets it, whether or not its
    /// client is still there (it is then passed on, and answered to nobody): the create of a
    /// worker that died, still at work in Zabbix after the worker is gone.
    pub async fn late_requests(zabbix_url: &str, delay: std::time::Duration) -> SlowCreateProxy {
        Self::holding(zabbix_url, delay, true).await
    }

    async fn holding(zabbix_url: &str, delay: std::time::Duration, requests: bool) -> SlowCreateProxy {
        let target = zabbix_url.trim_start_matches("http://").split('/').next().unwrap().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api_jsonrpc.php", listener.local_addr().unwrap());
        let (creates, answered) = (Arc::new(AtomicI64::new(0)), Arc::new(AtomicI64::new(0)));
        let (counted, done) = (creates.clone(), answered.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (target, counted, done) = (target.clone(), counted.clone(), done.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else { return };
                    let (mut from_client, mut to_client) = client.split();
                    let (mut from_server, mut to_server) = server.split();
                    let (mut up, mut down) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
                    // `hold`: the next answer is held; `awaiting`: a request is at the server;
                    // `create`: that request is a create.
                    let (mut hold, mut awaiting, mut client_open, mut create) = (false, false, true, false);
                    loop {
                        tokio::select! {
                            n = from_client.read(&mut up), if client_open => {
                                let n = n.unwrap_or(0);
                                if n == 0 {
                                    // Gone: a request already at the server is still seen through.
                                    client_open = false;
                                    if awaiting { continue } else { return }
                                }
                                if up[..n].windows(13).any(|w| w == b"\"host.create\"") {
                                    counted.fetch_add(1, Ordering::SeqCst);
                                    create = true;
                                    if requests { tokio::time::sleep(delay).await } else { hold = true }
                                }
                                awaiting = true;
                                if to_server.write_all(&up[..n]).await.is_err() { return; }
                            }
                            n = from_server.read(&mut down) => {
                                let Ok(n) = n else { return };
                                if n > 0 && std::mem::take(&mut create) {
                                    done.fetch_add(1, Ordering::SeqCst);
                                }
                                if n == 0 || !client_open { return; }
                                awaiting = false;
                                if std::mem::take(&mut hold) {
                                    tokio::time::sleep(delay).await;
                                }
                                if to_client.write_all(&down[..n]).await.is_err() { return; }
                            }
                        }
                    }
                });
            }
        });
        SlowCreateProxy { url, creates, answered }
    }

    pub fn answered(&self) -> i64 {
        self.answered.load(Ordering::SeqCst)
    }

    pub fn creates(&self) -> i64 {
        self.creates.load(Ordering::SeqCst)
    }
}

/// A client with a short request timeout (what `NZJ_ZABBIX_TIMEOUT_SECONDS` sets).
pub fn client_with_timeout(url: &str, token: &str, timeout: std::time::Duration) -> Arc<ZabbixClient> {
    Arc::new(
        ZabbixClient::new(ZabbixClientConfig {
            url: url.to_string(),
            auth: ZabbixAuth::Token(Secret::new(token)),
            connect_timeout: std::time::Duration::from_secs(5),
            request_timeout: timeout,
        })
        .unwrap(),
    )
}

/// A test's own setup or teardown call to Zabbix. Zabbix's database can fail a write when another
/// test writes at the same moment ("SQL statement execution has failed", `DBEXECUTE_ERROR`): such a
/// call is retried a few times, as the host worker retries a transient failure.
pub async fn setup_call(zbx: &ZabbixClient, method: &str, params: Value) -> Value {
    let mut attempt = 0;
    loop {
        match zbx.call(method, params.clone()).await {
            Ok(result) => return result,
            Err(e) if e.is_transient() && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => panic!("{method} failed: {e}"),
        }
    }
}

/// The calls made between two snapshots of a client's call counts, per method.
pub fn since(
    before: &std::collections::BTreeMap<String, u64>,
    after: std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .into_iter()
        .map(|(k, v)| (k.clone(), v - before.get(&k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

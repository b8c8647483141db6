//! What the fault tests of `nzj serve` share: the binary started as a person starts it (its own
//! port and data dir) under shell limits of the test's choosing (`ulimit -n`, `ulimit -f`),
//! plain HTTP/1.1 requests that never hide a refused connection, and distinct signed NetBox
//! deliveries made from a real NetBox 4.7 payload.
#![allow(dead_code)]

pub mod browser;
pub mod netbox;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NZJ: &str = env!("CARGO_BIN_EXE_nzj");
pub const WEBHOOK_SECRET: &str = "s3cret-for-faults";

pub fn free_listen() -> String {
    format!("127.0.0.1:{}", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
}

/// A running `nzj serve`, killed when dropped.
pub struct Serve {
    pub child: Child,
    pub listen: String,
    pub data_dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `nzj serve` on `listen` with its data in `data_dir`, after the shell commands
    /// `limits` (e.g. `ulimit -n 256;`), with `env`. Does not wait for it.
    pub fn spawn(listen: &str, data_dir: &Path, limits: &str, env: &[(&str, &str)]) -> Serve {
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("{limits} exec \"$0\" serve"))
            .arg(NZJ)
            .env_clear()
            .env("NZJ_LISTEN", listen)
            .env("NZJ_DATA_DIR", data_dir)
            .env("NZJ_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Serve { child, listen: listen.to_string(), data_dir: data_dir.to_path_buf() }
    }

    /// Starts it and waits until `/healthz` answers 200.
    pub fn start(data_dir: &Path, limits: &str, env: &[(&str, &str)]) -> Serve {
        let serve = Serve::spawn(&free_listen(), data_dir, limits, env);
        assert!(serve.healthy_within(Duration::from_secs(30)), "nzj serve did not start");
        serve
    }

    /// Runs the CLI against this server as a user on the same machine would.
    pub fn nzj(&self, args: &[&str]) -> std::process::Output {
        Command::new(NZJ)
            .args(args)
            .env_clear()
            .env("NZJ_LISTEN", &self.listen)
            .env("NZJ_DATA_DIR", &self.data_dir)
            .output()
            .unwrap()
    }

    pub fn healthz(&self) -> Option<u16> {
        request(&self.listen, "GET", "/healthz", &[], b"").map(|(status, _)| status)
    }

    pub fn healthy_within(&self, budget: Duration) -> bool {
        healthy_within(&self.listen, budget)
    }

    pub fn deliver(&self, body: &[u8], signature: &str) -> Option<(u16, Value)> {
        deliver(&self.listen, body, signature)
    }
}

/// Whether the server on `listen` answers `/healthz` with 200 within `budget`.
pub fn healthy_within(listen: &str, budget: Duration) -> bool {
    let deadline = Instant::now() + budget;
    while Instant::now() < deadline {
        if request(listen, "GET", "/healthz", &[], b"").is_some_and(|(status, _)| status == 200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Posts a signed delivery to `listen`: the status and JSON answer, or `None` if no answer came.
pub fn deliver(listen: &str, body: &[u8], signature: &str) -> Option<(u16, Value)> {
    let headers = [("Content-Type", "application/json"), ("X-Hook-Signature", signature)];
    let (status, text) = request(listen, "POST", "/webhook/netbox", &headers, body)?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// One HTTP/1.1 request on a new connection (`Connection: close`): the status and the body, or
/// `None` if the server did not answer (refused, reset, or silent for 10 s).
pub fn request(listen: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&listen.parse().unwrap(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: nzj\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// Delivery `n`: NetBox's real "device updated" payload for device `n` (its own name), signed.
pub fn delivery(n: u64) -> (Vec<u8>, String) {
    delivery_of("04_dcim.device_updated", n)
}

/// NetBox's real payload `fixture` (a captured delivery's name) for device `n`, signed.
pub fn delivery_of(fixture: &str, n: u64) -> (Vec<u8>, String) {
    let path = format!("{}/../tests/fixtures/netbox-4.7-webhooks/{fixture}.body.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["data"]["id"] = serde_json::json!(n);
    event["data"]["name"] = serde_json::json!(format!("nzj-fault-{n}"));
    event["request_id"] = serde_json::json!(format!("00000000-0000-4000-8000-{n:012}"));
    let body = serde_json::to_vec(&event).unwrap();
    let signature = nzj_netbox::sign(WEBHOOK_SECRET.as_bytes(), &body);
    (body, signature)
}

/// The managed hosts (id and name) of `object` (`dcim.device/12`) in the Zabbix 7.0 the tests use.
pub fn zabbix70_managed_hosts(object: &str) -> Vec<Value> {
    let query = serde_json::json!({"output": ["hostid", "host"],
        "tags": [{"tag": "netbox:object", "value": object, "operator": 1}]});
    zabbix70_call("host.get", query).expect("host.get").as_array().unwrap().clone()
}

/// A call to the Zabbix 7.0 the tests use (`ZBX70_API_URL`, `ZBX70_TOKEN`): its result, or `None`
/// if it failed.
pub fn zabbix70_call(method: &str, params: Value) -> Option<Value> {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make test`"));
    let (url, token) = (var("ZBX70_API_URL"), var("ZBX70_TOKEN"));
    let listen = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let path = format!("/{}", url.trim_start_matches("http://").split_once('/').map_or("", |(_, p)| p));
    let call = serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json-rpc")];
    let (_, text) = request(&listen, "POST", &path, &headers, &serde_json::to_vec(&call).unwrap())?;
    serde_json::from_str::<Value>(&text).ok()?.get("result").cloned()
}

//! The real NetBox of `make test` and `make e2e` (infra/with-peers.sh starts it and sets NB_URL
//! and NB_TOKEN): its REST API driven with curl, the way an operator's script would.

use serde_json::Value;
use std::process::Command;

pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make test` or `make e2e`"))
}

pub struct NetBox {
    pub url: String,
    pub token: String,
}

impl NetBox {
    /// The NetBox of the environment.
    pub fn from_env() -> NetBox {
        NetBox { url: var("NB_URL"), token: var("NB_TOKEN") }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut cmd = Command::new("curl");
        // A v2 token (NetBox >= 4.5) is a bearer; the 40-character one of every 4.x is `Token`.
        let scheme = if self.token.starts_with("nbt_") { "Bearer" } else { "Token" };
        cmd.args(["-s", "-X", method, "-H", "Content-Type: application/json", "-H", "Accept: application/json", "-H"])
            .arg(format!("Authorization: {scheme} {}", self.token));
        if let Some(body) = body {
            cmd.args(["-d", &body.to_string()]);
        }
        let out = cmd.arg(format!("{}{path}", self.url)).output().unwrap();
        if out.stdout.is_empty() {
            return Value::Null;
        }
        let value: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{method} {path}: {}", String::from_utf8_lossy(&out.stdout)));
        // A refused create or change (NetBox's 400 names the field) must not pass as a no-op.
        let took = |v: &Value| v.get("id").is_some();
        let ok = match &value {
            Value::Array(items) => items.iter().all(took),
            other => took(other),
        };
        assert!(ok || !matches!(method, "POST" | "PATCH"), "{method} {path}: {value}");
        value
    }

    pub fn create(&self, path: &str, body: Value) -> u64 {
        self.call("POST", path, Some(body))["id"].as_u64().unwrap()
    }

    /// Every object of a list endpoint (`?fields=...` and filters in `query`), following pages.
    pub fn list(&self, path: &str, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let page = self.call("GET", &format!("{path}?{query}&limit=1000&offset={}", all.len()), None);
            let results = page["results"].as_array().unwrap_or_else(|| panic!("{path}: {page}")).clone();
            let got = results.len();
            all.extend(results);
            if got < 1000 || page["next"].is_null() {
                return all;
            }
        }
    }
}

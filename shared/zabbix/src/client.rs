use crate::version::ZabbixVersion;
use nzj_core::Secret;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{OnceCell, RwLock};

pub use nzj_core::config::ZabbixAuth;

#[derive(Debug, Clone)]
pub struct ZabbixClientConfig {
    /// The API URL, e.g. `https://zabbix.example/api_jsonrpc.php`.
    pub url: String,
    pub auth: ZabbixAuth,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ZabbixError {
    /// The request did not get an answer: connection refused or reset, DNS, timeout.
    #[error("Zabbix {method}: no answer: {message}")]
    Transport { method: String, message: String },
    /// The web server answered with an HTTP error. 5xx is transient; an empty 500 is also what
    /// PHP sends when it runs out of memory on a large array call (split the batch).
    #[error("Zabbix {method}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http { method: String, status: u16, body: String },
    /// Zabbix refused the request: validation, permissions, unknown objects. Permanent.
    #[error("Zabbix {method}: {message} {data} (code {code})")]
    Api { method: String, code: i64, message: String, data: String },
    /// Zabbix refused the credentials. Permanent: retrying would only lock the account.
    #[error("Zabbix refused the credentials ({what}): {data}")]
    Auth { what: &'static str, data: String },
    /// The answer is not JSON-RPC, or the version is not supported.
    #[error("Zabbix {method}: {message}")]
    Protocol { method: String, message: String },
}

impl ZabbixError {
    /// Whether the same request may succeed later: network, timeout, HTTP 5xx, and Zabbix's
    /// database failing under concurrent writes (6.0 `DBEXECUTE_ERROR`, 7.0 "Database error
    /// occurred.", seen when parallel requests create hosts or host groups at once).
    pub fn is_transient(&self) -> bool {
        match self {
            ZabbixError::Transport { .. } => true,
            ZabbixError::Http { status, .. } => *status >= 500,
            ZabbixError::Api { data, .. } => {
                data.contains("DBEXECUTE_ERROR")
                    || data.contains("SQL statement execution has failed")
                    || data.contains("Database error occurred")
            }
            _ => false,
        }
    }
}

/// How many calls were made, per method (including `apiinfo.version` and `user.login`).
#[derive(Debug, Default)]
pub struct CallCounts(Mutex<BTreeMap<String, u64>>);

impl CallCounts {
    fn add(&self, method: &str) {
        *self.0.lock().expect("call counts").entry(method.to_string()).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().expect("call counts").clone()
    }

    pub fn total(&self) -> u64 {
        self.0.lock().expect("call counts").values().sum()
    }
}

/// What was learned once per process: the version, and the token to send.
#[derive(Debug)]
struct Session {
    version: ZabbixVersion,
    token: RwLock<Secret>,
}

pub struct ZabbixClient {
    http: reqwest::Client,
    config: ZabbixClientConfig,
    session: OnceCell<Session>,
    next_id: AtomicU64,
    calls: CallCounts,
    /// How many arrays of one write are sent at once (`batch.rs`); 1 unless set.
    array_concurrency: std::sync::atomic::AtomicUsize,
}

/// Zabbix's words for a token or session it does not accept.
fn is_auth_refusal(data: &str) -> bool {
    let d = data.to_ascii_lowercase();
    d.contains("not authori") || d.contains("session terminated") || d.contains("re-login")
}

/// How long a call that got no answer may still be at work in Zabbix: as long as it was given,
/// within these bounds (a loaded Zabbix takes seconds for a templated host).
const MIN_SETTLE: Duration = Duration::from_secs(5);
const MAX_SETTLE: Duration = Duration::from_secs(15);

impl ZabbixClient {
    /// How long one request may take before it counts as unanswered.
    pub fn request_timeout(&self) -> Duration {
        self.config.request_timeout
    }

    /// How long a call the client gave up on may still be at work in Zabbix (a create that got no
    /// answer is read back once more after this long before it is sent again).
    pub fn settle_time(&self) -> Duration {
        self.config.request_timeout.clamp(MIN_SETTLE, MAX_SETTLE)
    }

    /// The longest a call sent now may go on in Zabbix: its timeout, then its settle time. A host
    /// job whose worker died is taken over only this long after its lease ended, so whatever that
    /// worker sent is done (and found by the next run's read) first (docs/guarantees.md).
    pub fn calls_done_within(&self) -> Duration {
        self.request_timeout() + self.settle_time()
    }

    pub fn new(config: ZabbixClientConfig) -> Result<Self, ZabbixError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ZabbixError::Protocol { method: "client".into(), message: e.to_string() })?;
        Ok(ZabbixClient {
            http,
            config,
            session: OnceCell::new(),
            next_id: AtomicU64::new(1),
            calls: CallCounts::default(),
            array_concurrency: std::sync::atomic::AtomicUsize::new(1),
        })
    }

    /// Sends up to `n` (1-16) arrays of one write at once instead of one after another
    /// (`NZJ_ZABBIX_ARRAY_CONCURRENCY`; see docs/design.md for what it buys).
    pub fn set_array_concurrency(&self, n: usize) {
        self.array_concurrency.store(n.clamp(1, 16), Ordering::Relaxed);
    }

    pub fn array_concurrency(&self) -> usize {
        self.array_concurrency.load(Ordering::Relaxed)
    }

    pub fn calls(&self) -> &CallCounts {
        &self.calls
    }

    /// The server's version, detected on first use.
    pub async fn version(&self) -> Result<ZabbixVersion, ZabbixError> {
        Ok(self.session().await?.version)
    }

    async fn session(&self) -> Result<&Session, ZabbixError> {
        self.session
            .get_or_try_init(|| async {
                let raw = self.send("apiinfo.version", json!({}), None).await?;
                let text = raw.as_str().unwrap_or_default();
                let version: ZabbixVersion = text
                    .parse()
                    .map_err(|message| ZabbixError::Protocol { method: "apiinfo.version".into(), message })?;
                if version < ZabbixVersion::OLDEST {
                    return Err(ZabbixError::Protocol {
                        method: "apiinfo.version".into(),
                        message: format!("Zabbix {version} is not supported; 6.0 or newer is needed"),
                    });
                }
                let token = self.login().await?;
                Ok(Session { version, token: RwLock::new(token) })
            })
            .await
    }

    /// The token to send: the API token, or a session from `user.login`.
    async fn login(&self) -> Result<Secret, ZabbixError> {
        match &self.config.auth {
            ZabbixAuth::Token(token) => Ok(token.clone()),
            ZabbixAuth::Password { user, password } => {
                let params = json!({"username": user, "password": password.expose()});
                match self.send("user.login", params, None).await {
                    Ok(Value::String(session)) => Ok(Secret::new(session)),
                    Ok(_) => Err(ZabbixError::Protocol {
                        method: "user.login".into(),
                        message: "no session in the answer".into(),
                    }),
                    Err(ZabbixError::Api { data, message, .. }) => Err(ZabbixError::Auth {
                        what: "NZJ_ZABBIX_USER/NZJ_ZABBIX_PASSWORD",
                        data: format!("{message} {data}"),
                    }),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Calls `method` with `params`, authenticated. A password session that Zabbix ended is
    /// renewed once; a refused API token is an [`ZabbixError::Auth`] error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ZabbixError> {
        let session = self.session().await?;
        let token = session.token.read().await.clone();
        match self.send(method, params.clone(), Some((session.version, &token))).await {
            Err(ZabbixError::Api { data, .. }) if is_auth_refusal(&data) => match &self.config.auth {
                ZabbixAuth::Token(_) => Err(ZabbixError::Auth { what: "NZJ_ZABBIX_TOKEN", data }),
                ZabbixAuth::Password { .. } => {
                    let renewed = self.login().await?;
                    *session.token.write().await = renewed.clone();
                    self.send(method, params, Some((session.version, &renewed))).await.map_err(|e| match e {
                        ZabbixError::Api { data, .. } if is_auth_refusal(&data) => {
                            ZabbixError::Auth { what: "NZJ_ZABBIX_USER/NZJ_ZABBIX_PASSWORD", data }
                        }
                        other => other,
                    })
                }
            },
            other => other,
        }
    }

    /// One JSON-RPC round trip. `auth` is None for `apiinfo.version` and `user.login`, which
    /// must be sent without credentials (7.0 refuses them with an `Authorization` header).
    async fn send(
        &self,
        method: &str,
        params: Value,
        auth: Option<(ZabbixVersion, &Secret)>,
    ) -> Result<Value, ZabbixError> {
        self.calls.add(method);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id});
        let mut request = self.http.post(&self.config.url).header("Content-Type", "application/json-rpc");
        if let Some((version, token)) = auth {
            if version.auth_in_header() {
                request = request.bearer_auth(token.expose());
            } else {
                body["auth"] = Value::String(token.expose().to_string());
            }
        }
        let transport = |e: reqwest::Error| ZabbixError::Transport {
            method: method.to_string(),
            // Without the URL's query or body: only what went wrong.
            message: if e.is_timeout() { "timed out".to_string() } else { error_chain(&e) },
        };
        let response = request.json(&body).send().await.map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ZabbixError::Http {
                method: method.to_string(),
                status: status.as_u16(),
                body: excerpt(&text),
            });
        }
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            // An empty or cut-off body is the connection dropping mid-answer (Zabbix 7.0's own
            // server closes it): a transport failure, not a malformed answer.
            if e.is_eof() {
                ZabbixError::Transport { method: method.to_string(), message: "the answer was cut off".into() }
            } else {
                ZabbixError::Protocol {
                    method: method.to_string(),
                    message: format!("answer is not JSON: {}", excerpt(&text)),
                }
            }
        })?;
        if let Some(error) = answer.get("error") {
            return Err(ZabbixError::Api {
                method: method.to_string(),
                code: error["code"].as_i64().unwrap_or(0),
                message: error["message"].as_str().unwrap_or_default().to_string(),
                data: error["data"].as_str().unwrap_or_default().to_string(),
            });
        }
        answer.get("result").cloned().ok_or_else(|| ZabbixError::Protocol {
            method: method.to_string(),
            message: "answer has neither result nor error".into(),
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}

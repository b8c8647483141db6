//! Configuration from the environment, optionally added to by a TOML file with the same names
//! (`NZJ_LISTEN = "127.0.0.1:8080"`). The environment wins over the file. A malformed value fails
//! at start with a message naming the variable, and never quoting a secret.

use crate::secret::Secret;
use chrono::Duration;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    pub name: String,
    pub problem: String,
}

fn problem(name: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError { name: name.to_string(), problem: problem.into() }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreConfig {
    /// SQLite in `NZJ_DATA_DIR`.
    Embedded,
    /// A DynamoDB table (the AWS SDK finds region, credentials and `AWS_ENDPOINT_URL` itself).
    DynamoDb { table: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ZabbixAuth {
    Token(Secret),
    Password { user: String, password: Secret },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ZabbixConfig {
    pub url: url::Url,
    pub auth: ZabbixAuth,
    pub connect_timeout: Duration,
    /// Per-call timeout: a call that takes longer is a transient failure.
    pub request_timeout: Duration,
    /// How many arrays of one write are sent at once (1: one after another).
    pub array_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetboxConfig {
    pub url: url::Url,
    pub token: Secret,
    pub connect_timeout: Duration,
    /// Per-request timeout: a request that takes longer is a transient failure.
    pub request_timeout: Duration,
}

/// An SQS queue and its dead-letter queue (AWS deployments; `nzj serve` has embedded queues).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub url: String,
    pub dlq: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub api_token: Option<Secret>,
    /// Named tokens with roles, kept hashed (`NZJ_API_TOKENS_FILE`, `nzj_core::tokens`).
    pub api_tokens_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    /// The DynamoDB table (`NZJ_DYNAMODB_TABLE`), for `NZJ_STORE=dynamodb` and the Lambda functions.
    pub dynamodb_table: String,
    /// The host-job queue on AWS (`NZJ_HOST_QUEUE_URL`, `NZJ_HOST_DLQ_URL`).
    pub host_queue: Option<QueueUrls>,
    /// The bulk queue of SyncHostsNow's steps on AWS (`NZJ_BULK_QUEUE_URL`, `NZJ_BULK_DLQ_URL`).
    pub bulk_queue: Option<QueueUrls>,
    pub zabbix: Option<ZabbixConfig>,
    pub netbox: Option<NetboxConfig>,
    pub webhook_secret: Option<Secret>,
    /// How often `nzj serve` triggers the system jobs (what EventBridge Scheduler does on AWS).
    pub scheduler_tick: Duration,
    /// How long a run holds its job without a heartbeat before it is stalled.
    pub job_lease: Duration,
    /// A run that takes longer is failed with that reason.
    pub job_timeout: Duration,
    /// Job records expire (TTL) this long after they were created.
    pub job_retention: Duration,
    /// The breaker: a run that would delete more hosts or cached Zabbix objects fails instead.
    pub max_deletions: usize,
    /// Deliveries of a host job before it is failed and its message dead-lettered.
    pub host_job_attempts: u32,
    /// The first retry of a host job waits this long; each further one twice as long (to 10 min).
    pub host_job_backoff: Duration,
    /// What `nzj serve`'s HTTP server allows a connection.
    pub http: HttpLimits,
    /// Where secret macros and PSKs named in NetBox are read (docs/product.md §3.2).
    pub secrets: SecretsConfig,
}

/// The product's secret store: what a secret macro's or a PSK's name in NetBox is looked up in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretsConfig {
    /// `NZJ_SECRET_<NAME>` variables (the name upper-cased, every character but letters and
    /// digits as `_`), read at start.
    pub variables: BTreeMap<String, Secret>,
    /// A directory with one file per secret, `<dir>/<name>`, read when needed
    /// (`NZJ_SECRETS_DIR`).
    pub dir: Option<PathBuf>,
    /// On AWS: SSM Parameter Store, parameter `<prefix><name>` (`NZJ_SECRETS_SSM_PREFIX`, e.g.
    /// `/nzj/secrets/`).
    pub ssm_prefix: Option<String>,
}

/// The environment variable of secret `name`: `NZJ_SECRET_` and the name upper-cased, every
/// character but letters and digits as `_` (`snmp/campus-ro` is `NZJ_SECRET_SNMP_CAMPUS_RO`).
pub fn secret_variable(name: &str) -> String {
    let tail: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{SECRET_VARIABLE_PREFIX}{tail}")
}

pub const SECRET_VARIABLE_PREFIX: &str = "NZJ_SECRET_";

/// What one client may hold of `nzj serve`'s HTTP server, so idle or slow connections cannot
/// stop it answering (docs/product.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request's headers must arrive within this time, and a kept-alive connection is closed
    /// after this long without a new request (`NZJ_HTTP_HEADER_TIMEOUT_SECONDS`).
    pub header_timeout: Duration,
    /// A request's body must arrive within this time (`NZJ_HTTP_BODY_TIMEOUT_SECONDS`).
    pub body_timeout: Duration,
    /// Connections open at once; one more is closed at once (`NZJ_HTTP_MAX_CONNECTIONS`). Keep
    /// it under the process's file limit (`ulimit -n`).
    pub max_connections: usize,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = ".nzj";
pub const DEFAULT_DYNAMODB_TABLE: &str = "nzj-jobs";

/// Where values come from: the environment over an optional file.
struct Source {
    values: HashMap<String, String>,
}

impl Source {
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).map(|v| Secret::new(v.trim()))
    }

    fn url(&self, name: &str) -> Result<Option<url::Url>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let url = url::Url::parse(raw.trim()).map_err(|e| problem(name, format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(problem(name, "must be an http:// or https:// URL with a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(problem(name, "must not carry credentials; use the token variables"));
        }
        Ok(Some(url))
    }

    /// A whole number in `range`, or `default` when unset.
    fn whole_number(&self, name: &str, default: i64, range: std::ops::RangeInclusive<i64>) -> Result<i64, ConfigError> {
        let value = match self.get(name) {
            None => default,
            Some(raw) => {
                raw.trim().parse::<i64>().map_err(|_| problem(name, format!("{raw:?} is not a whole number")))?
            }
        };
        if !range.contains(&value) {
            return Err(problem(name, format!("{value} is out of range {}..={}", range.start(), range.end())));
        }
        Ok(value)
    }

    /// A number of seconds in `range`.
    fn seconds(&self, name: &str, default: i64, range: std::ops::RangeInclusive<i64>) -> Result<Duration, ConfigError> {
        self.whole_number(name, default, range).map(Duration::seconds)
    }
}

impl Config {
    /// Reads the configuration from `env` (usually `std::env::vars()`) over the TOML text of
    /// an optional file.
    pub fn from_sources(
        env: impl IntoIterator<Item = (String, String)>,
        file: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let mut values = HashMap::new();
        if let Some(text) = file {
            values = parse_file(text)?;
        }
        values.extend(env.into_iter().filter(|(k, _)| k.starts_with("NZJ_")));
        Config::from_source(&Source { values })
    }

    fn from_source(src: &Source) -> Result<Config, ConfigError> {
        let listen_raw = src.get("NZJ_LISTEN").unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_raw
            .trim()
            .parse()
            .map_err(|_| problem("NZJ_LISTEN", format!("{listen_raw:?} is not an address like 127.0.0.1:8080")))?;

        let api_token = src.secret("NZJ_API_TOKEN");
        if api_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(problem("NZJ_API_TOKEN", "must be at least 16 characters"));
        }

        let dynamodb_table = src.get("NZJ_DYNAMODB_TABLE").unwrap_or(DEFAULT_DYNAMODB_TABLE).trim().to_string();
        let store = match src.get("NZJ_STORE").map(str::trim) {
            None | Some("embedded") => StoreConfig::Embedded,
            Some("dynamodb") => StoreConfig::DynamoDb { table: dynamodb_table.clone() },
            Some(other) => {
                return Err(problem("NZJ_STORE", format!("{other:?} is not one of: embedded, dynamodb")));
            }
        };

        let zabbix = zabbix_config(src)?;

        let netbox = match (src.url("NZJ_NETBOX_URL")?, src.secret("NZJ_NETBOX_TOKEN")) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(problem("NZJ_NETBOX_TOKEN", "is required with NZJ_NETBOX_URL"));
            }
            (None, Some(_)) => {
                return Err(problem("NZJ_NETBOX_URL", "is required with NZJ_NETBOX_TOKEN"));
            }
            (Some(url), Some(token)) => {
                if !is_netbox_token(token.expose()) {
                    return Err(problem(
                        "NZJ_NETBOX_TOKEN",
                        "must be a 40-character v1 token or a v2 token nbt_<key>.<token>",
                    ));
                }
                Some(NetboxConfig {
                    url,
                    token,
                    connect_timeout: src.seconds("NZJ_NETBOX_CONNECT_TIMEOUT_SECONDS", 5, 1..=300)?,
                    request_timeout: src.seconds("NZJ_NETBOX_TIMEOUT_SECONDS", 30, 1..=3600)?,
                })
            }
        };

        Ok(Config {
            listen,
            api_token,
            api_tokens_file: src
                .get("NZJ_API_TOKENS_FILE")
                .map(|p| PathBuf::from(p.trim()))
                .filter(|p| !p.as_os_str().is_empty()),
            data_dir: PathBuf::from(src.get("NZJ_DATA_DIR").unwrap_or(DEFAULT_DATA_DIR)),
            store,
            dynamodb_table,
            host_queue: queue_urls(src, "NZJ_HOST_QUEUE_URL", "NZJ_HOST_DLQ_URL")?,
            bulk_queue: queue_urls(src, "NZJ_BULK_QUEUE_URL", "NZJ_BULK_DLQ_URL")?,
            zabbix,
            netbox,
            webhook_secret: src.secret("NZJ_WEBHOOK_SECRET"),
            scheduler_tick: src.seconds("NZJ_SCHEDULER_TICK_SECONDS", 30, 1..=3600)?,
            job_lease: src.seconds("NZJ_JOB_LEASE_SECONDS", 120, 5..=3600)?,
            job_timeout: src.seconds("NZJ_JOB_TIMEOUT_SECONDS", 3600, 1..=86_400)?,
            job_retention: Duration::days(src.whole_number("NZJ_JOB_RETENTION_DAYS", 30, 1..=3650)?),
            max_deletions: src.whole_number("NZJ_MAX_DELETIONS", 50, 0..=1_000_000)? as usize,
            host_job_attempts: src.whole_number("NZJ_HOST_JOB_ATTEMPTS", 5, 1..=100)? as u32,
            host_job_backoff: src.seconds("NZJ_HOST_JOB_BACKOFF_SECONDS", 10, 0..=600)?,
            http: HttpLimits {
                header_timeout: src.seconds("NZJ_HTTP_HEADER_TIMEOUT_SECONDS", 15, 1..=3600)?,
                body_timeout: src.seconds("NZJ_HTTP_BODY_TIMEOUT_SECONDS", 30, 1..=3600)?,
                max_connections: src.whole_number("NZJ_HTTP_MAX_CONNECTIONS", 512, 1..=1_000_000)? as usize,
            },
            secrets: SecretsConfig {
                variables: src
                    .values
                    .iter()
                    .filter(|(k, v)| k.starts_with(SECRET_VARIABLE_PREFIX) && !v.is_empty())
                    .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
                    .collect(),
                dir: src.get("NZJ_SECRETS_DIR").map(|d| PathBuf::from(d.trim())),
                ssm_prefix: src.get("NZJ_SECRETS_SSM_PREFIX").map(|p| p.trim().to_string()),
            },
        })
    }
}

/// A queue URL and its dead-letter queue's: both or neither.
fn queue_urls(src: &Source, url: &str, dlq: &str) -> Result<Option<QueueUrls>, ConfigError> {
    match (src.url(url)?, src.url(dlq)?) {
        (None, None) => Ok(None),
        (Some(u), Some(d)) => Ok(Some(QueueUrls { url: u.to_string(), dlq: d.to_string() })),
        (Some(_), None) => Err(problem(dlq, format!("is required with {url}"))),
        (None, Some(_)) => Err(problem(url, format!("is required with {dlq}"))),
    }
}

fn zabbix_config(src: &Source) -> Result<Option<ZabbixConfig>, ConfigError> {
    let url = src.url("NZJ_ZABBIX_URL")?;
    let token = src.secret("NZJ_ZABBIX_TOKEN");
    let user = src.get("NZJ_ZABBIX_USER").map(|u| u.trim().to_string());
    let password = src.secret("NZJ_ZABBIX_PASSWORD");
    let auth = match (token, user, password) {
        (None, None, None) => None,
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(problem(
                "NZJ_ZABBIX_TOKEN",
                "set either NZJ_ZABBIX_TOKEN or NZJ_ZABBIX_USER with NZJ_ZABBIX_PASSWORD, not both",
            ));
        }
        (Some(token), None, None) => Some(ZabbixAuth::Token(token)),
        (None, Some(user), Some(password)) => Some(ZabbixAuth::Password { user, password }),
        (None, Some(_), None) => {
            return Err(problem("NZJ_ZABBIX_PASSWORD", "is required with NZJ_ZABBIX_USER"));
        }
        (None, None, Some(_)) => {
            return Err(problem("NZJ_ZABBIX_USER", "is required with NZJ_ZABBIX_PASSWORD"));
        }
    };
    match (url, auth) {
        (None, None) => Ok(None),
        (Some(url), Some(auth)) => Ok(Some(ZabbixConfig {
            url,
            auth,
            connect_timeout: src.seconds("NZJ_ZABBIX_CONNECT_TIMEOUT_SECONDS", 5, 1..=300)?,
            request_timeout: src.seconds("NZJ_ZABBIX_TIMEOUT_SECONDS", 30, 1..=3600)?,
            array_concurrency: src.whole_number("NZJ_ZABBIX_ARRAY_CONCURRENCY", 1, 1..=16)? as usize,
        })),
        (Some(_), None) => Err(problem(
            "NZJ_ZABBIX_TOKEN",
            "NZJ_ZABBIX_URL needs NZJ_ZABBIX_TOKEN or NZJ_ZABBIX_USER + NZJ_ZABBIX_PASSWORD",
        )),
        (None, Some(_)) => Err(problem("NZJ_ZABBIX_URL", "is required with Zabbix credentials")),
    }
}

/// NetBox 4.x tokens: v1 is 40 alphanumeric characters; v2 is `nbt_<key>.<token>`.
fn is_netbox_token(token: &str) -> bool {
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    match token.strip_prefix("nbt_") {
        Some(rest) => rest.split_once('.').is_some_and(|(k, t)| alnum(k) && alnum(t)),
        None => token.len() == 40 && alnum(token),
    }
}

fn parse_file(text: &str) -> Result<HashMap<String, String>, ConfigError> {
    let table: toml::Table =
        text.parse().map_err(|e: toml::de::Error| problem("NZJ_CONFIG", format!("not valid TOML: {}", e.message())))?;
    table
        .into_iter()
        .map(|(key, value)| {
            if !key.starts_with("NZJ_") {
                return Err(problem("NZJ_CONFIG", format!("unknown key {key:?}; keys are the NZJ_* variable names")));
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                _ => {
                    return Err(problem(&key, "must be a string or a whole number in the config file"));
                }
            };
            Ok((key, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn err(pairs: &[(&str, &str)]) -> ConfigError {
        Config::from_sources(env(pairs), None).unwrap_err()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::from_sources(env(&[("HOME", "/root")]), None).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(".nzj"));
        assert_eq!(c.store, StoreConfig::Embedded);
        assert!(c.zabbix.is_none() && c.netbox.is_none() && c.api_token.is_none());
        assert_eq!(c.job_retention, Duration::days(30));
        assert_eq!(c.max_deletions, 50);
    }

    #[test]
    fn malformed_values_fail_naming_the_variable() {
        assert_eq!(err(&[("NZJ_LISTEN", "localhost")]).name, "NZJ_LISTEN");
        assert_eq!(err(&[("NZJ_STORE", "redis")]).name, "NZJ_STORE");
        assert_eq!(err(&[("NZJ_SCHEDULER_TICK_SECONDS", "soon")]).name, "NZJ_SCHEDULER_TICK_SECONDS");
        assert_eq!(err(&[("NZJ_JOB_LEASE_SECONDS", "0")]).name, "NZJ_JOB_LEASE_SECONDS");
        assert_eq!(err(&[("NZJ_ZABBIX_URL", "zabbix.example")]).name, "NZJ_ZABBIX_URL");
        assert_eq!(err(&[("NZJ_API_TOKEN", "short")]).name, "NZJ_API_TOKEN");
    }

    #[test]
    fn missing_companion_values_fail_naming_the_missing_one() {
        let e = err(&[("NZJ_ZABBIX_URL", "http://zbx/api_jsonrpc.php")]);
        assert_eq!(e.name, "NZJ_ZABBIX_TOKEN");
        assert_eq!(err(&[("NZJ_ZABBIX_USER", "Admin")]).name, "NZJ_ZABBIX_PASSWORD");
        let e = err(&[("NZJ_ZABBIX_TOKEN", "abc"), ("NZJ_ZABBIX_USER", "Admin"), ("NZJ_ZABBIX_PASSWORD", "pw")]);
        assert_eq!(e.name, "NZJ_ZABBIX_TOKEN");
        assert_eq!(err(&[("NZJ_NETBOX_URL", "https://netbox")]).name, "NZJ_NETBOX_TOKEN");
        assert_eq!(err(&[("NZJ_ZABBIX_TOKEN", "abc")]).name, "NZJ_ZABBIX_URL");
    }

    #[test]
    fn the_table_and_the_queues_are_read_once_here() {
        let c = Config::from_sources(env(&[("NZJ_DYNAMODB_TABLE", "jobs-prod")]), None).unwrap();
        assert_eq!((c.dynamodb_table.as_str(), &c.store), ("jobs-prod", &StoreConfig::Embedded));
        let c = Config::from_sources(env(&[("NZJ_STORE", "dynamodb")]), None).unwrap();
        assert_eq!(c.store, StoreConfig::DynamoDb { table: DEFAULT_DYNAMODB_TABLE.into() });
        let q = "https://sqs.eu-west-1.amazonaws.com/123456789012/nzj-hosts.fifo";
        let d = "https://sqs.eu-west-1.amazonaws.com/123456789012/nzj-hosts-dlq.fifo";
        let c = Config::from_sources(env(&[("NZJ_HOST_QUEUE_URL", q), ("NZJ_HOST_DLQ_URL", d)]), None).unwrap();
        assert_eq!(c.host_queue, Some(QueueUrls { url: q.into(), dlq: d.into() }));
        assert!(c.bulk_queue.is_none());
        assert_eq!(err(&[("NZJ_BULK_QUEUE_URL", q)]).name, "NZJ_BULK_DLQ_URL");
        assert_eq!(err(&[("NZJ_HOST_DLQ_URL", d)]).name, "NZJ_HOST_QUEUE_URL");
    }

    #[test]
    fn errors_never_quote_a_secret() {
        let secret = "nbt_notvalid-secret-value";
        let e = err(&[("NZJ_NETBOX_URL", "https://netbox"), ("NZJ_NETBOX_TOKEN", secret)]);
        assert_eq!(e.name, "NZJ_NETBOX_TOKEN");
        assert!(!e.to_string().contains("secret-value"));
        let e = err(&[("NZJ_API_TOKEN", "tiny-secret")]);
        assert!(!e.to_string().contains("tiny-secret"));
    }

    #[test]
    fn both_auth_styles_and_both_netbox_token_versions_are_accepted() {
        let c = Config::from_sources(
            env(&[
                ("NZJ_ZABBIX_URL", "http://127.0.0.1:8085/api_jsonrpc.php"),
                ("NZJ_ZABBIX_USER", "Admin"),
                ("NZJ_ZABBIX_PASSWORD", "zabbix"),
                ("NZJ_NETBOX_URL", "http://127.0.0.1:8001"),
                ("NZJ_NETBOX_TOKEN", "0123456789abcdef0123456789abcdef01234567"),
            ]),
            None,
        )
        .unwrap();
        assert!(matches!(c.zabbix.unwrap().auth, ZabbixAuth::Password { .. }));
        let c = Config::from_sources(
            env(&[
                ("NZJ_ZABBIX_URL", "https://zbx.example/api_jsonrpc.php"),
                ("NZJ_ZABBIX_TOKEN", "f00d"),
                ("NZJ_NETBOX_URL", "https://netbox.example"),
                ("NZJ_NETBOX_TOKEN", "nbt_abc123.def456"),
            ]),
            None,
        )
        .unwrap();
        assert!(matches!(c.zabbix.unwrap().auth, ZabbixAuth::Token(_)));
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let file = "NZJ_LISTEN = \"127.0.0.1:9000\"\nNZJ_DATA_DIR = \"/var/lib/nzj\"\nNZJ_SCHEDULER_TICK_SECONDS = 5\n";
        let c = Config::from_sources(env(&[("NZJ_LISTEN", "127.0.0.1:9001")]), Some(file)).unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/nzj"));
        assert_eq!(c.scheduler_tick, Duration::seconds(5));
    }

    #[test]
    fn a_bad_file_fails_clearly() {
        assert_eq!(Config::from_sources(env(&[]), Some("NZJ_LISTEN = [")).unwrap_err().name, "NZJ_CONFIG");
        assert_eq!(Config::from_sources(env(&[]), Some("listen = \"x\"")).unwrap_err().name, "NZJ_CONFIG");
        assert_eq!(Config::from_sources(env(&[]), Some("NZJ_LISTEN = true")).unwrap_err().name, "NZJ_LISTEN");
    }
}

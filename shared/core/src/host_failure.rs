//! Why a host's last job failed, kept in its host config: the answer to "which hosts are failing,
//! and why?" (`nzj hosts ls --failed`, `GET /api/hosts?failed=true`), with Zabbix's own error
//! (code, message, data) when Zabbix refused the write, and a hint where the cause is known.
//! A later job that succeeds clears it.

use crate::job::JobId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Zabbix's JSON-RPC error, as it refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZabbixRefusal {
    pub code: i64,
    pub message: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFailure {
    /// The job that failed.
    pub job: JobId,
    pub at: DateTime<Utc>,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zabbix: Option<ZabbixRefusal>,
    /// What to do about it, when the cause is a known one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Known causes: a fragment of the error (Zabbix's data, or our message) and what to do.
const HINTS: &[(&str, &str)] = &[
    (
        "already exists",
        "a host with this name exists in Zabbix and is not managed by the product: set `adoption` to take it over, or rename one of them",
    ),
    ("Invalid IP address", "the object's primary IP is not an address Zabbix accepts: fix it in NetBox"),
    (
        "Incorrect characters used for host name",
        "the host name has characters Zabbix refuses: set a `visible_name` template, or rename the object",
    ),
    ("No permissions", "the Zabbix API token's user lacks permission on a host group or template the host needs"),
    (
        "template",
        "a template the settings name is missing in Zabbix: run ImportZabbixSettings, or fix the template mapping",
    ),
    (
        "No such host group",
        "a host group the settings name is missing in Zabbix: run ImportZabbixSettings, or fix the group mapping",
    ),
    ("no answer", "Zabbix did not answer: the job is retried; see Zabbix's availability"),
    ("secret", "a secret the object names is not in the secret store: add it (NZJ_SECRET_*, NZJ_SECRETS_DIR or SSM)"),
];

impl HostFailure {
    pub fn new(job: JobId, at: DateTime<Utc>, error: String, zabbix: Option<ZabbixRefusal>) -> HostFailure {
        let text =
            format!("{} {error}", zabbix.as_ref().map_or(String::new(), |z| format!("{} {}", z.message, z.data)));
        let hint = HINTS.iter().find(|(fragment, _)| text.contains(fragment)).map(|(_, hint)| hint.to_string());
        HostFailure { job, at, error, zabbix, hint }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_zabbix_refusal_gets_its_hint_and_an_unknown_one_none() {
        let job = JobId::new_at(Utc::now());
        let refusal = ZabbixRefusal {
            code: -32602,
            message: "Invalid params.".into(),
            data: "Host with the same name \"sw1\" already exists.".into(),
        };
        let failure = HostFailure::new(job.clone(), Utc::now(), "Zabbix host.create: ...".into(), Some(refusal));
        assert!(failure.hint.unwrap().contains("adoption"));
        let odd = HostFailure::new(job, Utc::now(), "something new".into(), None);
        assert_eq!(odd.hint, None);
    }
}

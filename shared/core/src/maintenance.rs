//! Maintenance windows: what an operator asks for, and the rules it must follow before anything
//! reaches Zabbix. A window must name its targets: the plugin silently covered every host when it
//! had none, which is never what anyone wants.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The tag that carries a host's NetBox site; maintenance windows find a site's hosts by it.
pub const SITE_TAG: &str = "netbox:site";

/// Zabbix keeps times as 32-bit Unix timestamps: a window must lie between 1970 and
/// 2038-01-19T03:14:07Z.
pub const ZABBIX_TIME_RANGE: (i64, i64) = (0, i32::MAX as i64);

/// Zabbix refuses one-time periods shorter than five minutes.
pub const MIN_DURATION: Duration = Duration::minutes(5);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceTargets {
    /// Zabbix technical host names.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Zabbix host group names.
    #[serde(default)]
    pub host_groups: Vec<String>,
    /// NetBox site names: every host tagged with the site.
    #[serde(default)]
    pub sites: Vec<String>,
}

impl MaintenanceTargets {
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.host_groups.is_empty() && self.sites.is_empty()
    }
}

/// A window as created or replaced through the API and CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub active_since: DateTime<Utc>,
    pub active_till: DateTime<Utc>,
    #[serde(flatten)]
    pub targets: MaintenanceTargets,
}

impl MaintenanceRequest {
    /// Every rule, with a message that says what to change.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 128 {
            return Err("name: must be 1 to 128 characters".into());
        }
        let (first, last) = ZABBIX_TIME_RANGE;
        for (field, time) in [("active_since", self.active_since), ("active_till", self.active_till)] {
            if !(first..=last).contains(&time.timestamp()) {
                return Err(format!(
                    "{field}: {} is outside what Zabbix can store (1970-01-01T00:00:00Z to 2038-01-19T03:14:07Z)",
                    time.to_rfc3339()
                ));
            }
        }
        if self.active_till - self.active_since < MIN_DURATION {
            return Err("active_till must be at least 5 minutes after active_since".into());
        }
        if self.targets.is_empty() {
            return Err("a maintenance window needs at least one of hosts, host_groups or sites \
                        (a window without targets would cover nothing, or everything)"
                .into());
        }
        let all = self.targets.hosts.iter().chain(&self.targets.host_groups).chain(&self.targets.sites);
        if all.clone().any(|t| t.trim().is_empty()) {
            return Err("targets: names must not be empty".into());
        }
        Ok(())
    }
}

/// A window as stored: the request, its Zabbix id, and bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Maintenance {
    pub id: String,
    pub name: String,
    pub description: String,
    pub active_since: DateTime<Utc>,
    pub active_till: DateTime<Utc>,
    pub targets: MaintenanceTargets,
    pub zabbix_id: Option<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Maintenance {
    pub fn new(request: MaintenanceRequest, now: DateTime<Utc>) -> Self {
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            now.timestamp() as u64,
            now.timestamp_subsec_nanos(),
        ));
        Maintenance {
            id: id.to_string(),
            name: request.name.trim().to_string(),
            description: request.description,
            active_since: request.active_since,
            active_till: request.active_till,
            targets: request.targets,
            zabbix_id: None,
            created: now,
            updated: now,
            version: 0,
        }
    }

    /// Replaces what the operator controls; keeps id, Zabbix id and creation time.
    pub fn replace(&mut self, request: MaintenanceRequest, now: DateTime<Utc>) {
        self.name = request.name.trim().to_string();
        self.description = request.description;
        self.active_since = request.active_since;
        self.active_till = request.active_till;
        self.targets = request.targets;
        self.updated = now;
    }

    /// Its end has passed: MaintenanceCleanup deletes it.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.active_till <= now
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.active_since <= now && now < self.active_till
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: serde_json::Value) -> Result<MaintenanceRequest, String> {
        let request: MaintenanceRequest = serde_json::from_value(body).map_err(|e| e.to_string())?;
        request.validate().map(|()| request)
    }

    #[test]
    fn a_window_without_targets_is_refused() {
        let err = request(
            json!({"name": "w", "active_since": "2026-01-01T00:00:00Z", "active_till": "2026-01-01T01:00:00Z"}),
        )
        .unwrap_err();
        assert!(err.contains("at least one of hosts, host_groups or sites"), "{err}");
        let err = request(json!({"name": "w", "active_since": "2026-01-01T00:00:00Z",
            "active_till": "2026-01-01T01:00:00Z", "hosts": [], "sites": []}))
        .unwrap_err();
        assert!(err.contains("at least one"), "{err}");
    }

    #[test]
    fn a_window_outside_what_zabbix_can_store_is_refused_before_zabbix_sees_it() {
        let window = |since: &str, till: &str| {
            request(json!({"name": "w", "active_since": since, "active_till": till, "sites": ["ams1"]}))
        };
        let late = window("2038-01-19T00:00:00Z", "2038-02-01T00:00:00Z").unwrap_err();
        assert!(late.starts_with("active_till:") && late.contains("2038-01-19T03:14:07Z"), "{late}");
        let early = window("1969-12-31T00:00:00Z", "1970-01-02T00:00:00Z").unwrap_err();
        assert!(early.starts_with("active_since:"), "{early}");
        assert!(window("1970-01-01T00:00:00Z", "2038-01-19T03:14:07Z").is_ok(), "the edges are Zabbix's own");
    }

    #[test]
    fn times_names_and_fields_are_checked() {
        let base = json!({"name": "w", "active_since": "2026-01-01T00:00:00Z", "active_till": "2026-01-01T01:00:00Z", "sites": ["ams1"]});
        assert!(request(base.clone()).is_ok());
        let mut short = base.clone();
        short["active_till"] = json!("2026-01-01T00:04:00Z");
        assert!(request(short).unwrap_err().contains("5 minutes"));
        let mut blank = base.clone();
        blank["name"] = json!("  ");
        assert!(request(blank).unwrap_err().contains("name"));
        let mut typo = base.clone();
        typo["hostgroups"] = json!(["x"]);
        assert!(request(typo).unwrap_err().contains("unknown field"));
        let mut empty_name = base;
        empty_name["hosts"] = json!([""]);
        assert!(request(empty_name).unwrap_err().contains("must not be empty"));
    }

    #[test]
    fn expiry_and_activity_follow_the_window() {
        let now: DateTime<Utc> = "2026-01-01T00:30:00Z".parse().unwrap();
        let req = request(json!({"name": "w", "active_since": "2026-01-01T00:00:00Z", "active_till": "2026-01-01T01:00:00Z", "hosts": ["h"]})).unwrap();
        let m = Maintenance::new(req, now);
        assert!(m.is_active(now) && !m.is_expired(now));
        let later = now + Duration::minutes(30);
        assert!(m.is_expired(later) && !m.is_active(later));
    }
}

//! Typed maintenance calls: windows as Zabbix keeps them (read with the version's host group
//! field), written from [`MaintenanceWrite`], checked and deleted by id; and the lookups that
//! resolve a window's targets (hosts by name, hosts by tag).

use crate::client::{ZabbixClient, ZabbixError};
use crate::host::{ZabbixHost, items, text};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A maintenance window as `maintenance.get` answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub name: String,
    pub active_since: Option<i64>,
    pub active_till: Option<i64>,
    pub host_ids: BTreeSet<String>,
    pub group_ids: BTreeSet<String>,
}

impl MaintenanceWindow {
    /// Whether the window is active at `stamp` (Unix seconds).
    pub fn is_active(&self, stamp: i64) -> bool {
        self.active_since.is_some_and(|s| s <= stamp) && self.active_till.is_some_and(|t| stamp < t)
    }

    /// Whether the window names the host, or one of its host groups.
    pub fn covers(&self, host: &ZabbixHost) -> bool {
        self.host_ids.contains(&host.hostid) || host.groups.iter().any(|(id, _)| self.group_ids.contains(id))
    }
}

/// A one-time maintenance window with data collection, as created or updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWrite {
    pub name: String,
    pub description: String,
    pub active_since: i64,
    pub active_till: i64,
    pub host_ids: Vec<String>,
    pub group_ids: Vec<String>,
}

impl MaintenanceWrite {
    /// `maintenance.create` parameters (`maintenance.update` adds the id).
    pub fn params(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "active_since": self.active_since,
            "active_till": self.active_till,
            "maintenance_type": 0,
            "hosts": self.host_ids.iter().map(|id| json!({"hostid": id})).collect::<Vec<_>>(),
            "groups": self.group_ids.iter().map(|id| json!({"groupid": id})).collect::<Vec<_>>(),
            "timeperiods": [{"timeperiod_type": 0, "start_date": self.active_since, "period": self.active_till - self.active_since}],
        })
    }
}

impl ZabbixClient {
    /// Every maintenance window, with the hosts and host groups it covers.
    pub async fn maintenance_windows(&self) -> Result<Vec<MaintenanceWindow>, ZabbixError> {
        let version = self.version().await?;
        let (select_groups, groups_key) = version.select_host_groups();
        let answer = self
            .call(
                "maintenance.get",
                json!({"output": ["name", "active_since", "active_till"], "selectHosts": ["hostid"], select_groups: ["groupid"]}),
            )
            .await?;
        Ok(items(&answer)
            .iter()
            .map(|w| MaintenanceWindow {
                name: text(&w["name"]),
                active_since: text(&w["active_since"]).parse().ok(),
                active_till: text(&w["active_till"]).parse().ok(),
                host_ids: items(&w["hosts"]).iter().map(|h| text(&h["hostid"])).collect(),
                group_ids: items(&w[groups_key]).iter().map(|g| text(&g["groupid"])).collect(),
            })
            .collect())
    }

    /// Creates a window; its Zabbix id.
    pub async fn create_maintenance(&self, window: &MaintenanceWrite) -> Result<String, ZabbixError> {
        let created = self.call("maintenance.create", window.params()).await?;
        Ok(text(&created["maintenanceids"][0]))
    }

    pub async fn update_maintenance(&self, id: &str, window: &MaintenanceWrite) -> Result<(), ZabbixError> {
        let mut params = window.params();
        params["maintenanceid"] = json!(id);
        self.call("maintenance.update", params).await.map(|_| ())
    }

    /// Which of these maintenance ids still exist: one `maintenance.get`.
    pub async fn existing_maintenances(&self, ids: &[&str]) -> Result<BTreeSet<String>, ZabbixError> {
        let found = self.call("maintenance.get", json!({"output": ["maintenanceid"], "maintenanceids": ids})).await?;
        Ok(items(&found).iter().map(|m| text(&m["maintenanceid"])).collect())
    }

    /// Deletes windows by id in one call (Zabbix refuses it whole if one id is gone).
    pub async fn delete_maintenances(&self, ids: &[String]) -> Result<(), ZabbixError> {
        self.call("maintenance.delete", json!(ids)).await.map(|_| ())
    }

    /// The hosts with these exact technical names, as (host id, name): one `host.get`.
    pub async fn hosts_named(&self, names: &[String]) -> Result<Vec<(String, String)>, ZabbixError> {
        let found = self.call("host.get", json!({"output": ["hostid", "host"], "filter": {"host": names}})).await?;
        Ok(items(&found).iter().map(|h| (text(&h["hostid"]), text(&h["host"]))).collect())
    }

    /// The hosts tagged `tag` with any of `values`, as (host id, their values of `tag`).
    pub async fn hosts_tagged(&self, tag: &str, values: &[String]) -> Result<Vec<(String, Vec<String>)>, ZabbixError> {
        let tags: Vec<Value> = values.iter().map(|v| json!({"tag": tag, "value": v, "operator": 1})).collect();
        let found = self
            .call(
                "host.get",
                json!({"output": ["hostid"], "selectTags": ["tag", "value"], "evaltype": 2, "tags": tags}),
            )
            .await?;
        Ok(items(&found)
            .iter()
            .map(|h| {
                let values = items(&h["tags"]).iter().filter(|t| text(&t["tag"]) == tag).map(|t| text(&t["value"]));
                (text(&h["hostid"]), values.collect())
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_time_window_has_one_period_of_its_length() {
        let window = MaintenanceWrite {
            name: "w".into(),
            description: String::new(),
            active_since: 1_000,
            active_till: 4_600,
            host_ids: vec!["1".into()],
            group_ids: vec![],
        };
        let params = window.params();
        assert_eq!(params["timeperiods"], json!([{"timeperiod_type": 0, "start_date": 1000, "period": 3600}]));
        assert_eq!(params["hosts"], json!([{"hostid": "1"}]));
    }
}

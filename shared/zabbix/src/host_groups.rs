//! Typed host group calls: find by exact name, create several in one call.

use crate::client::{ZabbixClient, ZabbixError};
use crate::host::{items, text};
use serde_json::{Value, json};

impl ZabbixClient {
    /// The host groups with these exact names, as (group id, name): one `hostgroup.get`.
    pub async fn host_groups_named(&self, names: &[String]) -> Result<Vec<(String, String)>, ZabbixError> {
        let found =
            self.call("hostgroup.get", json!({"output": ["groupid", "name"], "filter": {"name": names}})).await?;
        Ok(items(&found).iter().map(|g| (text(&g["groupid"]), text(&g["name"]))).collect())
    }

    /// Creates host groups in one `hostgroup.create`; their ids, in the order of `names`.
    pub async fn create_host_groups(&self, names: &[String]) -> Result<Vec<String>, ZabbixError> {
        let create: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
        let created = self.call("hostgroup.create", json!(create)).await?;
        Ok(items(&created["groupids"]).iter().map(text).collect())
    }
}

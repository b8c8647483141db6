//! Typed host calls: `host.get` by managed tag, by id and by name, and `host.create`,
//! `host.update` and `host.delete` in split-on-refusal arrays (`batch.rs`). What the product
//! decides (create or adopt, which host to delete) is the caller's; this file only speaks Zabbix.

use crate::client::{ZabbixClient, ZabbixError};
use crate::host::{
    HostWrite, SoftDelete, ZabbixHost, host_create_params, host_get_params, host_output, host_update_params, items,
    redact, soft_delete_params, text,
};
use nzj_core::netbox::ObjectRef;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A host written: its id, and the parameters sent (secrets redacted), for the job log.
#[derive(Debug, Clone)]
pub struct Written {
    pub hostid: String,
    pub sent: Value,
}

/// Whether Zabbix refused a create because an object of that name exists.
pub fn is_already_exists(e: &ZabbixError) -> bool {
    matches!(e, ZabbixError::Api { data, .. } if data.contains("already exists"))
}

/// Whether Zabbix refused a delete because the object is gone (or was never visible to us).
pub fn is_gone(e: &ZabbixError) -> bool {
    matches!(e, ZabbixError::Api { data, .. } if data.contains("does not exist") || data.contains("No permissions"))
}

impl ZabbixClient {
    /// The hosts that carry `tag` = one of `objects` (exact values, never a name search): one
    /// `host.get` per `page` objects. An object with no host is absent; of several hosts with
    /// one object's tag, the first answered is kept.
    pub async fn find_managed(
        &self,
        tag: &str,
        objects: &[ObjectRef],
        page: usize,
    ) -> Result<BTreeMap<ObjectRef, ZabbixHost>, ZabbixError> {
        let version = self.version().await?;
        let mut found = BTreeMap::new();
        for chunk in objects.chunks(page.max(1)) {
            let mut query = host_get_params(version);
            query["tags"] =
                chunk.iter().map(|o| json!({"tag": tag, "value": o.to_string(), "operator": 1})).collect::<Value>();
            query["evaltype"] = json!(2); // Or: any of the page's objects.
            for raw in items(&self.call("host.get", query).await?) {
                let host = ZabbixHost::from_answer(version, raw);
                if let Some(object) = host.tag(tag).and_then(|v| v.parse::<ObjectRef>().ok()) {
                    found.entry(object).or_insert(host);
                }
            }
        }
        Ok(found)
    }

    /// The hosts with these ids, everything a desired host is compared on: one `host.get`.
    pub async fn hosts_by_id(&self, hostids: &[String]) -> Result<Vec<ZabbixHost>, ZabbixError> {
        let version = self.version().await?;
        let mut query = host_get_params(version);
        query["hostids"] = json!(hostids);
        Ok(items(&self.call("host.get", query).await?)
            .iter()
            .map(|raw| ZabbixHost::from_answer(version, raw))
            .collect())
    }

    /// The host with this technical name, with its tags and interfaces, if there is one.
    pub async fn host_by_name(&self, host: &str) -> Result<Option<ZabbixHost>, ZabbixError> {
        let version = self.version().await?;
        let query = json!({
            "output": host_output(version),
            "selectTags": ["tag", "value"],
            "selectInterfaces": ["interfaceid", "type", "main"],
            "filter": {"host": [host]},
        });
        Ok(items(&self.call("host.get", query).await?).first().map(|raw| ZabbixHost::from_answer(version, raw)))
    }

    /// Which of these technical names hosts already have: one `host.get`.
    pub async fn host_names_taken(&self, names: &[String]) -> Result<BTreeSet<String>, ZabbixError> {
        let taken = self.call("host.get", json!({"output": ["host"], "filter": {"host": names}})).await?;
        Ok(items(&taken).iter().map(|h| text(&h["host"])).collect())
    }

    /// Creates the hosts, `batch` per `host.create`; one result per host, in order.
    pub async fn create_hosts(
        &self,
        hosts: &[HostWrite<'_>],
        tag_prefix: &str,
        batch: usize,
    ) -> Vec<Result<Written, ZabbixError>> {
        let version = match self.version().await {
            Ok(version) => version,
            Err(e) => return hosts.iter().map(|_| Err(e.clone())).collect(),
        };
        let params: Vec<Value> = hosts.iter().map(|h| host_create_params(version, h, tag_prefix)).collect();
        self.write_split("host.create", params, batch).await
    }

    /// Updates the hosts (each `existing` is the one updated), `batch` per `host.update`.
    pub async fn update_hosts(
        &self,
        hosts: &[HostWrite<'_>],
        tag_prefix: &str,
        batch: usize,
    ) -> Vec<Result<Written, ZabbixError>> {
        let version = match self.version().await {
            Ok(version) => version,
            Err(e) => return hosts.iter().map(|_| Err(e.clone())).collect(),
        };
        let params: Vec<Value> = hosts.iter().map(|h| host_update_params(version, h, tag_prefix)).collect();
        self.write_split("host.update", params, batch).await
    }

    /// Updates one host in one call, not retried (an adoption: the caller decides what next).
    pub async fn update_host_once(&self, host: &HostWrite<'_>, tag_prefix: &str) -> Result<Written, ZabbixError> {
        let version = self.version().await?;
        let params = host_update_params(version, host, tag_prefix);
        self.call("host.update", params.clone()).await?;
        Ok(Written { hostid: host.existing.map(|h| h.hostid.clone()).unwrap_or_default(), sent: redact(&params) })
    }

    /// Soft-deletes the hosts (`host.update`), `batch` per call.
    pub async fn soft_delete_hosts(&self, hosts: &[SoftDelete<'_>], batch: usize) -> Vec<Result<Written, ZabbixError>> {
        self.write_split("host.update", hosts.iter().map(soft_delete_params).collect(), batch).await
    }

    /// Deletes the hosts (`host.delete`), `batch` per call. A host already gone is an error the
    /// caller may accept ([`is_gone`]).
    pub async fn delete_hosts(&self, hostids: &[String], batch: usize) -> Vec<Result<(), ZabbixError>> {
        let params: Vec<Value> = hostids.iter().map(|id| json!(id)).collect();
        self.call_split("host.delete", &params, batch, "hostids").await.into_iter().map(|r| r.map(|_| ())).collect()
    }

    async fn write_split(&self, method: &str, params: Vec<Value>, batch: usize) -> Vec<Result<Written, ZabbixError>> {
        let answers = self.call_split(method, &params, batch, "hostids").await;
        params
            .iter()
            .zip(answers)
            .map(|(params, answer)| {
                answer.map(|id| Written {
                    // host.update answers the ids it updated; an empty one falls back to ours.
                    hostid: if id.is_empty() { text(&params["hostid"]) } else { id },
                    sent: redact(params),
                })
            })
            .collect()
    }
}

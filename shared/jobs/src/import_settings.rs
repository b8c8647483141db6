//! ImportZabbixSettings: templates (with their parent templates), proxies, proxy groups (7.0+)
//! and host groups into the store's cache, in a fixed number of Zabbix calls whatever their count,
//! under the max-deletions breaker. The cache is written in one atomic commit, so a failed or
//! refused import changes nothing; removing a cached object never touches a host.

use crate::{store_failure, zabbix_failure};
use async_trait::async_trait;
use nzj_core::LogLevel;
use nzj_core::zabbix_cache::{CacheKind, CachedObject, KindChanges, changes, check_deletions};
use nzj_runtime::{JobContext, JobFailure, SystemJobHandler};
use nzj_store::{JobStore, Write};
use nzj_zabbix::{ZabbixClient, ZabbixError, ZabbixVersion};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct ImportZabbixSettings {
    pub zabbix: Arc<ZabbixClient>,
    pub store: Arc<dyn JobStore>,
    /// The breaker: an import that would drop more cached objects than this changes nothing.
    pub max_deletions: usize,
}

/// The string field `key` of a Zabbix object.
fn text(object: &Value, key: &str) -> String {
    object[key].as_str().unwrap_or_default().to_string()
}

fn objects(result: Value) -> Vec<Value> {
    match result {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

fn cached(id: String, name: String, attributes: BTreeMap<String, Value>) -> CachedObject {
    CachedObject { id, name, attributes }
}

/// Reads every kind from Zabbix: one call per kind, never one per object.
pub async fn fetch(zabbix: &ZabbixClient) -> Result<Vec<(CacheKind, Vec<CachedObject>)>, ZabbixError> {
    let version: ZabbixVersion = zabbix.version().await?;

    let templates = zabbix
        .call(
            "template.get",
            json!({"output": ["templateid", "host", "name"], "selectParentTemplates": ["templateid"]}),
        )
        .await?;
    let templates = objects(templates)
        .into_iter()
        .map(|t| {
            let mut parents: Vec<String> =
                objects(t["parentTemplates"].clone()).iter().map(|p| text(p, "templateid")).collect();
            parents.sort();
            let attributes = BTreeMap::from([
                ("visible_name".to_string(), Value::String(text(&t, "name"))),
                ("parents".to_string(), json!(parents)),
            ]);
            cached(text(&t, "templateid"), text(&t, "host"), attributes)
        })
        .collect();

    let name_field = version.proxy_name_field();
    let mode_fields: &[&str] =
        if version.has_proxy_groups() { &["operating_mode", "proxy_groupid"] } else { &["status"] };
    let mut output = vec!["proxyid", name_field];
    output.extend_from_slice(mode_fields);
    let proxies = zabbix.call("proxy.get", json!({ "output": output })).await?;
    let proxies = objects(proxies)
        .into_iter()
        .map(|p| {
            let attributes = mode_fields.iter().map(|f| (f.to_string(), p[*f].clone())).collect();
            cached(text(&p, "proxyid"), text(&p, name_field), attributes)
        })
        .collect();

    let proxy_groups = if version.has_proxy_groups() {
        let groups = zabbix.call("proxygroup.get", json!({"output": ["proxy_groupid", "name"]})).await?;
        objects(groups)
            .into_iter()
            .map(|g| cached(text(&g, "proxy_groupid"), text(&g, "name"), BTreeMap::new()))
            .collect()
    } else {
        Vec::new()
    };

    let host_groups = zabbix.call("hostgroup.get", json!({"output": ["groupid", "name"]})).await?;
    let host_groups = objects(host_groups)
        .into_iter()
        .map(|g| cached(text(&g, "groupid"), text(&g, "name"), BTreeMap::new()))
        .collect();

    Ok(vec![
        (CacheKind::Templates, templates),
        (CacheKind::Proxies, proxies),
        (CacheKind::ProxyGroups, proxy_groups),
        (CacheKind::HostGroups, host_groups),
    ])
}

#[async_trait]
impl SystemJobHandler for ImportZabbixSettings {
    async fn run(&self, ctx: &JobContext) -> Result<Value, JobFailure> {
        let fetched = fetch(&self.zabbix).await.map_err(zabbix_failure)?;
        let mut writes = Vec::new();
        let mut all_changes: Vec<(CacheKind, KindChanges)> = Vec::new();
        for (kind, current) in fetched {
            let mut snapshot = self.store.get_cache(kind).await.map_err(store_failure)?;
            let kind_changes = changes(&snapshot.objects, &current);
            if kind_changes != KindChanges::default() || snapshot.version == 0 {
                snapshot.objects = current;
                snapshot.updated = Some(ctx.now());
                writes.push(Write::cache(snapshot));
            }
            all_changes.push((kind, kind_changes));
        }
        check_deletions(&all_changes, self.max_deletions).map_err(JobFailure::permanent)?;
        // One commit: all kinds change together, or none does.
        self.store.commit(writes).await.map_err(store_failure)?;

        let mut result = Map::new();
        for (kind, c) in &all_changes {
            ctx.log(LogLevel::Info, format!("{kind}: {} added, {} updated, {} deleted", c.added, c.updated, c.deleted));
            result.insert(kind.to_string(), serde_json::to_value(c).expect("changes serialize"));
        }
        Ok(Value::Object(result))
    }
}

//! What ImportZabbixSettings reads: templates (with their parents), proxies, proxy groups (7.0+)
//! and host groups, one call per kind whatever their number, with the version's field names.

use crate::client::{ZabbixClient, ZabbixError};
use crate::host::{items, text};
use nzj_core::zabbix_cache::{CacheKind, CachedObject};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn cached(id: String, name: String, attributes: BTreeMap<String, Value>) -> CachedObject {
    CachedObject { id, name, attributes }
}

/// The `proxy.get` output of a version: the name field and the mode fields it has.
fn proxy_fields(version: crate::ZabbixVersion) -> (&'static str, &'static [&'static str]) {
    let mode: &[&str] = if version.has_proxy_groups() { &["operating_mode", "proxy_groupid"] } else { &["status"] };
    (version.proxy_name_field(), mode)
}

impl ZabbixClient {
    /// Every kind of cached Zabbix object: one call per kind, never one per object.
    pub async fn settings_snapshot(&self) -> Result<Vec<(CacheKind, Vec<CachedObject>)>, ZabbixError> {
        let version = self.version().await?;
        let templates = self
            .call(
                "template.get",
                json!({"output": ["templateid", "host", "name"], "selectParentTemplates": ["templateid"]}),
            )
            .await?;
        let templates = items(&templates)
            .iter()
            .map(|t| {
                let mut parents: Vec<String> =
                    items(&t["parentTemplates"]).iter().map(|p| text(&p["templateid"])).collect();
                parents.sort();
                let attributes = BTreeMap::from([
                    ("visible_name".to_string(), Value::String(text(&t["name"]))),
                    ("parents".to_string(), json!(parents)),
                ]);
                cached(text(&t["templateid"]), text(&t["host"]), attributes)
            })
            .collect();

        let (name_field, mode_fields) = proxy_fields(version);
        let mut output = vec!["proxyid", name_field];
        output.extend_from_slice(mode_fields);
        let proxies = self.call("proxy.get", json!({ "output": output })).await?;
        let proxies = items(&proxies)
            .iter()
            .map(|p| {
                let attributes = mode_fields.iter().map(|f| (f.to_string(), p[*f].clone())).collect();
                cached(text(&p["proxyid"]), text(&p[name_field]), attributes)
            })
            .collect();

        let proxy_groups = if version.has_proxy_groups() {
            let groups = self.call("proxygroup.get", json!({"output": ["proxy_groupid", "name"]})).await?;
            items(&groups)
                .iter()
                .map(|g| cached(text(&g["proxy_groupid"]), text(&g["name"]), BTreeMap::new()))
                .collect()
        } else {
            Vec::new()
        };

        let host_groups = self.call("hostgroup.get", json!({"output": ["groupid", "name"]})).await?;
        let host_groups = items(&host_groups)
            .iter()
            .map(|g| cached(text(&g["groupid"]), text(&g["name"]), BTreeMap::new()))
            .collect();

        Ok(vec![
            (CacheKind::Templates, templates),
            (CacheKind::Proxies, proxies),
            (CacheKind::ProxyGroups, proxy_groups),
            (CacheKind::HostGroups, host_groups),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_read_with_the_versions_fields() {
        let v = |s: &str| s.parse::<crate::ZabbixVersion>().unwrap();
        assert_eq!(proxy_fields(v("6.0.14")), ("host", &["status"][..]));
        assert_eq!(proxy_fields(v("6.4.5")), ("host", &["status"][..]));
        assert_eq!(proxy_fields(v("7.0.22")), ("name", &["operating_mode", "proxy_groupid"][..]));
        assert_eq!(proxy_fields(v("7.2.1")), ("name", &["operating_mode", "proxy_groupid"][..]));
    }
}

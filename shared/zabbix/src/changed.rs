//! What of a `host.update` differs from the host as read: an update sends only the fields that
//! change. A host set offline is `{"hostid", "status"}`, not its groups, templates, interfaces,
//! tags, inventory and proxy again (sending them all cost 6 to 9 times a status-only update on
//! Zabbix's side: it re-links templates and re-checks interfaces). Zabbix leaves a field that is
//! not in a `host.update` as it is, so leaving out what is equal changes nothing else.
//!
//! Compared here, with the encodings `host.get` answers (numbers as strings): the names, status,
//! group ids, template ids (only when none is cleared), interfaces (every one by id, type, main,
//! address, port and the details the product sets), tags (all, foreign ones included),
//! inventory, description, macros, TLS and the proxy. A value Zabbix never shows back (a PSK, a
//! secret macro's value) cannot be compared: its field is sent whenever the product manages it.

use crate::host::{ZabbixHost, items, monitored_by_wire, text};
use nzj_core::settings::{HostStatus, InventoryMode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Removes from `params` (a whole `host.update`) every field `existing` already has as sent.
pub(crate) fn keep_only_changes(params: &mut Value, existing: &ZabbixHost) {
    let Some(fields) = params.as_object_mut() else { return };
    let same = |key: &str, fields: &serde_json::Map<String, Value>| -> bool {
        let Some(value) = fields.get(key) else { return false };
        match key {
            "host" => text(value) == existing.host,
            "name" => text(value) == existing.name,
            "description" => text(value) == existing.description,
            "status" => text(value) == if existing.status == HostStatus::Enabled { "0" } else { "1" },
            "inventory_mode" => text(value) == inventory_mode(existing.inventory_mode),
            "inventory" => non_empty(value) == existing.inventory,
            "groups" => ids(value, "groupid") == existing.groups.iter().map(|(id, _)| id.clone()).collect(),
            "templates" => {
                !fields.contains_key("templates_clear")
                    && ids(value, "templateid") == existing.template_ids.iter().cloned().collect()
            }
            "tags" => {
                let mut sent: Vec<(String, String)> =
                    items(value).iter().map(|t| (text(&t["tag"]), text(&t["value"]))).collect();
                let mut had = existing.tags.clone();
                sent.sort();
                had.sort();
                sent == had
            }
            "interfaces" => same_interfaces(value, existing),
            "macros" => same_macros(value, existing),
            _ => false,
        }
    };
    let mut equal: Vec<&'static str> = [
        "host",
        "name",
        "description",
        "status",
        "inventory_mode",
        "inventory",
        "groups",
        "templates",
        "tags",
        "interfaces",
        "macros",
    ]
    .into_iter()
    .filter(|key| same(key, fields))
    .collect();
    // TLS as a whole, and only without a PSK (write-only: never shown back).
    let tls = ["tls_connect", "tls_accept", "tls_issuer", "tls_subject"];
    if fields.contains_key("tls_connect") && !fields.contains_key("tls_psk") {
        let had = [
            existing.tls.connect.bit().to_string(),
            existing.tls.accept_bits().to_string(),
            existing.tls.issuer.clone(),
            existing.tls.subject.clone(),
        ];
        if tls.iter().zip(&had).all(|(key, had)| fields.get(*key).is_some_and(|v| text(v) == *had)) {
            equal.extend(tls);
        }
    }
    // The proxy as a whole, in either version's fields.
    let (by, proxy, group) = monitored_by_wire(&existing.monitored_by);
    let proxy_fields: [(&'static str, String); 3] =
        [("monitored_by", by.to_string()), ("proxyid", proxy.clone()), ("proxy_groupid", group)];
    if fields.contains_key("monitored_by")
        && proxy_fields.iter().all(|(key, had)| fields.get(*key).is_some_and(|v| text(v) == *had))
    {
        equal.extend(proxy_fields.iter().map(|(key, _)| *key));
    }
    let old_proxy = if by == 1 { proxy } else { "0".to_string() };
    if fields.get("proxy_hostid").is_some_and(|v| text(v) == old_proxy) {
        equal.push("proxy_hostid");
    }
    for key in equal {
        fields.remove(key);
    }
}

fn inventory_mode(mode: InventoryMode) -> &'static str {
    match mode {
        InventoryMode::Disabled => "-1",
        InventoryMode::Manual => "0",
        InventoryMode::Automatic => "1",
    }
}

/// An inventory as sent, without the empty fields (Zabbix's answer leaves those out: `from_answer`).
fn non_empty(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).filter(|(_, v)| !v.is_empty()).collect())
        .unwrap_or_default()
}

fn ids(value: &Value, key: &str) -> BTreeSet<String> {
    items(value).iter().map(|item| text(&item[key])).collect()
}

/// Every existing interface is sent by its id, with what it has now.
fn same_interfaces(value: &Value, existing: &ZabbixHost) -> bool {
    let sent = items(value);
    sent.len() == existing.interfaces.len()
        && sent.iter().all(|s| {
            let Some(had) = existing.interfaces.iter().find(|e| e.interfaceid == text(&s["interfaceid"])) else {
                return false;
            };
            let details = s["details"].as_object().map(|d| d.iter().all(|(k, v)| had.details.get(k) == Some(&text(v))));
            had.kind == text(&s["type"])
                && had.main == (text(&s["main"]) == "1")
                && had.useip == (text(&s["useip"]) != "0")
                && had.ip == text(&s["ip"])
                && had.dns == text(&s["dns"])
                && had.port == text(&s["port"])
                && details.unwrap_or(true)
        })
}

/// The product's macros are all there as sent (none of them secret), and no other of its own.
fn same_macros(value: &Value, existing: &ZabbixHost) -> bool {
    let ours: Vec<&Value> = items(value).iter().filter(|m| m.get("macro").is_some()).collect();
    let theirs = existing.macros.iter().filter(|m| m.is_ours()).count();
    theirs == ours.len()
        && ours.iter().all(|m| {
            text(&m["type"]) != "1"
                && existing.macros.iter().any(|e| {
                    e.is_ours()
                        && e.name == text(&m["macro"])
                        && e.value == text(&m["value"])
                        && e.kind == text(&m["type"])
                })
        })
}

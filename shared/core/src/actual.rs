//! A Zabbix host as read back ([`ActualHost`]), in the terms of the desired host, and how the
//! two differ field by field ([`differences`]): what "in sync" means (docs/product.md §3).

use crate::credentials::{DesiredMacro, DesiredTls};
use crate::desired::{DesiredHost, MonitoredBy};
use crate::interfaces::{DesiredInterface, compared};
use crate::settings::{HostStatus, InventoryMode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A Zabbix host as read back, in the same terms as [`DesiredHost`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActualHost {
    pub hostid: String,
    pub host: String,
    pub name: String,
    pub status: HostStatus,
    pub host_groups: BTreeSet<String>,
    /// Template ids linked directly to the host.
    pub template_ids: BTreeSet<String>,
    pub monitored_by: MonitoredBy,
    /// Every interface, details in full ([`crate::interfaces::compared`]).
    pub interfaces: Vec<DesiredInterface>,
    pub tags: BTreeSet<(String, String)>,
    pub inventory_mode: InventoryMode,
    pub inventory: BTreeMap<String, String>,
    /// The user macros the product set (marked by their description), as Zabbix answers them.
    pub macros: BTreeMap<String, DesiredMacro>,
    /// The TLS settings (the PSK names are never read: Zabbix does not return the PSK).
    pub tls: Option<DesiredTls>,
    pub description: String,
}

/// One field where Zabbix differs from the desired host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub field: String,
    pub desired: String,
    pub actual: String,
}

fn list<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>) -> String {
    format!("{:?}", items.into_iter().collect::<Vec<_>>())
}

fn monitored_by_ids(m: &MonitoredBy) -> String {
    match m {
        MonitoredBy::Server => "server".into(),
        MonitoredBy::Proxy(p) => format!("proxy {}", p.id),
        MonitoredBy::ProxyGroup(g) => format!("proxy group {}", g.id),
    }
}

/// Every managed field where `actual` differs from `desired`; empty means in sync. Fields the
/// product does not manage (items, macros it did not write, ...) are not compared.
pub fn differences(desired: &DesiredHost, actual: &ActualHost) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut check = |field: &str, want: String, have: String| {
        if want != have {
            out.push(Difference { field: field.into(), desired: want, actual: have });
        }
    };
    check("host", desired.host.clone(), actual.host.clone());
    check("name", desired.name.clone(), actual.name.clone());
    check("status", desired.status.to_string(), actual.status.to_string());
    check("host_groups", list(&desired.host_groups), list(&actual.host_groups));
    check("templates", list(desired.templates.iter().map(|t| &t.id)), list(&actual.template_ids));
    check("monitored_by", monitored_by_ids(&desired.monitored_by), monitored_by_ids(&actual.monitored_by));
    check("interfaces", list(compared(&desired.interfaces)), list(compared(&actual.interfaces)));
    check("tags", list(&desired.tags), list(&actual.tags));
    check("inventory_mode", desired.inventory_mode.to_string(), actual.inventory_mode.to_string());
    let macros = |all: &BTreeMap<String, DesiredMacro>| list(all.iter().map(|(name, m)| (name.clone(), m.compared())));
    check("macros", macros(&desired.macros), macros(&actual.macros));
    // TLS is managed once NetBox sets it; the PSK itself is compared by the written hash.
    if let Some(tls) = &desired.tls {
        check("tls", tls.compared(), actual.tls.as_ref().map(DesiredTls::compared).unwrap_or_default());
    }
    // Only a description NetBox sets is managed: a human's stays untouched.
    if !desired.description.is_empty() {
        check("description", desired.description.clone(), actual.description.clone());
    }
    if desired.inventory_mode == InventoryMode::Manual {
        let have: BTreeMap<&String, &String> =
            actual.inventory.iter().filter(|(k, _)| desired.inventory.contains_key(*k)).collect();
        check("inventory", list(&desired.inventory), list(have));
    }
    out
}

//! The Zabbix host on the wire, both ways: a `host.get` answer decoded into [`ZabbixHost`] (and
//! from there into the product's [`ActualHost`]), and a desired host encoded into `host.create` /
//! `host.update` parameters with the field names of the detected version. Every host field name
//! that differs between versions is chosen here, and nowhere else (see `docs/design.md`).
//!
//! Pure functions only: the calls that send these live in `hosts.rs`.

use crate::version::ZabbixVersion;
use nzj_core::credentials::{SecretValues, TlsMode};
use nzj_core::desired::{ActualHost, DesiredHost, DesiredInterface, DesiredMacro, DesiredTls, MonitoredBy, Named};
use nzj_core::netbox::ObjectRef;
use nzj_core::secret::Secret;
use nzj_core::settings::{HostStatus, InterfaceKind, InventoryMode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A Zabbix host as `host.get` answered it, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ZabbixHost {
    pub hostid: String,
    pub host: String,
    pub name: String,
    pub status: HostStatus,
    pub monitored_by: MonitoredBy,
    /// (group id, group name).
    pub groups: Vec<(String, String)>,
    pub template_ids: Vec<String>,
    pub interfaces: Vec<ZabbixInterface>,
    /// Every tag, the product's and everyone else's.
    pub tags: Vec<(String, String)>,
    pub inventory_mode: InventoryMode,
    pub inventory: BTreeMap<String, String>,
    pub description: String,
    /// TLS as read: `tls_connect` and `tls_accept` bits, issuer and subject (the PSK is
    /// write-only).
    pub tls: DesiredTls,
    /// Every host-level user macro, the product's (description [`MACRO_MARK`]) and others'.
    pub macros: Vec<ZabbixMacro>,
    /// The answer as Zabbix sent it, for the job log (redact it with [`redact`] first).
    pub raw: Value,
}

/// The description the product gives the user macros it sets: how it tells its own from others'.
pub const MACRO_MARK: &str = "set by netbox-zabbix-jobs from NetBox";

/// A host-level user macro as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZabbixMacro {
    pub hostmacroid: String,
    pub name: String,
    /// Empty for a secret macro (Zabbix never returns those).
    pub value: String,
    pub description: String,
    /// Zabbix's macro type: 0 text, 1 secret, 2 vault.
    pub kind: String,
}

impl ZabbixMacro {
    pub(crate) fn is_ours(&self) -> bool {
        self.description == MACRO_MARK
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZabbixInterface {
    pub interfaceid: String,
    /// Zabbix's interface type: 1 agent, 2 SNMP, 3 IPMI, 4 JMX.
    pub kind: String,
    pub main: bool,
    pub useip: bool,
    pub ip: String,
    pub dns: String,
    pub port: String,
    /// SNMP `details` as read (empty for other types).
    pub details: BTreeMap<String, String>,
}

impl ZabbixInterface {
    /// The product's kind of this interface.
    pub fn interface_kind(&self) -> InterfaceKind {
        InterfaceKind::from_zabbix(&self.kind, self.details.get("version").map_or("", String::as_str))
    }

    /// This interface in the desired host's terms: the details its kind manages (Zabbix also
    /// answers others, like 7.0's `max_repetitions`).
    pub fn as_desired(&self) -> DesiredInterface {
        let kind = self.interface_kind();
        let managed = kind.default_details();
        DesiredInterface {
            kind,
            ip: self.ip.clone(),
            dns: self.dns.clone(),
            port: self.port.clone(),
            main: self.main,
            useip: self.useip,
            details: self
                .details
                .iter()
                .filter(|(k, _)| managed.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The parameters that keep this interface as it is (its id, and its details as read).
    fn kept(&self, main: bool) -> Value {
        let mut kept = json!({"interfaceid": self.interfaceid, "type": self.kind, "main": u8::from(main),
            "useip": u8::from(self.useip), "ip": self.ip, "dns": self.dns, "port": self.port});
        if !self.details.is_empty() {
            kept["details"] = json!(self.details);
        }
        kept
    }
}

/// A JSON value as Zabbix's text (ids and numbers come as strings; null as empty).
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(crate) fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The `output` fields of a host read: the proxy fields depend on the version.
pub fn host_output(version: ZabbixVersion) -> Vec<&'static str> {
    let mut fields = vec![
        "hostid",
        "host",
        "name",
        "status",
        "inventory_mode",
        "description",
        "tls_connect",
        "tls_accept",
        "tls_issuer",
        "tls_subject",
    ];
    if version.proxy_on_host_by_monitored_by() {
        fields.extend(["monitored_by", "proxyid", "proxy_groupid"]);
    } else {
        fields.push("proxy_hostid");
    }
    fields
}

/// `host.get` parameters that read everything a desired host is compared on.
pub fn host_get_params(version: ZabbixVersion) -> Value {
    let (select_groups, _) = version.select_host_groups();
    json!({
        "output": host_output(version),
        select_groups: ["groupid", "name"],
        "selectParentTemplates": ["templateid"],
        "selectInterfaces": ["interfaceid", "type", "main", "useip", "ip", "dns", "port", "details"],
        "selectTags": ["tag", "value"],
        "selectInventory": "extend",
        "selectMacros": ["hostmacroid", "macro", "value", "description", "type"],
    })
}

impl ZabbixHost {
    /// Decodes one host of a `host.get` answer; fields the query did not select are empty.
    pub fn from_answer(version: ZabbixVersion, raw: &Value) -> ZabbixHost {
        let (_, groups_key) = version.select_host_groups();
        let monitored_by = if version.proxy_on_host_by_monitored_by() {
            match text(&raw["monitored_by"]).as_str() {
                "1" => MonitoredBy::Proxy(Named { id: text(&raw["proxyid"]), name: String::new() }),
                "2" => MonitoredBy::ProxyGroup(Named { id: text(&raw["proxy_groupid"]), name: String::new() }),
                _ => MonitoredBy::Server,
            }
        } else {
            match text(&raw["proxy_hostid"]).as_str() {
                "" | "0" => MonitoredBy::Server,
                id => MonitoredBy::Proxy(Named { id: id.to_string(), name: String::new() }),
            }
        };
        ZabbixHost {
            hostid: text(&raw["hostid"]),
            host: text(&raw["host"]),
            name: text(&raw["name"]),
            status: if text(&raw["status"]) == "0" { HostStatus::Enabled } else { HostStatus::Disabled },
            monitored_by,
            groups: items(&raw[groups_key]).iter().map(|g| (text(&g["groupid"]), text(&g["name"]))).collect(),
            template_ids: items(&raw["parentTemplates"]).iter().map(|t| text(&t["templateid"])).collect(),
            interfaces: items(&raw["interfaces"])
                .iter()
                .map(|i| ZabbixInterface {
                    interfaceid: text(&i["interfaceid"]),
                    kind: text(&i["type"]),
                    main: text(&i["main"]) == "1",
                    // Zabbix always answers useip; a hand-made answer without it means by IP.
                    useip: text(&i["useip"]) != "0",
                    ip: text(&i["ip"]),
                    dns: text(&i["dns"]),
                    port: text(&i["port"]),
                    details: i["details"]
                        .as_object()
                        .map(|d| d.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                        .unwrap_or_default(),
                })
                .collect(),
            tags: items(&raw["tags"]).iter().map(|t| (text(&t["tag"]), text(&t["value"]))).collect(),
            description: text(&raw["description"]),
            tls: DesiredTls {
                connect: DesiredTls::modes(&text(&raw["tls_connect"]))
                    .into_iter()
                    .next()
                    .unwrap_or(TlsMode::Unencrypted),
                accept: DesiredTls::modes(&text(&raw["tls_accept"])),
                psk_identity: None,
                psk: None,
                issuer: text(&raw["tls_issuer"]),
                subject: text(&raw["tls_subject"]),
            },
            macros: items(&raw["macros"])
                .iter()
                .map(|m| ZabbixMacro {
                    hostmacroid: text(&m["hostmacroid"]),
                    name: text(&m["macro"]),
                    value: text(&m["value"]),
                    description: text(&m["description"]),
                    kind: text(&m["type"]),
                })
                .collect(),
            inventory_mode: match text(&raw["inventory_mode"]).as_str() {
                "0" => InventoryMode::Manual,
                "1" => InventoryMode::Automatic,
                _ => InventoryMode::Disabled,
            },
            inventory: raw["inventory"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).filter(|(_, v)| !v.is_empty()).collect())
                .unwrap_or_default(),
            raw: raw.clone(),
        }
    }

    /// The value of tag `name`, if the host has it.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.iter().find(|(tag, _)| tag == name).map(|(_, value)| value.as_str())
    }

    /// The host in the desired host's terms; only tags starting with `tag_prefix` count.
    pub fn actual(&self, tag_prefix: &str) -> ActualHost {
        ActualHost {
            hostid: self.hostid.clone(),
            host: self.host.clone(),
            name: self.name.clone(),
            status: self.status,
            host_groups: self.groups.iter().map(|(_, name)| name.clone()).collect(),
            template_ids: self.template_ids.iter().cloned().collect(),
            monitored_by: self.monitored_by.clone(),
            interfaces: self.interfaces.iter().map(ZabbixInterface::as_desired).collect(),
            tags: self.tags.iter().filter(|(tag, _)| tag.starts_with(tag_prefix)).cloned().collect(),
            inventory_mode: self.inventory_mode,
            inventory: self.inventory.clone(),
            macros: self
                .macros
                .iter()
                .filter(|m| m.is_ours())
                .map(|m| (m.name.clone(), DesiredMacro::from_zabbix(&m.kind, &m.value)))
                .collect(),
            tls: Some(self.tls.clone()),
            description: self.description.clone(),
        }
    }
}

/// One host to write: what it should be, its host group ids, and (for an update or an adoption)
/// the host as read, whose interface id and foreign tags are kept.
#[derive(Clone)]
pub struct HostWrite<'a> {
    pub desired: &'a DesiredHost,
    pub group_ids: Vec<String>,
    pub existing: Option<&'a ZabbixHost>,
    /// Unlink (and clear) the existing host's templates that are not desired.
    pub clear_other_templates: bool,
    /// The values of the secrets the desired host names (secret macros, PSK).
    pub secrets: &'a SecretValues,
    /// Keep the existing interfaces no desired one takes the place of beside the new ones: the
    /// first step of a change of interfaces ([`drops_interfaces`]).
    pub keep_other_interfaces: bool,
}

static NO_SECRETS: SecretValues = SecretValues(BTreeMap::new());

impl<'a> HostWrite<'a> {
    /// A new host.
    pub fn create(desired: &'a DesiredHost, group_ids: Vec<String>) -> HostWrite<'a> {
        HostWrite {
            desired,
            group_ids,
            existing: None,
            clear_other_templates: false,
            secrets: &NO_SECRETS,
            keep_other_interfaces: false,
        }
    }

    /// With the values of the secrets the desired host names.
    pub fn with_secrets(self, secrets: &'a SecretValues) -> HostWrite<'a> {
        HostWrite { secrets, ..self }
    }

    /// `existing` brought to `desired`, the templates no longer wanted cleared.
    pub fn update(desired: &'a DesiredHost, group_ids: Vec<String>, existing: &'a ZabbixHost) -> HostWrite<'a> {
        HostWrite {
            desired,
            group_ids,
            existing: Some(existing),
            clear_other_templates: true,
            secrets: &NO_SECRETS,
            keep_other_interfaces: false,
        }
    }
}

/// One matching rule between a desired interface and an existing one.
type InterfaceMatch = dyn Fn(&DesiredInterface, &ZabbixInterface) -> bool;

/// Which existing interface each desired one takes the place of (its id is kept: items and
/// triggers refer to it): one of the same type, the same main flag and address first, then the
/// same type and main flag, then the same type.
pub fn matched<'e>(desired: &[DesiredInterface], existing: &'e [ZabbixInterface]) -> Vec<Option<&'e ZabbixInterface>> {
    let mut taken = vec![false; existing.len()];
    let mut out = vec![None; desired.len()];
    fn same_place(d: &DesiredInterface, e: &ZabbixInterface) -> bool {
        e.ip == d.ip && e.dns == d.dns && e.port == d.port
    }
    let passes: [&InterfaceMatch; 3] =
        [&|d, e| e.main == d.main && same_place(d, e), &|d, e| e.main == d.main, &|_, _| true];
    for pass in passes {
        for (i, d) in desired.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let found = (0..existing.len())
                .find(|&j| !taken[j] && existing[j].kind == d.kind.zabbix_type() && pass(d, &existing[j]));
            if let Some(j) = found {
                taken[j] = true;
                out[i] = Some(&existing[j]);
            }
        }
    }
    out
}

/// Whether writing `desired` over `existing` drops an interface (one whose type the host has
/// fewer of, or none: agent to SNMP or back). Zabbix refuses to drop an interface that items use
/// in the same `host.update` that unlinks their template (7.0: "Interface is linked to item
/// ..."), so such a change goes in two steps: templates and the new interfaces with the old ones
/// kept, then without them.
pub fn drops_interfaces(desired: &DesiredHost, existing: &ZabbixHost) -> bool {
    matched(&desired.interfaces, &existing.interfaces).iter().flatten().count() < existing.interfaces.len()
}

/// The parameters of one desired interface (SNMP credentials are user macros).
fn interface_params(interface: &DesiredInterface) -> Value {
    let mut params = json!({
        "type": interface.kind.zabbix_type().parse::<u8>().expect("a number"),
        "main": u8::from(interface.main),
        "useip": u8::from(interface.useip),
        "ip": interface.ip,
        "dns": interface.dns,
        "port": interface.port,
    });
    let details = interface.details();
    if !details.is_empty() {
        params["details"] = json!(details);
    }
    params
}

/// The `host.create` parameters of `write` (`host.update` adds the host id: [`host_update_params`]).
pub fn host_create_params(version: ZabbixVersion, write: &HostWrite<'_>, tag_prefix: &str) -> Value {
    let desired = write.desired;
    let mut interfaces: Vec<Value> = desired.interfaces.iter().map(interface_params).collect();
    let mut tags: Vec<Value> = desired.tags.iter().map(|(tag, value)| json!({"tag": tag, "value": value})).collect();
    if let Some(existing) = write.existing {
        // Keep the existing interface ids (items and triggers refer to them).
        let matched = matched(&desired.interfaces, &existing.interfaces);
        for (params, same) in interfaces.iter_mut().zip(&matched) {
            if let Some(same) = same {
                params["interfaceid"] = json!(same.interfaceid);
            }
        }
        if write.keep_other_interfaces {
            let kept: Vec<&ZabbixInterface> = existing
                .interfaces
                .iter()
                .filter(|e| !matched.iter().flatten().any(|m| m.interfaceid == e.interfaceid))
                .collect();
            for old in kept {
                // Main only while the host has no new main interface of its type.
                let main = old.main && !desired.interfaces.iter().any(|d| d.main && d.kind.zabbix_type() == old.kind);
                interfaces.push(old.kept(main));
            }
        }
        // Tags without the product's prefix belong to someone else: keep them.
        tags.extend(
            existing
                .tags
                .iter()
                .filter(|(tag, _)| !tag.starts_with(tag_prefix))
                .map(|(tag, value)| json!({"tag": tag, "value": value})),
        );
    }
    let mut params = json!({
        "host": desired.host,
        "name": desired.name,
        "status": if desired.status == HostStatus::Enabled { 0 } else { 1 },
        "groups": write.group_ids.iter().map(|id| json!({"groupid": id})).collect::<Vec<_>>(),
        "templates": desired.templates.iter().map(|t| json!({"templateid": t.id})).collect::<Vec<_>>(),
        "interfaces": interfaces,
        "tags": tags,
        "inventory_mode": match desired.inventory_mode {
            InventoryMode::Disabled => -1,
            InventoryMode::Manual => 0,
            InventoryMode::Automatic => 1,
        },
    });
    if desired.inventory_mode == InventoryMode::Manual {
        params["inventory"] = json!(desired.inventory);
    }
    // Only a description NetBox sets is written: a human's stays untouched.
    if !desired.description.is_empty() {
        params["description"] = json!(desired.description);
    }
    // `macros` replaces every host macro: sent only when the product has macros to manage, with
    // everyone else's kept as they are (by id: a secret's value cannot be read back).
    let ours = write.existing.is_some_and(|e| e.macros.iter().any(ZabbixMacro::is_ours));
    if !desired.macros.is_empty() || ours {
        let mut macros: Vec<Value> = desired
            .macros
            .iter()
            .map(|(name, m)| {
                let value = match m {
                    DesiredMacro::Text(text) => text.as_str(),
                    DesiredMacro::Secret { secret } => write.secrets.get(secret).map_or("", Secret::expose),
                    DesiredMacro::Vault { vault } => vault.as_str(),
                };
                json!({"macro": name, "value": value, "type": m.zabbix_type(), "description": MACRO_MARK})
            })
            .collect();
        if let Some(existing) = write.existing {
            macros.extend(
                existing
                    .macros
                    .iter()
                    .filter(|m| !m.is_ours() && !desired.macros.contains_key(&m.name))
                    .map(|m| json!({"hostmacroid": m.hostmacroid})),
            );
        }
        params["macros"] = json!(macros);
    }
    if let Some(tls) = &desired.tls {
        params["tls_connect"] = json!(tls.connect.bit());
        params["tls_accept"] = json!(tls.accept_bits());
        params["tls_issuer"] = json!(tls.issuer);
        params["tls_subject"] = json!(tls.subject);
        let value = |name: &Option<String>| name.as_deref().and_then(|n| write.secrets.get(n)).map(Secret::expose);
        if let (Some(identity), Some(psk)) = (value(&tls.psk_identity), value(&tls.psk)) {
            params["tls_psk_identity"] = json!(identity);
            params["tls_psk"] = json!(psk);
        }
    }
    if version.proxy_on_host_by_monitored_by() {
        let (by, proxy, group) = monitored_by_wire(&desired.monitored_by);
        params["monitored_by"] = json!(by);
        params["proxyid"] = json!(proxy);
        params["proxy_groupid"] = json!(group);
    } else {
        params["proxy_hostid"] = json!(match &desired.monitored_by {
            MonitoredBy::Proxy(p) => p.id.clone(),
            _ => "0".to_string(),
        });
    }
    params
}

/// Who monitors a host as 7.0's `monitored_by`, `proxyid` and `proxy_groupid` say it.
pub(crate) fn monitored_by_wire(monitored_by: &MonitoredBy) -> (u8, String, String) {
    match monitored_by {
        MonitoredBy::Server => (0, "0".to_string(), "0".to_string()),
        MonitoredBy::Proxy(p) => (1, p.id.clone(), "0".to_string()),
        MonitoredBy::ProxyGroup(g) => (2, "0".to_string(), g.id.clone()),
    }
}

/// The `host.update` parameters of `write`, whose `existing` host is the one updated: only the
/// fields that differ from it (`changed.rs`), with the host id.
pub fn host_update_params(version: ZabbixVersion, write: &HostWrite<'_>, tag_prefix: &str) -> Value {
    let mut params = host_create_params(version, write, tag_prefix);
    let Some(existing) = write.existing else { return params };
    params["hostid"] = json!(existing.hostid);
    if write.clear_other_templates {
        let wanted: BTreeSet<&String> = write.desired.templates.iter().map(|t| &t.id).collect();
        let removed: Vec<Value> = existing
            .template_ids
            .iter()
            .filter(|id| !wanted.contains(id))
            .map(|id| json!({"templateid": id}))
            .collect();
        if !removed.is_empty() {
            params["templates_clear"] = json!(removed);
        }
    }
    crate::changed::keep_only_changes(&mut params, existing);
    params
}

/// A soft deletion: the host renamed, moved to the graveyard group(s), disabled, and its managed
/// tag replaced by one that names its object.
pub struct SoftDelete<'a> {
    pub host: &'a ZabbixHost,
    pub object: ObjectRef,
    pub renamed_to: String,
    pub graveyard_group_ids: Vec<String>,
    /// The managed tag to drop (`netbox:object`).
    pub object_tag: String,
    /// The tag that names the object instead (`netbox:deleted`).
    pub deleted_tag: String,
    /// The tag that says when (`netbox:deleted_at` = RFC 3339), for the graveyard purge.
    pub deleted_at: (String, String),
}

/// The `host.update` parameters of a soft deletion.
pub fn soft_delete_params(delete: &SoftDelete<'_>) -> Value {
    let host = delete.host;
    let mut tags: Vec<Value> = host
        .tags
        .iter()
        .filter(|(tag, _)| *tag != delete.object_tag)
        .map(|(tag, value)| json!({"tag": tag, "value": value}))
        .collect();
    tags.retain(|t| t["tag"] != delete.deleted_at.0.as_str());
    tags.push(json!({"tag": delete.deleted_tag, "value": delete.object.to_string()}));
    tags.push(json!({"tag": delete.deleted_at.0, "value": delete.deleted_at.1}));
    let suffix = delete.renamed_to.strip_prefix(host.host.as_str()).unwrap_or_default();
    json!({
        "hostid": host.hostid,
        "host": delete.renamed_to,
        "name": format!("{}{suffix}", host.name),
        "status": 1,
        "groups": delete.graveyard_group_ids.iter().map(|id| json!({"groupid": id})).collect::<Vec<_>>(),
        "tags": tags,
    })
}

/// Keys whose values are secrets when they are not a user macro reference.
const SECRET_KEYS: [&str; 6] =
    ["tls_psk", "tls_psk_identity", "community", "authpassphrase", "privpassphrase", "password"];

/// A copy of `value` with every secret replaced, for job logs.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            // A user macro's value may be a credential (an SNMP community): never shown.
            let is_macro = map.contains_key("macro");
            Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let secret = (SECRET_KEYS.contains(&k.as_str()) || (is_macro && k == "value"))
                            && v.as_str().is_some_and(|s| !s.starts_with("{$"));
                        (k.clone(), if secret { Value::String("<redacted>".into()) } else { redact(v) })
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nzj_core::netbox::ObjectKind;

    fn v(s: &str) -> ZabbixVersion {
        s.parse().unwrap()
    }

    fn desired(monitored_by: MonitoredBy) -> DesiredHost {
        DesiredHost {
            object: ObjectRef { kind: ObjectKind::Device, id: 7 },
            host: "sw1".into(),
            name: "sw1".into(),
            status: HostStatus::Enabled,
            host_groups: BTreeSet::from(["Site A".to_string()]),
            templates: BTreeSet::from([Named { id: "10001".into(), name: "Linux".into() }]),
            monitored_by,
            interfaces: vec![DesiredInterface::on(
                InterfaceKind::Agent,
                &nzj_core::netbox::PrimaryIp { address: "10.0.0.1".into(), dns_name: String::new() },
            )],
            tags: BTreeSet::from([("netbox:object".to_string(), "dcim.device/7".to_string())]),
            inventory_mode: InventoryMode::Disabled,
            inventory: BTreeMap::new(),
            macros: BTreeMap::new(),
            tls: None,
            description: String::new(),
            rule: "default".into(),
        }
    }

    fn write(d: &DesiredHost) -> HostWrite<'_> {
        HostWrite::create(d, vec!["5".into()])
    }

    #[test]
    fn host_get_selects_groups_by_the_versions_name() {
        assert!(host_get_params(v("6.0.14")).get("selectGroups").is_some());
        assert!(host_get_params(v("6.0.14")).get("selectHostGroups").is_none());
        for version in ["6.4.5", "7.0.22", "7.2.1"] {
            let params = host_get_params(v(version));
            assert!(params.get("selectHostGroups").is_some(), "{version}");
            assert!(params.get("selectGroups").is_none(), "{version}");
        }
    }

    #[test]
    fn host_get_reads_the_proxy_by_the_versions_fields() {
        for (version, fields) in [
            ("6.0.14", vec!["proxy_hostid"]),
            ("6.4.5", vec!["proxy_hostid"]),
            ("7.0.22", vec!["monitored_by", "proxyid", "proxy_groupid"]),
            ("7.2.1", vec!["monitored_by", "proxyid", "proxy_groupid"]),
        ] {
            let output = host_output(v(version));
            for field in &fields {
                assert!(output.contains(field), "{version}: {field}");
            }
            assert_eq!(output.contains(&"proxy_hostid"), version.starts_with('6'), "{version}");
        }
    }

    #[test]
    fn create_names_the_proxy_with_the_versions_fields() {
        let proxy = desired(MonitoredBy::Proxy(Named { id: "42".into(), name: "p1".into() }));
        for version in ["6.0.14", "6.4.5"] {
            let params = host_create_params(v(version), &write(&proxy), "netbox:");
            assert_eq!(params["proxy_hostid"], "42", "{version}");
            assert!(params.get("monitored_by").is_none(), "{version}");
        }
        for version in ["7.0.22", "7.2.1"] {
            let params = host_create_params(v(version), &write(&proxy), "netbox:");
            assert_eq!((params["monitored_by"].clone(), params["proxyid"].clone()), (json!(1), json!("42")));
            assert_eq!(params["proxy_groupid"], "0");
            assert!(params.get("proxy_hostid").is_none(), "{version}");
        }
        let group = desired(MonitoredBy::ProxyGroup(Named { id: "3".into(), name: "g".into() }));
        let params = host_create_params(v("7.0.22"), &write(&group), "netbox:");
        assert_eq!((params["monitored_by"].clone(), params["proxy_groupid"].clone()), (json!(2), json!("3")));
        let params = host_create_params(v("6.0.14"), &write(&desired(MonitoredBy::Server)), "netbox:");
        assert_eq!(params["proxy_hostid"], "0");
    }

    #[test]
    fn decoding_reads_groups_and_proxy_by_version() {
        let old =
            json!({"hostid": "1", "proxy_hostid": "42", "groups": [{"groupid": "5", "name": "A"}], "status": "0"});
        let host = ZabbixHost::from_answer(v("6.0.14"), &old);
        assert_eq!(host.groups, vec![("5".to_string(), "A".to_string())]);
        assert_eq!(host.monitored_by, MonitoredBy::Proxy(Named { id: "42".into(), name: String::new() }));
        let new = json!({"hostid": "1", "monitored_by": "2", "proxy_groupid": "3",
                         "hostgroups": [{"groupid": "5", "name": "A"}], "status": "1"});
        for version in ["7.0.22", "7.2.1"] {
            let host = ZabbixHost::from_answer(v(version), &new);
            assert_eq!(host.groups.len(), 1, "{version}");
            assert_eq!(host.monitored_by, MonitoredBy::ProxyGroup(Named { id: "3".into(), name: String::new() }));
            assert_eq!(host.status, HostStatus::Disabled);
        }
        // 6.4 answers `hostgroups`, as asked with selectHostGroups.
        assert_eq!(ZabbixHost::from_answer(v("6.4.5"), &new).groups.len(), 1);
    }

    #[test]
    fn an_update_keeps_the_interface_id_and_foreign_tags_and_clears_unwanted_templates() {
        let raw = json!({"hostid": "9", "host": "sw1", "parentTemplates": [{"templateid": "10001"}, {"templateid": "777"}],
            "interfaces": [{"interfaceid": "31", "type": "1", "main": "1"}],
            "tags": [{"tag": "netbox:object", "value": "dcim.device/7"}, {"tag": "owner", "value": "ops"}]});
        let existing = ZabbixHost::from_answer(v("7.0.22"), &raw);
        let d = desired(MonitoredBy::Server);
        let write = HostWrite { existing: Some(&existing), clear_other_templates: true, ..write(&d) };
        let params = host_update_params(v("7.0.22"), &write, "netbox:");
        assert_eq!(params["hostid"], "9");
        assert_eq!(params["interfaces"][0]["interfaceid"], "31");
        assert_eq!(params["templates_clear"], json!([{"templateid": "777"}]));
        assert!(params.get("tags").is_none(), "the tags are as they were: not sent");
        // A tag of the product's changes: every tag is sent, someone else's kept.
        let mut tagged = desired(MonitoredBy::Server);
        tagged.tags.insert(("netbox:site".into(), "ams1".into()));
        let params = host_update_params(v("7.0.22"), &HostWrite::update(&tagged, vec![], &existing), "netbox:");
        assert!(params["tags"].as_array().unwrap().contains(&json!({"tag": "owner", "value": "ops"})));
    }

    /// A host exactly as desired but for its status: the update is the status alone.
    fn as_read(status: &str) -> Value {
        json!({"hostid": "9", "host": "sw1", "name": "sw1", "status": status, "description": "",
            "inventory_mode": "-1", "monitored_by": "0", "proxyid": "0", "proxy_groupid": "0",
            "tls_connect": "1", "tls_accept": "1", "tls_issuer": "", "tls_subject": "",
            "hostgroups": [{"groupid": "5", "name": "Site A"}], "parentTemplates": [{"templateid": "10001"}],
            "interfaces": [{"interfaceid": "31", "type": "1", "main": "1", "useip": "1", "ip": "10.0.0.1",
                            "dns": "", "port": "10050", "details": []}],
            "tags": [{"tag": "netbox:object", "value": "dcim.device/7"}], "macros": [], "inventory": []})
    }

    #[test]
    fn an_update_sends_only_what_differs_from_the_host_as_read() {
        let existing = ZabbixHost::from_answer(v("7.0.22"), &as_read("0"));
        let mut d = desired(MonitoredBy::Server);
        d.status = HostStatus::Disabled;
        let params = host_update_params(v("7.0.22"), &HostWrite::update(&d, vec!["5".into()], &existing), "netbox:");
        assert_eq!(params, json!({"hostid": "9", "status": 1}));
        // Nothing differs: nothing but the id.
        let same = ZabbixHost::from_answer(v("7.0.22"), &as_read("1"));
        let params = host_update_params(v("7.0.22"), &HostWrite::update(&d, vec!["5".into()], &same), "netbox:");
        assert_eq!(params, json!({"hostid": "9"}));
        // Each other field, changed alone, is sent alone (with what it needs).
        let mut moved = d.clone();
        moved.interfaces[0].ip = "10.0.0.2".into();
        let params = host_update_params(v("7.0.22"), &HostWrite::update(&moved, vec!["5".into()], &same), "netbox:");
        let keys: BTreeSet<&str> = params.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["hostid", "interfaces"]));
        assert_eq!(params["interfaces"][0]["interfaceid"], "31", "the interface keeps its id");
        let params = host_update_params(v("7.0.22"), &HostWrite::update(&d, vec!["6".into()], &same), "netbox:");
        assert_eq!(params["groups"], json!([{"groupid": "6"}]));
        let proxied =
            DesiredHost { monitored_by: MonitoredBy::Proxy(Named { id: "42".into(), name: "p".into() }), ..d.clone() };
        let params = host_update_params(v("7.0.22"), &HostWrite::update(&proxied, vec!["5".into()], &same), "netbox:");
        let keys: BTreeSet<&str> = params.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["hostid", "monitored_by", "proxyid", "proxy_groupid"]));
        // 6.0's proxy field.
        let old = json!({"hostid": "9", "host": "sw1", "name": "sw1", "status": "1", "proxy_hostid": "0",
            "groups": [{"groupid": "5"}], "parentTemplates": [{"templateid": "10001"}], "inventory_mode": "-1",
            "interfaces": [{"interfaceid": "31", "type": "1", "main": "1", "useip": "1", "ip": "10.0.0.1", "dns": "", "port": "10050"}],
            "tags": [{"tag": "netbox:object", "value": "dcim.device/7"}]});
        let old = ZabbixHost::from_answer(v("6.0.14"), &old);
        let params = host_update_params(v("6.0.14"), &HostWrite::update(&d, vec!["5".into()], &old), "netbox:");
        assert_eq!(params, json!({"hostid": "9"}));
    }

    #[test]
    fn several_interfaces_keep_their_ids_by_type_and_place_and_a_dropped_one_is_kept_for_the_first_step() {
        let raw = json!({"hostid": "9", "host": "sw1", "interfaces": [
            {"interfaceid": "31", "type": "1", "main": "1", "useip": "1", "ip": "10.0.0.1", "port": "10050"},
            {"interfaceid": "32", "type": "2", "main": "1", "useip": "1", "ip": "10.0.0.1", "port": "161",
             "details": {"version": "2", "bulk": "1", "community": "{$SNMP_COMMUNITY}", "max_repetitions": "10"}},
            {"interfaceid": "33", "type": "1", "main": "0", "useip": "1", "ip": "10.0.0.9", "port": "10050"}]});
        let existing = ZabbixHost::from_answer(v("7.0.22"), &raw);
        assert_eq!(existing.interfaces[1].as_desired().details.len(), 3, "max_repetitions is not the product's");
        let mut d = desired(MonitoredBy::Server);
        let ip = nzj_core::netbox::PrimaryIp { address: "10.0.0.1".into(), dns_name: String::new() };
        let mut second = DesiredInterface::on(InterfaceKind::Agent, &ip);
        (second.ip, second.main) = ("10.0.0.9".into(), false);
        d.interfaces = vec![
            second,
            DesiredInterface::on(InterfaceKind::Agent, &ip),
            DesiredInterface::on(InterfaceKind::Jmx, &ip),
        ];
        let ids: Vec<Option<&str>> =
            matched(&d.interfaces, &existing.interfaces).iter().map(|m| m.map(|i| i.interfaceid.as_str())).collect();
        assert_eq!(ids, [Some("33"), Some("31"), None]);
        assert!(drops_interfaces(&d, &existing), "the SNMP interface goes");
        let first = HostWrite { keep_other_interfaces: true, ..HostWrite::update(&d, vec![], &existing) };
        let params = host_update_params(v("7.0.22"), &first, "netbox:");
        let sent: Vec<(String, String, String)> = params["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (text(&i["interfaceid"]), text(&i["type"]), text(&i["main"])))
            .collect();
        let expected = [("33", "1", "0"), ("31", "1", "1"), ("", "4", "1"), ("32", "2", "1")];
        assert_eq!(sent, expected.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
        let second = host_update_params(v("7.0.22"), &HostWrite::update(&d, vec![], &existing), "netbox:");
        assert_eq!(second["interfaces"].as_array().unwrap().len(), 3, "without the dropped one");
    }

    #[test]
    fn a_soft_delete_renames_disables_and_swaps_the_managed_tag() {
        let raw = json!({"hostid": "9", "host": "sw1", "name": "Switch 1",
            "tags": [{"tag": "netbox:object", "value": "dcim.device/7"}, {"tag": "owner", "value": "ops"}]});
        let host = ZabbixHost::from_answer(v("6.0.14"), &raw);
        let params = soft_delete_params(&SoftDelete {
            host: &host,
            object: ObjectRef { kind: ObjectKind::Device, id: 7 },
            renamed_to: "sw1-deleted-1".into(),
            graveyard_group_ids: vec!["99".into()],
            object_tag: "netbox:object".into(),
            deleted_tag: "netbox:deleted".into(),
            deleted_at: ("netbox:deleted_at".into(), "2026-12-02T20:00:00Z".into()),
        });
        assert_eq!(params["name"], "Switch 1-deleted-1");
        assert_eq!(params["status"], 1);
        assert_eq!(
            params["tags"],
            json!([{"tag": "owner", "value": "ops"}, {"tag": "netbox:deleted", "value": "dcim.device/7"},
                   {"tag": "netbox:deleted_at", "value": "2026-12-02T20:00:00Z"}])
        );
    }

    #[test]
    fn redaction_hides_secrets_but_not_macro_references() {
        let params = json!({"interfaces": [{"details": {"community": "public", "authpassphrase": "{$SNMPV3_AUTHPASS}"}}],
                            "tls_psk": "abcdef"});
        let shown = redact(&params).to_string();
        assert!(!shown.contains("public") && !shown.contains("abcdef"));
        assert!(shown.contains("{$SNMPV3_AUTHPASS}"));
        let macros = redact(&json!({"macros": [{"macro": "{$SNMP_COMMUNITY}", "value": "campus-ro"}]}));
        assert_eq!(macros["macros"][0], json!({"macro": "{$SNMP_COMMUNITY}", "value": "<redacted>"}));
    }
}

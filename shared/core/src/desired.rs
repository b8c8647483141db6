//! The desired Zabbix host of a NetBox device or VM (docs/product.md §3): a pure function of the object,
//! the settings and mappings, and the imported Zabbix cache. Host jobs converge Zabbix to it;
//! replays, duplicates and reordering are harmless because nothing here depends on history.

pub use crate::actual::{ActualHost, Difference, differences};
pub use crate::credentials::{DesiredMacro, DesiredTls};
use crate::interfaces;
pub use crate::interfaces::DesiredInterface;
use crate::netbox::{NetboxObject, ObjectRef};
use crate::overrides::Overrides;
use crate::settings::{Attribute, HostStatus, InventoryMode, MappingRule, Settings, StatusAction, WithoutPrimaryIp};
use crate::template::TemplateContext;
use crate::zabbix_cache::{CacheKind, CacheSnapshot};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Names to ids of what ImportZabbixSettings cached.
#[derive(Debug, Clone, Default)]
pub struct CacheView {
    templates: HashMap<String, String>,
    proxies: HashMap<String, String>,
    proxy_groups: HashMap<String, String>,
}

impl CacheView {
    pub fn new(snapshots: &[CacheSnapshot]) -> Self {
        let mut view = CacheView::default();
        for snapshot in snapshots {
            let map = match snapshot.kind {
                CacheKind::Templates => &mut view.templates,
                CacheKind::Proxies => &mut view.proxies,
                CacheKind::ProxyGroups => &mut view.proxy_groups,
                CacheKind::HostGroups => continue,
            };
            map.extend(snapshot.objects.iter().map(|o| (o.name.clone(), o.id.clone())));
        }
        view
    }
}

impl CacheView {
    /// Refuses settings whose rules name a template, proxy or proxy group Zabbix does not have
    /// (by the imported cache), naming the rule and the name.
    pub fn check(&self, settings: &Settings) -> Result<(), String> {
        for rule in &settings.rules {
            if let Some(t) = rule.templates.iter().find(|t| !self.templates.contains_key(*t)) {
                return Err(format!("rules.{}: template {t:?} is not in Zabbix (as last imported)", rule.name));
            }
            if let Some(p) = rule.proxy.as_ref().filter(|p| !self.proxies.contains_key(*p)) {
                return Err(format!("rules.{}: proxy {p:?} is not in Zabbix (as last imported)", rule.name));
            }
            if let Some(g) = rule.proxy_group.as_ref().filter(|g| !self.proxy_groups.contains_key(*g)) {
                return Err(format!(
                    "rules.{}: proxy group {g:?} is not in Zabbix (as last imported; proxy groups need 7.0)",
                    rule.name
                ));
            }
        }
        Ok(())
    }
}

/// A Zabbix object the host refers to, by id (what Zabbix takes) and name (what people read).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum MonitoredBy {
    Server,
    Proxy(Named),
    ProxyGroup(Named),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredHost {
    pub object: ObjectRef,
    /// Technical name: the NetBox name made valid for Zabbix.
    pub host: String,
    /// Visible name: the NetBox name as it is, or the config context's `visible_name` filled.
    pub name: String,
    pub status: HostStatus,
    /// Host group names (missing groups are created when the host is written).
    pub host_groups: BTreeSet<String>,
    pub templates: BTreeSet<Named>,
    pub monitored_by: MonitoredBy,
    /// Main first per type; records from before several interfaces hold one `interface`.
    #[serde(alias = "interface", deserialize_with = "crate::interfaces::one_or_many")]
    pub interfaces: Vec<DesiredInterface>,
    /// (tag, value), sorted.
    pub tags: BTreeSet<(String, String)>,
    pub inventory_mode: InventoryMode,
    pub inventory: BTreeMap<String, String>,
    /// User macros the product sets on the host, from the config context (secrets by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub macros: BTreeMap<String, DesiredMacro>,
    /// TLS of the agent connections, from the config context (the PSK by name); `None`: left
    /// as it is in Zabbix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<DesiredTls>,
    /// The host's description, from the config context (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The rule that chose templates, groups, proxy and interface.
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    Host(Box<DesiredHost>),
    /// Not monitored: a host that exists is deleted per the delete policy.
    OutOfScope(String),
    /// No host can be computed, but the object is not gone (it has no primary IP): a host that
    /// exists is kept as it is (or disabled, with `disable`), none is created; `reason` says why.
    Keep {
        reason: String,
        disable: bool,
    },
}

impl Desired {
    /// Why the object has no desired host, if it has none.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Desired::Host(_) => None,
            Desired::OutOfScope(reason) | Desired::Keep { reason, .. } => Some(reason),
        }
    }
}

/// Why no desired host can be computed (a mapping names something Zabbix does not have).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MappingError(pub String);

fn attribute(object: &NetboxObject, attribute: Attribute) -> Option<&str> {
    match attribute {
        Attribute::Site => object.site.as_deref(),
        Attribute::Role => object.role.as_deref(),
        Attribute::Platform => object.platform.as_deref(),
        Attribute::Tenant => object.tenant.as_deref(),
        Attribute::DeviceType => object.device_type.as_deref(),
        Attribute::Manufacturer => object.manufacturer.as_deref(),
        Attribute::Cluster => object.cluster.as_deref(),
        Attribute::Serial => object.serial.as_deref(),
        Attribute::AssetTag => object.asset_tag.as_deref(),
    }
}

/// Whether the object has the NetBox tag `tag`, by name or slug.
fn has_tag(object: &NetboxObject, tag: &str) -> bool {
    object.tags.iter().chain(&object.tag_slugs).any(|t| t == tag)
}

/// How many criteria `rule` sets, if all of them match `object`.
fn specificity(rule: &MappingRule, object: &NetboxObject) -> Option<usize> {
    let m = &rule.matches;
    let checks = [
        ("site", m.site.as_deref(), object.site.as_deref()),
        ("role", m.role.as_deref(), object.role.as_deref()),
        ("platform", m.platform.as_deref(), object.platform.as_deref()),
        ("device_type", m.device_type.as_deref(), object.device_type.as_deref()),
        ("manufacturer", m.manufacturer.as_deref(), object.manufacturer.as_deref()),
        ("tenant", m.tenant.as_deref(), object.tenant.as_deref()),
    ];
    let mut count = 0;
    for (attr, wanted, name) in checks {
        if let Some(wanted) = wanted {
            // The name people read, or the slug that survives a rename.
            if Some(wanted) != name && object.slugs.get(attr).map(String::as_str) != Some(wanted) {
                return None;
            }
            count += 1;
        }
    }
    if let Some(tag) = &m.tag {
        if !has_tag(object, tag) {
            return None;
        }
        count += 1;
    }
    Some(count)
}

/// The most specific matching rule; the first of equally specific ones.
pub fn choose_rule<'a>(settings: &'a Settings, object: &NetboxObject) -> Option<&'a MappingRule> {
    let mut best: Option<(usize, &MappingRule)> = None;
    for rule in &settings.rules {
        if let Some(score) = specificity(rule, object)
            && best.is_none_or(|(b, _)| score > b)
        {
            best = Some((score, rule));
        }
    }
    best.map(|(_, rule)| rule)
}

/// Zabbix technical names allow letters, digits, space, dot, dash and underscore, 128 at most.
pub fn technical_name(name: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_') { c } else { '_' })
        .take(128)
        .collect();
    cleaned.trim().to_string()
}

pub fn desired_host(object: &NetboxObject, settings: &Settings, cache: &CacheView) -> Result<Desired, MappingError> {
    let out = |reason: String| Ok(Desired::OutOfScope(reason));
    let overrides = Overrides::of_object(object, settings).map_err(MappingError)?;
    let status = match (settings.status_action(&object.status), overrides.status) {
        (StatusAction::Remove, _) => return out(format!("status {:?} is set to remove", object.status)),
        (_, Some(StatusAction::Disable)) | (StatusAction::Disable, None) => HostStatus::Disabled,
        _ => HostStatus::Enabled,
    };
    if let Some(tag) = &settings.scope_tag
        && !has_tag(object, tag)
    {
        return out(format!("no tag {tag:?}"));
    }
    // Losing an address (or a name) is an edit in progress, not a decommission: never a deletion.
    let keep = |reason: &str| {
        let disable = settings.without_primary_ip == WithoutPrimaryIp::Disable;
        Ok(Desired::Keep { reason: reason.to_string(), disable })
    };
    let Some(ip) = object.primary_ip() else { return keep("no primary IP") };
    let Some(netbox_name) = object.name.as_deref() else { return keep("no name") };
    let host = technical_name(netbox_name);
    if host.is_empty() {
        return keep(&format!("name {netbox_name:?} has nothing Zabbix accepts"));
    }
    let chosen = choose_rule(settings, object)
        .ok_or_else(|| MappingError("no mapping rule matches, and there is no default rule".into()))?;
    let overridden = overrides.apply(chosen);
    let rule = &overridden;
    let context = TemplateContext::of(object);
    let render = |text: &str| context.render(text).map_err(|e| MappingError(format!("{}: {e}", object.reference)));

    // A group whose placeholder this object has no value for (a VM has no site) is the fallback
    // group instead: the host is monitored, and easy to find.
    let host_groups: BTreeSet<String> = rule
        .host_groups
        .iter()
        .map(|g| Ok(render(g)?.unwrap_or_else(|| settings.fallback_host_group.clone())))
        .collect::<Result<_, MappingError>>()?;
    let templates = rule
        .templates
        .iter()
        .map(|name| match cache.templates.get(name) {
            Some(id) => Ok(Named { id: id.clone(), name: name.clone() }),
            None => Err(MappingError(format!(
                "rule {:?}: template {name:?} is not in Zabbix (or not imported yet: run ImportZabbixSettings)",
                rule.name
            ))),
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    let monitored_by = match (&rule.proxy, &rule.proxy_group) {
        (Some(proxy), _) => MonitoredBy::Proxy(Named {
            id: cache
                .proxies
                .get(proxy)
                .cloned()
                .ok_or_else(|| MappingError(format!("rule {:?}: proxy {proxy:?} is not in Zabbix", rule.name)))?,
            name: proxy.clone(),
        }),
        (None, Some(group)) => MonitoredBy::ProxyGroup(Named {
            id: cache.proxy_groups.get(group).cloned().ok_or_else(|| {
                MappingError(format!(
                    "rule {:?}: proxy group {group:?} is not in Zabbix (proxy groups need 7.0)",
                    rule.name
                ))
            })?,
            name: group.clone(),
        }),
        (None, None) => MonitoredBy::Server,
    };
    let interfaces = match &overrides.interfaces {
        Some(specs) => interfaces::resolve(specs, object, ip).map_err(|e| {
            MappingError(format!("config context key {:?} of {}: {e}", settings.config_context_key, object.reference))
        })?,
        None => vec![DesiredInterface::on(rule.interface, ip)],
    };

    let mut tags = BTreeSet::from([(settings.tag_name("object"), object.reference.to_string())]);
    for attr in &settings.tag_attributes {
        if let Some(value) = attribute(object, *attr) {
            tags.insert((settings.tag_name(attr.as_str()), value.to_string()));
        }
    }
    if settings.copy_netbox_tags {
        tags.extend(object.tags.iter().map(|t| (settings.tag_name("tag"), t.clone())));
    }
    // A templated tag (the settings', then the config context's) replaces the attribute tag of its
    // name; one whose template the object has no value for is left out.
    for (name, value) in settings.tags.iter().chain(&overrides.tags) {
        let name = settings.tag_name(name);
        tags.retain(|(tag, _)| *tag != name);
        if let Some(value) = render(value)? {
            tags.insert((name, value));
        }
    }
    let mut inventory = BTreeMap::new();
    if settings.inventory_mode == InventoryMode::Manual {
        for (attr, field) in &settings.inventory_mappings {
            if let Some(value) = attribute(object, *attr) {
                inventory.insert(field.clone(), value.to_string());
            }
        }
        for (field, value) in settings.inventory_fields.iter().chain(&overrides.inventory) {
            match render(value)? {
                Some(value) => inventory.insert(field.clone(), value),
                None => inventory.remove(field),
            };
        }
    }
    // The visible name: the config context's template, else the settings', else the NetBox name
    // (also when the template has no value for this object). Zabbix keeps 128 characters.
    let visible_name = match overrides.visible_name.as_ref().or(settings.visible_name.as_ref()) {
        Some(template) => render(template)?.unwrap_or_else(|| netbox_name.to_string()),
        None => netbox_name.to_string(),
    };
    let description = match overrides.description.as_ref().or(settings.description.as_ref()) {
        Some(template) => render(template)?.unwrap_or_default(),
        None => String::new(),
    };
    Ok(Desired::Host(Box::new(DesiredHost {
        object: object.reference,
        host,
        name: visible_name.chars().take(128).collect(),
        status,
        host_groups,
        templates,
        monitored_by,
        interfaces,
        tags,
        inventory_mode: settings.inventory_mode,
        inventory,
        macros: overrides.macros.clone(),
        tls: overrides.tls.clone(),
        description,
        rule: if overrides.is_empty() { rule.name.clone() } else { format!("{} + NetBox overrides", rule.name) },
    })))
}

impl DesiredHost {
    /// This host as Zabbix has it once written (id `hostid`): what a plan compares a new desired
    /// host with, without reading Zabbix.
    pub fn as_actual(&self, hostid: &str) -> ActualHost {
        ActualHost {
            hostid: hostid.to_string(),
            host: self.host.clone(),
            name: self.name.clone(),
            status: self.status,
            host_groups: self.host_groups.clone(),
            template_ids: self.templates.iter().map(|t| t.id.clone()).collect(),
            monitored_by: self.monitored_by.clone(),
            interfaces: self.interfaces.clone(),
            tags: self.tags.clone(),
            inventory_mode: self.inventory_mode,
            inventory: self.inventory.clone(),
            macros: self.macros.clone(),
            tls: self.tls.clone(),
            description: self.description.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbox::ObjectKind;
    use crate::settings::{InterfaceKind, RuleMatch};
    use crate::zabbix_cache::CachedObject;
    use serde_json::Value;

    fn fixture(name: &str) -> NetboxObject {
        let text = match name {
            "01" => include_str!("../../../tests/fixtures/netbox-4.7-webhooks/01_dcim.device_created.body.json"),
            "04" => include_str!("../../../tests/fixtures/netbox-4.7-webhooks/04_dcim.device_updated.body.json"),
            "07" => include_str!(
                "../../../tests/fixtures/netbox-4.7-webhooks/07_virtualization.virtualmachine_updated.body.json"
            ),
            "08" => include_str!("../../../tests/fixtures/netbox-4.7-webhooks/08_dcim.device_updated.body.json"),
            _ => unreachable!(),
        };
        let body: Value = serde_json::from_str(text).unwrap();
        let kind: ObjectKind = body["object_type"].as_str().unwrap().parse().unwrap();
        NetboxObject::from_rest(kind, &body["data"]).unwrap()
    }

    fn cache() -> CacheView {
        let snapshot = |kind, objects: &[(&str, &str)]| CacheSnapshot {
            kind,
            objects: objects
                .iter()
                .map(|(id, name)| CachedObject {
                    id: id.to_string(),
                    name: name.to_string(),
                    attributes: Default::default(),
                })
                .collect(),
            updated: None,
            version: 1,
        };
        CacheView::new(&[
            snapshot(CacheKind::Templates, &[("10001", "Linux by Zabbix agent"), ("10220", "Cisco IOS by SNMP")]),
            snapshot(CacheKind::Proxies, &[("20", "proxy-ams")]),
            snapshot(CacheKind::ProxyGroups, &[("3", "pg-eu")]),
        ])
    }

    fn host(desired: Desired) -> DesiredHost {
        match desired {
            Desired::Host(h) => *h,
            other => panic!("expected a host, got {other:?}"),
        }
    }

    #[test]
    fn a_device_without_a_primary_ip_keeps_its_host_and_is_never_deleted_for_it() {
        let d = desired_host(&fixture("01"), &Settings::default(), &cache()).unwrap();
        assert_eq!(d, Desired::Keep { reason: "no primary IP".into(), disable: false });
        let disabling =
            Settings { without_primary_ip: crate::settings::WithoutPrimaryIp::Disable, ..Settings::default() };
        let d = desired_host(&fixture("01"), &disabling, &cache()).unwrap();
        assert_eq!(d, Desired::Keep { reason: "no primary IP".into(), disable: true });
    }

    #[test]
    fn a_device_with_a_primary_ip_becomes_the_mapped_host() {
        let h = host(desired_host(&fixture("04"), &Settings::default(), &cache()).unwrap());
        assert_eq!(h.object.to_string(), "dcim.device/1");
        assert_eq!((h.host.as_str(), h.name.as_str()), ("rtr-76683", "rtr-76683"));
        assert_eq!(h.status, HostStatus::Enabled);
        assert_eq!(h.host_groups, BTreeSet::from(["NetBox/Site 76683".to_string()]));
        assert_eq!(h.templates.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["10001"]);
        assert_eq!(h.monitored_by, MonitoredBy::Server);
        assert_eq!(
            h.interfaces,
            [DesiredInterface {
                kind: InterfaceKind::Agent,
                ip: "192.0.2.10".into(),
                dns: "rtr-76683.example.net".into(),
                port: "10050".into(),
                main: true,
                useip: true,
                details: BTreeMap::new(),
            }]
        );
        let tags: Vec<(&str, &str)> = h.tags.iter().map(|(t, v)| (t.as_str(), v.as_str())).collect();
        assert_eq!(
            tags,
            [
                ("netbox:object", "dcim.device/1"),
                ("netbox:platform", "AcmeOS 76683"),
                ("netbox:role", "Router 76683"),
                ("netbox:site", "Site 76683"),
                ("netbox:tag", "core-76683"),
            ]
        );
    }

    #[test]
    fn a_vm_becomes_a_host_too() {
        let h = host(desired_host(&fixture("07"), &Settings::default(), &cache()).unwrap());
        assert_eq!(h.object.to_string(), "virtualization.virtualmachine/1");
        assert_eq!(h.host, "vm-76683");
        assert_eq!(h.interfaces[0].ip, "192.0.2.20");
        assert!(h.tags.contains(&("netbox:site".into(), "Site 76683".into())));
    }

    #[test]
    fn the_status_table_monitors_disables_or_removes() {
        let planned = fixture("08");
        let h = host(desired_host(&planned, &Settings::default(), &cache()).unwrap());
        assert_eq!(h.status, HostStatus::Disabled, "planned disables by default: the host and its history stay");
        assert_eq!(h.host, "rtr-76683-renamed");
        assert!(h.tags.contains(&("netbox:tag".into(), "edge-76683".into())));
        let mut settings = Settings::default();
        settings.statuses.insert("planned".into(), StatusAction::Monitor);
        assert_eq!(host(desired_host(&planned, &settings, &cache()).unwrap()).status, HostStatus::Enabled);
        settings.statuses.insert("planned".into(), StatusAction::Remove);
        assert_eq!(
            desired_host(&planned, &settings, &cache()).unwrap(),
            Desired::OutOfScope("status \"planned\" is set to remove".into())
        );
        let scoped = Settings { scope_tag: Some("monitor-me".into()), ..Settings::default() };
        assert!(matches!(desired_host(&fixture("04"), &scoped, &cache()).unwrap(), Desired::OutOfScope(_)));
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let mut settings = Settings::default();
        let rule = |name: &str, matches: RuleMatch, template: &str, proxy: Option<&str>| MappingRule {
            name: name.into(),
            matches,
            templates: vec![template.into()],
            host_groups: vec!["NetBox/{role}".into()],
            proxy: proxy.map(str::to_string),
            proxy_group: None,
            interface: InterfaceKind::SnmpV2c,
        };
        settings.rules.push(rule(
            "site",
            RuleMatch { site: Some("Site 76683".into()), ..Default::default() },
            "Cisco IOS by SNMP",
            None,
        ));
        settings.rules.push(rule(
            "site+tag",
            RuleMatch { site: Some("Site 76683".into()), tag: Some("core-76683".into()), ..Default::default() },
            "Cisco IOS by SNMP",
            Some("proxy-ams"),
        ));
        settings.rules.push(rule(
            "other site",
            RuleMatch { site: Some("elsewhere".into()), ..Default::default() },
            "x",
            None,
        ));
        settings.validate().unwrap();
        let h = host(desired_host(&fixture("04"), &settings, &cache()).unwrap());
        assert_eq!(h.rule, "site+tag");
        assert_eq!(h.monitored_by, MonitoredBy::Proxy(Named { id: "20".into(), name: "proxy-ams".into() }));
        assert_eq!(h.interfaces[0].port, "161");
        assert_eq!(h.host_groups, BTreeSet::from(["NetBox/Router 76683".to_string()]));
    }

    #[test]
    fn rules_match_slugs_as_well_as_names_and_a_missing_placeholder_value_falls_back() {
        let mut settings = Settings::default();
        settings.rules.push(MappingRule {
            name: "by slug".into(),
            matches: RuleMatch {
                site: Some("site-76683".into()),
                tag: Some("core-76683".into()),
                ..Default::default()
            },
            templates: vec![],
            host_groups: vec!["NetBox/{tenant}".into(), "Routers".into()],
            proxy: None,
            proxy_group: None,
            interface: InterfaceKind::Agent,
        });
        let h = host(desired_host(&fixture("04"), &settings, &cache()).unwrap());
        assert_eq!(h.rule, "by slug", "the site slug matched");
        // The device has no tenant: that group is the fallback group, the host is not failed.
        assert_eq!(h.host_groups, BTreeSet::from(["NetBox/unassigned".to_string(), "Routers".to_string()]));
    }

    #[test]
    fn a_config_context_overrides_the_rule_and_a_wrong_shape_fails_naming_the_key() {
        let mut device = fixture("04");
        device.config_context = Some(serde_json::json!({"zabbix": {
            "templates": ["Cisco IOS by SNMP"], "interface": "snmpv2c", "host_groups": ["NetBox/ctx/{role}"],
            "proxy": "proxy-ams", "status": "disable"
        }, "ntp": ["192.0.2.1"]}));
        let h = host(desired_host(&device, &Settings::default(), &cache()).unwrap());
        assert_eq!(h.templates.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Cisco IOS by SNMP"]);
        assert_eq!((h.interfaces[0].kind, h.interfaces[0].port.as_str()), (InterfaceKind::SnmpV2c, "161"));
        assert_eq!(h.host_groups, BTreeSet::from(["NetBox/ctx/Router 76683".to_string()]));
        assert_eq!(h.monitored_by, MonitoredBy::Proxy(Named { id: "20".into(), name: "proxy-ams".into() }));
        assert_eq!((h.status, h.rule.as_str()), (HostStatus::Disabled, "default + NetBox overrides"));
        let kept = crate::overrides::kept(device.clone(), &Settings::default());
        assert!(kept.config_context.as_ref().unwrap().get("ntp").is_none(), "only the product's key is kept");

        device.config_context = Some(serde_json::json!({"zabbix": {"templates_add": ["Cisco IOS by SNMP"]}}));
        let h = host(desired_host(&device, &Settings::default(), &cache()).unwrap());
        assert_eq!(h.templates.len(), 2, "added to the rule's");

        device.config_context = Some(serde_json::json!({"zabbix": {"interfaces": [
            {"type": "agent"}, {"type": "snmpv3", "securityname": "{$V3_USER}", "privprotocol": "AES256"}
        ]}}));
        let h = host(desired_host(&device, &Settings::default(), &cache()).unwrap());
        let kinds: Vec<(InterfaceKind, bool)> = h.interfaces.iter().map(|i| (i.kind, i.main)).collect();
        assert_eq!(kinds, [(InterfaceKind::Agent, true), (InterfaceKind::SnmpV3, true)]);
        assert_eq!(h.interfaces[1].details()["privprotocol"], "3");

        for (bad, says) in [
            (serde_json::json!({"zabbix": {"templtes": ["x"]}}), "unknown field `templtes`"),
            (serde_json::json!({"zabbix": {"templates": "Cisco IOS by SNMP"}}), "invalid type: string"),
            (serde_json::json!({"zabbix": {"status": "remove"}}), "monitor\" or \"disable"),
            (serde_json::json!({"zabbix": {"templates": ["Nowhere"]}}), "template \"Nowhere\" is not in Zabbix"),
            (
                serde_json::json!({"zabbix": {"interfaces": [{"type": "snmpv2c", "community": "public"}]}}),
                "config context key \"zabbix\" of dcim.device/1: interfaces[0] (snmpv2c): community: name a user macro",
            ),
            (serde_json::json!({"zabbix": {"interface": "agent", "interfaces": [{"type": "agent"}]}}), "not both"),
        ] {
            device.config_context = Some(bad);
            let err = desired_host(&device, &Settings::default(), &cache()).unwrap_err().0;
            assert!(err.contains(says), "{err}");
        }
        device.config_context = Some(serde_json::json!({"zabbix": {"templtes": []}}));
        let err = desired_host(&device, &Settings::default(), &cache()).unwrap_err().0;
        assert!(err.contains("config context key \"zabbix\" of dcim.device/1"), "{err}");
    }

    #[test]
    fn custom_fields_override_the_config_context_and_a_wrong_shape_fails_naming_the_field() {
        let mut device = fixture("04");
        device.config_context =
            Some(serde_json::json!({"zabbix": {"templates": ["Cisco IOS by SNMP"], "proxy": "proxy-ams"}}));
        device.custom_fields = BTreeMap::from([
            ("zabbix_templates".to_string(), serde_json::json!("Linux by Zabbix agent, Cisco IOS by SNMP")),
            ("zabbix_interface".to_string(), serde_json::json!("snmpv3")),
            ("zabbix_status".to_string(), serde_json::json!("")),
            ("owner".to_string(), serde_json::json!("ops")),
        ]);
        let h = host(desired_host(&device, &Settings::default(), &cache()).unwrap());
        assert_eq!(h.templates.len(), 2, "the custom field wins over the config context");
        assert_eq!(h.interfaces[0].kind, InterfaceKind::SnmpV3);
        assert_eq!(
            h.monitored_by,
            MonitoredBy::Proxy(Named { id: "20".into(), name: "proxy-ams".into() }),
            "the context's proxy stays"
        );
        assert_eq!(h.status, HostStatus::Enabled, "an empty field sets nothing");
        let kept = crate::overrides::kept(device.clone(), &Settings::default());
        assert!(!kept.custom_fields.contains_key("owner"), "only the product's custom fields are kept");

        for (field, value, says) in [
            ("zabbix_templates", serde_json::json!(42), "a list of names, or a text"),
            ("zabbix_interface", serde_json::json!("snmpv4"), "one of agent, snmpv2c, snmpv3, snmpv1, ipmi, jmx"),
            ("zabbix_status", serde_json::json!(["monitor"]), "a text"),
        ] {
            let mut bad = device.clone();
            bad.custom_fields.insert(field.into(), value);
            let err = desired_host(&bad, &Settings::default(), &cache()).unwrap_err().0;
            assert!(err.contains(&format!("custom field {field:?} of dcim.device/1")) && err.contains(says), "{err}");
        }
    }

    #[test]
    fn a_visible_name_and_tags_from_the_config_context_fill_placeholders_and_a_typo_fails_the_host() {
        let mut device = fixture("04");
        let netbox_name = host(desired_host(&device, &Settings::default(), &cache()).unwrap()).name;
        device.config_context = Some(serde_json::json!({"zabbix": {"visible_name": "{name} ({role})"}}));
        let h = host(desired_host(&device, &Settings::default(), &cache()).unwrap());
        assert_eq!(h.name, format!("{netbox_name} (Router 76683)"));
        assert_eq!(h.host, technical_name(&netbox_name), "the technical name stays the NetBox name");

        device.config_context = Some(serde_json::json!({"zabbix": {"visible_name": "{name} / {tenant}"}}));
        let h = host(desired_host(&device, &Settings::default(), &cache()).unwrap());
        assert_eq!(h.name, netbox_name, "no tenant: the NetBox name, never \"sw / {{tenant}}\"");

        device.config_context =
            Some(serde_json::json!({"zabbix": {"visible_name": format!("{{name}} {}", "x".repeat(200))}}));
        let h = host(desired_host(&device, &Settings::default(), &cache()).unwrap());
        assert_eq!(h.name.chars().count(), 128, "Zabbix keeps 128 characters");

        device.config_context = Some(
            serde_json::json!({"zabbix": {"tags": {"team": "network", "Where": "{site}/{role}", "owner": "{tenant}"}}}),
        );
        let h = host(desired_host(&device, &Settings::default(), &cache()).unwrap());
        assert!(h.tags.contains(&("netbox:team".into(), "network".into())), "{:?}", h.tags);
        assert!(h.tags.iter().any(|(t, v)| t == "netbox:where" && v.ends_with("/Router 76683")), "{:?}", h.tags);
        assert!(!h.tags.iter().any(|(t, _)| t == "netbox:owner"), "no tenant, no tag");
        assert!(h.tags.contains(&("netbox:object".into(), "dcim.device/1".into())), "the object tag stays");

        for (context, says) in [
            (serde_json::json!({"tags": {"object": "x"}}), "tags: \"object\" is not a tag name NetBox may set"),
            (
                serde_json::json!({"tags": {"team": "{tem}"}}),
                "tags: \"team\": \"{tem}\" uses \"tem\", which no NetBox object has",
            ),
            (serde_json::json!({"tags": {"team": 1}}), "invalid type"),
            (serde_json::json!({"visible_name": "{name} {sitee}"}), "visible_name: \"{name} {sitee}\" uses \"sitee\""),
            (serde_json::json!({"visible_name": " "}), "visible_name is empty"),
            (serde_json::json!({"host_groups": ["NetBox/{rol}"]}), "host group \"NetBox/{rol}\" uses \"rol\""),
        ] {
            device.config_context = Some(serde_json::json!({"zabbix": context}));
            let err = desired_host(&device, &Settings::default(), &cache()).unwrap_err().0;
            assert!(err.contains("dcim.device/1") && err.contains(says), "{err}");
        }
    }

    #[test]
    fn the_cache_refuses_rules_naming_what_zabbix_does_not_have() {
        let mut settings = Settings::default();
        cache().check(&settings).unwrap();
        settings.rules[0].proxy = Some("proxy-nowhere".into());
        assert!(cache().check(&settings).unwrap_err().contains("proxy \"proxy-nowhere\""));
    }

    #[test]
    fn a_template_zabbix_does_not_have_is_a_clear_error() {
        let mut settings = Settings::default();
        settings.rules[0].templates = vec!["Nonexistent".into()];
        let err = desired_host(&fixture("04"), &settings, &cache()).unwrap_err();
        assert!(err.0.contains("template \"Nonexistent\" is not in Zabbix"), "{err}");
    }

    #[test]
    fn names_are_made_valid_for_zabbix() {
        assert_eq!(technical_name("core-sw01.ams (rack 4)/A"), "core-sw01.ams _rack 4__A");
        assert_eq!(technical_name("ünïcode"), "_n_code");
        assert_eq!(technical_name(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn differences_name_each_field_that_differs_and_none_when_in_sync() {
        let h = host(desired_host(&fixture("04"), &Settings::default(), &cache()).unwrap());
        let mut actual = ActualHost {
            hostid: "10500".into(),
            host: h.host.clone(),
            name: h.name.clone(),
            status: h.status,
            host_groups: h.host_groups.clone(),
            template_ids: h.templates.iter().map(|t| t.id.clone()).collect(),
            monitored_by: MonitoredBy::Server,
            interfaces: h.interfaces.clone(),
            tags: h.tags.clone(),
            inventory_mode: InventoryMode::Disabled,
            inventory: BTreeMap::new(),
            macros: BTreeMap::new(),
            tls: None,
            description: String::new(),
        };
        assert!(differences(&h, &actual).is_empty());
        actual.status = HostStatus::Disabled;
        actual.template_ids.clear();
        actual.interfaces[0].ip = "192.0.2.99".into();
        let fields: Vec<String> = differences(&h, &actual).into_iter().map(|d| d.field).collect();
        assert_eq!(fields, ["status", "templates", "interfaces"]);
    }
}

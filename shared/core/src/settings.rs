//! Settings and mappings (docs/product.md §3, §4): which NetBox objects are in scope, how they map to Zabbix,
//! and how deletions behave. One document with a version: a write based on a stale read is refused.

pub(crate) use crate::host_fields::{check_inventory_field, check_tag_name};
use crate::netbox::ObjectKind;
use crate::template;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

named_enum!(
    /// A NetBox attribute that rules match on, tags carry and inventory fields receive.
    Attribute {
        Site => "site",
        Role => "role",
        Platform => "platform",
        Tenant => "tenant",
        DeviceType => "device_type",
        Manufacturer => "manufacturer",
        Cluster => "cluster",
        Serial => "serial",
        AssetTag => "asset_tag",
    }
);

named_enum!(HostStatus { Enabled => "enabled", Disabled => "disabled" });

named_enum!(
    /// How the host is monitored: Zabbix agent (port 10050), SNMP (161), IPMI (623) or JMX (12345).
    InterfaceKind {
        Agent => "agent", SnmpV2c => "snmpv2c", SnmpV3 => "snmpv3", SnmpV1 => "snmpv1", Ipmi => "ipmi", Jmx => "jmx",
    }
);

named_enum!(DeletePolicy { Soft => "soft", Hard => "hard" });

named_enum!(
    /// What a NetBox status means for the object's host: monitored (enabled), kept but disabled
    /// (history survives), or removed per the delete policy.
    StatusAction { Monitor => "monitor", Disable => "disable", Remove => "remove" }
);

named_enum!(
    /// What happens to the host of an object that loses its primary IP: kept as it was, or
    /// disabled. Never deleted for that.
    WithoutPrimaryIp { Keep => "keep", Disable => "disable" }
);

named_enum!(TagNameCase { Lower => "lower", Preserve => "preserve" });

named_enum!(InventoryMode { Disabled => "disabled", Manual => "manual", Automatic => "automatic" });

/// What a rule matches on; an unset field matches anything. A rule with nothing set is a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Templates, host groups, proxy (or proxy group) and interface for the objects a rule matches.
/// Host group names are templates (docs/product.md §3.3): `NetBox/{site}`, `{{ regions | join("/") }}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingRule {
    pub name: String,
    #[serde(default, rename = "match")]
    pub matches: RuleMatch,
    #[serde(default)]
    pub templates: Vec<String>,
    #[serde(default)]
    pub host_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_group: Option<String>,
    #[serde(default = "default_interface")]
    pub interface: InterfaceKind,
}

fn default_interface() -> InterfaceKind {
    InterfaceKind::Agent
}

/// The names of the NetBox custom fields read per object (docs/product.md §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomFieldNames {
    pub templates: String,
    pub host_groups: String,
    pub proxy: String,
    pub proxy_group: String,
    pub interface: String,
    pub status: String,
}

impl Default for CustomFieldNames {
    fn default() -> Self {
        CustomFieldNames {
            templates: "zabbix_templates".into(),
            host_groups: "zabbix_host_groups".into(),
            proxy: "zabbix_proxy".into(),
            proxy_group: "zabbix_proxy_group".into(),
            interface: "zabbix_interface".into(),
            status: "zabbix_status".into(),
        }
    }
}

impl CustomFieldNames {
    pub fn all(&self) -> [&str; 6] {
        [&self.templates, &self.host_groups, &self.proxy, &self.proxy_group, &self.interface, &self.status]
    }
}

/// The settings document. Stored settings written before the status table (with
/// `monitored_statuses` and `status_mapping`) are upgraded when read: see [`upgrade_statuses`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct Settings {
    /// NetBox status -> what happens to the host (docs/product.md §3.1).
    pub statuses: BTreeMap<String, StatusAction>,
    /// A status the table does not name (one NetBox adds later): never removed by default.
    pub other_statuses: StatusAction,
    /// An object without a primary IP keeps its host as it was, or disabled.
    pub without_primary_ip: WithoutPrimaryIp,
    /// When set, only objects with this NetBox tag are in scope.
    pub scope_tag: Option<String>,
    /// NetBox list filters that narrow the scope of devices and of VMs, in NetBox's query form
    /// (`site=dc1&tenant=acme`); empty: every object ([`crate::scope_filter`]).
    pub device_filter: String,
    pub vm_filter: String,
    /// The NetBox config context key whose value overrides the rule per object (§3.2).
    pub config_context_key: String,
    /// The NetBox custom fields that override the rule and the config context per object.
    pub custom_fields: CustomFieldNames,
    /// The most specific matching rule wins; there is always a default rule (no match criteria).
    pub rules: Vec<MappingRule>,
    /// Prefix of every tag the product writes (the managed tag is `<prefix>object`).
    pub tag_prefix: String,
    pub tag_name_case: TagNameCase,
    /// NetBox attributes written as tags `<prefix><attribute>`.
    pub tag_attributes: Vec<Attribute>,
    /// Whether NetBox tags are copied as `<prefix>tag` tags.
    pub copy_netbox_tags: bool,
    pub inventory_mode: InventoryMode,
    /// NetBox attribute -> Zabbix inventory field (e.g. serial -> serialno_a).
    pub inventory_mappings: BTreeMap<Attribute, String>,
    /// Zabbix inventory field -> a template over the object (`{{ custom_fields.owner }}`);
    /// written with `inventory_mode` manual, on top of `inventory_mappings`.
    pub inventory_fields: BTreeMap<String, String>,
    /// The visible name of every host, a template (`{name} ({site})`); none: the NetBox name.
    pub visible_name: Option<String>,
    /// The description of every host, a template; none: the description is not managed.
    pub description: Option<String>,
    /// Host tags `<prefix><name>` -> a template of the value, beside `tag_attributes`.
    pub tags: BTreeMap<String, String>,
    pub delete_policy: DeletePolicy,
    pub graveyard_group: String,
    /// Graveyard hosts soft-deleted more than this many days ago are hard-deleted by
    /// MaintenanceCleanup (through the deletion breaker); `None`: kept for ever (the default).
    pub graveyard_purge_days: Option<u64>,
    /// The host group a rule's group becomes when its placeholder has no value for an object.
    pub fallback_host_group: String,
    pub graveyard_suffix: String,
    /// The deletion breaker: the most hosts deleted (soft or hard) in any window of
    /// `deletion_window_minutes`, across host jobs and syncs; also the most one sync may delete.
    /// Past it, deletions are held for an operator (`nzj deletions`).
    pub max_deletions: usize,
    pub deletion_window_minutes: u64,
    /// Adopt a Zabbix host with the same name but no managed tag (else fail clearly).
    pub adoption: bool,
    /// Hosts per `host.create` / `host.update` array call in a sync. Templated hosts cost Zabbix's
    /// PHP memory: 1,000 per call ran a 512M frontend out of memory; 200 and 500 worked.
    pub batch_size: usize,
    pub zabbix_timeout_seconds: u64,
    pub job_timeout_seconds: u64,
    /// How old a host config's last check may be before HostConfigSyncRefresh checks it again.
    pub sync_refresh_cutoff_minutes: u64,
    /// What the product writes back into NetBox's custom fields (docs/product.md §3.4).
    pub write_back: crate::write_back::WriteBack,
    /// Who made the last change, and when (the API token's name; on AWS the IAM principal).
    pub changed: Option<Changed>,
    /// Optimistic-concurrency version: a write must name the version it read.
    pub version: u64,
}

/// Who changed a setting or an interval, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub by: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            statuses: default_statuses(),
            other_statuses: StatusAction::Disable,
            without_primary_ip: WithoutPrimaryIp::Keep,
            scope_tag: None,
            device_filter: String::new(),
            vm_filter: String::new(),
            config_context_key: "zabbix".into(),
            custom_fields: CustomFieldNames::default(),
            rules: vec![MappingRule {
                name: "default".into(),
                matches: RuleMatch::default(),
                templates: vec!["Linux by Zabbix agent".into()],
                host_groups: vec!["NetBox/{site}".into()],
                proxy: None,
                proxy_group: None,
                interface: InterfaceKind::Agent,
            }],
            tag_prefix: "netbox:".into(),
            tag_name_case: TagNameCase::Lower,
            tag_attributes: vec![Attribute::Site, Attribute::Role, Attribute::Platform, Attribute::Tenant],
            copy_netbox_tags: true,
            inventory_mode: InventoryMode::Disabled,
            inventory_mappings: BTreeMap::from([(Attribute::Serial, "serialno_a".to_string())]),
            inventory_fields: BTreeMap::new(),
            visible_name: None,
            description: None,
            tags: BTreeMap::new(),
            delete_policy: DeletePolicy::Soft,
            graveyard_group: "NetBox graveyard".into(),
            fallback_host_group: "NetBox/unassigned".into(),
            graveyard_purge_days: None,
            graveyard_suffix: "-deleted".into(),
            max_deletions: 50,
            deletion_window_minutes: 10,
            adoption: false,
            batch_size: 200,
            zabbix_timeout_seconds: 30,
            job_timeout_seconds: 3600,
            sync_refresh_cutoff_minutes: 60,
            write_back: Default::default(),
            changed: None,
            version: 0,
        }
    }
}

/// The default status table: only what is being taken out of service is removed.
fn default_statuses() -> BTreeMap<String, StatusAction> {
    use StatusAction::*;
    [
        ("active", Monitor),
        ("offline", Disable),
        ("planned", Disable),
        ("staged", Disable),
        ("failed", Disable),
        ("decommissioning", Remove),
        ("inventory", Remove),
    ]
    .into_iter()
    .map(|(status, action)| (status.to_string(), action))
    .collect()
}

/// Rewrites settings stored before the status table: `monitored_statuses` (in scope) with
/// `status_mapping` (enabled or disabled) become `statuses`. A monitored status maps to `monitor`
/// or `disable`; every other status keeps the new default (so no status that used to disable
/// starts deleting, and none that used to delete silently keeps deleting history).
pub fn upgrade_statuses(value: &mut serde_json::Value) {
    let Some(fields) = value.as_object_mut() else { return };
    // Beside a status table the old fields are an error (unknown field), not silently dropped.
    if fields.contains_key("statuses") {
        return;
    }
    let monitored = fields.remove("monitored_statuses");
    let mapping = fields.remove("status_mapping");
    if monitored.is_none() && mapping.is_none() {
        return;
    }
    let mapping: BTreeMap<String, HostStatus> =
        mapping.and_then(|m| serde_json::from_value(m).ok()).unwrap_or_default();
    let mut statuses = default_statuses();
    let monitored: Vec<String> = monitored.and_then(|m| serde_json::from_value(m).ok()).unwrap_or_default();
    for status in monitored {
        let action = match mapping.get(&status) {
            Some(HostStatus::Enabled) => StatusAction::Monitor,
            _ => StatusAction::Disable,
        };
        statuses.insert(status, action);
    }
    fields.insert("statuses".into(), serde_json::json!(statuses));
}

impl<'de> Deserialize<'de> for Settings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = serde_json::Value::deserialize(deserializer)?;
        upgrade_statuses(&mut value);
        Settings::deserialize(value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Settings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Settings::serialize(self, serializer)
    }
}

/// NetBox's own status choices (4.2 to 4.7) for devices and for VMs: the values its list filters
/// accept.
const DEVICE_STATUSES: [&str; 7] = ["offline", "active", "planned", "staged", "failed", "inventory", "decommissioning"];
const VM_STATUSES: [&str; 7] = ["offline", "active", "planned", "staged", "failed", "decommissioning", "paused"];

impl Settings {
    /// What the NetBox status `status` means for the host.
    pub fn status_action(&self, status: &str) -> StatusAction {
        self.statuses.get(status).copied().unwrap_or(self.other_statuses)
    }

    /// The NetBox list filters that leave out what a sync can have no host for: the statuses set
    /// to remove (`status__n`), or, when a status the table does not name is removed too, only the
    /// statuses that are not (`status`). Only NetBox's own choices for `kind` are named (NetBox
    /// refuses any other value with 400): a removed status that is not one is listed and handled
    /// here, and a kept one that is not one turns the positive form off. A left-out object that
    /// has a host is still found: the sync's last step reads the objects of the hosts it did not
    /// see by id (docs/design.md).
    pub fn netbox_list_filters(&self, kind: ObjectKind) -> Vec<(&'static str, String)> {
        let mut filters = self.status_filters(kind);
        filters.extend(self.scope_filter(kind));
        filters
    }

    /// The operator's scope filter of `kind` (`device_filter`, `vm_filter`) as list filter pairs;
    /// settings are validated before they are stored, so a filter read back parses.
    pub fn scope_filter(&self, kind: ObjectKind) -> Vec<(&'static str, String)> {
        crate::scope_filter::parse(kind, self.scope_filter_text(kind)).unwrap_or_default()
    }

    fn scope_filter_text(&self, kind: ObjectKind) -> &str {
        match kind {
            ObjectKind::Device => &self.device_filter,
            ObjectKind::VirtualMachine => &self.vm_filter,
        }
    }

    fn status_filters(&self, kind: ObjectKind) -> Vec<(&'static str, String)> {
        let choices: &[&str] = match kind {
            ObjectKind::Device => &DEVICE_STATUSES,
            ObjectKind::VirtualMachine => &VM_STATUSES,
        };
        let removed = |action: &StatusAction| *action == StatusAction::Remove;
        if removed(&self.other_statuses) {
            let kept: Vec<&String> = self.statuses.iter().filter(|(_, a)| !removed(a)).map(|(s, _)| s).collect();
            if kept.iter().any(|s| !choices.contains(&s.as_str())) {
                return Vec::new();
            }
            kept.into_iter().map(|s| ("status", s.clone())).collect()
        } else {
            self.statuses
                .iter()
                .filter(|(s, a)| removed(a) && choices.contains(&s.as_str()))
                .map(|(s, _)| ("status__n", s.clone()))
                .collect()
        }
    }

    /// Every template the settings hold: rules' host groups, visible name, description, tag
    /// values and inventory fields.
    pub fn templates(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .flat_map(|r| &r.host_groups)
            .chain(&self.visible_name)
            .chain(&self.description)
            .chain(self.tags.values())
            .chain(self.inventory_fields.values())
            .map(String::as_str)
    }

    /// The REST fields the settings' templates read as `netbox.<field>`: asked of NetBox in every
    /// object read, beside the fields the product always reads.
    pub fn netbox_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = self.templates().flat_map(template::netbox_fields).collect();
        fields.sort();
        fields.dedup();
        fields
    }

    /// Every rule settings must follow, with a message that says what to change.
    pub fn validate(&self) -> Result<(), String> {
        for kind in [ObjectKind::Device, ObjectKind::VirtualMachine] {
            let setting = crate::scope_filter::setting_of(kind);
            crate::scope_filter::parse(kind, self.scope_filter_text(kind)).map_err(|e| format!("{setting}: {e}"))?;
        }
        if !self.statuses.values().any(|a| *a == StatusAction::Monitor) {
            return Err("statuses: at least one status must be \"monitor\" (else nothing is monitored)".into());
        }
        if let Some(status) = self.statuses.keys().find(|s| s.trim().is_empty() || s.chars().any(char::is_uppercase)) {
            return Err(format!(
                "statuses: {status:?} is not a NetBox status value (lower case, like \"active\" or \"offline\")"
            ));
        }
        if !self.rules.iter().any(|r| r.matches == RuleMatch::default()) {
            return Err("rules: a default rule (one without match criteria) must exist".into());
        }
        for rule in &self.rules {
            if rule.proxy.is_some() && rule.proxy_group.is_some() {
                return Err(format!("rules.{}: set proxy or proxy_group, not both", rule.name));
            }
            if rule.host_groups.is_empty() {
                return Err(format!("rules.{}: at least one host group (Zabbix hosts need one)", rule.name));
            }
            for group in &rule.host_groups {
                template::check(group).map_err(|e| format!("rules.{}: host group {e}", rule.name))?;
            }
        }
        for (whence, text) in [("visible_name", &self.visible_name), ("description", &self.description)] {
            if let Some(text) = text {
                template::check(text).map_err(|e| format!("{whence}: {e}"))?;
            }
        }
        for (tag, value) in &self.tags {
            check_tag_name(tag, "tags")?;
            template::check(value).map_err(|e| format!("tags.{tag}: {e}"))?;
        }
        for field in self.inventory_mappings.values() {
            check_inventory_field(field, "inventory_mappings")?;
        }
        for (field, value) in &self.inventory_fields {
            check_inventory_field(field, "inventory_fields")?;
            template::check(value).map_err(|e| format!("inventory_fields.{field}: {e}"))?;
        }
        self.write_back.validate()?;
        if !self.inventory_fields.is_empty() && self.inventory_mode != InventoryMode::Manual {
            return Err(
                "inventory_fields are written only with inventory_mode \"manual\": set it, or remove them".into()
            );
        }
        if self.config_context_key.trim().is_empty() {
            return Err("config_context_key: the config context key read per object (e.g. \"zabbix\")".into());
        }
        if self.tag_prefix.is_empty() || self.tag_prefix.len() > 32 {
            return Err("tag_prefix: 1 to 32 characters".into());
        }
        if self.fallback_host_group.trim().is_empty() || self.fallback_host_group.contains('{') {
            return Err("fallback_host_group: a host group name without placeholders".into());
        }
        if self.graveyard_group.trim().is_empty() || self.graveyard_suffix.is_empty() {
            return Err("graveyard_group and graveyard_suffix must not be empty".into());
        }
        if self.graveyard_purge_days.is_some_and(|d| !(1..=3650).contains(&d)) {
            return Err("graveyard_purge_days must be 1-3650, or null to keep graveyard hosts".into());
        }
        if !(1..=1440).contains(&self.deletion_window_minutes) {
            return Err("deletion_window_minutes must be 1-1440 (a day at most)".into());
        }
        if !(1..=1000).contains(&self.batch_size) {
            return Err("batch_size must be 1-1000 hosts per call".into());
        }
        if !(1..=3600).contains(&self.zabbix_timeout_seconds) || !(1..=86_400).contains(&self.job_timeout_seconds) {
            return Err("zabbix_timeout_seconds must be 1-3600 and job_timeout_seconds 1-86400".into());
        }
        Ok(())
    }

    /// The name of the tag written for `what` (`site`, `object`, ...), in the configured case.
    pub fn tag_name(&self, what: &str) -> String {
        let name = format!("{}{what}", self.tag_prefix);
        match self.tag_name_case {
            TagNameCase::Lower => name.to_lowercase(),
            TagNameCase::Preserve => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_round_trip() {
        let s = Settings::default();
        s.validate().unwrap();
        let back: Settings = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.tag_name("object"), "netbox:object");
    }

    #[test]
    fn settings_without_a_default_rule_or_with_both_proxy_kinds_are_refused() {
        let mut s = Settings::default();
        s.rules[0].matches.site = Some("ams1".into());
        assert!(s.validate().unwrap_err().contains("default rule"));
        let mut s = Settings::default();
        s.rules[0].proxy = Some("p".into());
        s.rules[0].proxy_group = Some("g".into());
        assert!(s.validate().unwrap_err().contains("not both"));
        assert!(serde_json::from_str::<Settings>(r#"{"max_deletes": 3}"#).is_err(), "unknown fields are refused");
    }

    #[test]
    fn by_default_only_decommissioning_and_inventory_remove_and_unknown_statuses_disable() {
        let s = Settings::default();
        assert_eq!(s.status_action("active"), StatusAction::Monitor);
        for status in ["offline", "planned", "staged", "failed"] {
            assert_eq!(s.status_action(status), StatusAction::Disable, "{status}");
        }
        for status in ["decommissioning", "inventory"] {
            assert_eq!(s.status_action(status), StatusAction::Remove, "{status}");
        }
        assert_eq!(s.status_action("a-status-netbox-adds-later"), StatusAction::Disable);
    }

    #[test]
    fn netbox_lists_only_the_statuses_that_can_have_a_host_each_kind_its_own_choices() {
        let s = Settings::default();
        assert_eq!(
            s.netbox_list_filters(ObjectKind::Device),
            [("status__n", "decommissioning".to_string()), ("status__n", "inventory".to_string())]
        );
        // VMs have no "inventory" (NetBox would answer 400).
        assert_eq!(s.netbox_list_filters(ObjectKind::VirtualMachine), [("status__n", "decommissioning".to_string())]);
        let only = Settings { other_statuses: StatusAction::Remove, ..s.clone() };
        let filters = only.netbox_list_filters(ObjectKind::Device);
        assert!(!filters.is_empty());
        assert!(filters.iter().all(|(k, v)| *k == "status" && only.status_action(v) != StatusAction::Remove));
        // A kept status NetBox does not know (a custom choice): no positive filter, everything read.
        let mut custom = only.clone();
        custom.statuses.insert("burn-in".into(), StatusAction::Monitor);
        assert!(custom.netbox_list_filters(ObjectKind::Device).is_empty());
    }

    #[test]
    fn stored_settings_with_monitored_statuses_and_a_status_mapping_are_upgraded() {
        let old = serde_json::json!({
            "monitored_statuses": ["active", "staged"],
            "status_mapping": {"active": "enabled", "staged": "disabled", "offline": "disabled"},
            "adoption": true,
            "version": 4,
        });
        let s: Settings = serde_json::from_value(old).unwrap();
        assert_eq!(s.status_action("active"), StatusAction::Monitor);
        assert_eq!(s.status_action("staged"), StatusAction::Disable);
        // Not monitored before (deleted): now the safe default, never silently deleting.
        assert_eq!(s.status_action("offline"), StatusAction::Disable);
        assert_eq!(s.status_action("decommissioning"), StatusAction::Remove);
        assert!(s.adoption);
        let written = serde_json::to_value(&s).unwrap();
        assert!(written.get("monitored_statuses").is_none() && written.get("status_mapping").is_none());
        s.validate().unwrap();
    }

    #[test]
    fn a_status_table_that_monitors_nothing_or_names_no_status_is_refused() {
        let mut s = Settings::default();
        s.statuses.insert("active".into(), StatusAction::Disable);
        assert!(s.validate().unwrap_err().contains("at least one status"));
        let mut s = Settings::default();
        s.statuses.insert("Active".into(), StatusAction::Monitor);
        assert!(s.validate().unwrap_err().contains("not a NetBox status value"));
        assert!(serde_json::from_str::<Settings>(r#"{"statuses": {"active": "delete"}}"#).is_err());
    }
}

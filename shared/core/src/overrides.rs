//! Per-device configuration from NetBox (docs/product.md §3.2): what one object's config context
//! says about its host, under one key (`config_context_key`, default `zabbix`). NetBox merges
//! config contexts by weight over sites, roles, platforms, tags, ..., so this gives group-level
//! overrides as well as per-device ones. Order (later wins): the mapping rule, then the config
//! context. A value of the wrong shape fails that host with the key and the object named; it never
//! falls back to a silent default.

use crate::netbox::NetboxObject;
use crate::settings::{InterfaceKind, MappingRule, StatusAction};
use serde::Deserialize;

/// What a config context may set. Unknown keys are refused (a typo must not be ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Replaces the rule's templates.
    pub templates: Option<Vec<String>>,
    /// Added to the rule's templates (or to `templates`).
    #[serde(default)]
    pub templates_add: Vec<String>,
    /// Replaces the rule's host groups (placeholders allowed).
    pub host_groups: Option<Vec<String>>,
    pub proxy: Option<String>,
    pub proxy_group: Option<String>,
    pub interface: Option<InterfaceKind>,
    /// `monitor` or `disable`, whatever the status table says for the object's status.
    pub status: Option<StatusAction>,
}

impl Overrides {
    /// The overrides under `key` in the object's config context; none when the key is absent.
    pub fn of(object: &NetboxObject, key: &str) -> Result<Overrides, String> {
        let Some(value) = object.config_context.as_ref().and_then(|c| c.get(key)) else {
            return Ok(Overrides::default());
        };
        let overrides: Overrides = serde_json::from_value(value.clone())
            .map_err(|e| format!("config context key {key:?} of {}: {e}", object.reference))?;
        if overrides.status == Some(StatusAction::Remove) {
            return Err(format!(
                "config context key {key:?} of {}: status must be \"monitor\" or \"disable\" (removal follows the NetBox status)",
                object.reference
            ));
        }
        if overrides.proxy.is_some() && overrides.proxy_group.is_some() {
            return Err(format!(
                "config context key {key:?} of {}: set proxy or proxy_group, not both",
                object.reference
            ));
        }
        Ok(overrides)
    }

    /// `rule` with these overrides applied.
    pub fn apply(&self, rule: &MappingRule) -> MappingRule {
        let mut rule = rule.clone();
        if let Some(templates) = &self.templates {
            rule.templates = templates.clone();
        }
        for template in &self.templates_add {
            if !rule.templates.contains(template) {
                rule.templates.push(template.clone());
            }
        }
        if let Some(groups) = &self.host_groups {
            rule.host_groups = groups.clone();
        }
        if self.proxy.is_some() || self.proxy_group.is_some() {
            rule.proxy = self.proxy.clone();
            rule.proxy_group = self.proxy_group.clone();
        }
        if let Some(interface) = self.interface {
            rule.interface = interface;
        }
        rule
    }

    /// Whether anything is overridden (the host config's rule name says so).
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

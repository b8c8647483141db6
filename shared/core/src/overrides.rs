//! Per-device configuration from NetBox (docs/product.md §3.2): what one object's config context
//! (under one key, `config_context_key`, default `zabbix`) and custom fields (named by
//! `custom_fields`, default `zabbix_templates`, ...) say about its host. NetBox merges config
//! contexts by weight over sites, roles, platforms, tags, ..., so this gives group-level overrides
//! as well as per-device ones. Order (later wins): the mapping rule, then the config context,
//! then the custom fields. A value of the wrong shape fails that host with the key and the object
//! named; it never falls back to a silent default.

use crate::credentials::{DesiredMacro, DesiredTls};
use crate::interfaces::InterfaceSpec;
use crate::netbox::NetboxObject;
use crate::settings::{
    CustomFieldNames, InterfaceKind, MappingRule, Settings, StatusAction, check_inventory_field, check_tag_name,
};
use crate::template;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a config context may set. Unknown keys are refused (a typo must not be ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Replaces the rule's templates.
    pub templates: Option<Vec<String>>,
    /// Added to the rule's templates (or to `templates`).
    #[serde(default)]
    pub templates_add: Vec<String>,
    /// Replaces the rule's host groups (templates, docs/product.md §3.3).
    pub host_groups: Option<Vec<String>>,
    pub proxy: Option<String>,
    pub proxy_group: Option<String>,
    /// The rule's one interface, of another kind.
    pub interface: Option<InterfaceKind>,
    /// Several interfaces instead of the rule's one (see [`crate::interfaces`]).
    pub interfaces: Option<Vec<InterfaceSpec>>,
    /// `monitor` or `disable`, whatever the status table says for the object's status.
    pub status: Option<StatusAction>,
    /// User macros on the host, `{$NAME}` (or `{$NAME:context}`) -> a text, a secret by
    /// reference or a vault path ([`DesiredMacro`]).
    #[serde(default, deserialize_with = "context_macros")]
    pub macros: BTreeMap<String, DesiredMacro>,
    /// TLS of the agent connections, the PSK by reference.
    pub tls: Option<DesiredTls>,
    /// The host's description in Zabbix.
    pub description: Option<String>,
    /// The visible name, a template (`{name} @ {site}`).
    pub visible_name: Option<String>,
    /// Host tags, each name under the tag prefix (`team` is `netbox:team`), values templates; a
    /// tag of the same name from `tag_attributes` or the settings is replaced.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Zabbix inventory fields -> templates, on top of the settings' (inventory_mode manual).
    #[serde(default)]
    pub inventory: BTreeMap<String, String>,
}

/// Tag names the product itself keeps on a host: never set from NetBox data.
pub const RESERVED_TAGS: [&str; 3] = ["object", "deleted", "deleted_at"];

/// A config context's macros, each value checked by [`DesiredMacro::from_context`].
fn context_macros<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, DesiredMacro>, D::Error> {
    let raw = BTreeMap::<String, Value>::deserialize(deserializer)?;
    raw.iter()
        .map(|(name, value)| {
            DesiredMacro::from_context(value).map(|m| (name.clone(), m)).map_err(|e| format!("macro {name}: {e}"))
        })
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

/// Whether `name` is a Zabbix user macro name: `{$` upper-case letters, digits, `_` or `.`,
/// an optional `:context`, then `}`.
fn is_macro_name(name: &str) -> bool {
    let Some(inner) = name.strip_prefix("{$").and_then(|n| n.strip_suffix('}')) else { return false };
    let base = inner.split_once(':').map_or(inner, |(base, _)| base);
    !base.is_empty() && base.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '.')
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
        if overrides.interface.is_some() && overrides.interfaces.is_some() {
            return Err(format!(
                "config context key {key:?} of {}: set interface (one, of a kind) or interfaces (a list), not both",
                object.reference
            ));
        }
        if let Some(tls) = &overrides.tls {
            tls.check().map_err(|e| format!("config context key {key:?} of {}: {e}", object.reference))?;
        }
        if let Some(bad) = overrides.macros.keys().find(|m| !is_macro_name(m)) {
            return Err(format!(
                "config context key {key:?} of {}: macros: {bad:?} is not a user macro name (like {{$SNMP_COMMUNITY}})",
                object.reference
            ));
        }
        Ok(overrides)
    }

    /// The overrides of `object`: its config context's, then its custom fields' on top.
    pub fn of_object(object: &NetboxObject, settings: &Settings) -> Result<Overrides, String> {
        let context = Overrides::of(object, &settings.config_context_key)?;
        let fields = Overrides::from_custom_fields(object, &settings.custom_fields)?;
        let overrides = context.then(fields);
        overrides.check_placeholders().map_err(|e| format!("NetBox overrides of {}: {e}", object.reference))?;
        Ok(overrides)
    }

    /// A template no object can fill (`{sitee}`) would never be written: refused, like a tag or
    /// an inventory field Zabbix does not have.
    fn check_placeholders(&self) -> Result<(), String> {
        for group in self.host_groups.iter().flatten() {
            template::check(group).map_err(|e| format!("host group {e}"))?;
        }
        for (whence, text) in [("visible_name", &self.visible_name), ("description", &self.description)] {
            if let Some(text) = text {
                if text.trim().is_empty() {
                    return Err(format!("{whence} is empty"));
                }
                template::check(text).map_err(|e| format!("{whence}: {e}"))?;
            }
        }
        for (tag, value) in &self.tags {
            check_tag_name(tag, "tags")?;
            template::check(value).map_err(|e| format!("tags: {tag:?}: {e}"))?;
        }
        for (field, value) in &self.inventory {
            check_inventory_field(field, "inventory")?;
            template::check(value).map_err(|e| format!("inventory.{field}: {e}"))?;
        }
        Ok(())
    }

    /// Every template these overrides hold.
    pub fn templates(&self) -> impl Iterator<Item = &str> {
        self.host_groups
            .iter()
            .flatten()
            .chain(&self.visible_name)
            .chain(&self.description)
            .chain(self.tags.values())
            .chain(self.inventory.values())
            .map(String::as_str)
    }

    /// The overrides the object's custom fields (named by `names`) set; an empty field sets none.
    /// A list field takes a list of names, or one text of comma-separated names.
    pub fn from_custom_fields(object: &NetboxObject, names: &CustomFieldNames) -> Result<Overrides, String> {
        let wrong = |field: &str, what: &str| format!("custom field {field:?} of {}: {what}", object.reference);
        let value = |field: &str| object.custom_fields.get(field).filter(|v| !v.is_null() && v.as_str() != Some(""));
        let list = |field: &str| -> Result<Option<Vec<String>>, String> {
            match value(field) {
                None => Ok(None),
                Some(Value::String(text)) => {
                    Ok(Some(text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()))
                }
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string).ok_or_else(|| wrong(field, "a list of names, or a text")))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(wrong(field, "a list of names, or a text")),
            }
        };
        let text = |field: &str| -> Result<Option<String>, String> {
            match value(field) {
                None => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.trim().to_string())),
                Some(_) => Err(wrong(field, "a text")),
            }
        };
        let choice = |field: &str, known: &[&str]| -> Result<Option<String>, String> {
            match text(field)? {
                Some(t) if !known.contains(&t.as_str()) => Err(wrong(field, &format!("one of {}", known.join(", ")))),
                other => Ok(other),
            }
        };
        let overrides = Overrides {
            templates: list(&names.templates)?,
            templates_add: Vec::new(),
            host_groups: list(&names.host_groups)?,
            proxy: text(&names.proxy)?,
            proxy_group: text(&names.proxy_group)?,
            interface: choice(&names.interface, &InterfaceKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>())?
                .map(|t| t.parse().expect("one of the known")),
            interfaces: None,
            status: choice(&names.status, &["monitor", "disable"])?.map(|t| t.parse().expect("one of the known")),
            macros: BTreeMap::new(),
            tls: None,
            description: None,
            visible_name: None,
            tags: BTreeMap::new(),
            inventory: BTreeMap::new(),
        };
        if overrides.proxy.is_some() && overrides.proxy_group.is_some() {
            return Err(wrong(&names.proxy, "set it or the proxy group field, not both"));
        }
        Ok(overrides)
    }

    /// These overrides with `later`'s on top (later wins; added templates add up).
    pub fn then(mut self, later: Overrides) -> Overrides {
        self.templates = later.templates.or(self.templates);
        self.templates_add.extend(later.templates_add);
        self.host_groups = later.host_groups.or(self.host_groups);
        if later.proxy.is_some() || later.proxy_group.is_some() {
            self.proxy = later.proxy;
            self.proxy_group = later.proxy_group;
        }
        // A later single interface replaces an earlier list, and a later list an earlier kind.
        if later.interface.is_some() || later.interfaces.is_some() {
            self.interface = later.interface;
            self.interfaces = later.interfaces;
        }
        self.status = later.status.or(self.status);
        self.macros.extend(later.macros);
        self.tls = later.tls.or(self.tls);
        self.description = later.description.or(self.description);
        self.visible_name = later.visible_name.or(self.visible_name);
        self.tags.extend(later.tags);
        self.inventory.extend(later.inventory);
        self
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

/// What of `object` a host config keeps (docs/product.md §3.2): the product's config context key
/// and custom fields, and whatever else the settings' and the object's own templates read
/// (`custom_fields.owner`, `config_context.dns`, `netbox.rack`), so a plan renders the same
/// names later.
pub fn kept(object: NetboxObject, settings: &Settings) -> NetboxObject {
    let own = Overrides::of_object(&object, settings).unwrap_or_default();
    let mut keys = vec![settings.config_context_key.clone()];
    let mut fields: Vec<String> = settings.custom_fields.all().iter().map(|f| f.to_string()).collect();
    // What NetBox shows of the host, to write only what changes.
    fields.extend(settings.write_back.fields().iter().map(|f| f.to_string()));
    let mut attributes = Vec::new();
    for text in settings.templates().chain(own.templates()) {
        for path in template::paths(text) {
            let mut parts = path.split('.');
            match (parts.next(), parts.next()) {
                (Some("custom_fields"), Some(field)) => fields.push(field.to_string()),
                (Some("config_context"), Some(key)) => keys.push(key.to_string()),
                (Some("netbox"), Some(field)) => attributes.push(field.to_string()),
                (Some("netbox"), None) => attributes.extend(object.attributes.keys().cloned()),
                // The whole map: keep it all.
                (Some("custom_fields"), None) => fields.extend(object.custom_fields.keys().cloned()),
                (Some("config_context"), None) => keys
                    .extend(object.config_context.iter().filter_map(|c| c.as_object()).flat_map(|c| c.keys().cloned())),
                _ => {}
            }
        }
    }
    object.keep_only(&keys, &fields, &attributes)
}

/// Whether a template of the settings or of these objects' overrides reads the site's region or
/// site group: only then are NetBox's site lists read.
pub fn needs_site_place<'a>(settings: &Settings, objects: impl IntoIterator<Item = &'a NetboxObject>) -> bool {
    let reads_place = |text: &str| {
        template::paths(text)
            .iter()
            .any(|p| template::SITE_TREE_VARIABLES.contains(&p.split('.').next().unwrap_or_default()))
    };
    settings.templates().any(reads_place)
        || objects
            .into_iter()
            .any(|o| Overrides::of_object(o, settings).map(|own| own.templates().any(reads_place)).unwrap_or(false))
}

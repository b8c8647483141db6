//! Name templates (docs/product.md §3.3): host groups, visible names, descriptions, tag values and
//! inventory fields written as small Jinja templates over one NetBox object, with minijinja.
//!
//! `{{ site }}/{{ role }}`, `{{ regions | join("/") }}`, `{{ custom_fields.owner | default("ops") }}`.
//! The one-brace placeholders of earlier settings (`{site}`, `{name}`) are the same variables and
//! keep working: they are read as `{{ site }}`. A template is checked when the settings (or a
//! config context) are read: a syntax error or a variable no object has is refused, naming it.
//! When rendered, a value this object does not have (a VM has no site) makes the whole template
//! have no value, and the caller decides what that means (the fallback host group, the NetBox
//! name, no tag); it is never written as an empty or literal placeholder.

use crate::netbox::NetboxObject;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value as Json, json};
use std::sync::OnceLock;

/// The variables a template may use, each one a NetBox attribute of the object.
pub const VARIABLES: &[&str] = &[
    "name",
    "id",
    "status",
    "site",
    "site_group",
    "site_groups",
    "region",
    "regions",
    "location",
    "tenant",
    "role",
    "platform",
    "device_type",
    "manufacturer",
    "cluster",
    "serial",
    "asset_tag",
    "tags",
    "slugs",
    "primary_ip",
    "custom_fields",
    "config_context",
    "netbox",
];

/// The REST fields of the object that `text` reads as `netbox.<field>` (what a read must ask
/// NetBox for, beyond the fields the product always reads).
pub fn netbox_fields(text: &str) -> Vec<String> {
    paths(text)
        .iter()
        .filter_map(|p| p.strip_prefix("netbox."))
        .map(|p| p.split('.').next().unwrap_or(p).to_string())
        .collect()
}

/// The variables that need NetBox's site, region and site group lists (one read of each).
pub const SITE_TREE_VARIABLES: &[&str] = &["site_group", "site_groups", "region", "regions"];

/// Instructions a template may run: far above any name, far below a hang.
const FUEL: u64 = 50_000;

/// One environment for every render: strict about printing an undefined value (so a missing
/// attribute is noticed), lenient about testing one (`{% if region %}`).
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_fuel(Some(FUEL));
        env
    })
}

/// The Jinja source of `text`: one-brace placeholders (`{site}`) become `{{ site }}`; Jinja's
/// own `{{`, `{%` and `{#` are left as they are.
fn jinja_source(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let ident_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        let is_placeholder = ident_len > 0
            && after[ident_len..].starts_with('}')
            && !after[ident_len + 1..].starts_with('}')
            && !out.ends_with('{');
        if is_placeholder {
            out.push_str("{{ ");
            out.push_str(&after[..ident_len]);
            out.push_str(" }}");
            rest = &after[ident_len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Whether `text` is a template at all (has a placeholder or a Jinja block).
pub fn is_template(text: &str) -> bool {
    text.contains('{')
}

/// Checks `text` as a template: its syntax, and that every variable it uses is one of
/// [`VARIABLES`]. The error says what to change.
pub fn check(text: &str) -> Result<(), String> {
    let source = jinja_source(text);
    let env = environment();
    let template = env.template_from_str(&source).map_err(|e| format!("{text:?} is not a valid template: {}", e))?;
    let mut unknown: Vec<String> =
        template.undeclared_variables(false).into_iter().filter(|v| !VARIABLES.contains(&v.as_str())).collect();
    unknown.sort();
    if let Some(first) = unknown.first() {
        return Err(format!(
            "{text:?} uses {first:?}, which no NetBox object has; the variables are: {}",
            VARIABLES.join(", ")
        ));
    }
    Ok(())
}

/// The variables `text` uses with their attribute paths (`custom_fields.owner`), sorted, for
/// deciding what to read and keep of an object. An invalid template uses none.
pub fn paths(text: &str) -> Vec<String> {
    let source = jinja_source(text);
    let mut paths: Vec<String> = environment()
        .template_from_str(&source)
        .map(|t| t.undeclared_variables(true).into_iter().collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

/// What a template may read of one object: built once per object, rendered many times.
pub struct TemplateContext(Value);

impl TemplateContext {
    pub fn of(object: &NetboxObject) -> TemplateContext {
        let mut vars = Map::new();
        let mut set = |name: &str, value: Option<Json>| {
            if let Some(value) = value {
                vars.insert(name.to_string(), value);
            }
        };
        let text = |v: &Option<String>| v.as_ref().map(|s| json!(s));
        set("name", text(&object.name));
        set("id", Some(json!(object.reference.id)));
        set("status", Some(json!(object.status)));
        set("site", text(&object.site));
        set("location", text(&object.location));
        set("tenant", text(&object.tenant));
        set("role", text(&object.role));
        set("platform", text(&object.platform));
        set("device_type", text(&object.device_type));
        set("manufacturer", text(&object.manufacturer));
        set("cluster", text(&object.cluster));
        set("serial", text(&object.serial));
        set("asset_tag", text(&object.asset_tag));
        set("tags", Some(json!(object.tags)));
        set("slugs", Some(json!(object.slugs)));
        set("primary_ip", object.primary_ip().map(|ip| json!(ip.address)));
        set("custom_fields", Some(json!(object.custom_fields)));
        set("config_context", Some(object.config_context.clone().unwrap_or_else(|| json!({}))));
        set("netbox", Some(json!(object.attributes)));
        // The site's place: the innermost region and site group, and each list from the top.
        if let Some(place) = &object.place {
            set("regions", Some(json!(place.regions)));
            set("region", place.regions.last().map(|r| json!(r)));
            set("site_groups", Some(json!(place.site_groups)));
            set("site_group", place.site_groups.last().map(|g| json!(g)));
        }
        TemplateContext(Value::from(Serde(Json::Object(vars))))
    }

    /// `text` filled for this object, trimmed; `None` when it uses a value the object does not
    /// have or comes out empty. An error (a filter given a wrong argument, a runaway loop) is
    /// the template's fault, and says so.
    pub fn render(&self, text: &str) -> Result<Option<String>, String> {
        if !is_template(text) {
            return Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()));
        }
        match environment().render_str(&jinja_source(text), &self.0) {
            Ok(filled) => Ok(Some(filled.trim().to_string()).filter(|t| !t.is_empty())),
            Err(e) if e.kind() == ErrorKind::UndefinedError => Ok(None),
            Err(e) => Err(format!("template {text:?}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbox::{ObjectKind, SitePlace};

    fn object() -> NetboxObject {
        let mut object = NetboxObject::from_rest(
            ObjectKind::Device,
            &json!({
                "id": 7, "name": "sw-1", "status": {"value": "active"},
                "site": {"id": 3, "name": "AMS1", "slug": "ams1"},
                "location": {"id": 4, "name": "Hall 2", "slug": "hall-2"},
                "role": {"name": "Switch", "slug": "switch"},
                "custom_fields": {"owner": "netops", "rack_unit": 12, "empty": null},
                "config_context": {"zabbix": {}, "ntp": ["192.0.2.1"]},
            }),
        )
        .unwrap();
        object.place =
            Some(SitePlace { regions: vec!["Europe".into(), "Netherlands".into()], site_groups: vec!["Colo".into()] });
        object
    }

    #[test]
    fn one_brace_placeholders_are_the_same_variables_and_jinja_is_left_alone() {
        assert_eq!(jinja_source("NetBox/{site}"), "NetBox/{{ site }}");
        assert_eq!(jinja_source("{{ site }}/{role}"), "{{ site }}/{{ role }}");
        assert_eq!(jinja_source("{% if region %}{region}{% endif %}"), "{% if region %}{{ region }}{% endif %}");
        assert_eq!(jinja_source("{ not one }"), "{ not one }");
        assert_eq!(jinja_source("{$MACRO}"), "{$MACRO}");
    }

    #[test]
    fn templates_fill_attributes_custom_fields_config_context_and_the_site_place() {
        let ctx = TemplateContext::of(&object());
        let render = |t: &str| ctx.render(t).unwrap();
        assert_eq!(render("NetBox/{site}/{role}").as_deref(), Some("NetBox/AMS1/Switch"));
        assert_eq!(render("{{ regions | join('/') }}/{{ site }}").as_deref(), Some("Europe/Netherlands/AMS1"));
        assert_eq!(render("{{ region }} {{ site_group }} {{ location }}").as_deref(), Some("Netherlands Colo Hall 2"));
        assert_eq!(render("{{ custom_fields.owner | upper }}").as_deref(), Some("NETOPS"));
        assert_eq!(render("U{{ custom_fields.rack_unit }}").as_deref(), Some("U12"));
        assert_eq!(render("{{ config_context.ntp[0] }}").as_deref(), Some("192.0.2.1"));
        assert_eq!(render("{{ slugs.site }}-{{ id }}").as_deref(), Some("ams1-7"));
        assert_eq!(render("plain").as_deref(), Some("plain"));
    }

    #[test]
    fn a_value_the_object_does_not_have_gives_no_value_not_an_empty_or_literal_one() {
        let ctx = TemplateContext::of(&object());
        assert_eq!(ctx.render("NetBox/{tenant}").unwrap(), None);
        assert_eq!(ctx.render("{{ custom_fields.missing }}").unwrap(), None);
        assert_eq!(ctx.render("{{ custom_fields.empty }}").unwrap(), None);
        assert_eq!(ctx.render("{{ tenant | default('no tenant') }}").unwrap().as_deref(), Some("no tenant"));
        assert_eq!(
            ctx.render("{% if tenant %}{{ tenant }}{% else %}shared{% endif %}").unwrap().as_deref(),
            Some("shared")
        );
        assert_eq!(ctx.render("{% if tenant %}{{ tenant }}{% endif %}").unwrap(), None, "empty is no value");
        // Without its place read, a site has no region.
        let mut bare = object();
        bare.place = None;
        assert_eq!(TemplateContext::of(&bare).render("{{ region }}").unwrap(), None);
    }

    #[test]
    fn a_bad_template_is_refused_when_checked_naming_what_is_wrong() {
        assert!(check("NetBox/{site}").is_ok());
        assert!(check("{{ regions | join('/') }}").is_ok());
        let e = check("NetBox/{sitee}").unwrap_err();
        assert!(e.contains("\"sitee\"") && e.contains("site_group"), "{e}");
        let e = check("{{ site ").unwrap_err();
        assert!(e.contains("not a valid template"), "{e}");
        let e = check("{% for x in range(10) %}").unwrap_err();
        assert!(e.contains("not a valid template"), "{e}");
    }

    #[test]
    fn a_runaway_template_stops_with_an_error_instead_of_hanging_a_job() {
        let ctx = TemplateContext::of(&object());
        let e = ctx
            .render("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
            .unwrap_err();
        assert!(e.contains("template"), "{e}");
    }

    #[test]
    fn netbox_reads_any_rest_field_of_the_object() {
        let mut object = object();
        object.attributes.insert("rack".into(), json!({"id": 9, "name": "R04"}));
        let ctx = TemplateContext::of(&object);
        assert_eq!(ctx.render("{{ netbox.rack.name }}").unwrap().as_deref(), Some("R04"));
        assert_eq!(ctx.render("{{ netbox.location.slug }}").unwrap().as_deref(), Some("hall-2"));
        assert_eq!(ctx.render("{{ netbox.airflow }}").unwrap(), None, "not read: no value");
        assert_eq!(netbox_fields("{{ netbox.rack.name }} {{ netbox.comments }} {site}"), ["comments", "rack"]);
    }

    #[test]
    fn paths_name_what_a_template_reads() {
        let p = paths("{{ custom_fields.owner }}/{site}/{{ config_context.dns.primary }}");
        assert_eq!(p, ["config_context.dns.primary", "custom_fields.owner", "site"]);
    }
}

//! The scope filter: NetBox list filters an operator sets per kind (`device_filter`, `vm_filter`,
//! as netbox-zabbix-sync's `nb_device_filter` and `nb_vm_filter`), in NetBox's own query form,
//! e.g. `site=dc1&tenant=acme&region=europe`. NetBox evaluates it (regions and site groups nest,
//! so only NetBox can): a sync lists only the objects that pass, a host job asks NetBox whether
//! its object passes, and an object that no longer passes loses its host as one out of scope
//! does (docs/design.md, "NetBox reads of a sync").
//!
//! Only filter names NetBox has for the kind are accepted: NetBox ignores a name it does not
//! know, so a typo (`stie=dc1`) would silently widen the scope to every object.

use crate::netbox::ObjectKind;

/// Filter names both kinds have in NetBox 4.x (each also as `<name>__n`, "not").
const COMMON: &[&str] = &[
    "site",
    "site_id",
    "site_group",
    "site_group_id",
    "region",
    "region_id",
    "tenant",
    "tenant_id",
    "tenant_group",
    "tenant_group_id",
    "role",
    "role_id",
    "platform",
    "platform_id",
    "status",
    "tag",
    "cluster_id",
    "name",
    "id",
];

/// Filter names of devices only.
const DEVICE: &[&str] = &[
    "location",
    "location_id",
    "rack_id",
    "manufacturer",
    "manufacturer_id",
    "device_type",
    "device_type_id",
    "has_primary_ip",
];

/// Filter names of virtual machines only.
const VM: &[&str] = &["cluster", "cluster_group", "cluster_group_id", "cluster_type", "cluster_type_id"];

/// The filter name as NetBox spells it, if NetBox has it for `kind`.
fn known(kind: ObjectKind, name: &str) -> Option<&'static str> {
    let own = match kind {
        ObjectKind::Device => DEVICE,
        ObjectKind::VirtualMachine => VM,
    };
    let base = name.strip_suffix("__n").unwrap_or(name);
    let found = COMMON.iter().chain(own).find(|k| **k == base)?;
    // The `__n` form, as a name of its own that lives as long as the program.
    Some(if base == name {
        found
    } else {
        NOT_FORMS.iter().copied().find(|k| k.strip_suffix("__n") == Some(*found))?
    })
}

/// Every name with `__n`, spelled out once (filters are `&'static str` pairs end to end).
static NOT_FORMS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    COMMON.iter().chain(DEVICE).chain(VM).map(|k| &*Box::leak(format!("{k}__n").into_boxed_str())).collect()
});

/// The setting that holds the scope filter of `kind`.
pub fn setting_of(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Device => "device_filter",
        ObjectKind::VirtualMachine => "vm_filter",
    }
}

/// Why an object NetBox has loses its host when its kind's scope filter leaves it out.
pub fn outside_reason(kind: ObjectKind) -> String {
    format!("outside the scope filter ({})", setting_of(kind))
}

/// The filter `text` (NetBox's query form, `name=value&...`; empty: none) for `kind`, as list
/// filter pairs; an error names a filter NetBox does not have for the kind, or a pair without a value.
pub fn parse(kind: ObjectKind, text: &str) -> Result<Vec<(&'static str, String)>, String> {
    let text = text.trim().trim_start_matches('?');
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut pairs = Vec::new();
    for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
        let name = name.trim();
        let Some(known) = known(kind, name) else {
            let mut names: Vec<&str> = COMMON.to_vec();
            names.extend(match kind {
                ObjectKind::Device => DEVICE,
                ObjectKind::VirtualMachine => VM,
            });
            return Err(format!(
                "{name:?} is not a NetBox filter of {kind} this product accepts (NetBox would ignore it and \
                 widen the scope); use one of: {} (each also as <name>__n)",
                names.join(", ")
            ));
        };
        if value.trim().is_empty() {
            return Err(format!("the filter {name:?} has no value (write {name}=<value>)"));
        }
        pairs.push((known, value.trim().to_string()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_in_netbox_query_form_becomes_list_filter_pairs() {
        let pairs = parse(ObjectKind::Device, "site=dc1&tenant=acme&region__n=eu%20west").unwrap();
        assert_eq!(
            pairs,
            vec![("site", "dc1".to_string()), ("tenant", "acme".to_string()), ("region__n", "eu west".to_string())]
        );
        assert_eq!(parse(ObjectKind::VirtualMachine, "?cluster=c1").unwrap(), vec![("cluster", "c1".to_string())]);
        assert!(parse(ObjectKind::Device, "  ").unwrap().is_empty());
    }

    #[test]
    fn a_misspelt_or_foreign_or_empty_filter_is_refused_with_its_name() {
        let e = parse(ObjectKind::Device, "stie=dc1").unwrap_err();
        assert!(e.contains("\"stie\"") && e.contains("site_group"), "{e}");
        // A device filter that VMs do not have, and the other way round.
        assert!(parse(ObjectKind::VirtualMachine, "rack_id=3").unwrap_err().contains("rack_id"));
        assert!(parse(ObjectKind::Device, "cluster_type=x").is_err());
        assert!(parse(ObjectKind::Device, "site=").unwrap_err().contains("no value"));
        assert!(parse(ObjectKind::Device, "site").unwrap_err().contains("no value"));
    }
}

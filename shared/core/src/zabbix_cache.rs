//! The store's cache of Zabbix settings (templates, proxies, proxy groups, host groups), what an
//! import changes in it, and the breaker that stops a mass disappearance (docs/product.md §4). Removing an
//! object from the cache never touches a host.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

named_enum!(
    /// The kinds of Zabbix objects the import keeps; the names are the keys of its result.
    CacheKind {
        Templates => "templates",
        Proxies => "proxies",
        ProxyGroups => "proxy_groups",
        HostGroups => "host_groups",
    }
);

/// One Zabbix object as cached: its id, its name, and what else the product needs of it
/// (a template's parents, a proxy's mode or group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedObject {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Value>,
}

/// Every cached object of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheSnapshot {
    pub kind: CacheKind,
    pub objects: Vec<CachedObject>,
    pub updated: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version; 0 means never stored.
    #[serde(default)]
    pub version: u64,
}

impl CacheSnapshot {
    pub fn empty(kind: CacheKind) -> Self {
        CacheSnapshot { kind, objects: Vec::new(), updated: None, version: 0 }
    }
}

/// What an import changes in one kind, counted as the plugin reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindChanges {
    pub added: usize,
    pub updated: usize,
    pub deleted: usize,
    #[serde(skip)]
    pub deleted_names: Vec<String>,
}

/// Compares the cached objects with what Zabbix has now, by id.
pub fn changes(cached: &[CachedObject], current: &[CachedObject]) -> KindChanges {
    let before: HashMap<&str, &CachedObject> = cached.iter().map(|o| (o.id.as_str(), o)).collect();
    let now: HashMap<&str, &CachedObject> = current.iter().map(|o| (o.id.as_str(), o)).collect();
    let mut result = KindChanges::default();
    for object in current {
        match before.get(object.id.as_str()) {
            None => result.added += 1,
            Some(old) if *old != object => result.updated += 1,
            Some(_) => {}
        }
    }
    for object in cached {
        if !now.contains_key(object.id.as_str()) {
            result.deleted += 1;
            result.deleted_names.push(object.name.clone());
        }
    }
    result
}

/// The max-deletions breaker: an import that would drop more cached objects than allowed
/// (Zabbix answered with a fraction of what it had, a permission was lost...) changes nothing.
pub fn check_deletions(changes: &[(CacheKind, KindChanges)], max_deletions: usize) -> Result<(), String> {
    let total: usize = changes.iter().map(|(_, c)| c.deleted).sum();
    if total <= max_deletions {
        return Ok(());
    }
    let detail: Vec<String> = changes
        .iter()
        .filter(|(_, c)| c.deleted > 0)
        .map(|(kind, c)| {
            let mut names = c.deleted_names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if c.deleted > 5 {
                names += ", ...";
            }
            format!("{kind}: {} ({names})", c.deleted)
        })
        .collect();
    Err(format!(
        "refusing to import: it would remove {total} cached objects, more than the maximum of {max_deletions} \
         deletions; nothing was changed. Would remove {}",
        detail.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(id: &str, name: &str) -> CachedObject {
        CachedObject { id: id.into(), name: name.into(), attributes: BTreeMap::new() }
    }

    #[test]
    fn changes_count_added_updated_and_deleted_by_id() {
        let cached = vec![obj("1", "Linux"), obj("2", "Windows"), obj("3", "Old")];
        let mut renamed = obj("2", "Windows by agent");
        renamed.attributes.insert("parents".into(), json!(["1"]));
        let current = vec![obj("1", "Linux"), renamed, obj("4", "New")];
        let c = changes(&cached, &current);
        assert_eq!((c.added, c.updated, c.deleted), (1, 1, 1));
        assert_eq!(c.deleted_names, vec!["Old".to_string()]);
        assert_eq!(serde_json::to_value(&c).unwrap(), json!({"added": 1, "updated": 1, "deleted": 1}));
    }

    #[test]
    fn the_breaker_trips_only_above_the_maximum_and_names_what_would_go() {
        let cached: Vec<_> = (0..10).map(|i| obj(&i.to_string(), &format!("group {i}"))).collect();
        let c = changes(&cached, &[]);
        let all = [(CacheKind::HostGroups, c)];
        assert!(check_deletions(&all, 10).is_ok());
        let err = check_deletions(&all, 9).unwrap_err();
        assert!(err.contains("remove 10 cached objects"), "{err}");
        assert!(err.contains("host_groups: 10 (group 0"), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
    }
}

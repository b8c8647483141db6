//! Host group ids for desired hosts: from the groups hosts already have, then the imported cache,
//! creating the missing ones in one call; groups created are added to the cache. A nested group
//! (`Europe/NL/AMS1`) is created with its parents (`Europe`, `Europe/NL`) in that same call, so
//! Zabbix's "apply to subgroups" permissions reach it (docs/product.md §3.3).

use super::HostConverger;
use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot, CachedObject};
use nzj_store::Write;
use nzj_zabbix::{ZabbixError, is_already_exists};
use std::collections::{BTreeMap, BTreeSet};

/// `name` and its parents, shortest first: `A/B/C` -> `A`, `A/B`, `A/B/C`. Empty parts (`A//B`,
/// `/A`) are not groups of their own.
fn with_parents(name: &str) -> impl Iterator<Item = String> + '_ {
    name.match_indices('/')
        .map(|(i, _)| &name[..i])
        .filter(|p| !p.is_empty() && !p.ends_with('/'))
        .chain(std::iter::once(name))
        .map(str::to_string)
}

/// The ids of `names` in `groups` (names missing from it are left out).
pub(super) fn ids_of(names: &BTreeSet<String>, groups: &BTreeMap<String, String>) -> Vec<String> {
    names.iter().filter_map(|n| groups.get(n).cloned()).collect()
}

impl HostConverger {
    /// Ids of the named host groups, by name: from groups hosts already have (`known`, as
    /// (name, id)) and the imported cache, creating the missing ones in one call. When every
    /// group is known, no call is made.
    pub(super) async fn group_map(
        &self,
        names: &BTreeSet<String>,
        known: impl IntoIterator<Item = (String, String)>,
    ) -> Result<BTreeMap<String, String>, ZabbixError> {
        let cached: CacheSnapshot = self
            .store
            .get_cache(CacheKind::HostGroups)
            .await
            .unwrap_or_else(|_| CacheSnapshot::empty(CacheKind::HostGroups));
        let mut ids: BTreeMap<String, String> = cached.objects.iter().map(|o| (o.name.clone(), o.id.clone())).collect();
        ids.extend(known);
        let wanted: BTreeSet<String> = names.iter().flat_map(|n| with_parents(n)).collect();
        ids.retain(|name, _| wanted.contains(name));
        let mut missing: Vec<String> = wanted.iter().filter(|n| !ids.contains_key(*n)).cloned().collect();
        if missing.is_empty() {
            ids.retain(|name, _| names.contains(name));
            return Ok(ids);
        }
        let before = ids.len();
        // Another job may create some of them at the same moment (a shared parent such as
        // `NetBox` most of all), and Zabbix refuses the whole call then: take the ones that exist
        // now, and create the rest again.
        for attempt in 0.. {
            match self.zabbix.create_host_groups(&missing).await {
                Ok(created) => {
                    ids.extend(missing.iter().cloned().zip(created));
                    break;
                }
                Err(e) if (is_already_exists(&e) || e.is_transient()) && attempt < 3 => {
                    let found = self.zabbix.host_groups_named(&missing).await?;
                    ids.extend(found.into_iter().map(|(id, name)| (name, id)));
                    missing.retain(|name| !ids.contains_key(name));
                    if missing.is_empty() {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if ids.len() > before {
            self.learn_groups(cached, &ids).await;
        }
        ids.retain(|name, _| names.contains(name));
        Ok(ids)
    }

    /// Adds host groups just created to the cache, so the next page or job finds them without a
    /// call. Best effort: if the cache changed meanwhile, the next import brings them anyway.
    async fn learn_groups(&self, mut cached: CacheSnapshot, groups: &BTreeMap<String, String>) {
        let known: BTreeSet<String> = cached.objects.iter().map(|o| o.id.clone()).collect();
        cached.objects.extend(groups.iter().filter(|(_, id)| !known.contains(*id)).map(|(name, id)| CachedObject {
            id: id.clone(),
            name: name.clone(),
            attributes: Default::default(),
        }));
        if let Err(e) = self.store.commit(vec![Write::cache(cached)]).await {
            tracing::debug!(error = %e, "host groups not added to the cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_parents;

    #[test]
    fn a_nested_group_comes_with_its_parents() {
        assert_eq!(with_parents("Europe/NL/AMS1").collect::<Vec<_>>(), ["Europe", "Europe/NL", "Europe/NL/AMS1"]);
        assert_eq!(with_parents("Linux servers").collect::<Vec<_>>(), ["Linux servers"]);
        assert_eq!(with_parents("/A//B").collect::<Vec<_>>(), ["/A", "/A//B"]);
    }
}

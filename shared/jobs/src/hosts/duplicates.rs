//! One host per object, repaired: every read of managed hosts goes through here, and an object
//! found with more than one host (an overlapping create, an older bug, a human's copy) keeps its
//! oldest host (the lowest host id, which holds the longest history) while the others are
//! soft-deleted, whatever the delete policy: a duplicate's history is kept in the graveyard, never
//! destroyed. Each repair is said in the job log and counted in the `DuplicateHostsRemoved`
//! metric.

use super::HostConverger;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_zabbix::{ZabbixError, ZabbixHost};
use std::collections::BTreeMap;

/// What a read of managed hosts repaired, for the log of the job that reads `object` (`None`: a
/// repair that could not start, which concerns every object read).
#[derive(Debug, Clone)]
pub struct RepairNote {
    pub object: Option<ObjectRef>,
    pub text: String,
}

impl RepairNote {
    /// Whether the note belongs in the log of the job of `object`.
    pub fn concerns(&self, object: ObjectRef) -> bool {
        self.object.is_none_or(|o| o == object)
    }
}

/// What one read found for some objects: each one's managed host, and for those without one, its
/// host in the graveyard (soft-deleted, to restore rather than create anew).
#[derive(Debug, Clone, Default)]
pub struct FoundHosts {
    pub managed: BTreeMap<ObjectRef, ZabbixHost>,
    pub graveyard: BTreeMap<ObjectRef, ZabbixHost>,
}

impl HostConverger {
    /// The managed and graveyard hosts of `objects` in the same `host.get` per `page` objects (both
    /// tags asked for at once), with duplicates repaired as [`HostConverger::find_managed`] does.
    pub async fn find_hosts(
        &self,
        settings: &Settings,
        objects: &[ObjectRef],
        page: usize,
        notes: &mut Vec<RepairNote>,
    ) -> Result<FoundHosts, ZabbixError> {
        let (object_tag, deleted_tag) = (settings.tag_name("object"), settings.tag_name("deleted"));
        let mut found = self.zabbix.find_tagged(&[&object_tag, &deleted_tag], objects, page).await?;
        let mut graveyard = found.pop().map(|g| g.hosts).unwrap_or_default();
        let managed = found.pop().unwrap_or_default();
        if !managed.duplicates.is_empty() {
            self.remove_duplicates(settings, &managed.hosts, &managed.duplicates, page, notes).await;
        }
        graveyard.retain(|object, _| !managed.hosts.contains_key(object));
        Ok(FoundHosts { managed: managed.hosts, graveyard })
    }

    /// The managed host of each of `objects` (by its exact managed tag, `page` objects per
    /// `host.get`), with duplicates repaired; what was repaired is pushed to `notes` for the log.
    pub async fn find_managed(
        &self,
        settings: &Settings,
        objects: &[ObjectRef],
        page: usize,
        notes: &mut Vec<RepairNote>,
    ) -> Result<BTreeMap<ObjectRef, ZabbixHost>, ZabbixError> {
        let managed = self.zabbix.find_managed(&settings.tag_name("object"), objects, page).await?;
        if !managed.duplicates.is_empty() {
            self.remove_duplicates(settings, &managed.hosts, &managed.duplicates, page, notes).await;
        }
        Ok(managed.hosts)
    }

    /// Soft-deletes the duplicates. A repair that fails is said and left for the next read: the
    /// object's own host is known either way, so the job goes on.
    async fn remove_duplicates(
        &self,
        settings: &Settings,
        kept: &BTreeMap<ObjectRef, ZabbixHost>,
        duplicates: &[(ObjectRef, ZabbixHost)],
        batch: usize,
        notes: &mut Vec<RepairNote>,
    ) {
        let targets: Vec<(ObjectRef, &ZabbixHost)> = duplicates.iter().map(|(o, h)| (*o, h)).collect();
        let deletes = match self.soft_deletes(settings, &targets, chrono::Utc::now()).await {
            Ok(deletes) => deletes,
            Err(e) => {
                let text = format!("{} duplicate host(s) found, not removed yet: {e}", duplicates.len());
                notes.push(RepairNote { object: None, text });
                return;
            }
        };
        let answers = self.zabbix.soft_delete_hosts(&deletes, batch).await;
        let mut removed = 0;
        for (delete, answer) in deletes.iter().zip(answers) {
            let keeper = kept.get(&delete.object).map_or("?", |h| h.hostid.as_str());
            let host = delete.host;
            match answer {
                Ok(_) => {
                    removed += 1;
                    tracing::warn!(object = %delete.object, kept = keeper, removed = %host.hostid, "duplicate host soft-deleted");
                    let text = format!(
                        "duplicate host {} ({:?}) of {} soft-deleted as {:?}; kept the oldest, host {keeper}",
                        host.hostid, host.host, delete.object, delete.renamed_to
                    );
                    notes.push(RepairNote { object: Some(delete.object), text });
                }
                Err(e) => notes.push(RepairNote {
                    object: Some(delete.object),
                    text: format!(
                        "duplicate host {} of {} (kept: host {keeper}) could not be soft-deleted: {e}",
                        host.hostid, delete.object
                    ),
                }),
            }
        }
        nzj_runtime::metrics::duplicate_hosts_removed(removed);
    }
}

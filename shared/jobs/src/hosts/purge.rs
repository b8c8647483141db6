//! Purging the graveyard (off by default; `graveyard_purge_days`): soft-deleted hosts whose
//! `<prefix>deleted_at` tag is older than the setting are hard-deleted by MaintenanceCleanup,
//! as far as the deletion window has room (the rest wait for a later run), never while an active
//! maintenance window covers them. A graveyard host without that tag (soft-deleted by an earlier
//! version) has no known age and is left alone.

use super::{HostConverger, HostOutcome};
use chrono::{DateTime, Utc};
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::{DeletePolicy, Settings};
use nzj_runtime::JobFailure;
use nzj_zabbix::ZabbixHost;

/// What a purge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// Graveyard hosts old enough to purge.
    pub due: usize,
    pub deleted: usize,
    /// Due, but the deletion window had no room: purged by a later run.
    pub waiting: usize,
    pub failed: Vec<String>,
}

impl HostConverger {
    /// Hard-deletes graveyard hosts soft-deleted more than `days` ago.
    pub async fn purge_graveyard(
        &self,
        settings: &Settings,
        days: u64,
        now: DateTime<Utc>,
    ) -> Result<Purged, JobFailure> {
        let deleted_tag = settings.tag_name("deleted");
        let deleted_at = settings.tag_name("deleted_at");
        let graveyard = self.zabbix.hosts_with_tag(&deleted_tag).await.map_err(crate::zabbix_failure)?;
        let cutoff = now - chrono::Duration::days(days as i64);
        let due: Vec<(ObjectRef, &ZabbixHost)> = graveyard
            .iter()
            .filter(|h| {
                h.tag(&deleted_at)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t.with_timezone(&Utc) < cutoff)
            })
            .filter_map(|h| Some((h.tag(&deleted_tag)?.parse::<ObjectRef>().ok()?, h)))
            .collect();
        let admitted = self.admit_deletions(settings, due.len(), now).await.map_err(crate::store_failure)?;
        let hard = Settings { delete_policy: DeletePolicy::Hard, ..settings.clone() };
        let outcomes: Vec<Result<HostOutcome, JobFailure>> =
            self.delete_many(&hard, &due[..admitted], now, settings.batch_size).await;
        let mut purged = Purged { due: due.len(), waiting: due.len() - admitted, ..Purged::default() };
        for ((_, host), outcome) in due.iter().zip(outcomes) {
            match outcome {
                Ok(_) => purged.deleted += 1,
                Err(e) => purged.failed.push(format!("{} ({}): {e}", host.host, host.hostid)),
            }
        }
        if purged.waiting > 0 {
            nzj_runtime::metrics::deletions_held(purged.waiting as u64);
        }
        Ok(purged)
    }
}

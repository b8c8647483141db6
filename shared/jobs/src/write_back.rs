//! The write-back into NetBox (docs/product.md §3.4), shared by host jobs, SyncHostsNow and
//! HostConfigSyncRefresh: each object's Zabbix host id and sync state into its custom fields,
//! only where they differ from what NetBox shows (one request for all of a kind: NetBox's bulk
//! PATCH), the kept NetBox object updated on success. NetBox failing never fails the Zabbix side:
//! the caller logs a warning, and the next job or check writes again (nothing was marked written).

use crate::hosts::{HostAction, HostOutcome};
use nzj_core::JobId;
use nzj_core::host_config::HostConfig;
use nzj_core::netbox::ObjectKind;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_core::write_back::{JournalEvent, SyncState};
use nzj_netbox::{FieldWrite, NetboxError, NetboxSource};
use nzj_runtime::JobFailure;

/// NetBox's bulk PATCH takes a list; a sync page holds at most this many objects anyway.
const PER_REQUEST: usize = 1000;

/// Writes the states of `configs` (each with its state) where NetBox shows something else; returns
/// how many objects were written, or why NetBox refused. Objects NetBox no longer has (no kept
/// NetBox object) are not written.
pub async fn write_back(
    netbox: Option<&dyn NetboxSource>,
    settings: &Settings,
    configs: &mut [(&mut HostConfig, SyncState)],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, String> {
    // The API and the CLI show the same state NetBox does, written or not.
    for (config, state) in configs.iter_mut() {
        config.sync_state = Some(state.text());
    }
    let Some(netbox) = netbox.filter(|_| settings.write_back.enabled) else { return Ok(0) };
    let mut written = 0;
    for kind in ObjectKind::ALL {
        let mut changes: Vec<(usize, FieldWrite)> = Vec::new();
        for (i, (config, state)) in configs.iter().enumerate() {
            let Some(object) = config.netbox.as_ref().filter(|o| o.reference.kind == *kind) else { continue };
            if let Some(fields) =
                settings.write_back.changes(&object.custom_fields, config.hostid.as_deref(), state, now)
            {
                let last_updated = object.last_updated.clone();
                changes.push((i, FieldWrite { id: object.reference.id, fields, last_updated }));
            }
        }
        for chunk in changes.chunks(PER_REQUEST) {
            let updates: Vec<FieldWrite> = chunk.iter().map(|(_, w)| w.clone()).collect();
            match netbox.write_custom_fields(*kind, &updates).await {
                Ok(()) => {}
                // Someone changed the object since the job read it: writing would undo their
                // change. Their change's own webhook brings the job that writes the state.
                Err(NetboxError::Changed { .. }) => {
                    tracing::info!(kind = %kind, id = updates[0].id, "write-back skipped: the object changed in NetBox since it was read");
                    continue;
                }
                Err(e) => return Err(format!("NetBox write-back: {e}")),
            }
            for (i, FieldWrite { fields, .. }) in chunk {
                if let Some(object) = configs[*i].0.netbox.as_mut() {
                    object
                        .custom_fields
                        .extend(fields.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())));
                    object.custom_fields.retain(|k, _| fields.get(k).is_none_or(|v| !v.is_null()));
                }
            }
            written += chunk.len();
        }
    }
    Ok(written)
}

/// The journal event of a host job's or a sync step's outcome, with its detail (the failure).
pub fn event_of(outcome: &Result<HostOutcome, JobFailure>) -> Option<(JournalEvent, String)> {
    let done = match outcome {
        Err(failure) => return Some((JournalEvent::Failed, failure.to_string())),
        Ok(done) => done,
    };
    let event = match &done.action {
        HostAction::Created | HostAction::Adopted => JournalEvent::Created,
        HostAction::Restored => JournalEvent::Restored,
        HostAction::SoftDeleted { .. } | HostAction::HardDeleted => JournalEvent::Deleted,
        HostAction::Disabled { .. } => JournalEvent::Disabled,
        HostAction::Updated if done.difference.iter().any(|d| d.field == "status" && d.desired == "disabled") => {
            JournalEvent::Disabled
        }
        _ => return None,
    };
    Some((event, String::new()))
}

/// Adds a NetBox journal entry per event (with `write_back.journal`), at most one per object and
/// kind in `journal_every_minutes` (kept in the host configs), in one request; how many.
pub async fn journal(
    netbox: Option<&dyn NetboxSource>,
    settings: &Settings,
    events: &mut [(&mut HostConfig, Option<(JournalEvent, String)>)],
    job: &JobId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, String> {
    let Some(netbox) = netbox.filter(|_| settings.write_back.enabled && settings.write_back.journal) else {
        return Ok(0);
    };
    let every = chrono::Duration::minutes(settings.write_back.journal_every_minutes as i64);
    let mut entries: Vec<(ObjectRef, &str, String)> = Vec::new();
    for (config, event) in events.iter_mut() {
        let (Some((event, detail)), Some(object)) = (event.as_ref(), config.netbox.as_ref().map(|o| o.reference))
        else {
            continue;
        };
        if !event.due(config, every, now) {
            continue;
        }
        let host = config.host.clone().or_else(|| config.hostid.clone()).unwrap_or_else(|| "-".into());
        let mut text = format!("netbox-zabbix-jobs: Zabbix host {host} {} (job {job})", event.name());
        if !detail.is_empty() {
            text.push_str(": ");
            text.extend(detail.chars().take(500));
        }
        entries.push((object, event.kind(), text));
    }
    netbox.add_journal_entries(&entries).await.map_err(|e| format!("NetBox journal: {e}"))?;
    Ok(entries.len())
}

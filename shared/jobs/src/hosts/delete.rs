//! Deleting managed hosts per the delete policy (see `docs/guarantees.md`): hard with
//! `host.delete`, or soft by renaming, moving to the graveyard group and disabling. A host in an
//! active maintenance window is not deleted; a host already gone is success.

use super::{HostAction, HostConverger, HostOutcome};
use crate::zabbix_failure;
use chrono::{DateTime, Utc};
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::{DeletePolicy, Settings};
use nzj_runtime::JobFailure;
use nzj_zabbix::{MaintenanceWindow, SoftDelete, ZabbixError, ZabbixHost, is_gone};
use std::collections::BTreeSet;

/// Graveyard names tried per host: `<host><suffix>`, then `-1` to `-20` after it.
const GRAVEYARD_NAMES: usize = 21;

impl HostConverger {
    /// Deletes managed hosts per the delete policy, `batch` per call; one result per host.
    pub async fn delete_many(
        &self,
        settings: &Settings,
        hosts: &[(ObjectRef, &ZabbixHost)],
        now: DateTime<Utc>,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        if hosts.is_empty() {
            return Vec::new();
        }
        let fail_all = |e: ZabbixError| hosts.iter().map(|_| Err(zabbix_failure(e.clone()))).collect();
        let windows = match self.zabbix.maintenance_windows().await {
            Ok(windows) => windows,
            Err(e) => return fail_all(e),
        };
        let blocked: Vec<Option<String>> = hosts.iter().map(|(_, host)| active_window(&windows, host, now)).collect();
        // Only the hosts no window holds go on; the others fail with the window's name.
        let free: Vec<(ObjectRef, &ZabbixHost)> =
            hosts.iter().zip(&blocked).filter(|(_, b)| b.is_none()).map(|(h, _)| *h).collect();
        let mut answers: std::vec::IntoIter<Result<HostOutcome, ZabbixError>> = match settings.delete_policy {
            DeletePolicy::Hard => {
                let ids: Vec<String> = free.iter().map(|(_, h)| h.hostid.clone()).collect();
                let answers = self.zabbix.delete_hosts(&ids, batch).await;
                free.iter()
                    .zip(answers)
                    .map(|((_, host), answer)| match answer {
                        Err(e) if !is_gone(&e) => Err(e),
                        // Deleted, or deleted meanwhile by someone else: the goal is reached.
                        _ => Ok(HostOutcome::new(HostAction::HardDeleted, Some(host.hostid.clone())).before(host)),
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
            }
            DeletePolicy::Soft => match self.soft_deletes(settings, &free, now).await {
                Ok(deletes) => {
                    let answers = self.zabbix.soft_delete_hosts(&deletes, batch).await;
                    deletes
                        .iter()
                        .zip(answers)
                        .map(|(d, answer)| {
                            answer.map(|written| {
                                let action = HostAction::SoftDeleted { renamed_to: d.renamed_to.clone() };
                                HostOutcome::new(action, Some(d.host.hostid.clone())).before(d.host).sent(written.sent)
                            })
                        })
                        .collect::<Vec<_>>()
                        .into_iter()
                }
                Err(e) => return fail_all(e),
            },
        };
        hosts
            .iter()
            .zip(blocked)
            .map(|((_, host), window)| match window {
                Some(window) => Err(JobFailure::permanent(format!(
                    "host {:?} is in the active maintenance window {window:?}; it is not deleted",
                    host.host
                ))),
                None => answers.next().expect("one answer per free host").map_err(zabbix_failure),
            })
            .collect()
    }

    /// The soft deletion of each host, renamed to the first free graveyard name (one `host.get`
    /// for all of them).
    pub(super) async fn soft_deletes<'a>(
        &self,
        settings: &Settings,
        hosts: &[(ObjectRef, &'a ZabbixHost)],
        now: DateTime<Utc>,
    ) -> Result<Vec<SoftDelete<'a>>, ZabbixError> {
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let candidates = |host: &ZabbixHost| -> Vec<String> {
            let base = format!("{}{}", host.host, settings.graveyard_suffix);
            std::iter::once(base.clone()).chain((1..GRAVEYARD_NAMES).map(|n| format!("{base}-{n}"))).collect()
        };
        let all: Vec<String> = hosts.iter().flat_map(|(_, h)| candidates(h)).collect();
        let mut taken = self.zabbix.host_names_taken(&all).await?;
        let graveyard = self.group_map(&BTreeSet::from([settings.graveyard_group.clone()]), []).await?;
        let mut out = Vec::new();
        for (object, host) in hosts {
            let Some(renamed_to) = candidates(host).into_iter().find(|c| !taken.contains(c)) else {
                return Err(ZabbixError::Protocol {
                    method: "host.update".into(),
                    message: format!("no free graveyard name for {:?} (tried {GRAVEYARD_NAMES})", host.host),
                });
            };
            taken.insert(renamed_to.clone());
            out.push(SoftDelete {
                host,
                object: *object,
                renamed_to,
                graveyard_group_ids: graveyard.values().cloned().collect(),
                // The managed tag goes (the host is no longer the object's); the deleted tag lets
                // the object, when wanted again, restore this host with its history (restore.rs).
                object_tag: settings.tag_name("object"),
                deleted_tag: settings.tag_name("deleted"),
                deleted_at: (settings.tag_name("deleted_at"), now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            });
        }
        Ok(out)
    }
}

/// The name of the active maintenance window that covers the host, if any.
fn active_window(windows: &[MaintenanceWindow], host: &ZabbixHost, now: DateTime<Utc>) -> Option<String> {
    let stamp = now.timestamp();
    windows.iter().find(|w| w.is_active(stamp) && w.covers(host)).map(|w| w.name.clone())
}

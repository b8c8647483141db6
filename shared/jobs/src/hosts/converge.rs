//! The convergence policy for hosts that should exist: read the object's managed host, then
//! create it, update what differs, or leave it; a host of the same name without the managed tag
//! is adopted (when adoption is on) or reported. Writes go in arrays of `batch_size`, split on
//! refusal by the Zabbix client, so one bad host does not fail its neighbours.

use super::groups::ids_of;
use super::{HostAction, HostOutcome};
use crate::zabbix_failure;
use chrono::{DateTime, Utc};
use nzj_core::desired::{Desired, DesiredHost, Difference, differences};
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_runtime::JobFailure;
use nzj_store::JobStore;
use nzj_zabbix::{HostWrite, ZabbixClient, ZabbixHost, is_already_exists};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Converges Zabbix hosts to their desired state; shared by host jobs and SyncHostsNow.
pub struct HostConverger {
    pub(crate) zabbix: Arc<ZabbixClient>,
    pub(crate) store: Arc<dyn JobStore>,
}

/// An existing host to bring to its desired state.
pub struct HostUpdate<'a> {
    pub desired: &'a DesiredHost,
    /// The host as `host.get` returned it.
    pub existing: &'a ZabbixHost,
    pub difference: Vec<Difference>,
}

impl HostConverger {
    pub fn new(zabbix: Arc<ZabbixClient>, store: Arc<dyn JobStore>) -> HostConverger {
        HostConverger { zabbix, store }
    }

    pub fn zabbix(&self) -> &Arc<ZabbixClient> {
        &self.zabbix
    }

    /// Brings the Zabbix host of `object` to `desired`. `Desired::OutOfScope` (or a NetBox
    /// deletion) deletes the host per the delete policy, if the deletion breaker has room (else
    /// the deletion is held; `released`: an operator released it, it runs uncounted); a host
    /// already gone is success.
    pub async fn converge(
        &self,
        object: ObjectRef,
        desired: &Desired,
        settings: &Settings,
        now: DateTime<Utc>,
        released: bool,
    ) -> Result<HostOutcome, JobFailure> {
        let mut notes = Vec::new();
        let existing =
            self.find_managed(settings, &[object], 1, &mut notes).await.map_err(zabbix_failure)?.remove(&object);
        let mut outcomes = match (desired, existing) {
            (Desired::Host(desired), None) => self.create_many(settings, &[desired], 1).await,
            (Desired::Host(desired), Some(existing)) => {
                let difference = differences(desired, &existing.actual(&settings.tag_prefix));
                if difference.is_empty() {
                    return Ok(HostOutcome::unchanged(&existing).noting(notes));
                }
                self.update_many(settings, &[HostUpdate { desired, existing: &existing, difference }], 1).await
            }
            (Desired::OutOfScope(_), Some(existing)) => {
                if !released && self.admit_deletions(settings, 1, now).await.map_err(crate::store_failure)? == 0 {
                    let held = HostAction::Held { reason: HostConverger::held_reason(settings) };
                    nzj_runtime::metrics::deletions_held(1);
                    return Ok(HostOutcome::new(held, Some(existing.hostid.clone())).before(&existing).noting(notes));
                }
                self.delete_many(settings, &[(object, &existing)], now, 1).await
            }
            (Desired::OutOfScope(_), None) => vec![Ok(HostOutcome::new(HostAction::AlreadyGone, None))],
            (Desired::Keep { reason, disable }, existing) => {
                self.keep_many(&[(existing.as_ref(), reason.as_str(), *disable)], 1).await
            }
        };
        outcomes.pop().expect("one outcome per host").map(|outcome| outcome.noting(notes))
    }

    /// Gives each object its host: a graveyard host of the object is restored (one `host.get`
    /// finds them all), the others are created, `batch` per call. A host Zabbix refuses because a
    /// host of that name exists without the managed tag is adopted (when adoption is on) or
    /// reported. One result per host, in order.
    pub async fn create_many(
        &self,
        settings: &Settings,
        hosts: &[&DesiredHost],
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let fail_all = |e: nzj_zabbix::ZabbixError| hosts.iter().map(|_| Err(zabbix_failure(e.clone()))).collect();
        let objects: Vec<ObjectRef> = hosts.iter().map(|d| d.object).collect();
        let graveyard = match self.find_graveyard(settings, &objects).await {
            Ok(graveyard) => graveyard,
            Err(e) => return fail_all(e),
        };
        let names: BTreeSet<String> = hosts.iter().flat_map(|d| d.host_groups.iter().cloned()).collect();
        let groups = match self.group_map(&names, []).await {
            Ok(groups) => groups,
            Err(e) => return fail_all(e),
        };
        let (restores, creates): (Vec<&DesiredHost>, Vec<&DesiredHost>) =
            hosts.iter().partition(|d| graveyard.contains_key(&d.object));
        let restores: Vec<(&DesiredHost, &ZabbixHost)> = restores.iter().map(|d| (*d, &graveyard[&d.object])).collect();
        let mut restored: BTreeMap<ObjectRef, Result<HostOutcome, JobFailure>> = restores
            .iter()
            .map(|(d, _)| d.object)
            .zip(self.restore_many(settings, &restores, &groups, batch).await)
            .collect();
        let mut created = self.create_new(settings, &creates, &groups, batch).await.into_iter();
        hosts
            .iter()
            .map(|d| match restored.remove(&d.object) {
                Some(outcome) => outcome,
                None => created.next().expect("one answer per created host"),
            })
            .collect()
    }

    async fn create_new(
        &self,
        settings: &Settings,
        hosts: &[&DesiredHost],
        groups: &BTreeMap<String, String>,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        if hosts.is_empty() {
            return Vec::new();
        }
        let writes: Vec<HostWrite> =
            hosts.iter().map(|d| HostWrite::create(d, ids_of(&d.host_groups, groups))).collect();
        let answers =
            self.zabbix.create_hosts(&writes, &settings.tag_prefix, &settings.tag_name("object"), batch).await;
        let mut outcomes = Vec::with_capacity(hosts.len());
        for (desired, answer) in hosts.iter().zip(answers) {
            outcomes.push(match answer {
                Ok(written) => Ok(HostOutcome::new(HostAction::Created, Some(written.hostid)).sent(written.sent)),
                // A host with this name exists but is not ours (no managed tag): brownfield.
                Err(e) if is_already_exists(&e) => self.adopt(settings, desired, groups).await,
                Err(e) => Err(zabbix_failure(e)),
            });
        }
        outcomes
    }

    async fn adopt(
        &self,
        settings: &Settings,
        desired: &DesiredHost,
        groups: &BTreeMap<String, String>,
    ) -> Result<HostOutcome, JobFailure> {
        let existing = self
            .zabbix
            .host_by_name(&desired.host)
            .await
            .map_err(zabbix_failure)?
            .ok_or_else(|| JobFailure::transient(format!("host {:?} vanished while adopting it", desired.host)))?;
        // Ours already: an earlier try created it (its answer was lost) or another job did.
        let tag = settings.tag_name("object");
        let ours = desired.object.to_string();
        match existing.tag(&tag) {
            Some(object) if object == ours => {
                return Ok(HostOutcome::new(HostAction::Created, Some(existing.hostid.clone())));
            }
            // Managed for another object: never taken over (two objects would flip it back and forth).
            Some(other) => {
                return Err(JobFailure::permanent(format!(
                    "a Zabbix host named {:?} is the host of {other} (its tag {tag}); {ours} cannot have it: rename one of the two in NetBox",
                    desired.host,
                )));
            }
            None => {}
        }
        if !settings.adoption {
            return Err(JobFailure::permanent(format!(
                "a Zabbix host named {:?} exists without the tag {tag}; turn adoption on to adopt it, or rename one of them",
                desired.host,
            )));
        }
        // Adopted as it is: its templates are added to, never cleared.
        let write = HostWrite {
            clear_other_templates: false,
            ..HostWrite::update(desired, ids_of(&desired.host_groups, groups), &existing)
        };
        let written = self.zabbix.update_host_once(&write, &settings.tag_prefix).await.map_err(zabbix_failure)?;
        Ok(HostOutcome::new(HostAction::Adopted, Some(existing.hostid.clone())).before(&existing).sent(written.sent))
    }

    /// Brings existing hosts to their desired state, `batch` per `host.update`; interface ids are
    /// kept, and templates no longer wanted are cleared.
    pub async fn update_many(
        &self,
        settings: &Settings,
        hosts: &[HostUpdate<'_>],
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let names: BTreeSet<String> = hosts.iter().flat_map(|u| u.desired.host_groups.iter().cloned()).collect();
        let known: Vec<(String, String)> =
            hosts.iter().flat_map(|u| u.existing.groups.iter().map(|(id, name)| (name.clone(), id.clone()))).collect();
        let groups = match self.group_map(&names, known).await {
            Ok(groups) => groups,
            Err(e) => return hosts.iter().map(|_| Err(zabbix_failure(e.clone()))).collect(),
        };
        let writes: Vec<HostWrite> = hosts
            .iter()
            .map(|u| HostWrite::update(u.desired, ids_of(&u.desired.host_groups, &groups), u.existing))
            .collect();
        let answers = self.zabbix.update_hosts(&writes, &settings.tag_prefix, batch).await;
        hosts
            .iter()
            .zip(answers)
            .map(|(u, answer)| {
                let written = answer.map_err(zabbix_failure)?;
                let mut outcome = HostOutcome::new(HostAction::Updated, Some(u.existing.hostid.clone()))
                    .before(u.existing)
                    .sent(written.sent);
                outcome.difference = u.difference.clone();
                Ok(outcome)
            })
            .collect()
    }
}

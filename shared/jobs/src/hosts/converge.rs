//! The convergence policy for hosts that should exist: read the object's managed host, then
//! create it, update what differs, or leave it; a host of the same name without the managed tag
//! is adopted (when adoption is on) or reported. Writes go in arrays of `batch_size`, split on
//! refusal by the Zabbix client, so one bad host does not fail its neighbours.

use super::FoundHosts;
use super::groups::ids_of;
use super::secrets::{HostSecrets, secrets_drift};
use super::{HostAction, HostOutcome};
use crate::zabbix_failure;
use chrono::{DateTime, Utc};
use nzj_core::credentials::SecretValues;
use nzj_core::desired::{Desired, DesiredHost, Difference, differences};
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_runtime::JobFailure;
use nzj_secrets::{NoSecrets, SecretStore};
use nzj_store::JobStore;
use nzj_zabbix::{HostWrite, ZabbixClient, ZabbixHost, is_already_exists};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Converges Zabbix hosts to their desired state; shared by host jobs and SyncHostsNow.
pub struct HostConverger {
    pub(crate) zabbix: Arc<ZabbixClient>,
    pub(crate) store: Arc<dyn JobStore>,
    /// Where the secrets NetBox names are looked up ([`nzj_secrets::NoSecrets`] unless set).
    pub(crate) secrets: Arc<dyn SecretStore>,
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
        HostConverger { zabbix, store, secrets: Arc::new(NoSecrets) }
    }

    /// The same converger, looking secrets up in `secrets`.
    pub fn with_secrets(self, secrets: Arc<dyn SecretStore>) -> HostConverger {
        HostConverger { secrets, ..self }
    }

    pub fn zabbix(&self) -> &Arc<ZabbixClient> {
        &self.zabbix
    }

    /// Brings the Zabbix host of `object` to `desired`. `Desired::OutOfScope` (or a NetBox
    /// deletion) deletes the host per the delete policy, if the deletion breaker has room (else
    /// the deletion is held; `released`: an operator released it, it runs uncounted); a host
    /// already gone is success. `written_secrets` is the hash of the secrets last written
    /// (the host config's): a change in the secret store is an update.
    pub async fn converge(
        &self,
        object: ObjectRef,
        desired: &Desired,
        settings: &Settings,
        now: DateTime<Utc>,
        released: bool,
        written_secrets: Option<&str>,
    ) -> Result<HostOutcome, JobFailure> {
        let mut notes = Vec::new();
        let found = self.find_hosts(settings, &[object], 1, &mut notes).await.map_err(zabbix_failure)?;
        let existing = found.managed.get(&object).cloned();
        let mut outcomes = match (desired, existing) {
            (Desired::Host(desired), _) => {
                let secrets = self.secrets_of(&[desired]).await?;
                self.converge_found(settings, &[(desired, written_secrets)], &found, &secrets, 1).await
            }
            (Desired::OutOfScope(_), Some(existing)) => {
                if !released && self.admit_deletions(settings, 1, now).await.map_err(crate::store_failure)? == 0 {
                    let held = HostAction::Held { reason: HostConverger::held_reason(settings) };
                    nzj_runtime::metrics::deletions_held(1);
                    let notes = notes.into_iter().map(|n| n.text).collect();
                    return Ok(HostOutcome::new(held, Some(existing.hostid.clone())).before(&existing).noting(notes));
                }
                self.delete_many(settings, &[(object, &existing)], now, 1).await
            }
            (Desired::OutOfScope(_), None) => vec![Ok(HostOutcome::new(HostAction::AlreadyGone, None))],
            (Desired::Keep { reason, disable }, existing) => {
                self.keep_many(&[(existing.as_ref(), reason.as_str(), *disable)], 1).await
            }
        };
        let notes = notes.into_iter().map(|n| n.text).collect();
        outcomes.pop().expect("one outcome per host").map(|outcome| outcome.noting(notes))
    }

    /// Brings hosts that should exist to their desired state together. `found` holds what
    /// [`HostConverger::find_hosts`] returned for them, `secrets` the values they name, and each host
    /// comes with the hash of the secrets last written to it (its host config's). A missing host
    /// is created (or restored), one that differs is updated, in arrays of `batch`; one result
    /// per host, in order. Host jobs of a round and each step of a sync converge through here.
    pub async fn converge_found(
        &self,
        settings: &Settings,
        hosts: &[(&DesiredHost, Option<&str>)],
        found: &FoundHosts,
        secrets: &HostSecrets,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let mut results: Vec<Option<Result<HostOutcome, JobFailure>>> = hosts.iter().map(|_| None).collect();
        let (mut creates, mut updates) = (Vec::new(), Vec::new());
        for (i, (desired, written)) in hosts.iter().enumerate() {
            let Some(existing) = found.managed.get(&desired.object) else {
                creates.push((i, *desired));
                continue;
            };
            let mut difference = differences(desired, &existing.actual(&settings.tag_prefix));
            match secrets.hash(desired) {
                Ok(hash) => difference.extend(secrets_drift(*written, hash.as_deref())),
                Err(failure) => {
                    results[i] = Some(Err(failure));
                    continue;
                }
            }
            if difference.is_empty() {
                results[i] = Some(Ok(HostOutcome::unchanged(existing)));
            } else {
                updates.push((i, HostUpdate { desired, existing, difference }));
            }
        }
        let (to_create, desired): (Vec<usize>, Vec<&DesiredHost>) = creates.into_iter().unzip();
        let created = self.create_among(settings, &desired, secrets, Some(&found.graveyard), batch).await;
        for (i, outcome) in to_create.into_iter().zip(created) {
            results[i] = Some(outcome);
        }
        let (to_update, updates): (Vec<usize>, Vec<HostUpdate>) = updates.into_iter().unzip();
        for (i, outcome) in to_update.into_iter().zip(self.update_many(settings, &updates, secrets, batch).await) {
            results[i] = Some(outcome);
        }
        results.into_iter().map(|r| r.expect("one result per host")).collect()
    }

    /// Gives each object its host: a graveyard host of the object is restored (one `host.get`
    /// finds them all), the others are created, `batch` per call. A host Zabbix refuses because a
    /// host of that name exists without the managed tag is adopted (when adoption is on) or
    /// reported. A host whose secret the secret store lacks fails alone. One result per host,
    /// in order.
    pub async fn create_many(
        &self,
        settings: &Settings,
        hosts: &[&DesiredHost],
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        match self.secrets_of(hosts).await {
            Ok(secrets) => self.create_among(settings, hosts, &secrets, None, batch).await,
            Err(failure) => hosts.iter().map(|_| Err(failure.clone())).collect(),
        }
    }

    /// As [`HostConverger::create_many`], with the secrets the hosts name looked up already (a
    /// caller that converges them looked them up once for all) and, where they were read with
    /// the managed hosts, the graveyard hosts of these objects (`None`: read them first).
    async fn create_among(
        &self,
        settings: &Settings,
        hosts: &[&DesiredHost],
        secrets: &HostSecrets,
        graveyard: Option<&BTreeMap<ObjectRef, ZabbixHost>>,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let values = secrets.values();
        Self::with_found_secrets(
            secrets,
            hosts,
            |d| d,
            |found| {
                let found: Vec<&DesiredHost> = found.into_iter().copied().collect();
                async move { self.create_found(settings, &found, graveyard, values, batch).await }
            },
        )
        .await
    }

    async fn create_found(
        &self,
        settings: &Settings,
        hosts: &[&DesiredHost],
        known_graveyard: Option<&BTreeMap<ObjectRef, ZabbixHost>>,
        secrets: &SecretValues,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let fail_all = |e: nzj_zabbix::ZabbixError| hosts.iter().map(|_| Err(zabbix_failure(e.clone()))).collect();
        let objects: Vec<ObjectRef> = hosts.iter().map(|d| d.object).collect();
        let graveyard = match known_graveyard {
            Some(graveyard) => std::borrow::Cow::Borrowed(graveyard),
            None => match self.find_graveyard(settings, &objects).await {
                Ok(graveyard) => std::borrow::Cow::Owned(graveyard),
                Err(e) => return fail_all(e),
            },
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
            .zip(self.restore_many(settings, &restores, &groups, secrets, batch).await)
            .collect();
        let mut created = self.create_new(settings, &creates, &groups, secrets, batch).await.into_iter();
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
        secrets: &SecretValues,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        if hosts.is_empty() {
            return Vec::new();
        }
        let writes: Vec<HostWrite> =
            hosts.iter().map(|d| HostWrite::create(d, ids_of(&d.host_groups, groups)).with_secrets(secrets)).collect();
        let answers =
            self.zabbix.create_hosts(&writes, &settings.tag_prefix, &settings.tag_name("object"), batch).await;
        let mut outcomes = Vec::with_capacity(hosts.len());
        for (desired, answer) in hosts.iter().zip(answers) {
            outcomes.push(match answer {
                Ok(written) => Ok(HostOutcome::new(HostAction::Created, Some(written.hostid)).sent(written.sent)),
                // A host with this name exists but is not ours (no managed tag): brownfield.
                Err(e) if is_already_exists(&e) => self.adopt(settings, desired, groups, secrets).await,
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
        secrets: &SecretValues,
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
            ..HostWrite::update(desired, ids_of(&desired.host_groups, groups), &existing).with_secrets(secrets)
        };
        let written = self.zabbix.update_host_once(&write, &settings.tag_prefix).await.map_err(zabbix_failure)?;
        Ok(HostOutcome::new(HostAction::Adopted, Some(existing.hostid.clone())).before(&existing).sent(written.sent))
    }

    /// Brings existing hosts to their desired state, `batch` per `host.update`; interface ids are
    /// kept, and templates no longer wanted are cleared. `secrets` holds the values of the
    /// secrets they name ([`HostConverger::secrets_of`]); a host whose secret is missing fails.
    pub async fn update_many(
        &self,
        settings: &Settings,
        hosts: &[HostUpdate<'_>],
        secrets: &HostSecrets,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let values = secrets.values();
        Self::with_found_secrets(
            secrets,
            hosts,
            |u| u.desired,
            |found| async move { self.update_found(settings, &found, values, batch).await },
        )
        .await
    }

    async fn update_found(
        &self,
        settings: &Settings,
        hosts: &[&HostUpdate<'_>],
        secrets: &SecretValues,
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
            .map(|u| {
                HostWrite::update(u.desired, ids_of(&u.desired.host_groups, &groups), u.existing).with_secrets(secrets)
            })
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

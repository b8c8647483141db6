//! One step of a sync: the next page of devices and of VMs, read from NetBox at once, each
//! converged (every desired host computed, the page's hosts read in one `host.get`, creates and
//! updates in array calls), its results recorded in the job and the run document, and the host
//! configs written.

use super::{CONFIGS_PER_COMMIT, SyncHostsNow};
use crate::hosts::{HostAction, HostOutcome, HostSecrets};
use crate::{netbox_failure, store_failure, zabbix_failure};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use nzj_core::desired::{CacheView, Desired, DesiredHost, desired_host};
use nzj_core::host_config::HostConfig;
use nzj_core::netbox::{NetboxObject, ObjectKind, ObjectRef};
use nzj_core::settings::Settings;
use nzj_core::sync::{PlannedDeletion, SyncCursor, SyncRun};
use nzj_core::write_back::SyncState;
use nzj_core::zabbix_cache::CacheKind;
use nzj_core::{JobRecord, LogLevel};
use nzj_runtime::JobFailure;
use nzj_store::{StoreError, Write};
use nzj_zabbix::ZabbixHost;
use std::collections::{BTreeMap, HashMap};

/// What happened to one object in a sync step, for the counts, the log and its host config.
pub(super) struct Outcome {
    pub object: ObjectRef,
    /// The desired host written (`None`: deleted, or no host wanted).
    pub wanted: Option<DesiredHost>,
    /// Why the object has no desired host.
    pub note: Option<String>,
    pub outcome: Result<HostOutcome, JobFailure>,
    /// The object as NetBox has it now (kept in its host config when set).
    pub netbox: Option<NetboxObject>,
}

impl Outcome {
    pub fn wanted(object: ObjectRef, desired: &DesiredHost, outcome: Result<HostOutcome, JobFailure>) -> Outcome {
        Outcome { object, wanted: Some(desired.clone()), note: None, outcome, netbox: None }
    }

    pub fn failed(object: ObjectRef, failure: JobFailure) -> Outcome {
        Outcome { object, wanted: None, note: None, outcome: Err(failure), netbox: None }
    }
}

/// A page as NetBox handed it out, before it is counted in the run.
struct PageRead {
    after_id: u64,
    objects: Vec<serde_json::Value>,
    /// How many NetBox has from `after_id` on, through the scope's filters (when it said).
    remaining: Option<u64>,
    /// On a kind's first page with filters: how many NetBox has of the kind, filtered or not.
    all: Option<u64>,
}

impl PageRead {
    /// Counts the page in `run` (a kind's first page: how many to expect, and how many NetBox
    /// left out, so every object is accounted for); the objects, and where the kind goes on.
    fn account(self, run: &mut SyncRun, page_size: usize) -> (Vec<serde_json::Value>, Option<u64>) {
        let count = self.objects.len();
        if self.after_id == 0 {
            run.expected += self.remaining.unwrap_or(count as u64);
            if let Some(all) = self.all {
                run.left_out += all.saturating_sub(self.remaining.unwrap_or(count as u64));
            }
        }
        let last_id = self.objects.iter().filter_map(|o| o["id"].as_u64()).max();
        (self.objects, SyncCursor::next_page(last_id, count, page_size, self.remaining))
    }
}

impl SyncHostsNow {
    /// The next page of each kind not finished, read from NetBox at once, then each converged
    /// (`converge_objects`); hosts to delete are only planned.
    pub(super) async fn pages(
        &self,
        run: &mut SyncRun,
        record: &mut JobRecord,
        settings: &Settings,
        devices: Option<u64>,
        vms: Option<u64>,
    ) -> Result<(), JobFailure> {
        let tag = self.scope_tag(settings).await?;
        let read = |kind, after: Option<u64>| {
            let tag = tag.clone();
            async move {
                match after {
                    Some(after_id) => self.read_page(settings, tag, kind, after_id).await.map(Some),
                    None => Ok(None),
                }
            }
        };
        let (device_page, vm_page) =
            futures_util::future::join(read(ObjectKind::Device, devices), read(ObjectKind::VirtualMachine, vms)).await;
        let mut next = [None, None];
        for (at, kind, read) in [(0, ObjectKind::Device, device_page), (1, ObjectKind::VirtualMachine, vm_page)] {
            let Some(page) = read? else { continue };
            let (objects, after) = page.account(run, self.page_size);
            next[at] = after;
            self.converge_objects(run, record, settings, kind, objects).await?;
        }
        run.cursor = SyncCursor::after_pages(next[0], next[1]);
        Ok(())
    }

    /// One page of one kind, for a sync begun one kind at a time (an earlier version's cursor).
    pub(super) async fn page(
        &self,
        run: &mut SyncRun,
        record: &mut JobRecord,
        settings: &Settings,
        kind: ObjectKind,
        after_id: u64,
    ) -> Result<(), JobFailure> {
        let tag = self.scope_tag(settings).await?;
        let (objects, next) = self.read_page(settings, tag, kind, after_id).await?.account(run, self.page_size);
        run.cursor = SyncCursor::after_page(kind, next);
        self.converge_objects(run, record, settings, kind, objects).await
    }

    /// The slug of the scope tag, when there is one and NetBox has it.
    async fn scope_tag(&self, settings: &Settings) -> Result<Option<String>, JobFailure> {
        match &settings.scope_tag {
            Some(tag) => self.netbox.tag_slug(tag).await.map_err(netbox_failure),
            None => Ok(None),
        }
    }

    /// A page of `kind` after `after_id`. NetBox lists only what can have a host (not the
    /// statuses set to remove; with a scope tag, only what carries it; only what the scope filter
    /// lets through); an object left out that has a host is read by id in the last step
    /// (`deletions.rs`). On a kind's first page, how many there are unfiltered is read beside it.
    async fn read_page(
        &self,
        settings: &Settings,
        tag: Option<String>,
        kind: ObjectKind,
        after_id: u64,
    ) -> Result<PageRead, JobFailure> {
        let mut filters = settings.netbox_list_filters(kind);
        if let Some(slug) = tag {
            filters.push(("tag", slug));
        }
        let count_all = after_id == 0 && !filters.is_empty();
        let (page, all) = futures_util::future::join(
            self.netbox.page(kind, after_id, self.page_size, &settings.netbox_fields(), &filters),
            async { if count_all { Some(self.netbox.count(kind, &[]).await) } else { None } },
        )
        .await;
        let (objects, remaining) = page.map_err(netbox_failure)?;
        let all = all.transpose().map_err(netbox_failure)?;
        Ok(PageRead { after_id, objects, remaining, all })
    }

    /// NetBox objects of `kind` (a page, or the objects of hosts the pages left out) converged:
    /// every desired host computed, their hosts read in one `host.get`, creates and updates in
    /// batches, deletions planned, host configs recorded as seen by this sync.
    pub(super) async fn converge_objects(
        &self,
        run: &mut SyncRun,
        record: &mut JobRecord,
        settings: &Settings,
        kind: ObjectKind,
        objects: Vec<serde_json::Value>,
    ) -> Result<(), JobFailure> {
        if objects.is_empty() {
            return Ok(());
        }
        let store = &self.converger.store;
        let snapshots = crate::load_cache(store.as_ref()).await.map_err(store_failure)?;
        if snapshots.iter().any(|s| s.kind == CacheKind::Templates && s.version == 0) {
            return Err(JobFailure::permanent(
                "the Zabbix settings are not imported yet: run ImportZabbixSettings first, then sync again",
            ));
        }
        let view = CacheView::new(&snapshots);
        let mut parsed: Vec<(ObjectRef, Result<NetboxObject, String>)> = objects
            .iter()
            .filter_map(|raw| {
                let object = ObjectRef { kind, id: raw["id"].as_u64()? };
                Some((
                    object,
                    NetboxObject::from_rest(kind, raw).map_err(|e| format!("the NetBox object is malformed: {e}")),
                ))
            })
            .collect();
        // Regions and site groups: read once for the page, only when a template uses them.
        if nzj_core::overrides::needs_site_place(settings, parsed.iter().filter_map(|(_, o)| o.as_ref().ok())) {
            let places = self.netbox.site_places().await.map_err(netbox_failure)?;
            for o in parsed.iter_mut().filter_map(|(_, o)| o.as_mut().ok()) {
                o.place = o.site_id.map(|site| places.get(&site).cloned().unwrap_or_default());
            }
        }
        let mut netbox: HashMap<ObjectRef, NetboxObject> = HashMap::new();
        let planned: Vec<(ObjectRef, Result<Desired, String>)> = parsed
            .into_iter()
            .map(|(object, parsed)| {
                let desired = parsed.and_then(|o| {
                    let desired = desired_host(&o, settings, &view).map_err(|e| e.to_string());
                    netbox.insert(object, o);
                    desired
                });
                (object, desired)
            })
            .collect();
        let refs: Vec<ObjectRef> = planned.iter().map(|(o, _)| *o).collect();
        let mut notes = Vec::new();
        let found =
            self.converger.find_hosts(settings, &refs, self.page_size, &mut notes).await.map_err(zabbix_failure)?;

        let now = self.clock.now();
        for note in notes {
            record.log.push(now, LogLevel::Warning, note.text);
        }
        let wanted: Vec<&DesiredHost> = planned
            .iter()
            .filter_map(|(_, d)| match d {
                Ok(Desired::Host(host)) => Some(host.as_ref()),
                _ => None,
            })
            .collect();
        let secrets = self.converger.secrets_of(&wanted).await?;
        let written = self.written_secrets(&wanted, &secrets, &found.managed).await?;
        let mut results: Vec<Outcome> = Vec::new();
        let (mut hosts, mut keeps) = (Vec::new(), Vec::new());
        for (object, desired) in &planned {
            match (desired, found.managed.get(object)) {
                (Err(reason), _) => results.push(Outcome::failed(*object, JobFailure::permanent(reason.clone()))),
                (Ok(Desired::Host(desired)), _) => {
                    hosts.push((desired.as_ref(), written.get(object).and_then(Option::as_deref)));
                }
                (Ok(Desired::OutOfScope(reason)), Some(existing)) => {
                    let hostid = existing.hostid.clone();
                    let deletion = PlannedDeletion { object: *object, hostid, reason: reason.clone() };
                    run.plan_deletion(deletion, settings.max_deletions);
                }
                (Ok(Desired::OutOfScope(reason)), None) => {
                    let skipped = HostOutcome::new(HostAction::Skipped { reason: reason.clone() }, None);
                    results.push(Outcome {
                        object: *object,
                        wanted: None,
                        note: Some(reason.clone()),
                        outcome: Ok(skipped),
                        netbox: None,
                    });
                }
                (Ok(Desired::Keep { reason, disable }), existing) => keeps.push((*object, existing, reason, *disable)),
            }
        }
        let batch = settings.batch_size;
        for ((desired, _), outcome) in
            hosts.iter().zip(self.converger.converge_found(settings, &hosts, &found, &secrets, batch).await)
        {
            results.push(Outcome::wanted(desired.object, desired, outcome));
        }
        let kept: Vec<_> = keeps.iter().map(|(_, host, reason, disable)| (*host, reason.as_str(), *disable)).collect();
        for ((object, _, reason, _), outcome) in keeps.iter().zip(self.converger.keep_many(&kept, batch).await) {
            let note = Some(reason.to_string());
            results.push(Outcome { object: *object, wanted: None, note, outcome, netbox: None });
        }
        // An outage that outlasted the retries: the whole step is tried again later (everything
        // it did is desired state, so the retry converges).
        if let Some(Err(failure)) =
            results.iter().map(|r| &r.outcome).find(|r| r.as_ref().is_err_and(|f| f.is_transient()))
        {
            return Err(failure.clone());
        }
        run.counts.total += planned.len() as u64;
        for result in &mut results {
            result.netbox = netbox.remove(&result.object).map(|n| nzj_core::overrides::kept(n, settings));
        }
        self.record(run, record, results, now, Some(settings)).await
    }

    /// The hash of the secrets last written, by object, of the existing hosts that get secrets
    /// now (a host config read each; none for hosts without secrets).
    async fn written_secrets(
        &self,
        wanted: &[&DesiredHost],
        secrets: &HostSecrets,
        found: &BTreeMap<ObjectRef, ZabbixHost>,
    ) -> Result<HashMap<ObjectRef, Option<String>>, JobFailure> {
        let store = &self.converger.store;
        let objects: Vec<ObjectRef> = wanted
            .iter()
            .filter(|d| found.contains_key(&d.object) && secrets.hash(d).is_ok_and(|h| h.is_some()))
            .map(|d| d.object)
            .collect();
        futures_util::stream::iter(objects)
            .map(|object| {
                let store = store.clone();
                async move { Ok((object, store.get_host_config(object).await?.and_then(|c| c.secrets_hash))) }
            })
            .buffered(16)
            .collect::<Vec<Result<_, StoreError>>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(store_failure)
    }

    /// Counts and logs each host's outcome (one log line per changed or failed host) and records it
    /// in the host configs, marked as seen by this sync; with `write_back` settings, writes the
    /// states that changed into NetBox first (one bulk request for the page).
    pub(super) async fn record(
        &self,
        run: &mut SyncRun,
        record: &mut JobRecord,
        results: Vec<Outcome>,
        now: DateTime<Utc>,
        write_back: Option<&Settings>,
    ) -> Result<(), JobFailure> {
        let store = &self.converger.store;
        let objects: Vec<ObjectRef> = results.iter().map(|r| r.object).collect();
        let configs: Vec<HostConfig> = futures_util::stream::iter(objects)
            .map(|object| {
                let store = store.clone();
                async move { Ok(store.get_host_config(object).await?.unwrap_or_else(|| HostConfig::new(object))) }
            })
            .buffered(16)
            .collect::<Vec<Result<HostConfig, StoreError>>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(store_failure)?;
        let mut updated = Vec::with_capacity(configs.len());
        let mut states = Vec::with_capacity(configs.len());
        let mut events = Vec::with_capacity(configs.len());
        for (Outcome { object, wanted, note, outcome, netbox }, mut config) in results.into_iter().zip(configs) {
            if netbox.is_some() {
                config.netbox = netbox;
            } else if note.as_deref() == Some(super::deletions::GONE_FROM_NETBOX) {
                // Nothing to compute a host from, or to write back to, any more.
                config.netbox = None;
            }
            match &outcome {
                Ok(done) => {
                    use crate::hosts::HostAction::*;
                    let counts = &mut run.counts;
                    match done.action {
                        Created | Adopted => counts.created += 1,
                        Restored => counts.restored += 1,
                        Updated => counts.updated += 1,
                        Unchanged | Kept { .. } => counts.unchanged += 1,
                        Disabled { .. } => counts.disabled += 1,
                        Skipped { .. } => counts.skipped += 1,
                        Held { .. } => counts.held += 1,
                        SoftDeleted { .. } | HardDeleted | AlreadyGone => counts.deleted += 1,
                    }
                    if done.changed() {
                        record.log.push(now, LogLevel::Info, format!("{object}: {}", done.message()));
                        tracing::info!(job_id = %record.id, %object, hostid = ?done.hostid, "{}", done.message());
                    }
                    done.record_in(&mut config, wanted, note, now);
                }
                Err(failure) => {
                    run.counts.failed += 1;
                    record.log.push(now, LogLevel::Error, format!("{object}: {failure}"));
                    tracing::warn!(job_id = %record.id, %object, error = %failure, "host not synced");
                }
            }
            config.seen_by_sync = Some(run.job_id.clone());
            config.job_ended(record.id.clone(), crate::host_failure(&outcome, &record.id, now));
            let held = matches!(&outcome, Ok(done) if matches!(done.action, crate::hosts::HostAction::Held { .. }));
            states.push(SyncState::of(&config, outcome.is_err(), held));
            events.push(crate::write_back::event_of(&outcome));
            updated.push(config);
        }
        if let Some(settings) = write_back {
            let mut pairs: Vec<(&mut HostConfig, SyncState)> = updated.iter_mut().zip(states).collect();
            let job = record.id.clone();
            let netbox = Some(self.netbox.as_ref());
            crate::write_back_logged(netbox, settings, &mut pairs, events, &job, now, &mut record.log).await;
        }
        self.save_configs(updated).await
    }

    /// Writes host configs in chunks; a chunk that lost a race with a host job is written one by
    /// one, and a config a host job changed meanwhile keeps the host job's state (it is newer).
    pub(super) async fn save_configs(&self, configs: Vec<HostConfig>) -> Result<(), JobFailure> {
        let store = &self.converger.store;
        for chunk in configs.chunks(CONFIGS_PER_COMMIT) {
            match store.commit(chunk.iter().cloned().map(Write::host_config).collect()).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => {
                    for config in chunk {
                        match store.commit(vec![Write::host_config(config.clone())]).await {
                            Ok(()) | Err(StoreError::Conflict) => {}
                            Err(e) => return Err(store_failure(e)),
                        }
                    }
                }
                Err(e) => return Err(store_failure(e)),
            }
        }
        Ok(())
    }
}

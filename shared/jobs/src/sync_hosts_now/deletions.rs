//! The last step of a sync: the hosts whose NetBox object is gone or out of scope, planned from
//! the host configs the sync did not see (their objects read by id first: the pages list only
//! what can have a host), checked against the max-deletions breaker (more than
//! the limit in one sync: nothing is deleted), then deleted per the delete policy as far as the
//! shared deletion window has room; the rest is held for an operator.

use super::SyncHostsNow;
use crate::hosts::{HostAction, HostConverger, HostOutcome};
use crate::{netbox_failure, store_failure, zabbix_failure};
use nzj_core::job::JobOrigin;
use nzj_core::netbox::{ObjectKind, ObjectRef};
use nzj_core::settings::Settings;
use nzj_core::sync::{PlannedDeletion, SyncCursor, SyncRun};
use nzj_core::{JobName, JobRecord, Trigger};
use nzj_runtime::JobFailure;
use nzj_store::Write;
use nzj_zabbix::ZabbixHost;
use serde_json::json;
use std::collections::HashSet;

/// Why a sync deletes the host of an object it did not see in NetBox.
pub(super) const GONE_FROM_NETBOX: &str = "gone from NetBox";

impl SyncHostsNow {
    /// The last step: plan the deletion of hosts whose NetBox object is gone (a host config with a
    /// host that this sync has not seen), check the breaker, then delete.
    pub(super) async fn deletions(
        &self,
        run: &mut SyncRun,
        record: &mut JobRecord,
        settings: &Settings,
    ) -> Result<(), JobFailure> {
        let store = &self.converger.store;
        let mut unseen = Vec::new();
        let mut after = None;
        loop {
            let configs = store.list_host_configs(after, 500).await.map_err(store_failure)?;
            let Some(last) = configs.last() else { break };
            after = Some(last.object);
            unseen.extend(
                configs
                    .iter()
                    .filter(|c| c.hostid.is_some() && c.seen_by_sync.as_ref() != Some(&run.job_id))
                    .map(|c| c.object),
            );
        }
        // The pages listed only what can have a host: an object left out (its status is set to
        // remove) is read by id and gets the outcome a page would give it. With a scope filter, the
        // read asks NetBox which still pass it; one NetBox has that does not is out of the scope.
        // Only what NetBox does not have any more is gone.
        let mut leaving: Vec<(ObjectRef, String)> = Vec::new();
        let mut read_by_id = 0;
        for kind in [ObjectKind::Device, ObjectKind::VirtualMachine] {
            let ids: Vec<u64> = unseen.iter().filter(|o| o.kind == kind).map(|o| o.id).collect();
            if ids.is_empty() {
                continue;
            }
            let (fields, filter) = (settings.netbox_fields(), settings.scope_filter(kind));
            let scoped = nzj_netbox::objects_in_scope(self.netbox.as_ref(), kind, &ids, &fields, &filter)
                .await
                .map_err(netbox_failure)?;
            let mut there: HashSet<u64> = scoped.passing.iter().filter_map(|o| o["id"].as_u64()).collect();
            read_by_id += scoped.passing.len() as u64;
            for id in scoped.outside {
                there.insert(id);
                read_by_id += 1;
                run.counts.total += 1;
                leaving.push((ObjectRef { kind, id }, nzj_core::scope_filter::outside_reason(kind)));
            }
            leaving.extend(
                ids.iter()
                    .filter(|id| !there.contains(id))
                    .map(|id| (ObjectRef { kind, id: *id }, GONE_FROM_NETBOX.into())),
            );
            let found = scoped.passing;
            self.converge_objects(run, record, settings, kind, found).await?;
        }
        // The rest of what NetBox left out has no host: skipped (its host config keeps why).
        let skipped = run.left_out.saturating_sub(read_by_id);
        run.counts.total += skipped;
        run.counts.skipped += skipped;
        // Only hosts that still carry the object's managed tag are the product's to delete.
        let mut notes = Vec::new();
        let gone: Vec<ObjectRef> = leaving.iter().map(|(o, _)| *o).collect();
        let gone_hosts =
            self.converger.find_managed(settings, &gone, self.page_size, &mut notes).await.map_err(zabbix_failure)?;
        for (object, reason) in leaving {
            if let Some(host) = gone_hosts.get(&object) {
                let deletion = PlannedDeletion { object, hostid: host.hostid.clone(), reason };
                run.plan_deletion(deletion, settings.max_deletions);
            }
        }
        // A config whose host is not found any more keeps its stale host id: it is asked about
        // again (in the same one `host.get` per page) by the next sync.
        run.check_deletions(settings.max_deletions).map_err(JobFailure::permanent)?;
        let objects: Vec<ObjectRef> = run.deletions.iter().map(|d| d.object).collect();
        let mut found = gone_hosts;
        let missing: Vec<ObjectRef> = objects.iter().filter(|o| !found.contains_key(o)).copied().collect();
        found.extend(
            self.converger
                .find_managed(settings, &missing, self.page_size, &mut notes)
                .await
                .map_err(zabbix_failure)?,
        );
        let targets: Vec<(ObjectRef, &ZabbixHost)> =
            objects.iter().filter_map(|o| found.get(o).map(|host| (*o, host))).collect();
        let now = self.clock.now();
        for note in notes {
            record.log.push(now, nzj_core::LogLevel::Warning, note.text);
        }
        // The deletion window is shared with host jobs: what does not fit now is held.
        let admitted = self.converger.admit_deletions(settings, targets.len(), now).await.map_err(store_failure)?;
        let (deleting, holding) = targets.split_at(admitted);
        let mut outcomes = self.converger.delete_many(settings, deleting, now, settings.batch_size).await;
        outcomes.extend(self.hold(record, settings, holding, now).await?);
        let reasons: std::collections::HashMap<ObjectRef, &str> =
            run.deletions.iter().map(|d| (d.object, d.reason.as_str())).collect();
        let results = targets
            .iter()
            .zip(outcomes)
            .map(|((object, _), outcome)| {
                let note = reasons.get(object).map(|r| r.to_string());
                super::page::Outcome { object: *object, wanted: None, note, outcome, netbox: None }
            })
            .collect();
        run.cursor = SyncCursor::Done;
        // Objects gone from NetBox are not written back (record forgets their NetBox state); the
        // ones a status removed are still there, and show it.
        self.record(run, record, results, now, Some(settings)).await
    }

    /// Records each deletion the breaker had no room for as a held DeleteHost job (one an
    /// operator releases or discards), unless one is held for that object already.
    async fn hold(
        &self,
        sync: &JobRecord,
        settings: &Settings,
        hosts: &[(ObjectRef, &ZabbixHost)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Result<HostOutcome, JobFailure>>, JobFailure> {
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let store = &self.converger.store;
        let already: HashSet<String> = crate::deletions::held(store.as_ref())
            .await
            .map_err(store_failure)?
            .into_iter()
            .filter_map(|j| j.object)
            .collect();
        let reason = HostConverger::held_reason(settings);
        let mut writes = Vec::new();
        for (object, host) in hosts.iter().filter(|(o, _)| !already.contains(&o.to_string())) {
            let origin =
                JobOrigin { trigger: Trigger::Sync, user: sync.user.clone(), object: Some(object.to_string()) };
            let mut job =
                JobRecord::new_running(JobName::DeleteHost, origin, now, chrono::Duration::zero(), self.retention);
            job.retry_of = Some(sync.id.clone());
            let result =
                json!({"message": reason, "object": object.to_string(), "hostid": host.hostid, "host": host.host});
            job.hold(now, &reason, result).map_err(|e| JobFailure::permanent(e.to_string()))?;
            writes.push(Write::job(job));
        }
        nzj_runtime::metrics::deletions_held(writes.len() as u64);
        for chunk in writes.chunks(super::CONFIGS_PER_COMMIT) {
            store.commit(chunk.to_vec()).await.map_err(store_failure)?;
        }
        Ok(hosts
            .iter()
            .map(|(_, host)| {
                let held = HostAction::Held { reason: reason.clone() };
                Ok(HostOutcome::new(held, Some(host.hostid.clone())).before(host))
            })
            .collect())
    }
}

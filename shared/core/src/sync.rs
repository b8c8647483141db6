//! SyncHostsNow's progress (docs/product.md §2, §2.3): a sync of every NetBox object runs in
//! steps, each the next page of devices and of VMs (read at once), so work that does not fit in
//! one Lambda invocation continues in the next. The run document says which step is next, what was counted, and which hosts are to be deleted at the
//! end (deletions wait until every page has been read, so the breaker sees all of them first).
//!
//! There is one run document: it is also the single-instance lock. A new sync may start only when
//! the previous one is settled, or its lease has expired (its process died).

use crate::job::JobId;
use crate::netbox::{ObjectKind, ObjectRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum SyncCursor {
    /// Next: the next page of each kind not finished, read at once: devices with ids above
    /// `devices`, VMs with ids above `vms` (`None`: every page of that kind is done).
    Pages { devices: Option<u64>, vms: Option<u64> },
    /// Next: the page of `kind` objects with ids above `after_id`, one kind after the other (a
    /// sync started by a version before [`SyncCursor::Pages`]; it finishes as it began).
    Page { kind: ObjectKind, after_id: u64 },
    /// Every page is done: find hosts whose NetBox object is gone, apply the deletions.
    Deletions,
    /// Settled.
    Done,
}

impl SyncCursor {
    pub const FIRST: SyncCursor = SyncCursor::Pages { devices: Some(0), vms: Some(0) };

    /// Where a kind goes on after a page that ended at `last_id` (`None`: the page was empty) and
    /// held `count` of the `page_size` objects asked for, of `remaining` NetBox said were left
    /// (when it said): `None` when that was its last page (a full page that held all that was
    /// left is the last, without asking for an empty one).
    pub fn next_page(last_id: Option<u64>, count: usize, page_size: usize, remaining: Option<u64>) -> Option<u64> {
        let more = count >= page_size && remaining.is_none_or(|left| left > count as u64);
        last_id.filter(|_| more)
    }

    /// The cursor after a step that read both kinds' next pages: each kind where
    /// [`SyncCursor::next_page`] left it; the deletions once both are done.
    pub fn after_pages(devices: Option<u64>, vms: Option<u64>) -> SyncCursor {
        if devices.is_none() && vms.is_none() { SyncCursor::Deletions } else { SyncCursor::Pages { devices, vms } }
    }

    /// The cursor after a page of `kind` in a one-kind-at-a-time sync ([`SyncCursor::Page`]),
    /// `next` being where [`SyncCursor::next_page`] left the kind.
    pub fn after_page(kind: ObjectKind, next: Option<u64>) -> SyncCursor {
        match next {
            Some(after_id) => SyncCursor::Page { kind, after_id },
            // A short page is the last of its kind: the next kind, without asking for an empty page.
            None => match kind {
                ObjectKind::Device => SyncCursor::Page { kind: ObjectKind::VirtualMachine, after_id: 0 },
                ObjectKind::VirtualMachine => SyncCursor::Deletions,
            },
        }
    }
}

/// The summary keys of the plugin's SyncHostsNow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounts {
    pub total: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub failed: u64,
    /// Graveyard hosts brought back (history kept) instead of created.
    #[serde(default)]
    pub restored: u64,
    /// Hosts disabled because their object has no address any more.
    #[serde(default)]
    pub disabled: u64,
    /// Objects with no host, wanted none (out of scope, no primary IP): each host config says why.
    #[serde(default)]
    pub skipped: u64,
    /// Deletions the deletion breaker held for an operator (`nzj deletions`).
    #[serde(default)]
    pub held: u64,
}

/// A managed host to delete at the end of the sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedDeletion {
    pub object: ObjectRef,
    pub hostid: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    pub job_id: JobId,
    pub cursor: SyncCursor,
    /// Steps done so far; the next step message carries this number.
    pub step: u32,
    pub counts: SyncCounts,
    /// Hosts to delete, at most `limit + 1` of them: one more than the breaker allows is enough
    /// to know the run must stop, and keeps the document small whatever NetBox answers.
    pub deletions: Vec<PlannedDeletion>,
    /// How many deletions were planned in all (may exceed `deletions.len()`).
    pub deletions_planned: u64,
    /// How many NetBox objects the sync will go through, as NetBox counted them at the start.
    #[serde(default)]
    pub expected: u64,
    /// How many objects NetBox left out of the pages (statuses set to remove), as it counted
    /// them at the start: accounted as skipped at the end, but for those read by id.
    #[serde(default)]
    pub left_out: u64,
    /// The process running the sync holds it until then; after, another may take over.
    pub lease_until: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl SyncRun {
    pub fn new(job_id: JobId, lease_until: DateTime<Utc>) -> SyncRun {
        SyncRun {
            job_id,
            cursor: SyncCursor::FIRST,
            step: 0,
            counts: SyncCounts::default(),
            deletions: Vec::new(),
            deletions_planned: 0,
            expected: 0,
            left_out: 0,
            lease_until,
            version: 0,
        }
    }

    /// Whether another sync may start now.
    pub fn is_free(&self, now: DateTime<Utc>) -> bool {
        self.cursor == SyncCursor::Done || self.lease_until <= now
    }

    /// Plans a deletion, keeping at most `limit + 1` of them.
    pub fn plan_deletion(&mut self, deletion: PlannedDeletion, limit: usize) {
        if self.deletions.iter().any(|d| d.hostid == deletion.hostid) {
            return;
        }
        self.deletions_planned += 1;
        if self.deletions.len() <= limit {
            self.deletions.push(deletion);
        }
    }

    /// The breaker (docs/product.md §4): `Err` with the message the job fails with when the run would delete
    /// more hosts than `limit`; then nothing is deleted.
    pub fn check_deletions(&self, limit: usize) -> Result<(), String> {
        if self.deletions_planned as usize > limit {
            const NAMED: usize = 20;
            let named: Vec<String> = self
                .deletions
                .iter()
                .take(NAMED)
                .map(|d| format!("{} (host {}, {})", d.object, d.hostid, d.reason))
                .collect();
            let more = (self.deletions_planned as usize).saturating_sub(named.len());
            return Err(format!(
                "the sync would delete {} hosts, more than the limit of {limit} (settings max_deletions): nothing was deleted; check NetBox, or raise the limit. Among them: {}{}",
                self.deletions_planned,
                named.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deletion(id: u64) -> PlannedDeletion {
        PlannedDeletion {
            object: ObjectRef { kind: ObjectKind::Device, id },
            hostid: id.to_string(),
            reason: "gone".into(),
        }
    }

    #[test]
    fn a_full_page_continues_the_kind_and_a_short_page_moves_on() {
        let page = |kind, after_id| SyncCursor::Page { kind, after_id };
        let after = SyncCursor::after_page;
        assert_eq!(after(ObjectKind::Device, Some(42)), page(ObjectKind::Device, 42));
        assert_eq!(after(ObjectKind::Device, None), page(ObjectKind::VirtualMachine, 0));
        assert_eq!(after(ObjectKind::VirtualMachine, Some(7)), page(ObjectKind::VirtualMachine, 7));
        assert_eq!(after(ObjectKind::VirtualMachine, None), SyncCursor::Deletions);
    }

    #[test]
    fn both_kinds_go_on_until_each_has_had_its_last_page_and_a_run_started_before_them_still_reads() {
        let next = SyncCursor::next_page;
        assert_eq!(next(Some(42), 10, 10, None), Some(42), "a full page: more may follow");
        assert_eq!(next(Some(42), 10, 10, Some(10)), None, "a full page that held all that was left");
        assert_eq!(next(None, 0, 10, Some(0)), None);
        assert_eq!(SyncCursor::after_pages(Some(42), None), SyncCursor::Pages { devices: Some(42), vms: None });
        assert_eq!(SyncCursor::after_pages(None, None), SyncCursor::Deletions);
        let first = serde_json::to_value(SyncCursor::FIRST).unwrap();
        assert_eq!(first, serde_json::json!({"phase": "pages", "devices": 0, "vms": 0}));
        // As an earlier version stored it.
        let stored = serde_json::json!({"phase": "page", "kind": "virtualization.virtualmachine", "after_id": 7});
        let read: SyncCursor = serde_json::from_value(stored).unwrap();
        assert_eq!(read, SyncCursor::Page { kind: ObjectKind::VirtualMachine, after_id: 7 });
    }

    #[test]
    fn the_breaker_counts_every_planned_deletion_but_keeps_only_one_more_than_the_limit() {
        let now = Utc::now();
        let mut run = SyncRun::new(JobId::new_at(now), now);
        for id in 0..100 {
            run.plan_deletion(deletion(id), 3);
        }
        assert_eq!(run.deletions.len(), 4);
        assert_eq!(run.deletions_planned, 100);
        let refused = run.check_deletions(3).unwrap_err();
        assert!(refused.contains("100 hosts") && refused.contains("nothing was deleted"), "{refused}");
        let mut small = SyncRun::new(JobId::new_at(now), now);
        small.plan_deletion(deletion(1), 3);
        small.plan_deletion(deletion(1), 3);
        assert!(small.check_deletions(3).is_ok());
    }

    #[test]
    fn a_run_is_free_once_done_or_its_lease_expired() {
        let now = Utc::now();
        let mut run = SyncRun::new(JobId::new_at(now), now + chrono::Duration::seconds(60));
        assert!(!run.is_free(now));
        assert!(run.is_free(now + chrono::Duration::seconds(61)));
        run.cursor = SyncCursor::Done;
        assert!(run.is_free(now));
    }
}

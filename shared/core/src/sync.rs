//! SyncHostsNow's progress (docs/product.md §2, §2.3): a sync of every NetBox object runs in steps, one NetBox
//! page each, so work that does not fit in one Lambda invocation continues in the next. The run
//! document says which step is next, what was counted, and which hosts are to be deleted at the
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
    /// Next: the page of `kind` objects with ids above `after_id`.
    Page { kind: ObjectKind, after_id: u64 },
    /// Every page is done: find hosts whose NetBox object is gone, apply the deletions.
    Deletions,
    /// Settled.
    Done,
}

impl SyncCursor {
    pub const FIRST: SyncCursor = SyncCursor::Page { kind: ObjectKind::Device, after_id: 0 };

    /// The cursor after a page of `kind` that ended at `last_id` (`None`: the page was empty) and
    /// held `count` of the `page_size` objects asked for, of `remaining` NetBox said were left
    /// (when it said): a full page that held all that was left is the last, without asking for an
    /// empty one.
    pub fn after_page(
        kind: ObjectKind,
        last_id: Option<u64>,
        count: usize,
        page_size: usize,
        remaining: Option<u64>,
    ) -> SyncCursor {
        let more = count >= page_size && remaining.is_none_or(|left| left > count as u64);
        match last_id {
            Some(after_id) if more => SyncCursor::Page { kind, after_id },
            // A short page is the last of its kind: the next kind, without asking for an empty page.
            _ => match kind {
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
        assert_eq!(after(ObjectKind::Device, Some(42), 10, 10, None), page(ObjectKind::Device, 42));
        assert_eq!(after(ObjectKind::Device, Some(42), 10, 10, Some(11)), page(ObjectKind::Device, 42));
        assert_eq!(after(ObjectKind::Device, Some(42), 10, 10, Some(10)), page(ObjectKind::VirtualMachine, 0));
        assert_eq!(after(ObjectKind::Device, Some(42), 9, 10, None), page(ObjectKind::VirtualMachine, 0));
        assert_eq!(after(ObjectKind::Device, None, 0, 10, Some(0)), page(ObjectKind::VirtualMachine, 0));
        assert_eq!(after(ObjectKind::VirtualMachine, Some(7), 1, 10, None), SyncCursor::Deletions);
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

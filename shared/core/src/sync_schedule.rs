//! SyncHostsNow on a schedule, off by default: a periodic full reconcile without cron, with the
//! intervals of the system jobs. Its single instance is the sync's own lock (`SyncRun`): a start
//! when due is committed with the schedule's next due time, so any number of ticks at once start
//! one sync, and a tick while a sync runs skips (the next one is an interval later). Pure: the
//! launch is `nzj_jobs::SyncHostsNow::launch_scheduled`.

use crate::settings::Changed;
use crate::{Interval, JobId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncSchedule {
    #[serde(default = "off")]
    pub interval: Interval,
    /// When the next scheduled sync is due; `None` until one is (turned on: due at once).
    #[serde(default)]
    pub next_due: Option<DateTime<Utc>>,
    /// The last sync the schedule started.
    #[serde(default)]
    pub last_run: Option<JobId>,
    /// Who set the interval last, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<Changed>,
    /// Optimistic-concurrency version; 0 means it has never been stored.
    #[serde(default)]
    pub version: u64,
}

fn off() -> Interval {
    Interval::Off
}

impl Default for SyncSchedule {
    fn default() -> Self {
        SyncSchedule { interval: Interval::Off, next_due: None, last_run: None, changed: None, version: 0 }
    }
}

impl SyncSchedule {
    /// Whether a scheduled sync is due at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.interval.as_duration().is_some() && self.next_due.is_none_or(|due| due <= now)
    }

    /// A tick at `now` took its turn: started `run`, or (`None`) skipped because a sync runs. The
    /// next one is an interval from now, never from the missed time: one catch-up, not a burst.
    pub fn took_turn(&mut self, run: Option<JobId>, now: DateTime<Utc>) {
        if let Some(every) = self.interval.as_duration() {
            self.next_due = Some(now + every);
        }
        if run.is_some() {
            self.last_run = run;
        }
    }

    /// Sets the interval as the system jobs' do (`ScheduleEntry::set_interval`), recording who.
    pub fn set_interval(&mut self, interval: Interval, now: DateTime<Utc>, by: &str) {
        self.next_due = crate::schedule::next_due_after(self.next_due, self.interval, interval, now);
        self.interval = interval;
        self.changed = Some(Changed { by: by.to_string(), at: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t(mins: i64) -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(mins)
    }

    #[test]
    fn off_by_default_due_at_once_when_turned_on_then_every_interval_from_its_turn() {
        let mut s = SyncSchedule::default();
        assert!(!s.is_due(t(0)), "off by default");
        s.set_interval(Interval::Every(60), t(0), "alice");
        assert!(s.is_due(t(0)));
        assert_eq!(s.changed.as_ref().map(|c| c.by.as_str()), Some("alice"));
        s.took_turn(Some(JobId::new_at(t(0))), t(0));
        assert!(!s.is_due(t(59)) && s.is_due(t(60)));
        // Missed for a day (downtime): one catch-up, then an hour from it.
        s.took_turn(None, t(1500));
        assert_eq!(s.next_due, Some(t(1560)));
        assert!(s.last_run.is_some(), "a skipped turn keeps the last run");
        s.set_interval(Interval::Off, t(1501), "bob");
        assert!(!s.is_due(t(9999)));
    }

    #[test]
    fn a_schedule_stored_before_it_had_fields_reads_as_off() {
        let s: SyncSchedule = serde_json::from_str("{}").unwrap();
        assert_eq!(s, SyncSchedule::default());
    }
}

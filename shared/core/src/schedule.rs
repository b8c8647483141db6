//! Single-instance scheduling rules for system jobs (docs/product.md §2.2), as pure decisions.
//!
//! Each system job has one [`ScheduleEntry`]. A trigger reads it, asks [`ScheduleEntry::decide`]
//! what to do, and writes the outcome back with a conditional write on the entry's version: of any
//! number of concurrent triggers for the same tick, exactly one write succeeds; the others re-read,
//! find the job running or not due, and do nothing.
//!
//! A scheduled run that fails is run again before its next interval, after a backoff
//! ([`FAILED_RUN_RETRY_DELAYS`]: 1, 5 and 15 minutes), so a daily job that fails at night does not
//! wait a day; the regular schedule stays as it was.

use crate::interval::Interval;
use crate::job::{JobId, SystemJob};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    pub job: SystemJob,
    pub interval: Interval,
    /// When the next run is due; `None` until the first run (a new job is due at once).
    pub next_due: Option<DateTime<Utc>>,
    /// The run that holds the job now, and until when it holds it unless it heartbeats.
    pub current_run: Option<JobId>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_run: Option<JobId>,
    /// Scheduled runs that failed in a row since the last success.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// When the last failed scheduled run is tried again, if it is (before `next_due`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_due: Option<DateTime<Utc>>,
    /// Who set the interval last, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<crate::settings::Changed>,
    /// Optimistic-concurrency version; 0 means the entry has never been stored.
    #[serde(default)]
    pub version: u64,
}

/// After the n-th failed scheduled run in a row, the next try comes this long after it; after the
/// last, the job waits for its interval.
pub const FAILED_RUN_RETRY_DELAYS: [Duration; 3] = [Duration::minutes(1), Duration::minutes(5), Duration::minutes(15)];

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Why a trigger did nothing. None of these is an error.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    Off,
    NotDue { next_due: DateTime<Utc> },
    Running { job: JobId },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TriggerDecision {
    /// Start a run; `stalled` names a previous run whose lease expired and must be marked stalled.
    Claim {
        stalled: Option<JobId>,
    },
    /// The job is off, but a run whose lease expired must still be marked stalled.
    MarkStalled(JobId),
    Skip(SkipReason),
}

impl ScheduleEntry {
    pub fn new(job: SystemJob) -> Self {
        ScheduleEntry {
            job,
            interval: Interval::DEFAULT,
            next_due: None,
            current_run: None,
            lease_until: None,
            last_run: None,
            failures: 0,
            retry_due: None,
            changed: None,
            version: 0,
        }
    }

    /// The run holding the job whose lease has expired at `now`, if any.
    pub fn stalled_run(&self, now: DateTime<Utc>) -> Option<&JobId> {
        self.current_run.as_ref().filter(|_| self.lease_until.is_none_or(|l| l <= now))
    }

    /// What a scheduled trigger at `now` must do. A run whose lease expired did not finish its
    /// work, so the job is due again at once (a retry), whatever `next_due` says.
    pub fn decide(&self, now: DateTime<Utc>) -> TriggerDecision {
        let stalled = match &self.current_run {
            Some(run) if self.stalled_run(now).is_none() => {
                return TriggerDecision::Skip(SkipReason::Running { job: run.clone() });
            }
            other => other.clone(),
        };
        if self.interval == Interval::Off {
            return match stalled {
                Some(run) => TriggerDecision::MarkStalled(run),
                None => TriggerDecision::Skip(SkipReason::Off),
            };
        }
        match self.next_due {
            Some(next_due) if next_due > now && stalled.is_none() && !self.retry_is_due(now) => {
                TriggerDecision::Skip(SkipReason::NotDue { next_due: self.retry_due.unwrap_or(next_due).min(next_due) })
            }
            _ => TriggerDecision::Claim { stalled },
        }
    }

    /// Whether a failed scheduled run's retry is due at `now`.
    pub fn retry_is_due(&self, now: DateTime<Utc>) -> bool {
        self.retry_due.is_some_and(|due| due <= now)
    }

    /// Hand the job to `run` until `now + lease`. The next run is computed from now, never from
    /// the missed schedule, so after a downtime there is one catch-up run, not a burst.
    /// A failed run's retry leaves the regular schedule (`next_due`) as it was.
    pub fn claim(&mut self, run: JobId, now: DateTime<Utc>, lease: Duration) {
        let retry = self.retry_is_due(now) && self.next_due.is_some_and(|due| due > now);
        self.retry_due = None;
        if let (false, Some(every)) = (retry, self.interval.as_duration()) {
            self.next_due = Some(now + every);
        }
        self.current_run = Some(run);
        self.lease_until = Some(now + lease);
    }

    /// What a manual run (API, CLI) at `now` may do: `Err` names the run that holds the job
    /// (refused, HTTP 409); `Ok` names a stalled run to mark, if any. Off and not-due do not
    /// matter to a manual run.
    pub fn decide_manual(&self, now: DateTime<Utc>) -> Result<Option<JobId>, JobId> {
        match &self.current_run {
            Some(run) if self.stalled_run(now).is_none() => Err(run.clone()),
            other => Ok(other.clone()),
        }
    }

    /// Hand the job to a manual `run`; the schedule (next due) stays as it was.
    pub fn claim_manual(&mut self, run: JobId, now: DateTime<Utc>, lease: Duration) {
        self.current_run = Some(run);
        self.lease_until = Some(now + lease);
    }

    /// Release the job if `run` still holds it; returns whether it did.
    pub fn release(&mut self, run: &JobId) -> bool {
        if self.current_run.as_ref() != Some(run) {
            return false;
        }
        self.last_run = self.current_run.take();
        self.lease_until = None;
        true
    }

    /// Records how a scheduled run that held the job ended: a failure sets its retry after the
    /// next delay of [`FAILED_RUN_RETRY_DELAYS`] when that comes before the next interval; a
    /// success ends the series. (A manual run's outcome leaves the schedule alone.)
    pub fn scheduled_run_ended(&mut self, failed: bool, now: DateTime<Utc>) {
        if !failed {
            self.failures = 0;
            self.retry_due = None;
            return;
        }
        self.failures += 1;
        self.retry_due = FAILED_RUN_RETRY_DELAYS
            .get(self.failures as usize - 1)
            .map(|delay| now + *delay)
            .filter(|due| self.next_due.is_none_or(|next| *due < next));
    }

    /// Change the interval; the next due time is recomputed from the last claim so a shorter
    /// interval takes effect on the next trigger.
    /// `by` (a token's name) is recorded as who changed it.
    pub fn set_interval(&mut self, interval: Interval, now: DateTime<Utc>, by: &str) {
        self.next_due = next_due_after(self.next_due, self.interval, interval, now);
        self.interval = interval;
        self.changed = Some(crate::settings::Changed { by: by.to_string(), at: now });
    }
}

/// The next due time after an interval changes from `old` to `new` at `now`: recomputed from the
/// last start so a shorter interval takes effect on the next trigger; due at once when turned on.
pub fn next_due_after(
    next_due: Option<DateTime<Utc>>,
    old: Interval,
    new: Interval,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let last_start = match (next_due, old.as_duration()) {
        (Some(due), Some(old)) => Some(due - old),
        _ => None,
    };
    match (last_start, new.as_duration()) {
        (Some(start), Some(every)) => Some(start + every),
        // Turned on after being off (or never run): due at the next trigger.
        (None, Some(_)) => Some(now),
        (_, None) => next_due,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(mins: i64) -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(mins)
    }

    fn id(mins: i64) -> JobId {
        JobId::new_at(t(mins))
    }

    #[test]
    fn a_new_job_is_due_at_once() {
        let e = ScheduleEntry::new(SystemJob::ImportZabbixSettings);
        assert_eq!(e.decide(t(0)), TriggerDecision::Claim { stalled: None });
    }

    #[test]
    fn a_claimed_job_is_running_then_not_due_until_its_interval_passes() {
        let mut e = ScheduleEntry::new(SystemJob::ImportZabbixSettings);
        e.set_interval(Interval::Every(60), t(0), "test");
        let run = id(0);
        e.claim(run.clone(), t(0), Duration::minutes(2));
        assert_eq!(e.decide(t(1)), TriggerDecision::Skip(SkipReason::Running { job: run.clone() }));
        assert!(e.release(&run));
        assert_eq!(e.decide(t(59)), TriggerDecision::Skip(SkipReason::NotDue { next_due: t(60) }));
        assert_eq!(e.decide(t(60)), TriggerDecision::Claim { stalled: None });
    }

    #[test]
    fn after_downtime_the_next_run_is_computed_from_now() {
        let mut e = ScheduleEntry::new(SystemJob::MaintenanceCleanup);
        e.set_interval(Interval::Every(5), t(0), "test");
        let first = id(0);
        e.claim(first.clone(), t(0), Duration::minutes(1));
        e.release(&first);
        // Down for 100 intervals: one catch-up run, and the one after is an interval from now.
        assert_eq!(e.decide(t(500)), TriggerDecision::Claim { stalled: None });
        e.claim(id(500), t(500), Duration::minutes(1));
        assert_eq!(e.next_due, Some(t(505)));
    }

    #[test]
    fn an_expired_lease_makes_the_job_due_again_and_names_the_stalled_run() {
        let mut e = ScheduleEntry::new(SystemJob::HostConfigSyncRefresh);
        let run = id(0);
        e.claim(run.clone(), t(0), Duration::minutes(2));
        assert!(matches!(e.decide(t(1)), TriggerDecision::Skip(_)));
        assert_eq!(e.decide(t(2)), TriggerDecision::Claim { stalled: Some(run.clone()) });
        e.set_interval(Interval::Off, t(2), "test");
        assert_eq!(e.decide(t(3)), TriggerDecision::MarkStalled(run));
    }

    #[test]
    fn off_never_claims_and_turning_back_on_is_due_at_the_next_trigger() {
        let mut e = ScheduleEntry::new(SystemJob::HostConfigSyncRefresh);
        e.set_interval(Interval::Off, t(0), "test");
        assert_eq!(e.decide(t(0)), TriggerDecision::Skip(SkipReason::Off));
        assert_eq!(e.decide(t(100_000)), TriggerDecision::Skip(SkipReason::Off));
        e.set_interval(Interval::Every(15), t(10), "test");
        assert_eq!(e.decide(t(10)), TriggerDecision::Claim { stalled: None });
    }

    #[test]
    fn a_shorter_interval_takes_effect_on_the_next_trigger() {
        let mut e = ScheduleEntry::new(SystemJob::ImportZabbixSettings);
        let run = id(0);
        e.claim(run.clone(), t(0), Duration::minutes(1));
        e.release(&run);
        assert_eq!(e.next_due, Some(t(1440)));
        e.set_interval(Interval::Every(5), t(3), "test");
        assert_eq!(e.next_due, Some(t(5)));
        assert_eq!(e.decide(t(5)), TriggerDecision::Claim { stalled: None });
    }

    #[test]
    fn a_manual_run_is_refused_while_the_job_runs_and_leaves_the_schedule_alone() {
        let mut e = ScheduleEntry::new(SystemJob::ImportZabbixSettings);
        assert_eq!(e.decide_manual(t(0)), Ok(None));
        let run = id(0);
        e.claim_manual(run.clone(), t(0), Duration::minutes(2));
        assert_eq!(e.next_due, None, "still due at the next trigger");
        assert_eq!(e.decide_manual(t(1)), Err(run.clone()));
        assert_eq!(e.decide_manual(t(2)), Ok(Some(run)));
        e.set_interval(Interval::Off, t(3), "test");
        assert!(e.decide_manual(t(3)).is_ok());
    }

    #[test]
    fn a_failed_scheduled_run_is_retried_with_backoff_before_its_next_interval() {
        let mut e = ScheduleEntry::new(SystemJob::ImportZabbixSettings);
        e.set_interval(Interval::Every(1440), t(0), "test");
        e.claim(id(0), t(0), Duration::minutes(2));
        let daily = e.next_due;
        for (failed_at, delay) in [(1, 1), (3, 5), (9, 15)] {
            assert!(e.release(e.current_run.clone().as_ref().unwrap()));
            e.scheduled_run_ended(true, t(failed_at));
            assert_eq!(e.retry_due, Some(t(failed_at + delay)), "retried {delay} min after the failure");
            assert!(matches!(e.decide(t(failed_at + delay - 1)), TriggerDecision::Skip(SkipReason::NotDue { .. })));
            assert_eq!(e.decide(t(failed_at + delay)), TriggerDecision::Claim { stalled: None });
            e.claim(id(failed_at + delay), t(failed_at + delay), Duration::minutes(2));
            assert_eq!(e.next_due, daily, "a retry leaves the daily schedule as it was");
        }
        // After the last delay, the job waits for its interval; a success ends the series.
        e.release(&id(24));
        e.scheduled_run_ended(true, t(30));
        assert_eq!(e.retry_due, None);
        e.scheduled_run_ended(false, t(31));
        assert_eq!(e.failures, 0);
    }

    #[test]
    fn a_retry_that_would_come_after_the_next_interval_is_not_set() {
        let mut e = ScheduleEntry::new(SystemJob::MaintenanceCleanup);
        e.set_interval(Interval::Every(5), t(0), "test");
        e.claim(id(0), t(0), Duration::minutes(2));
        e.release(&id(0));
        e.scheduled_run_ended(true, t(4));
        assert_eq!(e.retry_due, None, "the next interval (t5) comes before a 1-minute retry (t5) would");
    }

    #[test]
    fn release_by_a_run_that_lost_the_job_changes_nothing() {
        let mut e = ScheduleEntry::new(SystemJob::ImportZabbixSettings);
        e.claim(id(1), t(1), Duration::minutes(1));
        let before = e.clone();
        assert!(!e.release(&id(0)));
        assert_eq!(e, before);
    }
}

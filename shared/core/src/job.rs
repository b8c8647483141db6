//! Job records and their state machine (docs/product.md §2, §2.1).

use crate::interval::Interval;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A job's id: a UUIDv7, so ids sort by creation time and double as the listing cursor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(uuid::Uuid);

impl JobId {
    pub fn new_at(time: DateTime<Utc>) -> Self {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, time.timestamp() as u64, time.timestamp_subsec_nanos());
        JobId(uuid::Uuid::new_v7(ts))
    }

    /// The smallest id of a job created at `time` (its millisecond): ids are UUIDv7, ordered by
    /// creation time, so a time range of jobs is a range of ids.
    pub fn first_at(time: DateTime<Utc>) -> Self {
        let millis = time.timestamp_millis().max(0) as u64;
        JobId(uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid())
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(JobId)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; known: {known}")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub known: String,
}

named_enum!(
    /// Every job the product runs; names follow the NetBox Zabbix plugin.
    JobName {
        ImportZabbixSettings => "ImportZabbixSettings",
        HostConfigSyncRefresh => "HostConfigSyncRefresh",
        MaintenanceCleanup => "MaintenanceCleanup",
        CreateHost => "CreateHost",
        UpdateHost => "UpdateHost",
        DeleteHost => "DeleteHost",
        SyncHostsNow => "SyncHostsNow",
    }
);

named_enum!(
    /// The three scheduled jobs: the only ones with an interval and single-instance triggers.
    SystemJob {
        ImportZabbixSettings => "ImportZabbixSettings",
        HostConfigSyncRefresh => "HostConfigSyncRefresh",
        MaintenanceCleanup => "MaintenanceCleanup",
    }
);

named_enum!(JobKind { System => "system", Host => "host", Sync => "sync" });

named_enum!(JobStatus {
    Pending => "pending",
    Scheduled => "scheduled",
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Stalled => "stalled",
    Held => "held",
});

named_enum!(
    /// What started a job.
    Trigger {
        Schedule => "schedule",
        Webhook => "webhook",
        Api => "api",
        Cli => "cli",
        Retry => "retry",
        Sync => "sync",
    }
);

named_enum!(LogLevel { Debug => "debug", Info => "info", Warning => "warning", Error => "error" });

impl JobName {
    pub fn kind(self) -> JobKind {
        match self {
            JobName::ImportZabbixSettings | JobName::HostConfigSyncRefresh | JobName::MaintenanceCleanup => {
                JobKind::System
            }
            JobName::CreateHost | JobName::UpdateHost | JobName::DeleteHost => JobKind::Host,
            JobName::SyncHostsNow => JobKind::Sync,
        }
    }
}

impl From<SystemJob> for JobName {
    fn from(job: SystemJob) -> Self {
        match job {
            SystemJob::ImportZabbixSettings => JobName::ImportZabbixSettings,
            SystemJob::HostConfigSyncRefresh => JobName::HostConfigSyncRefresh,
            SystemJob::MaintenanceCleanup => JobName::MaintenanceCleanup,
        }
    }
}

impl JobStatus {
    /// A job in a final status is never changed again.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Stalled)
    }
}

/// One line of a job's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub time: DateTime<Utc>,
    pub level: LogLevel,
    pub message: String,
}

/// A job's log, bounded so a record always fits in one DynamoDB item (400 KB): at most
/// [`JobLog::MAX_ENTRIES`] entries of at most [`JobLog::MAX_MESSAGE_CHARS`] characters each.
/// When full, the oldest entries after the first few are dropped and counted, so both how the job
/// started and how it ended stay visible.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobLog {
    pub entries: Vec<LogEntry>,
    #[serde(default)]
    pub dropped: u64,
}

impl JobLog {
    pub const MAX_ENTRIES: usize = 200;
    pub const KEPT_FROM_START: usize = 20;
    pub const MAX_MESSAGE_CHARS: usize = 1000;

    /// Adds `other`'s lines after these (an attempt's lines after the earlier attempts'), within
    /// the same bounds.
    pub fn append(&mut self, other: &JobLog) {
        for line in &other.entries {
            self.push(line.time, line.level, line.message.clone());
        }
        self.dropped += other.dropped;
    }

    pub fn push(&mut self, time: DateTime<Utc>, level: LogLevel, message: impl Into<String>) {
        let mut message: String = message.into();
        if let Some((cut, _)) = message.char_indices().nth(Self::MAX_MESSAGE_CHARS) {
            message.truncate(cut);
            message.push('…');
        }
        if self.entries.len() >= Self::MAX_ENTRIES {
            self.entries.remove(Self::KEPT_FROM_START);
            self.dropped += 1;
        }
        self.entries.push(LogEntry { time, level, message });
    }
}

/// The record of one job run, like NetBox's Job (docs/product.md §2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub name: JobName,
    pub kind: JobKind,
    pub status: JobStatus,
    pub created: DateTime<Utc>,
    pub scheduled: Option<DateTime<Utc>>,
    pub started: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    /// Who or what triggered the job.
    pub user: String,
    pub trigger: Trigger,
    /// The NetBox object the job concerns, e.g. `dcim.device/123`.
    pub object: Option<String>,
    /// The interval in force when a system job was triggered.
    pub interval: Option<Interval>,
    pub attempt: u32,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub log: JobLog,
    /// While running: the holder must heartbeat before this time, or the run is stalled.
    pub lease_until: Option<DateTime<Utc>>,
    /// Epoch seconds after which the record may be deleted (DynamoDB TTL attribute).
    pub expires_at: i64,
    /// A queued job's message while it is not known to be on the queue. A host job is recorded
    /// with its message and then enqueued (the outbox, docs/design.md); a crash in between
    /// leaves it here, and the sweeper sends it. `None` once sent (or received by a worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<Value>,
    /// The job that took over from this one (a stalled run's retry): a message naming this job
    /// runs that one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_by: Option<JobId>,
    /// The job this one retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<JobId>,
    /// Who released this deletion past the deletion breaker (it runs without being counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
    /// Optimistic-concurrency version, set by the store on every write.
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {id} is {status}; cannot {action}")]
pub struct InvalidTransition {
    pub id: JobId,
    pub status: JobStatus,
    pub action: &'static str,
}

/// Who a job was started by, and how; what every new record needs besides its name.
#[derive(Debug, Clone)]
pub struct JobOrigin {
    pub trigger: Trigger,
    pub user: String,
    pub object: Option<String>,
}

impl JobRecord {
    /// A run that starts now and holds a lease until `lease_until`.
    pub fn new_running(
        name: JobName,
        origin: JobOrigin,
        now: DateTime<Utc>,
        lease: Duration,
        retention: Duration,
    ) -> Self {
        JobRecord {
            id: JobId::new_at(now),
            name,
            kind: name.kind(),
            status: JobStatus::Running,
            created: now,
            scheduled: Some(now),
            started: Some(now),
            completed: None,
            duration_ms: None,
            user: origin.user,
            trigger: origin.trigger,
            object: origin.object,
            interval: None,
            attempt: 1,
            result: None,
            error: None,
            log: JobLog::default(),
            lease_until: Some(now + lease),
            expires_at: (now + retention).timestamp(),
            outbox: None,
            retried_by: None,
            retry_of: None,
            released_by: None,
            version: 0,
        }
    }

    /// The run that takes over from this stalled one: pending, the next attempt, linked both ways.
    pub fn retry_of_stalled(&mut self, user: &str, now: DateTime<Utc>, retention: Duration) -> JobRecord {
        let origin = JobOrigin { trigger: Trigger::Retry, user: user.into(), object: self.object.clone() };
        let mut retry = JobRecord::new_pending(self.name, origin, now, retention);
        retry.attempt = self.attempt + 1;
        retry.retry_of = Some(self.id.clone());
        retry.log.push(now, LogLevel::Warning, format!("retry of stalled job {}", self.id));
        self.retried_by = Some(retry.id.clone());
        retry
    }

    /// Makes this new run the operator's retry of `previous`, a failed or stalled job: the next
    /// attempt, the two records naming each other (write both in one commit, so two retries of
    /// the same job cannot both succeed). Refused for a job in any other status.
    pub fn retries(&mut self, previous: &mut JobRecord, now: DateTime<Utc>) -> Result<(), InvalidTransition> {
        if !matches!(previous.status, JobStatus::Failed | JobStatus::Stalled) {
            return Err(InvalidTransition { id: previous.id.clone(), status: previous.status, action: "retry" });
        }
        self.attempt = previous.attempt + 1;
        self.retry_of = Some(previous.id.clone());
        let why = previous.error.as_deref().unwrap_or("no error recorded");
        self.log.push(now, LogLevel::Info, format!("retry of job {} ({}: {why})", previous.id, previous.status));
        previous.retried_by = Some(self.id.clone());
        previous.log.push(now, LogLevel::Info, format!("retried by {} as job {}", self.user, self.id));
        Ok(())
    }

    /// A job recorded now and run later by a worker (host jobs from webhooks, the API, a sync).
    pub fn new_pending(name: JobName, origin: JobOrigin, now: DateTime<Utc>, retention: Duration) -> Self {
        let lease = Duration::zero();
        let mut record = JobRecord::new_running(name, origin, now, lease, retention);
        record.status = JobStatus::Pending;
        record.started = None;
        record.lease_until = None;
        record
    }

    /// A worker takes a pending job: running, holding a lease.
    pub fn start(&mut self, now: DateTime<Utc>, lease: Duration) -> Result<(), InvalidTransition> {
        if self.status != JobStatus::Pending {
            return Err(InvalidTransition { id: self.id.clone(), status: self.status, action: "start" });
        }
        self.status = JobStatus::Running;
        self.started = Some(now);
        self.lease_until = Some(now + lease);
        // A worker received it, so its message was on the queue.
        self.outbox = None;
        Ok(())
    }

    /// A transient failure: the job waits for its next attempt.
    pub fn retry_later(&mut self, now: DateTime<Utc>, error: &str, after: Duration) -> Result<(), InvalidTransition> {
        self.require_running("retry later")?;
        self.log.push(
            now,
            LogLevel::Warning,
            format!("attempt {} failed, retrying in {} s: {error}", self.attempt, after.num_seconds()),
        );
        self.status = JobStatus::Pending;
        self.attempt += 1;
        self.lease_until = None;
        self.error = Some(error.to_string());
        Ok(())
    }

    fn require_running(&self, action: &'static str) -> Result<(), InvalidTransition> {
        if self.status == JobStatus::Running {
            Ok(())
        } else {
            Err(InvalidTransition { id: self.id.clone(), status: self.status, action })
        }
    }

    /// When another worker may take a running job over: `grace` after its lease ends (what its
    /// holder may still have at work elsewhere). `None`: not running, or running without a lease.
    pub fn takeover_at(&self, grace: Duration) -> Option<DateTime<Utc>> {
        if self.status != JobStatus::Running {
            return None;
        }
        self.lease_until.map(|lease| lease + grace)
    }

    pub fn heartbeat(&mut self, now: DateTime<Utc>, lease: Duration) -> Result<(), InvalidTransition> {
        self.require_running("heartbeat")?;
        self.lease_until = Some(now + lease);
        Ok(())
    }

    fn finish(&mut self, now: DateTime<Utc>, status: JobStatus) {
        self.status = status;
        self.completed = Some(now);
        self.duration_ms = self.started.map(|s| (now - s).num_milliseconds());
        self.lease_until = None;
    }

    pub fn complete(&mut self, now: DateTime<Utc>, result: Value) -> Result<(), InvalidTransition> {
        self.require_running("complete")?;
        self.finish(now, JobStatus::Completed);
        self.result = Some(result);
        Ok(())
    }

    /// Fails a running job, or a pending one that can never run (it could not be enqueued).
    pub fn fail(&mut self, now: DateTime<Utc>, error: impl Into<String>) -> Result<(), InvalidTransition> {
        if self.status != JobStatus::Pending {
            self.require_running("fail")?;
        }
        let error = error.into();
        self.log.push(now, LogLevel::Error, error.clone());
        self.finish(now, JobStatus::Failed);
        self.error = Some(error);
        Ok(())
    }

    /// The deletion breaker held this job's deletion: it waits, not run and not dropped, until
    /// an operator releases or discards it (`nzj deletions`). `result` says what it would delete.
    pub fn hold(&mut self, now: DateTime<Utc>, reason: &str, result: Value) -> Result<(), InvalidTransition> {
        self.require_running("hold")?;
        self.log.push(now, LogLevel::Warning, reason.to_string());
        self.status = JobStatus::Held;
        self.lease_until = None;
        self.result = Some(result);
        Ok(())
    }

    /// An operator decided on a held deletion: the record is completed with what was decided
    /// (released as another job, or discarded and the host kept).
    pub fn settle_held(&mut self, now: DateTime<Utc>, decision: String) -> Result<(), InvalidTransition> {
        if self.status != JobStatus::Held {
            return Err(InvalidTransition { id: self.id.clone(), status: self.status, action: "decide on" });
        }
        self.log.push(now, LogLevel::Info, decision.clone());
        self.finish(now, JobStatus::Completed);
        if let Some(Value::Object(result)) = &mut self.result {
            result.insert("message".into(), Value::String(decision));
        }
        Ok(())
    }

    /// The DeleteHost job that runs this held deletion (whatever job was held: an UpdateHost of
    /// a status set to remove, too), released by `user` past the breaker: pending, linked both
    /// ways; this record is completed saying so.
    pub fn release(
        &mut self,
        user: &str,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<JobRecord, InvalidTransition> {
        let origin = JobOrigin { trigger: Trigger::Api, user: user.into(), object: self.object.clone() };
        let mut released = JobRecord::new_pending(JobName::DeleteHost, origin, now, retention);
        released.retry_of = Some(self.id.clone());
        released.released_by = Some(user.to_string());
        released.log.push(now, LogLevel::Info, format!("held deletion {} released by {user}", self.id));
        self.settle_held(now, format!("released by {user}: the deletion runs as job {}", released.id))?;
        self.retried_by = Some(released.id.clone());
        Ok(released)
    }

    /// The holder stopped heartbeating: the run is over, without a result.
    pub fn mark_stalled(&mut self, now: DateTime<Utc>) -> Result<(), InvalidTransition> {
        self.require_running("mark stalled")?;
        let message = format!(
            "lease expired at {}: the process running this job stopped",
            self.lease_until.map_or_else(|| "?".into(), |l| l.to_rfc3339())
        );
        self.log.push(now, LogLevel::Error, message.clone());
        self.finish(now, JobStatus::Stalled);
        self.error = Some(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn running() -> JobRecord {
        let origin = JobOrigin { trigger: Trigger::Schedule, user: "scheduler".into(), object: None };
        JobRecord::new_running(JobName::MaintenanceCleanup, origin, t0(), Duration::seconds(60), Duration::days(30))
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = JobId::new_at(t0());
        let b = JobId::new_at(t0() + Duration::milliseconds(1));
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().parse::<JobId>().unwrap(), a);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for name in JobName::ALL {
            assert_eq!(name.as_str().parse::<JobName>().unwrap(), *name);
        }
        let err = "Frobnicate".parse::<JobName>().unwrap_err();
        assert!(err.to_string().contains("ImportZabbixSettings"));
        assert_eq!(JobName::from(SystemJob::MaintenanceCleanup).kind(), JobKind::System);
        assert_eq!(JobName::SyncHostsNow.kind(), JobKind::Sync);
        assert_eq!(JobName::DeleteHost.kind(), JobKind::Host);
    }

    #[test]
    fn a_finished_job_cannot_change_again() {
        let mut job = running();
        job.complete(t0() + Duration::seconds(5), json!({"deleted": 0})).unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.duration_ms, Some(5000));
        assert!(job.fail(t0(), "late").is_err());
        assert!(job.mark_stalled(t0()).is_err());
        assert!(job.heartbeat(t0(), Duration::seconds(1)).is_err());
    }

    #[test]
    fn a_pending_job_starts_once_and_a_transient_failure_makes_it_pending_again() {
        let origin =
            JobOrigin { trigger: Trigger::Webhook, user: "netbox".into(), object: Some("dcim.device/1".into()) };
        let mut job = JobRecord::new_pending(JobName::UpdateHost, origin, t0(), Duration::days(1));
        assert_eq!((job.status, job.started, job.lease_until), (JobStatus::Pending, None, None));
        job.start(t0(), Duration::seconds(60)).unwrap();
        assert!(job.start(t0(), Duration::seconds(60)).is_err(), "started twice");
        job.retry_later(t0(), "Zabbix host.get: no answer", Duration::seconds(30)).unwrap();
        assert_eq!((job.status, job.attempt), (JobStatus::Pending, 2));
        job.start(t0(), Duration::seconds(60)).unwrap();
        job.complete(t0(), json!({})).unwrap();
        assert_eq!(job.status, JobStatus::Completed);
    }

    #[test]
    fn lease_expiry_is_detected_only_for_running_jobs() {
        let expired = |job: &JobRecord, at| job.takeover_at(Duration::zero()).is_some_and(|free| free <= at);
        let mut job = running();
        assert!(!expired(&job, t0() + Duration::seconds(59)));
        assert!(expired(&job, t0() + Duration::seconds(60)));
        assert_eq!(job.takeover_at(Duration::seconds(45)), Some(t0() + Duration::seconds(105)));
        job.heartbeat(t0() + Duration::seconds(50), Duration::seconds(60)).unwrap();
        assert!(!expired(&job, t0() + Duration::seconds(100)));
        job.mark_stalled(t0() + Duration::seconds(200)).unwrap();
        assert_eq!(job.status, JobStatus::Stalled);
        assert!(!expired(&job, t0() + Duration::seconds(300)));
        assert!(job.error.as_deref().unwrap().contains("lease expired"));
    }

    #[test]
    fn the_log_is_bounded_and_keeps_both_ends() {
        let mut log = JobLog::default();
        for i in 0..1000 {
            log.push(t0(), LogLevel::Info, format!("line {i}"));
        }
        assert_eq!(log.entries.len(), JobLog::MAX_ENTRIES);
        assert_eq!(log.dropped, 1000 - JobLog::MAX_ENTRIES as u64);
        assert_eq!(log.entries[0].message, "line 0");
        assert_eq!(log.entries.last().unwrap().message, "line 999");
        log.push(t0(), LogLevel::Info, "x".repeat(5000));
        assert!(log.entries.last().unwrap().message.chars().count() <= JobLog::MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn records_serialize_with_the_documented_names() {
        let job = running();
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(v["name"], "MaintenanceCleanup");
        assert_eq!(v["kind"], "system");
        assert_eq!(v["status"], "running");
        assert_eq!(v["trigger"], "schedule");
        let back: JobRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, job);
    }
}

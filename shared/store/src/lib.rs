//! The job store: one port, two adapters.
//!
//! The store reads each kind of document (jobs, schedules, caches, settings, host configs,
//! maintenance windows, the sync run, delivery records), lists jobs, and commits a set of
//! conditional writes all-or-nothing. Every rule (who may claim a job, when a run is stalled) lives
//! in `nzj-core` and `nzj-runtime`; the adapters only guarantee atomicity, so both behave alike
//! and one conformance suite checks them both.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nzj_core::breaker::DeletionWindow;
use nzj_core::host_config::HostConfig;
use nzj_core::maintenance::Maintenance;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_core::sync::SyncRun;
use nzj_core::sync_schedule::SyncSchedule;
use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot};
use nzj_core::{JobId, JobKind, JobName, JobRecord, JobStatus, ScheduleEntry, SystemJob, Trigger};

#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
mod document;
#[cfg(feature = "dynamodb")]
mod dynamodb;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
pub(crate) use document::*;
#[cfg(feature = "dynamodb")]
pub use dynamodb::{DynamoDbStore, ITEM_SCHEMA as DYNAMODB_ITEM_SCHEMA};
#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION as SQLITE_SCHEMA_VERSION, SqliteStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found another version than expected: someone else wrote first.
    /// Nothing of the commit was applied; re-read and decide again.
    #[error("conflict: the record changed since it was read")]
    Conflict,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}

/// One conditional write. `expected_version` is the version read (0: the item must not exist);
/// the store writes the item with version `expected_version + 1`.
#[derive(Debug, Clone)]
pub enum Write {
    Job {
        record: Box<JobRecord>,
        expected_version: u64,
    },
    Schedule {
        entry: ScheduleEntry,
        expected_version: u64,
    },
    Cache {
        snapshot: CacheSnapshot,
        expected_version: u64,
    },
    Maintenance {
        maintenance: Box<Maintenance>,
        expected_version: u64,
    },
    Settings {
        settings: Box<Settings>,
        expected_version: u64,
    },
    HostConfig {
        config: Box<HostConfig>,
        expected_version: u64,
    },
    /// Records that the webhook delivery `key` became job `job_id`; fails (conflict) if the key
    /// is known already, so a delivery is never processed twice.
    Delivery {
        key: String,
        job_id: JobId,
    },
    SyncSchedule {
        schedule: SyncSchedule,
        expected_version: u64,
    },
    SyncRun {
        run: Box<SyncRun>,
        expected_version: u64,
    },
    /// The deletion breaker's window: taking room in it is this conditional write.
    DeletionWindow {
        window: DeletionWindow,
        expected_version: u64,
    },
    /// Deletes a maintenance window if it is still at `expected_version`.
    DeleteMaintenance {
        id: String,
        expected_version: u64,
    },
}

impl Write {
    /// Write `record` over the version it was read at (its current `version`).
    pub fn job(record: JobRecord) -> Write {
        let expected_version = record.version;
        Write::Job { record: Box::new(record), expected_version }
    }

    /// Write `maintenance` over the version it was read at (its current `version`).
    pub fn maintenance(maintenance: Maintenance) -> Write {
        let expected_version = maintenance.version;
        Write::Maintenance { maintenance: Box::new(maintenance), expected_version }
    }

    /// Write `config` over the version it was read at (its current `version`).
    pub fn host_config(config: HostConfig) -> Write {
        let expected_version = config.version;
        Write::HostConfig { config: Box::new(config), expected_version }
    }

    /// Write `settings` over the version it was read at (its current `version`).
    pub fn settings(settings: Settings) -> Write {
        let expected_version = settings.version;
        Write::Settings { settings: Box::new(settings), expected_version }
    }

    /// Write `snapshot` over the version it was read at (its current `version`).
    pub fn cache(snapshot: CacheSnapshot) -> Write {
        let expected_version = snapshot.version;
        Write::Cache { snapshot, expected_version }
    }

    /// Write `entry` over the version it was read at (its current `version`).
    pub fn sync_run(run: SyncRun) -> Write {
        let expected_version = run.version;
        Write::SyncRun { run: Box::new(run), expected_version }
    }

    /// Write `window` over the version it was read at (its current `version`).
    pub fn deletion_window(window: DeletionWindow) -> Write {
        let expected_version = window.version;
        Write::DeletionWindow { window, expected_version }
    }

    /// Write `schedule` over the version it was read at (its current `version`).
    pub fn sync_schedule(schedule: SyncSchedule) -> Write {
        let expected_version = schedule.version;
        Write::SyncSchedule { schedule, expected_version }
    }

    pub fn schedule(entry: ScheduleEntry) -> Write {
        let expected_version = entry.version;
        Write::Schedule { entry, expected_version }
    }
}

/// A page of jobs, newest first, that match every filter given. Which index serves which filter
/// (README, "The operator's day"): by name or kind the name index, by object the group index;
/// time ranges are id ranges in either; status, user and trigger narrow what those read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    pub name: Option<JobName>,
    /// Only system jobs, host jobs or syncs (the names of that kind).
    pub kind: Option<JobKind>,
    pub status: Option<JobStatus>,
    /// Only jobs created at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only jobs started by this user (`scheduler`, `netbox`, `cli`, a token's name).
    pub user: Option<String>,
    /// Only jobs of this NetBox object (`dcim.device/12`).
    pub object: Option<String>,
    pub trigger: Option<Trigger>,
    /// Only jobs older than this one (the previous page's `next_cursor`).
    pub before: Option<JobId>,
    pub limit: usize,
}

impl JobQuery {
    pub const MAX_LIMIT: usize = 500;

    /// The job names this query covers.
    pub fn names(&self) -> Vec<JobName> {
        match (self.name, self.kind) {
            (Some(name), _) => vec![name],
            (None, Some(kind)) => JobName::ALL.iter().copied().filter(|n| n.kind() == kind).collect(),
            (None, None) => JobName::ALL.to_vec(),
        }
    }

    /// The ids the query covers, as the stores compare them (text): from the first id of `since`
    /// (inclusive) to the smaller of the cursor and the first id of `until` (exclusive).
    pub fn id_range(&self) -> (Option<String>, Option<String>) {
        let lower = self.since.map(|t| JobId::first_at(t).to_string());
        let until = self.until.map(|t| JobId::first_at(t).to_string());
        let upper = match (self.before.as_ref().map(JobId::to_string), until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (lower, upper)
    }

    /// Whether `job` passes every filter: what each store's reads return (the reference for tests).
    pub fn matches(&self, job: &JobRecord) -> bool {
        let id = job.id.to_string();
        let (lower, upper) = self.id_range();
        self.names().contains(&job.name)
            && self.status.is_none_or(|s| s == job.status)
            && lower.is_none_or(|l| id >= l)
            && upper.is_none_or(|u| id < u)
            && self.user.as_ref().is_none_or(|u| *u == job.user)
            && self.object.as_ref().is_none_or(|o| job.object.as_ref() == Some(o))
            && self.trigger.is_none_or(|t| t == job.trigger)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next_cursor: Option<JobId>,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    async fn get_job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError>;

    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage, StoreError>;

    async fn get_schedule(&self, job: SystemJob) -> Result<Option<ScheduleEntry>, StoreError>;

    /// The cached Zabbix objects of one kind (empty, version 0, if never imported).
    async fn get_cache(&self, kind: CacheKind) -> Result<CacheSnapshot, StoreError>;

    /// The settings as stored, or the defaults (version 0) if never written.
    async fn get_settings(&self) -> Result<Settings, StoreError>;

    async fn get_host_config(&self, object: ObjectRef) -> Result<Option<HostConfig>, StoreError>;

    /// Host configs ordered by object, after `after` (the previous page's last object), at most
    /// `limit`.
    async fn list_host_configs(&self, after: Option<ObjectRef>, limit: usize) -> Result<Vec<HostConfig>, StoreError>;

    /// Host configs whose last job failed, ordered by object, after `after`, at most `limit`:
    /// read from an index of their own (fast however many configs there are).
    async fn list_failed_hosts(&self, after: Option<ObjectRef>, limit: usize) -> Result<Vec<HostConfig>, StoreError>;

    /// The job a webhook delivery became, if it was received before.
    async fn get_delivery(&self, key: &str) -> Result<Option<JobId>, StoreError>;

    /// SyncHostsNow's run document (its progress and single-instance lock), if a sync ever ran.
    async fn get_sync_run(&self) -> Result<Option<SyncRun>, StoreError>;

    /// SyncHostsNow's schedule as stored, or off (version 0) if never set.
    async fn get_sync_schedule(&self) -> Result<SyncSchedule, StoreError>;

    /// The deletion breaker's window (empty, version 0, if nothing was ever deleted).
    async fn get_deletion_window(&self) -> Result<DeletionWindow, StoreError>;

    async fn get_maintenance(&self, id: &str) -> Result<Option<Maintenance>, StoreError>;

    /// Every maintenance window, ordered by id (creation time).
    async fn list_maintenances(&self) -> Result<Vec<Maintenance>, StoreError>;

    /// Applies every write or none; [`StoreError::Conflict`] if any expected version is stale.
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Whether the store can take writes now, for `/healthz`: cheap (one small write or read).
    /// By default a read; the embedded store also checks its file and probes a write.
    async fn check_writable(&self) -> Result<(), StoreError> {
        self.get_schedule(SystemJob::ImportZabbixSettings).await.map(|_| ())
    }

    /// Deletes job records whose `expires_at` has passed; returns how many. On DynamoDB the
    /// table's TTL does this, and readers never rely on it for correctness.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

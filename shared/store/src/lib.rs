//! The job store: one port, two adapters.
//!
//! The store is deliberately small: read a job or a schedule entry, list jobs, and commit a set of
//! conditional writes all-or-nothing. Every rule (who may claim a job, when a run is stalled) lives
//! in `nzj-core` and `nzj-runtime`; the adapters only guarantee atomicity, so both behave alike
//! and one conformance suite checks them both.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nzj_core::host_config::HostConfig;
use nzj_core::maintenance::Maintenance;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_core::sync::SyncRun;
use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot};
use nzj_core::{JobId, JobName, JobRecord, JobStatus, ScheduleEntry, SystemJob};

mod dynamodb;
mod sqlite;

pub use dynamodb::{DynamoDbStore, ITEM_SCHEMA as DYNAMODB_ITEM_SCHEMA};
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
        record: JobRecord,
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
    SyncRun {
        run: Box<SyncRun>,
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
        Write::Job { record, expected_version }
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

    pub fn schedule(entry: ScheduleEntry) -> Write {
        let expected_version = entry.version;
        Write::Schedule { entry, expected_version }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    pub name: Option<JobName>,
    pub status: Option<JobStatus>,
    /// Only jobs older than this one (the previous page's `next_cursor`).
    pub before: Option<JobId>,
    pub limit: usize,
}

impl JobQuery {
    pub const MAX_LIMIT: usize = 500;

    /// The job names this query covers.
    pub fn names(&self) -> Vec<JobName> {
        self.name.map_or_else(|| JobName::ALL.to_vec(), |n| vec![n])
    }

    fn limit(&self) -> usize {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next_cursor: Option<JobId>,
}

impl JobPage {
    /// Newest first, cut to the query's limit; the cursor is set only if more may follow.
    fn from_candidates(mut jobs: Vec<JobRecord>, query: &JobQuery) -> JobPage {
        jobs.sort_by(|a, b| b.id.cmp(&a.id));
        let more = jobs.len() > query.limit();
        jobs.truncate(query.limit());
        let next_cursor = if more { jobs.last().map(|j| j.id.clone()) } else { None };
        JobPage { jobs, next_cursor }
    }
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

    /// The job a webhook delivery became, if it was received before.
    async fn get_delivery(&self, key: &str) -> Result<Option<JobId>, StoreError>;

    /// SyncHostsNow's run document (its progress and single-instance lock), if a sync ever ran.
    async fn get_sync_run(&self) -> Result<Option<SyncRun>, StoreError>;

    async fn get_maintenance(&self, id: &str) -> Result<Option<Maintenance>, StoreError>;

    /// Every maintenance window, ordered by id (creation time).
    async fn list_maintenances(&self) -> Result<Vec<Maintenance>, StoreError>;

    /// Applies every write or none; [`StoreError::Conflict`] if any expected version is stale.
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Deletes job records whose `expires_at` has passed; returns how many. On DynamoDB the
    /// table's TTL does this, and readers never rely on it for correctness.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// A schedule entry or cache snapshot as the adapters keep it: a JSON body under a key, with a
/// version for conditional writes. Job records are kept apart, with columns for listing.
pub(crate) struct Document {
    pub key: String,
    pub expected_version: u64,
    pub body: String,
    /// For documents that are listed (maintenance windows): the list they belong to.
    pub list: Option<&'static str>,
}

pub(crate) const MAINTENANCE_LIST: &str = "maintenance";
pub(crate) const SETTINGS_KEY: &str = "settings";
pub(crate) const HOST_CONFIG_LIST: &str = "hostconfig";
pub(crate) const SYNC_RUN_KEY: &str = "sync#run";

pub(crate) fn delivery_key(key: &str) -> String {
    format!("delivery#{key}")
}

pub(crate) fn host_config_key(object: ObjectRef) -> String {
    format!("{HOST_CONFIG_LIST}#{object}")
}

pub(crate) fn maintenance_key(id: &str) -> String {
    format!("maintenance#{id}")
}

pub(crate) fn schedule_key(job: SystemJob) -> String {
    format!("schedule#{job}")
}

pub(crate) fn cache_key(kind: CacheKind) -> String {
    format!("cache#{kind}")
}

/// A write, split into the job record it writes (stamped with its new version) or the
/// document it writes.
pub(crate) enum Prepared {
    Job { record: Box<JobRecord>, expected_version: u64 },
    Document(Document),
    Delete { key: String, expected_version: u64 },
}

impl Write {
    pub(crate) fn prepare(self) -> Result<Prepared, StoreError> {
        Ok(match self {
            Write::Job { mut record, expected_version } => {
                record.version = expected_version + 1;
                Prepared::Job { record: Box::new(record), expected_version }
            }
            Write::Schedule { mut entry, expected_version } => {
                entry.version = expected_version + 1;
                Prepared::Document(Document {
                    key: schedule_key(entry.job),
                    expected_version,
                    body: encode(&entry)?,
                    list: None,
                })
            }
            Write::Cache { mut snapshot, expected_version } => {
                snapshot.version = expected_version + 1;
                Prepared::Document(Document {
                    key: cache_key(snapshot.kind),
                    expected_version,
                    body: encode(&snapshot)?,
                    list: None,
                })
            }
            Write::Maintenance { mut maintenance, expected_version } => {
                maintenance.version = expected_version + 1;
                Prepared::Document(Document {
                    key: maintenance_key(&maintenance.id),
                    expected_version,
                    body: encode(&maintenance)?,
                    list: Some(MAINTENANCE_LIST),
                })
            }
            Write::Settings { mut settings, expected_version } => {
                settings.version = expected_version + 1;
                Prepared::Document(Document {
                    key: SETTINGS_KEY.to_string(),
                    expected_version,
                    body: encode(&settings)?,
                    list: None,
                })
            }
            Write::HostConfig { mut config, expected_version } => {
                config.version = expected_version + 1;
                Prepared::Document(Document {
                    key: host_config_key(config.object),
                    expected_version,
                    body: encode(&config)?,
                    list: Some(HOST_CONFIG_LIST),
                })
            }
            Write::SyncRun { mut run, expected_version } => {
                run.version = expected_version + 1;
                Prepared::Document(Document {
                    key: SYNC_RUN_KEY.to_string(),
                    expected_version,
                    body: encode(&run)?,
                    list: None,
                })
            }
            Write::Delivery { key, job_id } => Prepared::Document(Document {
                key: delivery_key(&key),
                expected_version: 0,
                body: encode(&job_id)?,
                list: None,
            }),
            Write::DeleteMaintenance { id, expected_version } => {
                Prepared::Delete { key: maintenance_key(&id), expected_version }
            }
        })
    }
}

/// Decodes a document body and stamps it with its stored version.
pub(crate) fn decode_versioned<T: serde::de::DeserializeOwned>(
    body: &str,
    version: u64,
    set_version: impl FnOnce(&mut T, u64),
) -> Result<T, StoreError> {
    let mut value: T = decode(body)?;
    set_version(&mut value, version);
    Ok(value)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

//! What both adapters share: how a [`Write`] becomes a stored document (its key, its version,
//! its JSON body), the keys of each kind of document, and how a page of jobs is cut. Compiled
//! only with an adapter feature; the port alone has no storage format.

use crate::{JobPage, JobQuery, StoreError, Write};
use nzj_core::JobRecord;
use nzj_core::SystemJob;
use nzj_core::netbox::ObjectRef;
use nzj_core::zabbix_cache::CacheKind;

impl JobQuery {
    pub(crate) fn limit(&self) -> usize {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

impl JobPage {
    /// Newest first, cut to the query's limit; the cursor is set only if more may follow.
    pub(crate) fn from_candidates(mut jobs: Vec<JobRecord>, query: &JobQuery) -> JobPage {
        jobs.sort_by(|a, b| b.id.cmp(&a.id));
        let more = jobs.len() > query.limit();
        jobs.truncate(query.limit());
        let next_cursor = if more { jobs.last().map(|j| j.id.clone()) } else { None };
        JobPage { jobs, next_cursor }
    }
}

/// A schedule entry or cache snapshot as the adapters keep it: a JSON body under a key, with a
/// version for conditional writes. Job records are kept apart, with columns for listing.
pub(crate) struct Document {
    pub key: String,
    pub expected_version: u64,
    pub body: String,
    /// For documents that are listed (maintenance windows): the list they belong to. DynamoDB
    /// indexes it; SQLite lists by key prefix.
    #[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
    pub list: Option<&'static str>,
    /// A group the document is in besides its list (host configs whose last job failed):
    /// DynamoDB indexes it; SQLite has a partial index on the same condition.
    #[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
    pub group: Option<&'static str>,
}

/// The group of host configs whose last job failed (`nzj hosts ls --failed`).
pub(crate) const FAILED_HOSTS: &str = "hostconfig:failed";

pub(crate) const MAINTENANCE_LIST: &str = "maintenance";
pub(crate) const SETTINGS_KEY: &str = "settings";
pub(crate) const HOST_CONFIG_LIST: &str = "hostconfig";
pub(crate) const SYNC_RUN_KEY: &str = "sync#run";
/// Beside the system jobs' `schedule#<job>`.
pub(crate) const SYNC_SCHEDULE_KEY: &str = "schedule#SyncHostsNow";
pub(crate) const DELETION_WINDOW_KEY: &str = "breaker#deletions";

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
                Prepared::Job { record, expected_version }
            }
            Write::Schedule { mut entry, expected_version } => {
                entry.version = expected_version + 1;
                Prepared::Document(Document {
                    key: schedule_key(entry.job),
                    expected_version,
                    body: encode(&entry)?,
                    list: None,
                    group: None,
                })
            }
            Write::Cache { mut snapshot, expected_version } => {
                snapshot.version = expected_version + 1;
                Prepared::Document(Document {
                    key: cache_key(snapshot.kind),
                    expected_version,
                    body: encode(&snapshot)?,
                    list: None,
                    group: None,
                })
            }
            Write::Maintenance { mut maintenance, expected_version } => {
                maintenance.version = expected_version + 1;
                Prepared::Document(Document {
                    key: maintenance_key(&maintenance.id),
                    expected_version,
                    body: encode(&maintenance)?,
                    list: Some(MAINTENANCE_LIST),
                    group: None,
                })
            }
            Write::Settings { mut settings, expected_version } => {
                settings.version = expected_version + 1;
                Prepared::Document(Document {
                    key: SETTINGS_KEY.to_string(),
                    expected_version,
                    body: encode(&settings)?,
                    list: None,
                    group: None,
                })
            }
            Write::HostConfig { mut config, expected_version } => {
                config.version = expected_version + 1;
                Prepared::Document(Document {
                    key: host_config_key(config.object),
                    expected_version,
                    body: encode(&config)?,
                    list: Some(HOST_CONFIG_LIST),
                    group: config.last_failure.is_some().then_some(FAILED_HOSTS),
                })
            }
            Write::SyncSchedule { mut schedule, expected_version } => {
                schedule.version = expected_version + 1;
                Prepared::Document(Document {
                    key: SYNC_SCHEDULE_KEY.to_string(),
                    expected_version,
                    body: encode(&schedule)?,
                    list: None,
                    group: None,
                })
            }
            Write::SyncRun { mut run, expected_version } => {
                run.version = expected_version + 1;
                Prepared::Document(Document {
                    key: SYNC_RUN_KEY.to_string(),
                    expected_version,
                    body: encode(&run)?,
                    list: None,
                    group: None,
                })
            }
            Write::DeletionWindow { mut window, expected_version } => {
                window.version = expected_version + 1;
                Prepared::Document(Document {
                    key: DELETION_WINDOW_KEY.to_string(),
                    expected_version,
                    body: encode(&window)?,
                    list: None,
                    group: None,
                })
            }
            Write::Delivery { key, job_id } => Prepared::Document(Document {
                key: delivery_key(&key),
                expected_version: 0,
                body: encode(&job_id)?,
                list: None,
                group: None,
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

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

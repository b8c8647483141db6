//! The embedded store for `nzj serve`: SQLite in one file, one connection behind a mutex, each
//! commit one `BEGIN IMMEDIATE` transaction, so conditional writes are atomic.
//!
//! A file removed or replaced under the open connection (the data directory deleted) would take
//! writes into an unlinked file and lose them at the next start: every write first checks that
//! the path still names the file that was opened, and refuses if not (docs/guarantees.md).

use crate::{
    DELETION_WINDOW_KEY, JobPage, JobQuery, JobStore, MAINTENANCE_LIST, Prepared, SETTINGS_KEY, SYNC_RUN_KEY,
    SYNC_SCHEDULE_KEY, StoreError, Write, cache_key, decode_versioned, encode, maintenance_key, schedule_key,
};
use crate::{HOST_CONFIG_LIST, host_config_key};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nzj_core::breaker::DeletionWindow;
use nzj_core::host_config::HostConfig;
use nzj_core::last_write::LastWrite;
use nzj_core::maintenance::Maintenance;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_core::sync::SyncRun;
use nzj_core::sync_schedule::SyncSchedule;
use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot};
use nzj_core::{JobId, JobRecord, ScheduleEntry, SystemJob};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The schema, one migration per version (`PRAGMA user_version` counts them). Never edit a
/// migration that has shipped: add the next one. The first is written with `IF NOT EXISTS` so a
/// database created before versioning (user_version 0, these tables) is taken over as it is.
const MIGRATIONS: &[M<'static>] = &[M::up(SCHEMA_1), M::up(SCHEMA_2)];

/// The schema version this build writes: the number of migrations.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

const SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (name, id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, id);
CREATE INDEX IF NOT EXISTS jobs_by_expiry ON jobs (expires_at);
CREATE TABLE IF NOT EXISTS documents (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
";

/// Jobs listed by object, user or trigger (`nzj jobs ls --object ...`) read an index, not the
/// table: indexes on the record's own fields, which every job already has. Host configs whose
/// last job failed (`nzj hosts ls --failed`) have a partial index of their own.
const SCHEMA_2: &str = "
CREATE INDEX jobs_by_object ON jobs (json_extract(body, '$.object'), id);
CREATE INDEX jobs_by_user ON jobs (json_extract(body, '$.user'), id);
CREATE INDEX jobs_by_trigger ON jobs (json_extract(body, '$.trigger'), id);
CREATE INDEX documents_failed ON documents (key) WHERE CASE WHEN json_valid(body) THEN json_extract(body, '$.last_failure') END IS NOT NULL;
";

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Every write goes through it: concurrent commits share one durable transaction.
    group: nzj_sqlite::GroupCommit<StoreError>,
    file: Arc<OpenedFile>,
    /// How the last commit ended (a probe that still fits proves little when commits fail).
    last_write: Arc<LastWrite>,
}

/// The database file as opened: its path and its identity (device and inode) at the time.
struct OpenedFile {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl OpenedFile {
    fn identity(path: &Path) -> Option<(u64, u64)> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
        }
        #[cfg(not(unix))]
        {
            std::fs::metadata(path).ok().map(|_| (0, 0))
        }
    }

    /// Whether the path still names the opened file; a clear error if not.
    fn check(&self) -> Result<(), StoreError> {
        if Self::identity(&self.path) == self.identity {
            return Ok(());
        }
        Err(StoreError::Unavailable(format!(
            "the embedded store {} was removed or replaced while nzj had it open: nothing more is written \
             (it would be lost); restore the data directory and restart nzj serve",
            self.path.display()
        )))
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        // Durable: a commit answered is on disk, not only in the OS (group commit pays for it).
        conn.pragma_update(None, "synchronous", "FULL").map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(unavailable)?;
        let found: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(unavailable)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "{} was written by a newer nzj (schema {found}; this one knows up to {SCHEMA_VERSION}): upgrade nzj",
                path.display()
            )));
        }
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).map_err(unavailable)?;
        let file = OpenedFile { path: path.to_path_buf(), identity: OpenedFile::identity(path) };
        let conn = Arc::new(Mutex::new(conn));
        let group = nzj_sqlite::GroupCommit::new(conn.clone(), StoreError::Unavailable);
        Ok(SqliteStore { conn, group, file: Arc::new(file), last_write: Arc::default() })
    }

    /// How many durable transactions the grouped writes took so far (the bench's figure).
    pub fn commits(&self) -> u64 {
        self.group.commits()
    }

    /// Runs the write `f` on the connection once the file is known to be the one opened.
    async fn with_write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let file = self.file.clone();
        self.with_conn(move |conn| {
            file.check()?;
            f(conn)
        })
        .await
    }

    /// Runs `f` on the connection off the async runtime's threads.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| unavailable("connection lock poisoned"))?;
            f(&mut conn)
        })
        .await
        .map_err(unavailable)?
    }

    /// Documents of one list (`<list>#...` keys) after the key `after`, in key order.
    async fn list_documents(&self, list: &str, after: String, limit: usize) -> Result<Vec<(String, u64)>, StoreError> {
        self.list_documents_where(list, after, limit, "").await
    }

    /// As `list_documents`, only those that also meet `condition` (SQL on `body`).
    async fn list_documents_where(
        &self,
        list: &str,
        after: String,
        limit: usize,
        condition: &'static str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let (low, high) = (format!("{list}#"), format!("{list}$")); // '$' sorts right after '#'
        let after = after.max(low);
        let limit = limit.min(i64::MAX as usize) as i64;
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT body, version FROM documents WHERE key > ?1 AND key < ?2 {condition} ORDER BY key LIMIT ?3"
            );
            let mut stmt = conn.prepare(&sql).map_err(unavailable)?;
            let rows = stmt
                .query_map(rusqlite::params![after, high, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })
                .map_err(unavailable)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
        .await
    }

    async fn get_document(&self, key: String) -> Result<Option<(String, u64)>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row("SELECT body, version FROM documents WHERE key = ?1", [&key], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .optional()
            .map_err(unavailable)
        })
        .await
    }
}

fn job_from_row(body: String, version: i64) -> Result<JobRecord, StoreError> {
    decode_versioned(&body, version as u64, |job: &mut JobRecord, v| job.version = v)
}

fn check_version(found: Option<i64>, expected: u64) -> Result<(), StoreError> {
    if found.unwrap_or(0) as u64 == expected { Ok(()) } else { Err(StoreError::Conflict) }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn get_job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        let id = id.to_string();
        self.with_conn(move |conn| {
            conn.query_row("SELECT body, version FROM jobs WHERE id = ?1", [&id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(unavailable)?
            .map(|(body, version)| job_from_row(body, version))
            .transpose()
        })
        .await
    }

    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        let query = query.clone();
        self.with_conn(move |conn| {
            let mut sql = String::from("SELECT body, version FROM jobs WHERE 1 = 1");
            if query.name.is_some() || query.kind.is_some() {
                // Job names are the product's own identifiers, never user text.
                let names: Vec<String> = query.names().iter().map(|n| format!("'{}'", n.as_str())).collect();
                sql += &format!(" AND name IN ({})", names.join(", "));
            }
            let mut args: Vec<String> = Vec::new();
            let mut filter = |column: &str, op: &str, value: String| {
                args.push(value);
                sql += &format!(" AND {column} {op} ?{}", args.len());
            };
            if let Some(status) = query.status {
                filter("status", "=", status.to_string());
            }
            let (lower, upper) = query.id_range();
            if let Some(lower) = lower {
                filter("id", ">=", lower);
            }
            if let Some(upper) = upper {
                filter("id", "<", upper);
            }
            // The same expressions as SCHEMA_2's indexes, so SQLite reads those.
            if let Some(object) = &query.object {
                filter("json_extract(body, '$.object')", "=", object.clone());
            }
            if let Some(user) = &query.user {
                filter("json_extract(body, '$.user')", "=", user.clone());
            }
            if let Some(trigger) = query.trigger {
                filter("json_extract(body, '$.trigger')", "=", trigger.to_string());
            }
            // One more than the page, to know whether another page follows.
            sql += &format!(" ORDER BY id DESC LIMIT {}", query.limit() + 1);
            let mut stmt = conn.prepare(&sql).map_err(unavailable)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(unavailable)?;
            let jobs = rows
                .map(|row| row.map_err(unavailable).and_then(|(b, v)| job_from_row(b, v)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(JobPage::from_candidates(jobs, &query))
        })
        .await
    }

    async fn get_schedule(&self, job: SystemJob) -> Result<Option<ScheduleEntry>, StoreError> {
        self.get_document(schedule_key(job))
            .await?
            .map(|(body, version)| decode_versioned(&body, version, |e: &mut ScheduleEntry, v| e.version = v))
            .transpose()
    }

    async fn get_sync_schedule(&self) -> Result<SyncSchedule, StoreError> {
        match self.get_document(SYNC_SCHEDULE_KEY.to_string()).await? {
            Some((body, version)) => decode_versioned(&body, version, |s: &mut SyncSchedule, v| s.version = v),
            None => Ok(SyncSchedule::default()),
        }
    }

    async fn get_cache(&self, kind: CacheKind) -> Result<CacheSnapshot, StoreError> {
        match self.get_document(cache_key(kind)).await? {
            Some((body, version)) => decode_versioned(&body, version, |s: &mut CacheSnapshot, v| s.version = v),
            None => Ok(CacheSnapshot::empty(kind)),
        }
    }

    async fn get_settings(&self) -> Result<Settings, StoreError> {
        match self.get_document(SETTINGS_KEY.to_string()).await? {
            Some((body, version)) => decode_versioned(&body, version, |s: &mut Settings, v| s.version = v),
            None => Ok(Settings::default()),
        }
    }

    async fn get_sync_run(&self) -> Result<Option<SyncRun>, StoreError> {
        self.get_document(SYNC_RUN_KEY.to_string())
            .await?
            .map(|(body, version)| decode_versioned(&body, version, |r: &mut SyncRun, v| r.version = v))
            .transpose()
    }

    async fn get_deletion_window(&self) -> Result<DeletionWindow, StoreError> {
        match self.get_document(DELETION_WINDOW_KEY.to_string()).await? {
            Some((body, version)) => decode_versioned(&body, version, |w: &mut DeletionWindow, v| w.version = v),
            None => Ok(DeletionWindow::default()),
        }
    }

    async fn get_delivery(&self, key: &str) -> Result<Option<JobId>, StoreError> {
        self.get_document(crate::delivery_key(key)).await?.map(|(body, _)| crate::decode(&body)).transpose()
    }

    async fn get_maintenance(&self, id: &str) -> Result<Option<Maintenance>, StoreError> {
        self.get_document(maintenance_key(id))
            .await?
            .map(|(body, version)| decode_versioned(&body, version, |m: &mut Maintenance, v| m.version = v))
            .transpose()
    }

    async fn list_maintenances(&self) -> Result<Vec<Maintenance>, StoreError> {
        let rows = self.list_documents(MAINTENANCE_LIST, String::new(), usize::MAX).await?;
        rows.iter()
            .map(|(body, version)| decode_versioned(body, *version, |m: &mut Maintenance, v| m.version = v))
            .collect()
    }

    async fn get_host_config(&self, object: ObjectRef) -> Result<Option<HostConfig>, StoreError> {
        self.get_document(host_config_key(object))
            .await?
            .map(|(body, version)| decode_versioned(&body, version, |c: &mut HostConfig, v| c.version = v))
            .transpose()
    }

    async fn list_host_configs(&self, after: Option<ObjectRef>, limit: usize) -> Result<Vec<HostConfig>, StoreError> {
        let after = after.map(host_config_key).unwrap_or_default();
        let rows = self.list_documents(HOST_CONFIG_LIST, after, limit).await?;
        rows.iter()
            .map(|(body, version)| decode_versioned(body, *version, |c: &mut HostConfig, v| c.version = v))
            .collect()
    }

    async fn list_failed_hosts(&self, after: Option<ObjectRef>, limit: usize) -> Result<Vec<HostConfig>, StoreError> {
        let after = after.map(host_config_key).unwrap_or_default();
        // The partial index's own condition, so SQLite reads that index (a body that is not JSON,
        // the health probe's, is in no list).
        let failed = "AND CASE WHEN json_valid(body) THEN json_extract(body, '$.last_failure') END IS NOT NULL";
        let rows = self.list_documents_where(HOST_CONFIG_LIST, after, limit, failed).await?;
        rows.iter()
            .map(|(body, version)| decode_versioned(body, *version, |c: &mut HostConfig, v| c.version = v))
            .collect()
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let prepared = writes.into_iter().map(Write::prepare).collect::<Result<Vec<_>, _>>()?;
        // One savepoint of the next group commit (nzj_sqlite): concurrent commits share its fsync.
        let file = self.file.clone();
        let committed = self
            .group
            .write(move |tx| {
                file.check()?;
                for write in prepared {
                    match write {
                        Prepared::Job { record, expected_version } => {
                            let id = record.id.to_string();
                            let body = encode(&record)?;
                            let found: Option<i64> = tx
                                .prepare_cached("SELECT version FROM jobs WHERE id = ?1")
                                .and_then(|mut s| s.query_row([&id], |r| r.get(0)))
                                .optional()
                                .map_err(unavailable)?;
                            check_version(found, expected_version)?;
                            tx.prepare_cached(
                                "INSERT OR REPLACE INTO jobs (id, name, status, version, expires_at, body)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            )
                            .and_then(|mut s| {
                                s.execute(params![
                                    id,
                                    record.name.as_str(),
                                    record.status.as_str(),
                                    record.version as i64,
                                    record.expires_at,
                                    body
                                ])
                            })
                            .map_err(unavailable)?;
                        }
                        Prepared::Delete { key, expected_version } => {
                            let found: Option<i64> = tx
                                .prepare_cached("SELECT version FROM documents WHERE key = ?1")
                                .and_then(|mut s| s.query_row([&key], |r| r.get(0)))
                                .optional()
                                .map_err(unavailable)?;
                            if found.is_none() {
                                return Err(StoreError::Conflict);
                            }
                            check_version(found, expected_version)?;
                            tx.execute("DELETE FROM documents WHERE key = ?1", [&key]).map_err(unavailable)?;
                        }
                        Prepared::Document(doc) => {
                            let found: Option<i64> = tx
                                .prepare_cached("SELECT version FROM documents WHERE key = ?1")
                                .and_then(|mut s| s.query_row([&doc.key], |r| r.get(0)))
                                .optional()
                                .map_err(unavailable)?;
                            check_version(found, doc.expected_version)?;
                            tx.prepare_cached(
                                "INSERT OR REPLACE INTO documents (key, version, body) VALUES (?1, ?2, ?3)",
                            )
                            .and_then(|mut s| s.execute(params![doc.key, (doc.expected_version + 1) as i64, doc.body]))
                            .map_err(unavailable)?;
                        }
                    }
                }
                Ok(())
            })
            .await;
        // A conflict is the store working: only a failure to write counts against readiness.
        self.last_write.set(match &committed {
            Err(e @ (StoreError::Unavailable(_) | StoreError::Corrupt(_))) => Some(e.to_string()),
            _ => None,
        });
        committed
    }

    /// Writable now: the file is the one opened, and a probe write (one small row) commits, so a
    /// full disk or read-only files show here and not only when a delivery is refused.
    async fn check_writable(&self) -> Result<(), StoreError> {
        self.last_write.check().map_err(StoreError::Unavailable)?;
        self.with_write(|conn| {
            conn.execute(
                "INSERT INTO documents (key, version, body) VALUES ('health#probe', 1, ?1)
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                [Utc::now().to_rfc3339()],
            )
            .map(|_| ())
            .map_err(unavailable)
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = now.timestamp();
        self.with_write(move |conn| {
            conn.execute("DELETE FROM jobs WHERE expires_at < ?1", [cutoff]).map(|n| n as u64).map_err(unavailable)
        })
        .await
    }
}

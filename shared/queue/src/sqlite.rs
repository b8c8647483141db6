//! The embedded queue for `nzj serve`: a SQLite table with SQS FIFO's semantics (group order,
//! deduplication for five minutes, visibility timeout, dead letters after `max_receives`).

use crate::{Backlog, DeadLetter, Delivery, JobQueue, Message, QueueError, QueuedJob};
use async_trait::async_trait;
use nzj_core::last_write::LastWrite;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The schema, one migration per version (`PRAGMA user_version` counts them). Never edit a
/// migration that has shipped: add the next one. The first is written with `IF NOT EXISTS` so a
/// queue created before versioning (user_version 0, these tables) is taken over as it is.
const MIGRATIONS: &[M<'static>] = &[M::up(SCHEMA_1), M::up(SCHEMA_2), M::up(SCHEMA_3)];

/// The schema version this build writes: the number of migrations.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

const SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL,
    dedup TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    done_at INTEGER
);
CREATE INDEX IF NOT EXISTS queue_by_group ON queue (grp, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    grp TEXT NOT NULL,
    body TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    died_at INTEGER NOT NULL
);
";

/// When each message was enqueued, for the backlog's oldest age (messages enqueued before this
/// version have none, and are passed over).
const SCHEMA_2: &str = "ALTER TABLE queue ADD COLUMN enqueued_at INTEGER;";

/// Every enqueue forgets the done messages older than the deduplication window: an index, so that
/// is not a scan of the whole queue (past each message's body) per enqueue.
const SCHEMA_3: &str = "CREATE INDEX IF NOT EXISTS queue_done ON queue (done_at) WHERE done_at IS NOT NULL;";

/// SQS FIFO deduplicates a message id for five minutes; so does this queue.
const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;

/// A queue of `M` messages in one SQLite file (one file per queue).
pub struct SqliteQueue<M = QueuedJob> {
    conn: Arc<Mutex<Connection>>,
    /// Enqueues, deletes and releases: concurrent ones share one durable transaction.
    group: nzj_sqlite::GroupCommit<QueueError>,
    /// How the last enqueue ended: what `check_writable` reports.
    last_write: Arc<LastWrite>,
    visibility: Duration,
    max_receives: u32,
    message: PhantomData<fn() -> M>,
}

impl<M> Clone for SqliteQueue<M> {
    fn clone(&self) -> Self {
        SqliteQueue {
            conn: self.conn.clone(),
            group: self.group.clone(),
            last_write: self.last_write.clone(),
            visibility: self.visibility,
            max_receives: self.max_receives,
            message: PhantomData,
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

impl<M> SqliteQueue<M> {
    /// Opens (creating) the queue in the SQLite file at `path`, a file of its own (its schema
    /// version is the file's `user_version`).
    pub fn open(path: &Path, visibility: Duration, max_receives: u32) -> Result<Self, QueueError> {
        let mut conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        // Durable: an enqueue answered is on disk (group commit pays for it).
        conn.pragma_update(None, "synchronous", "FULL").map_err(unavailable)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(unavailable)?;
        let found: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(unavailable)?;
        if found > SCHEMA_VERSION {
            return Err(QueueError::Corrupt(format!(
                "{} was written by a newer nzj (schema {found}; this one knows up to {SCHEMA_VERSION}): upgrade nzj",
                path.display()
            )));
        }
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).map_err(unavailable)?;
        let conn = Arc::new(Mutex::new(conn));
        Ok(SqliteQueue {
            group: nzj_sqlite::GroupCommit::new(conn.clone(), QueueError::Unavailable),
            conn,
            last_write: Arc::default(),
            visibility,
            max_receives,
            message: PhantomData,
        })
    }

    /// How many durable transactions the grouped writes took so far (the bench's figure).
    pub fn commits(&self) -> u64 {
        self.group.commits()
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| unavailable("queue lock poisoned"))?;
            f(&mut conn)
        })
        .await
        .map_err(unavailable)?
    }
}

#[async_trait]
impl<M: Message> JobQueue<M> for SqliteQueue<M> {
    async fn enqueue(&self, job: &M) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let (group, dedup) = (job.group(), job.dedup_id());
        let written = self
            .group
            .write(move |conn| {
                let now = now_ms();
                conn.execute("DELETE FROM queue WHERE done_at IS NOT NULL AND done_at < ?1", [now - DEDUP_WINDOW_MS])
                    .map_err(unavailable)?;
                conn.execute(
                    "INSERT OR IGNORE INTO queue (grp, dedup, body, visible_at, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![group, dedup, body, now],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await;
        self.last_write.record(written)
    }

    async fn check_writable(&self) -> Result<(), QueueError> {
        self.last_write.check().map_err(QueueError::Unavailable)
    }

    async fn receive(&self, max: usize) -> Result<Vec<Delivery<M>>, QueueError> {
        let visibility = self.visibility.as_millis() as i64;
        self.with_conn(move |conn| {
            let now = now_ms();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            // Only the head of each group can be delivered, and only while nothing of it is in flight.
            let heads: Vec<(i64, String, u32)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT seq, body, receive_count FROM queue q
                         WHERE done_at IS NULL AND visible_at <= ?1
                           AND seq = (SELECT MIN(seq) FROM queue WHERE grp = q.grp AND done_at IS NULL)
                         ORDER BY seq LIMIT ?2",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![now, max as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, u32>(2)?)))
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)?
            };
            let mut deliveries = Vec::new();
            for (seq, body, count) in heads {
                let receipt = uuid::Uuid::now_v7().to_string();
                tx.execute(
                    "UPDATE queue SET receipt = ?1, visible_at = ?2, receive_count = receive_count + 1 WHERE seq = ?3",
                    params![receipt, now + visibility, seq],
                )
                .map_err(unavailable)?;
                let job: M = serde_json::from_str(&body).map_err(|e| QueueError::Corrupt(e.to_string()))?;
                deliveries.push(Delivery { job, receipt, receive_count: count + 1 });
            }
            tx.commit().map_err(unavailable)?;
            Ok(deliveries)
        })
        .await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_string();
        self.group
            .write(move |conn| {
                // Kept (done) for the deduplication window, like SQS.
                conn.execute(
                    "UPDATE queue SET done_at = ?1, receipt = NULL WHERE receipt = ?2",
                    params![now_ms(), receipt],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn release(&self, delivery: &Delivery<M>, delay: Duration) -> Result<(), QueueError> {
        let receipt = delivery.receipt.clone();
        let dead = delivery.receive_count >= self.max_receives;
        self.with_conn(move |conn| {
            let now = now_ms();
            if dead {
                let tx = conn.transaction().map_err(unavailable)?;
                let row: Option<(i64, String, String, u32)> = tx
                    .query_row("SELECT seq, grp, body, receive_count FROM queue WHERE receipt = ?1", [&receipt], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                    .map_err(unavailable)?;
                if let Some((seq, grp, body, count)) = row {
                    tx.execute(
                        "INSERT INTO dead_letters (seq, grp, body, receive_count, died_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![seq, grp, body, count, now],
                    )
                    .map_err(unavailable)?;
                    tx.execute("DELETE FROM queue WHERE seq = ?1", [seq]).map_err(unavailable)?;
                }
                return tx.commit().map_err(unavailable);
            }
            conn.execute(
                "UPDATE queue SET receipt = NULL, visible_at = ?1 WHERE receipt = ?2",
                params![now + delay.as_millis() as i64, receipt],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn postpone(&self, delivery: &Delivery<M>, delay: Duration) -> Result<(), QueueError> {
        let receipt = delivery.receipt.clone();
        self.group
            .write(move |conn| {
                conn.execute(
                    "UPDATE queue SET receipt = NULL, visible_at = ?1, receive_count = MAX(receive_count - 1, 0)
                 WHERE receipt = ?2",
                    params![now_ms() + delay.as_millis() as i64, receipt],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn backlog(&self) -> Result<Option<Backlog>, QueueError> {
        self.with_conn(|conn| {
            let (messages, oldest): (i64, Option<i64>) = conn
                .query_row("SELECT COUNT(*), MIN(enqueued_at) FROM queue WHERE done_at IS NULL", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(unavailable)?;
            let oldest = oldest.map(|at| Duration::from_millis((now_ms() - at).max(0) as u64));
            Ok(Some(Backlog { messages: messages as usize, oldest }))
        })
        .await
    }

    async fn dead_letters(&self) -> Result<usize, QueueError> {
        self.with_conn(|conn| {
            conn.query_row("SELECT COUNT(*) FROM dead_letters", [], |r| r.get::<_, i64>(0))
                .map(|n| n as usize)
                .map_err(unavailable)
        })
        .await
    }

    async fn list_dead_letters(&self, max: usize) -> Result<Vec<DeadLetter<M>>, QueueError> {
        let rows: Vec<(i64, String, u32)> = self
            .with_conn(move |conn| {
                let mut stmt = conn
                    .prepare("SELECT seq, body, receive_count FROM dead_letters ORDER BY seq LIMIT ?1")
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map([max.min(i64::MAX as usize) as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)
            })
            .await?;
        Ok(rows.into_iter().map(|(seq, body, count)| DeadLetter::read(seq.to_string(), &body, count)).collect())
    }

    async fn remove_dead_letters(&self, ids: &[String]) -> Result<usize, QueueError> {
        // An id that is not a number names no dead letter here.
        let seqs: Vec<i64> = ids.iter().filter_map(|id| id.parse().ok()).collect();
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(unavailable)?;
            let mut removed = 0;
            for seq in seqs {
                removed += tx.execute("DELETE FROM dead_letters WHERE seq = ?1", [seq]).map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(removed)
        })
        .await
    }
}

//! Group commit for `nzj serve`'s embedded SQLite files (the store and the queue): writers that
//! arrive while a commit is under way share the next transaction, so N concurrent writes cost one
//! durable commit (one fsync with `synchronous=FULL`) instead of N, and a lone write costs what it
//! did. Each write runs in a savepoint of its own: one that fails (a version conflict) is rolled
//! back alone and answered with its error, the others commit. A write is answered only once the
//! transaction holding it is committed, so an acknowledged write is on disk.
//!
//! The leader is whichever writer's blocking task takes the connection first: it drains every
//! write waiting at that moment (its own, if no earlier leader took it) into one transaction.

use rusqlite::{Connection, TransactionBehavior};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A write: statements run on the connection inside its own savepoint.
type Work<E> = Box<dyn FnOnce(&Connection) -> Result<(), E> + Send>;

struct Request<E> {
    work: Work<E>,
    reply: oneshot::Sender<Result<(), E>>,
}

/// The connection of one SQLite file and the writes waiting for the next commit.
pub struct GroupCommit<E> {
    conn: Arc<Mutex<Connection>>,
    waiting: Arc<Mutex<Vec<Request<E>>>>,
    /// The caller's error for a failure of SQLite itself (begin, savepoint, commit).
    unavailable: fn(String) -> E,
    /// Transactions committed, for the bench's writes-per-commit and the tests.
    commits: Arc<std::sync::atomic::AtomicU64>,
}

impl<E> Clone for GroupCommit<E> {
    fn clone(&self) -> Self {
        GroupCommit {
            conn: self.conn.clone(),
            waiting: self.waiting.clone(),
            unavailable: self.unavailable,
            commits: self.commits.clone(),
        }
    }
}

impl<E: Send + 'static> GroupCommit<E> {
    pub fn new(conn: Arc<Mutex<Connection>>, unavailable: fn(String) -> E) -> GroupCommit<E> {
        GroupCommit { conn, waiting: Arc::default(), unavailable, commits: Arc::default() }
    }

    /// How many transactions this file's writes took so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `work` in the next group transaction and answers once that is committed: `work`'s
    /// own error (its savepoint rolled back, nothing of it written), or the commit's.
    pub async fn write(&self, work: impl FnOnce(&Connection) -> Result<(), E> + Send + 'static) -> Result<(), E> {
        let (reply, answer) = oneshot::channel();
        self.waiting
            .lock()
            .map_err(|_| (self.unavailable)("write queue poisoned".into()))?
            .push(Request { work: Box::new(work), reply });
        let (conn, waiting, unavailable, commits) =
            (self.conn.clone(), self.waiting.clone(), self.unavailable, self.commits.clone());
        let led = tokio::task::spawn_blocking(move || {
            let Ok(mut conn) = conn.lock() else { return };
            let group = match waiting.lock() {
                Ok(mut waiting) => std::mem::take(&mut *waiting),
                Err(_) => return,
            };
            if !group.is_empty() {
                commit_group(&mut conn, group, unavailable);
                commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .await;
        if let Err(e) = led {
            return Err(unavailable(e.to_string()));
        }
        // Answered by this task's leader or an earlier one; dropped only if SQLite's lock broke.
        answer.await.unwrap_or_else(|_| Err(unavailable("the write was dropped: the database lock broke".into())))
    }
}

/// One transaction for `group`: each write in a savepoint, then one commit, then the answers.
fn commit_group<E>(conn: &mut Connection, group: Vec<Request<E>>, unavailable: fn(String) -> E) {
    let fail_all = |group: Vec<oneshot::Sender<Result<(), E>>>, e: &str| {
        for reply in group {
            let _ = reply.send(Err(unavailable(e.to_string())));
        }
    };
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(group.into_iter().map(|r| r.reply).collect(), &e.to_string()),
    };
    let mut answers = Vec::with_capacity(group.len());
    for Request { work, reply } in group {
        let outcome = match tx.savepoint() {
            // Dropped without `commit`, a savepoint rolls back: a failed write leaves nothing.
            Ok(savepoint) => work(&savepoint).and_then(|()| savepoint.commit().map_err(|e| unavailable(e.to_string()))),
            Err(e) => Err(unavailable(e.to_string())),
        };
        answers.push((reply, outcome));
    }
    match tx.commit() {
        Ok(()) => {
            for (reply, outcome) in answers {
                let _ = reply.send(outcome);
            }
        }
        Err(e) => fail_all(answers.into_iter().map(|(reply, _)| reply).collect(), &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, GroupCommit<String>, Arc<Mutex<Connection>>) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.sqlite3")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        let conn = Arc::new(Mutex::new(conn));
        (dir, GroupCommit::new(conn.clone(), |e| e), conn)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_share_commits_and_a_failed_one_leaves_only_itself_out() {
        let (_dir, group, conn) = open();
        let writes = (0..64).map(|i| {
            let group = group.clone();
            tokio::spawn(async move {
                group
                    .write(move |c| {
                        c.execute("INSERT INTO t (k) VALUES (?1)", [format!("k{i}")]).map_err(|e| e.to_string())?;
                        // Every seventh write fails after its insert: that insert must not stay.
                        if i % 7 == 0 { Err(format!("refused {i}")) } else { Ok(()) }
                    })
                    .await
            })
        });
        let answers: Vec<Result<(), String>> = join_all(writes.collect()).await;
        let refused = answers.iter().filter(|a| a.is_err()).count();
        assert_eq!(refused, 10, "{answers:?}");
        let rows: i64 = conn.lock().unwrap().query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 54, "each refused write rolled back alone, every other one committed");
        let k7: i64 =
            conn.lock().unwrap().query_row("SELECT COUNT(*) FROM t WHERE k = 'k7'", [], |r| r.get(0)).unwrap();
        assert_eq!(k7, 0);
    }

    #[tokio::test]
    async fn a_write_is_answered_only_after_its_commit() {
        let (_dir, group, conn) = open();
        group
            .write(|c| c.execute("INSERT INTO t (k) VALUES ('a')", []).map(|_| ()).map_err(|e| e.to_string()))
            .await
            .unwrap();
        // Read through a second connection: the write is committed, not just in the writer's view.
        let path = conn.lock().unwrap().path().unwrap().to_string();
        let other = Connection::open(path).unwrap();
        let rows: i64 = other.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writes_that_wait_behind_a_commit_share_the_next_one() {
        let (_dir, group, conn) = open();
        // A commit under way: another thread holds the connection while ten writes arrive.
        let (held, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let holder = std::thread::spawn(move || {
            let _guard = conn.lock().unwrap();
            held.0.send(()).unwrap();
            release.1.recv().unwrap();
        });
        held.1.recv().unwrap();
        let writes: Vec<_> = (0..10)
            .map(|i| {
                let group = group.clone();
                tokio::spawn(async move {
                    let key = format!("w{i}");
                    let insert = move |c: &Connection| c.execute("INSERT INTO t (k) VALUES (?1)", [key]);
                    group.write(move |c| insert(c).map(|_| ()).map_err(|e| e.to_string())).await
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        release.0.send(()).unwrap();
        holder.join().unwrap();
        assert!(join_all(writes).await.iter().all(Result::is_ok));
        assert_eq!(group.commits(), 1, "the ten writes went into one transaction");
    }

    async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}

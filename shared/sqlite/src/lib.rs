//! Group commit for `nzj serve`'s embedded SQLite files (the store and the queue): writers that
//! arrive while a commit is under way share the next transaction, so N concurrent writes cost one
//! durable commit (one fsync with `synchronous=FULL`) instead of N, and a lone write costs what it
//! did. Each write runs in a savepoint of its own: one that fails (a version conflict) is rolled
//! back alone and answered with its error, the others commit. A write is answered only once the
//! transaction holding it is committed, so an acknowledged write is on disk.
//!
//! One writer thread per file does every commit: a write is handed to it over a channel (no
//! blocking-pool task per write), and it takes every write waiting once it holds the connection
//! into one transaction. The thread ends when the last handle to it is dropped.

use rusqlite::{Connection, TransactionBehavior};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A write: statements run on the connection inside its own savepoint.
type Work<E> = Box<dyn FnOnce(&Connection) -> Result<(), E> + Send>;

struct Request<E> {
    work: Work<E>,
    reply: oneshot::Sender<Result<(), E>>,
}

/// The writer thread of one SQLite file, and how many commits it made.
pub struct GroupCommit<E> {
    writes: mpsc::Sender<Request<E>>,
    unavailable: fn(String) -> E,
    commits: Arc<std::sync::atomic::AtomicU64>,
}

impl<E> Clone for GroupCommit<E> {
    fn clone(&self) -> Self {
        GroupCommit { writes: self.writes.clone(), unavailable: self.unavailable, commits: self.commits.clone() }
    }
}

impl<E: Send + 'static> GroupCommit<E> {
    /// Starts the writer thread of `conn` (which readers share through the mutex); `unavailable`
    /// makes the error a write gets when the database cannot be written.
    pub fn new(conn: Arc<Mutex<Connection>>, unavailable: fn(String) -> E) -> GroupCommit<E> {
        let (writes, waiting) = mpsc::channel::<Request<E>>();
        let commits = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("nzj-sqlite-writer".into())
            .spawn(move || {
                // Ends when every handle is dropped (the channel closes).
                while let Ok(first) = waiting.recv() {
                    let Ok(mut conn) = conn.lock() else {
                        let _ = first.reply.send(Err(unavailable("the database lock broke".into())));
                        continue;
                    };
                    // What arrived while the lock was awaited joins this commit.
                    let mut group = vec![first];
                    group.extend(waiting.try_iter());
                    commit_group(&mut conn, group, unavailable);
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .expect("the SQLite writer thread starts");
        GroupCommit { writes, unavailable, commits }
    }

    /// How many transactions were committed (or tried) so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `work` in the next commit; answers once that commit is durable (or failed).
    pub async fn write(&self, work: impl FnOnce(&Connection) -> Result<(), E> + Send + 'static) -> Result<(), E> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Request { work: Box::new(work), reply })
            .map_err(|_| (self.unavailable)("the SQLite writer thread has stopped".into()))?;
        answer
            .await
            .unwrap_or_else(|_| Err((self.unavailable)("the write was dropped: the writer thread stopped".into())))
    }
}

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

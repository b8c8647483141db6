//! The leases of the host jobs a worker is running. A running job holds its record for a lease;
//! another worker takes it over (stalled, and a retry) only once that lease is over. A round of
//! host jobs can outlast a lease (a slow Zabbix, creates read back after a timeout), so while it
//! runs, every lease it holds is extended every third of the lease, as system jobs' are
//! (`nzj_runtime::runner`). Each extension is a write of the record, so the round's final write
//! of a job takes the version its last extension left ([`HeldJobs::release`]).

use nzj_core::{Clock, JobId, JobRecord};
use nzj_store::{JobStore, StoreError, Write};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// How one extension of a lease ended.
enum Beat {
    Extended(Box<JobRecord>),
    /// The record changed elsewhere: another worker took the job over.
    Lost(JobId),
    /// The store could not say (the next beat may get through before the lease ends).
    Failed(String),
}

/// The running records this worker holds, as last written.
pub struct HeldJobs {
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    lease: chrono::Duration,
    /// Locked across an extension's writes, so a release never races one.
    held: tokio::sync::Mutex<HashMap<JobId, JobRecord>>,
}

impl HeldJobs {
    pub fn new(store: Arc<dyn JobStore>, clock: Arc<dyn Clock>, lease: chrono::Duration) -> HeldJobs {
        HeldJobs { store, clock, lease, held: tokio::sync::Mutex::default() }
    }

    /// Runs `work` while the leases of `records` (running, just claimed) are kept alive.
    pub async fn keep_while<T>(&self, records: Vec<JobRecord>, work: impl Future<Output = T>) -> T {
        let ids: Vec<JobId> = records.iter().map(|r| r.id.clone()).collect();
        self.held.lock().await.extend(records.into_iter().map(|r| (r.id.clone(), r)));
        let every = (self.lease / 3).to_std().unwrap_or_default().max(std::time::Duration::from_millis(100));
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(work);
        let done = loop {
            tokio::select! {
                done = &mut work => break done,
                _ = beats.tick() => self.extend(&ids).await,
            }
        };
        // What the work did not release (it failed before its final write) is let go.
        let mut held = self.held.lock().await;
        for id in &ids {
            held.remove(id);
        }
        done
    }

    /// Extends the leases of `ids` still held. A record that changed elsewhere (another worker
    /// took it over) is let go: the round's final write of it will conflict and say so.
    async fn extend(&self, ids: &[JobId]) {
        let mut held = self.held.lock().await;
        let now = self.clock.now();
        let beats = ids.iter().filter_map(|id| held.get(id)).map(|record| {
            let mut record = record.clone();
            async move {
                if let Err(e) = record.heartbeat(now, self.lease) {
                    return Beat::Failed(e.to_string());
                }
                match self.store.commit(vec![Write::job(record.clone())]).await {
                    Ok(()) => {
                        record.version += 1;
                        Beat::Extended(Box::new(record))
                    }
                    Err(StoreError::Conflict) => Beat::Lost(record.id),
                    Err(e) => Beat::Failed(e.to_string()),
                }
            }
        });
        for beat in futures_util::future::join_all(beats).await {
            match beat {
                Beat::Extended(record) => {
                    held.insert(record.id.clone(), *record);
                }
                Beat::Lost(lost) => {
                    tracing::warn!(job_id = %lost, "host job lease lost: its record changed elsewhere");
                    held.remove(&lost);
                }
                Beat::Failed(error) => tracing::warn!(%error, "host job lease not extended"),
            }
        }
    }

    /// Stops extending `record`'s lease and brings its version (and lease) up to the last
    /// extension, for the job's final write.
    pub async fn release(&self, record: &mut JobRecord) {
        if let Some(held) = self.held.lock().await.remove(&record.id) {
            record.version = held.version;
            record.lease_until = held.lease_until;
        }
    }
}

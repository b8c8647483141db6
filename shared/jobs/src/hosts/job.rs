//! A host job's record keeping around one convergence: the job recorded running, the host
//! converged, the state written back into NetBox when it changed, the outcome written to the job
//! (completed or failed, with pre/post data in its log) and to the object's host config, in one
//! store commit.

use super::{HostAction, HostConverger, HostOutcome};
use crate::store_failure;
use nzj_core::desired::{Desired, MappingError};
use nzj_core::host_config::HostConfig;
use nzj_core::job::JobOrigin;
use nzj_core::netbox::{NetboxObject, ObjectRef};
use nzj_core::settings::Settings;
use nzj_core::write_back::SyncState;
use nzj_core::{Clock, JobLog, JobName, JobRecord, LogLevel};
use nzj_netbox::NetboxSource;
use nzj_runtime::JobFailure;
use nzj_store::Write;
use serde_json::json;
use std::sync::Arc;

/// Runs host jobs: each converges one host (`desired` is computed by the caller from the NetBox
/// object, or `OutOfScope` for a NetBox deletion) and records the outcome, with the NetBox
/// object it came from, in the host config.
pub struct HostJobs {
    pub(crate) converger: HostConverger,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) lease: chrono::Duration,
    pub(crate) retention: chrono::Duration,
    /// Where the host's state is written back (docs/product.md §3.4); none: not written.
    pub(crate) netbox: Option<Arc<dyn NetboxSource>>,
}

impl HostJobs {
    /// `lease`: how long a running job holds its record; `retention`: how long records are kept.
    pub fn new(
        converger: HostConverger,
        clock: Arc<dyn Clock>,
        lease: chrono::Duration,
        retention: chrono::Duration,
    ) -> HostJobs {
        HostJobs { converger, clock, lease, retention, netbox: None }
    }

    /// Writing each job's outcome back into `netbox`'s custom fields.
    pub fn with_netbox(mut self, netbox: Arc<dyn NetboxSource>) -> HostJobs {
        self.netbox = Some(netbox);
        self
    }

    pub fn converger(&self) -> &HostConverger {
        &self.converger
    }

    /// Records a new host job and runs it now (API, tests); the worker runs queued ones with
    /// [`HostJobs::run_record`].
    pub async fn run(
        &self,
        name: JobName,
        object: ObjectRef,
        desired: Result<Desired, MappingError>,
        settings: &Settings,
        origin: JobOrigin,
    ) -> Result<(JobRecord, Result<HostAction, JobFailure>), JobFailure> {
        self.run_from(name, object, None, desired, settings, origin).await
    }

    /// As [`HostJobs::run`], keeping `netbox` (what `desired` was computed from) in the host config.
    pub async fn run_from(
        &self,
        name: JobName,
        object: ObjectRef,
        netbox: Option<NetboxObject>,
        desired: Result<Desired, MappingError>,
        settings: &Settings,
        mut origin: JobOrigin,
    ) -> Result<(JobRecord, Result<HostAction, JobFailure>), JobFailure> {
        origin.object = Some(object.to_string());
        let mut record = JobRecord::new_running(name, origin, self.clock.now(), self.lease, self.retention);
        self.converger.store.commit(vec![Write::job(record.clone())]).await.map_err(store_failure)?;
        record.version += 1;
        self.run_record(record, object, desired, netbox, settings, false).await
    }

    /// Runs a job whose record is `running` and held by the caller, and records its outcome in the
    /// job (completed or failed) and in the host config. With `retry_allowed`, a transient failure
    /// leaves the record running for the caller to put back to pending; without, it fails the job
    /// as the last attempt.
    pub async fn run_record(
        &self,
        mut record: JobRecord,
        object: ObjectRef,
        desired: Result<Desired, MappingError>,
        netbox: Option<NetboxObject>,
        settings: &Settings,
        retry_allowed: bool,
    ) -> Result<(JobRecord, Result<HostAction, JobFailure>), JobFailure> {
        let store = &self.converger.store;
        let mut log = JobLog::default();
        let mut config =
            store.get_host_config(object).await.map_err(store_failure)?.unwrap_or_else(|| HostConfig::new(object));
        let (outcome, wanted, note) = match desired {
            Ok(desired) => {
                let released = record.released_by.is_some();
                let written = config.secrets_hash.as_deref();
                let outcome =
                    self.converger.converge(object, &desired, settings, self.clock.now(), released, written).await;
                let note = desired.reason().map(str::to_string);
                let wanted = match desired {
                    Desired::Host(host) => Some(*host),
                    Desired::OutOfScope(_) | Desired::Keep { .. } => None,
                };
                (outcome, wanted, note)
            }
            Err(e) => (Err(JobFailure::permanent(e.to_string())), None, None),
        };
        let now = self.clock.now();
        if let Ok(done) = &outcome {
            for note in &done.notes {
                log.push(now, LogLevel::Warning, note.clone());
            }
        }
        match &outcome {
            Ok(done @ HostOutcome { action: HostAction::Held { reason }, .. }) => {
                record.log.append(&log);
                let host = done.pre_data.as_ref().map(|h| h["host"].clone());
                let result =
                    json!({"message": reason, "object": object.to_string(), "hostid": done.hostid, "host": host});
                record.hold(now, reason, result).map_err(|e| JobFailure::permanent(e.to_string()))?;
            }
            Ok(done) => {
                if let Some(pre) = &done.pre_data {
                    log.push(now, LogLevel::Info, format!("pre_data: {pre}"));
                }
                if let Some(post) = &done.post_data {
                    log.push(now, LogLevel::Info, format!("post_data: {post}"));
                }
                let message = done.message();
                log.push(now, LogLevel::Info, message.clone());
                record.log.append(&log);
                record
                    .complete(now, json!({"message": message, "hostid": done.hostid}))
                    .map_err(|e| JobFailure::permanent(e.to_string()))?;
                done.record_in(&mut config, wanted, note, now);
            }
            Err(failure) if failure.is_transient() && retry_allowed => {
                tracing::warn!(job_id = %record.id, %object, error = %failure, "host job will be retried");
                return Ok((record, outcome.map(|done| done.action)));
            }
            Err(failure) => {
                record.log.append(&log);
                let reason = if failure.is_transient() {
                    format!(
                        "{failure}; gave up after attempt {}, the message is kept in the dead-letter queue",
                        record.attempt
                    )
                } else {
                    failure.to_string()
                };
                record.fail(now, reason).map_err(|e| JobFailure::permanent(e.to_string()))?;
            }
        }
        config.job_ended(record.id.clone(), crate::host_failure(&outcome, &record.id, now));
        // What the host was computed from, for refreshes and plans (none once NetBox lost it).
        config.netbox = netbox.map(|n| nzj_core::overrides::kept(n, settings));
        let held = matches!(&outcome, Ok(HostOutcome { action: HostAction::Held { .. }, .. }));
        let state = SyncState::of(&config, outcome.is_err(), held);
        let events = vec![crate::write_back::event_of(&outcome)];
        let netbox = self.netbox.as_deref();
        let job = record.id.clone();
        crate::write_back_logged(netbox, settings, &mut [(&mut config, state)], events, &job, now, &mut record.log)
            .await;
        store.commit(vec![Write::job(record.clone()), Write::host_config(config)]).await.map_err(store_failure)?;
        record.version += 1;
        nzj_runtime::metrics::job_finished(&record);
        if outcome.as_ref().is_ok_and(HostOutcome::changed) {
            nzj_runtime::metrics::hosts_changed(record.name, 1);
        }
        Ok((record, outcome.map(|done| done.action)))
    }
}

//! A host job's record keeping around its convergence: the job recorded running, the host
//! converged (alone, or with the other jobs of a worker's round in array calls), the state written
//! back into NetBox when it changed, the outcome written to the job (completed or failed, with
//! pre/post data in its log) and to the object's host config, in one store commit per job.

use super::leases::HeldJobs;
use super::{HostAction, HostConverger, HostOutcome};
use crate::store_failure;
use futures_util::StreamExt;
use nzj_core::desired::{Desired, DesiredHost, MappingError};
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
use std::collections::HashMap;
use std::sync::Arc;

/// What running a host job gave: its record as written, and what converging did (`Err` of the
/// outer result: the store could not record it).
pub type RunResult = Result<(JobRecord, Result<HostAction, JobFailure>), JobFailure>;

/// A host job taken for a run: its record (`running`, held by the caller), its object, the host
/// it should have (`None`: none to create or update), the NetBox object that was computed from,
/// and whether a transient failure may leave it for a retry.
pub struct RoundJob {
    pub record: JobRecord,
    pub object: ObjectRef,
    pub desired: Option<DesiredHost>,
    pub netbox: Option<NetboxObject>,
    pub retry_allowed: bool,
}

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
    /// The running jobs whose leases a worker keeps alive while it runs them.
    pub(crate) held: Arc<HeldJobs>,
}

impl HostJobs {
    /// `lease`: how long a running job holds its record; `retention`: how long records are kept.
    pub fn new(
        converger: HostConverger,
        clock: Arc<dyn Clock>,
        lease: chrono::Duration,
        retention: chrono::Duration,
    ) -> HostJobs {
        let held = Arc::new(HeldJobs::new(converger.store.clone(), clock.clone(), lease));
        HostJobs { converger, clock, lease, retention, netbox: None, held }
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
    ) -> RunResult {
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
    ) -> RunResult {
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
        record: JobRecord,
        object: ObjectRef,
        desired: Result<Desired, MappingError>,
        netbox: Option<NetboxObject>,
        settings: &Settings,
        retry_allowed: bool,
    ) -> RunResult {
        let config = self.config_of(object).await?;
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
        let job = RoundJob { record, object, desired: wanted, netbox, retry_allowed };
        self.settle(job, config, outcome, note, settings).await
    }

    /// Runs host jobs of different objects that each want a host, together: one `host.get` for all
    /// of them, creates and updates in arrays of `batch_size`, split on refusal so one bad host
    /// does not fail its neighbours; then each job is settled on its own as
    /// [`HostJobs::run_record`] settles one. One result per job, in order.
    pub async fn run_round(&self, jobs: Vec<RoundJob>, settings: &Settings) -> Vec<RunResult> {
        if jobs.is_empty() {
            return Vec::new();
        }
        let objects: Vec<ObjectRef> = jobs.iter().map(|j| j.object).collect();
        let configs: Vec<Result<HostConfig, JobFailure>> =
            futures_util::stream::iter(objects).map(|object| self.config_of(object)).buffered(16).collect().await;
        // A job whose host config cannot be read is not converged: its store is away.
        let ready: Vec<(&DesiredHost, Option<&str>)> = jobs
            .iter()
            .zip(&configs)
            .filter_map(|(job, config)| Some((job.desired.as_ref()?, config.as_ref().ok()?.secrets_hash.as_deref())))
            .collect();
        let objects: Vec<ObjectRef> = ready.iter().map(|(d, _)| d.object).collect();
        let mut notes = Vec::new();
        let batch = settings.batch_size;
        let converged: Vec<Result<HostOutcome, JobFailure>> =
            match self.converger.find_hosts(settings, &objects, batch, &mut notes).await {
                Err(e) => ready.iter().map(|_| Err(crate::zabbix_failure(e.clone()))).collect(),
                Ok(found) => {
                    let wanted: Vec<&DesiredHost> = ready.iter().map(|(d, _)| *d).collect();
                    match self.converger.secrets_of(&wanted).await {
                        Err(failure) => ready.iter().map(|_| Err(failure.clone())).collect(),
                        Ok(secrets) => self.converger.converge_found(settings, &ready, &found, &secrets, batch).await,
                    }
                }
            };
        let mut converged: HashMap<ObjectRef, Result<HostOutcome, JobFailure>> =
            objects.into_iter().zip(converged).collect();
        let settled = jobs.into_iter().zip(configs).map(|(job, config)| {
            let outcome = converged.remove(&job.object);
            let notes: Vec<String> = notes.iter().filter(|n| n.concerns(job.object)).map(|n| n.text.clone()).collect();
            async move {
                let config = config?;
                let outcome = match outcome {
                    Some(outcome) => outcome.map(|done| done.noting(notes)),
                    None => Err(JobFailure::permanent(format!("{} has no desired host to converge", job.object))),
                };
                self.settle(job, config, outcome, None, settings).await
            }
        });
        futures_util::stream::iter(settled).buffered(16).collect().await
    }

    async fn config_of(&self, object: ObjectRef) -> Result<HostConfig, JobFailure> {
        let config = self.converger.store.get_host_config(object).await.map_err(store_failure)?;
        Ok(config.unwrap_or_else(|| HostConfig::new(object)))
    }

    /// Records a converged job's outcome in its record and host config (and NetBox), in one commit.
    async fn settle(
        &self,
        job: RoundJob,
        mut config: HostConfig,
        outcome: Result<HostOutcome, JobFailure>,
        note: Option<String>,
        settings: &Settings,
    ) -> RunResult {
        let RoundJob { mut record, object, desired: wanted, netbox, retry_allowed } = job;
        self.held.release(&mut record).await;
        let store = &self.converger.store;
        let mut log = JobLog::default();
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

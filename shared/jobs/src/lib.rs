//! The work of each job, on the ports of `nzj-store`, `nzj-queue`, `nzj-netbox` and the Zabbix
//! client. Each system job is a [`nzj_runtime::SystemJobHandler`] and each queue consumer a
//! [`nzj_queue::MessageHandler`], so the scheduler, manual runs, `nzj serve` and the Lambda
//! functions run the same code. They are wired in one place: `nzj-app`.

pub mod dead_letters;
pub mod deletions;
pub mod hosts;
pub mod import_settings;
pub mod maintenance;
pub mod outbox;
pub mod plan;
pub mod retry;
pub mod sync_hosts_now;
pub mod sync_refresh;
pub mod webhook;
pub mod worker;
pub mod write_back;

pub use dead_letters::{DeadLetterEntry, DeadLetters, RedriveOutcome, Redriven};
pub use deletions::HeldDeletions;
pub use hosts::{HostAction, HostConverger, HostJobs};
pub use import_settings::ImportZabbixSettings;
pub use maintenance::{MaintenanceCleanup, MaintenanceError, MaintenanceService};
pub use outbox::{EnqueueError, OutboxSweeper, enqueue_host_job};
pub use retry::{RetryError, busy_host_job, retry_host_job};
pub use sync_hosts_now::{StartError, SyncHostsNow, SyncStep, SyncWorker};
pub use sync_refresh::HostConfigSyncRefresh;
pub use webhook::{Answer, WebhookIntake};
pub use worker::HostWorker;

use nzj_runtime::JobFailure;
use nzj_store::StoreError;
use nzj_zabbix::ZabbixError;

/// The imported Zabbix cache, every kind (each version 0 if never imported).
pub async fn load_cache(
    store: &dyn nzj_store::JobStore,
) -> Result<Vec<nzj_core::zabbix_cache::CacheSnapshot>, StoreError> {
    let mut snapshots = Vec::new();
    for kind in nzj_core::zabbix_cache::CacheKind::ALL {
        snapshots.push(store.get_cache(*kind).await?);
    }
    Ok(snapshots)
}

/// A Zabbix error as a job failure: transient (outage, timeout, 5xx) or permanent.
pub fn zabbix_failure(e: ZabbixError) -> JobFailure {
    let mut failure =
        if e.is_transient() { JobFailure::transient(e.to_string()) } else { JobFailure::permanent(e.to_string()) };
    if let ZabbixError::Api { code, message, data, .. } = e {
        failure.zabbix = Some(nzj_core::host_failure::ZabbixRefusal { code, message, data });
    }
    failure
}

/// What a host's config keeps of its job's outcome: the failure with Zabbix's error and a hint,
/// or nothing when the job did its work.
pub(crate) fn host_failure<T>(
    outcome: &Result<T, JobFailure>,
    job: &nzj_core::JobId,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<nzj_core::host_failure::HostFailure> {
    let failure = outcome.as_ref().err()?;
    Some(nzj_core::host_failure::HostFailure::new(job.clone(), now, failure.message.clone(), failure.zabbix.clone()))
}

/// A NetBox error as a job failure: transient (outage, timeout, 5xx, 429) or permanent.
pub fn netbox_failure(e: nzj_netbox::NetboxError) -> JobFailure {
    if e.is_transient() { JobFailure::transient(e.to_string()) } else { JobFailure::permanent(e.to_string()) }
}

/// A store error as a job failure: the store being away is transient; a conflict means another
/// writer got there first, and the next run will see its result.
pub fn store_failure(e: StoreError) -> JobFailure {
    match e {
        StoreError::Corrupt(_) => JobFailure::permanent(e.to_string()),
        _ => JobFailure::transient(e.to_string()),
    }
}

/// What a job that talks to Zabbix says when Zabbix is not configured.
pub const NEEDS_ZABBIX: &str =
    "needs Zabbix: set NZJ_ZABBIX_URL and NZJ_ZABBIX_TOKEN (or NZJ_ZABBIX_USER + NZJ_ZABBIX_PASSWORD)";

/// Writes the states into NetBox (see [`write_back::write_back`]) and the journal entries of
/// `events` ([`write_back::journal`]), and says what happened in `log`: a refusal is a warning
/// there and a metric, never a failure of the job.
pub(crate) async fn write_back_logged(
    netbox: Option<&dyn nzj_netbox::NetboxSource>,
    settings: &nzj_core::settings::Settings,
    configs: &mut [(&mut nzj_core::host_config::HostConfig, nzj_core::write_back::SyncState)],
    events: Vec<Option<(nzj_core::write_back::JournalEvent, String)>>,
    job: &nzj_core::JobId,
    now: chrono::DateTime<chrono::Utc>,
    log: &mut nzj_core::JobLog,
) {
    let warn = |log: &mut nzj_core::JobLog, e: String| {
        tracing::warn!(error = %e, "NetBox write-back failed; the next job or check writes again");
        log.push(now, nzj_core::LogLevel::Warning, format!("{e}; the next job or check writes it again"));
        nzj_runtime::metrics::netbox_written(0, true);
    };
    match write_back::write_back(netbox, settings, configs, now).await {
        Ok(0) => {}
        Ok(written) => {
            log.push(now, nzj_core::LogLevel::Info, format!("NetBox: the state of {written} object(s) written"));
            nzj_runtime::metrics::netbox_written(written as u64, false);
        }
        Err(e) => warn(log, e),
    }
    if events.iter().all(Option::is_none) {
        return;
    }
    let mut pairs: Vec<_> = configs.iter_mut().map(|(c, _)| &mut **c).zip(events).collect();
    match write_back::journal(netbox, settings, &mut pairs, job, now).await {
        Ok(0) => {}
        Ok(added) => log.push(now, nzj_core::LogLevel::Info, format!("NetBox: {added} journal entr(ies) added")),
        Err(e) => warn(log, e),
    }
}

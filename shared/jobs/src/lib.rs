//! The work of each job, on the ports of `nzj-store` and the Zabbix client. Each job is a
//! [`nzj_runtime::SystemJobHandler`], so the scheduler, manual runs and the Lambda functions run
//! the same code.

pub mod hosts;
pub mod import_settings;
pub mod maintenance;
pub mod sync_all;
pub mod sync_refresh;
pub mod webhook;
pub mod worker;

pub use hosts::{HostAction, HostJobs, HostSync};
pub use import_settings::ImportZabbixSettings;
pub use maintenance::{MaintenanceCleanup, MaintenanceError, MaintenanceService};
pub use sync_all::{StartError, SyncHostsNow, SyncStep, SyncWorker};
pub use sync_refresh::HostConfigSyncRefresh;
pub use webhook::{Answer, WebhookIntake};
pub use worker::{EnqueueError, HostWorker, enqueue_host_job};

use nzj_runtime::JobFailure;
use nzj_store::StoreError;
use nzj_zabbix::ZabbixError;

/// A Zabbix error as a job failure: transient (outage, timeout, 5xx) or permanent.
pub fn zabbix_failure(e: ZabbixError) -> JobFailure {
    if e.is_transient() { JobFailure::transient(e.to_string()) } else { JobFailure::permanent(e.to_string()) }
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

use nzj_core::SystemJob;
use nzj_runtime::Registry;
use nzj_store::JobStore;
use nzj_zabbix::ZabbixClient;
use std::sync::Arc;

/// What a system job that talks to Zabbix says when Zabbix is not configured.
pub const NEEDS_ZABBIX: &str =
    "needs Zabbix: set NZJ_ZABBIX_URL and NZJ_ZABBIX_TOKEN (or NZJ_ZABBIX_USER + NZJ_ZABBIX_PASSWORD)";

/// The system jobs this process can run, given what is configured, and the maintenance service
/// (when Zabbix is configured). Shared by `nzj serve` and the Lambda functions, so both run
/// exactly the same jobs.
pub fn system_jobs(
    store: Arc<dyn JobStore>,
    zabbix: Option<Arc<ZabbixClient>>,
    clock: Arc<dyn nzj_core::Clock>,
    max_deletions: usize,
) -> (Registry, Option<Arc<MaintenanceService>>) {
    let Some(zabbix) = zabbix else {
        let registry = SystemJob::ALL.iter().fold(Registry::default(), |r, job| r.without(*job, NEEDS_ZABBIX));
        return (registry, None);
    };
    let maintenance = Arc::new(MaintenanceService { zabbix: zabbix.clone(), store: store.clone(), clock });
    let refresh =
        HostConfigSyncRefresh { zabbix: zabbix.clone(), store: store.clone(), page_size: sync_refresh::PAGE_SIZE };
    let registry = Registry::default()
        .with(SystemJob::ImportZabbixSettings, Arc::new(ImportZabbixSettings { zabbix, store, max_deletions }))
        .with(SystemJob::MaintenanceCleanup, Arc::new(MaintenanceCleanup { service: maintenance.clone() }))
        .with(SystemJob::HostConfigSyncRefresh, Arc::new(refresh));
    (registry, Some(maintenance))
}

/// The NetBox client of a configuration, if NetBox is configured.
pub fn netbox_client(
    config: &nzj_core::config::Config,
) -> Result<Option<Arc<nzj_netbox::NetboxClient>>, nzj_netbox::NetboxError> {
    let Some(netbox) = &config.netbox else { return Ok(None) };
    let client = nzj_netbox::NetboxClient::new(nzj_netbox::NetboxClientConfig {
        url: netbox.url.to_string(),
        token: netbox.token.clone(),
        connect_timeout: std::time::Duration::from_secs(5),
        request_timeout: std::time::Duration::from_secs(30),
    })?;
    Ok(Some(Arc::new(client)))
}

/// A configured duration as a std one; configuration only accepts non-negative values.
fn std_duration(d: chrono::Duration) -> std::time::Duration {
    d.to_std().expect("configuration durations are validated non-negative")
}

/// The Zabbix client of a configuration, if Zabbix is configured: one per process.
pub fn zabbix_client(config: &nzj_core::config::Config) -> Result<Option<Arc<ZabbixClient>>, nzj_zabbix::ZabbixError> {
    let Some(z) = &config.zabbix else { return Ok(None) };
    let client = ZabbixClient::new(nzj_zabbix::ZabbixClientConfig {
        url: z.url.to_string(),
        auth: z.auth.clone(),
        connect_timeout: std_duration(z.connect_timeout),
        request_timeout: std_duration(z.request_timeout),
    })?;
    Ok(Some(Arc::new(client)))
}

/// The retry policy of both queues: the configured attempts (the queues' redrive setting) and
/// first backoff.
pub fn retry_policy(config: &nzj_core::config::Config) -> nzj_core::retry::RetryPolicy {
    nzj_core::retry::RetryPolicy::new(config.host_job_attempts, std_duration(config.host_job_backoff))
}

/// The host worker of a configuration on `queue`, as `nzj serve` and the host-worker function run it.
pub fn host_worker(
    config: &nzj_core::config::Config,
    store: Arc<dyn JobStore>,
    zabbix: Arc<ZabbixClient>,
    clock: Arc<dyn nzj_core::Clock>,
    queue: Arc<dyn nzj_queue::JobQueue>,
) -> Result<HostWorker, nzj_netbox::NetboxError> {
    let jobs =
        HostJobs { sync: HostSync { zabbix, store }, clock, lease: config.job_lease, retention: config.job_retention };
    let netbox = netbox_client(config)?.map(|n| n as Arc<dyn nzj_netbox::NetboxSource>);
    Ok(HostWorker::new(jobs, netbox, queue, retry_policy(config)))
}

/// SyncHostsNow on a configuration, if NetBox is configured (a sync reads every object from it).
pub fn sync_hosts_now(
    config: &nzj_core::config::Config,
    store: Arc<dyn JobStore>,
    zabbix: Arc<ZabbixClient>,
    clock: Arc<dyn nzj_core::Clock>,
) -> Result<Option<SyncHostsNow>, nzj_netbox::NetboxError> {
    let Some(netbox) = netbox_client(config)? else { return Ok(None) };
    Ok(Some(SyncHostsNow {
        hosts: HostSync { zabbix, store },
        netbox,
        clock,
        lease: sync_lease(config),
        retention: config.job_retention,
        page_size: nzj_netbox::PAGE_SIZE,
    }))
}

/// A sync's lease, and the bulk queue's visibility timeout: it must outlast the longest step (one
/// NetBox page of 1,000 hosts, written in batches; a Lambda runs at most 15 minutes). A sync whose
/// process died can be replaced after it.
pub fn sync_lease(config: &nzj_core::config::Config) -> chrono::Duration {
    chrono::Duration::minutes(15).max(config.job_lease)
}

/// The sync worker of a configuration on the bulk `queue`, as `nzj serve` and the sync-all
/// function run it; `None` without NetBox (a sync reads every object from it).
pub fn sync_worker(
    config: &nzj_core::config::Config,
    store: Arc<dyn JobStore>,
    zabbix: Arc<ZabbixClient>,
    clock: Arc<dyn nzj_core::Clock>,
    queue: Arc<dyn nzj_queue::JobQueue<SyncStep>>,
) -> Result<Option<SyncWorker>, nzj_netbox::NetboxError> {
    let Some(sync) = sync_hosts_now(config, store, zabbix, clock)? else { return Ok(None) };
    Ok(Some(SyncWorker::new(Arc::new(sync), queue, retry_policy(config))))
}

//! The composition root: the one place where the product is wired. `nzj serve`, every Lambda
//! function and the API tests build an [`App`] from a [`Config`], a store and the queues they
//! have, and take from it what they run (the scheduler's launcher, the host and sync workers, the
//! webhook intake, the API state). Nothing else builds a job from its parts, so a new dependency
//! of a job is added here once.

use anyhow::Context;
use nzj_api::{ApiAuth, AppState, SyncHostsNowLauncher};
use nzj_core::config::Config;
use nzj_core::retry::RetryPolicy;
use nzj_core::{Clock, SystemClock, SystemJob};
use nzj_jobs::{
    HostConfigSyncRefresh, HostConverger, HostJobs, HostWorker, ImportZabbixSettings, MaintenanceCleanup,
    MaintenanceService, OutboxSweeper, SyncHostsNow, SyncStep, SyncWorker, WebhookIntake,
};
use nzj_netbox::{NetboxClient, NetboxClientConfig, NetboxSource};
use nzj_queue::JobQueue;
use nzj_runtime::{Launcher, Registry, Scheduler};
use nzj_secrets::{LocalSecrets, SecretStore};
use nzj_store::JobStore;
use nzj_zabbix::{ZabbixClient, ZabbixClientConfig};
use std::sync::Arc;

/// What a system job that talks to Zabbix says when Zabbix is not configured.
pub const NEEDS_ZABBIX: &str = nzj_jobs::NEEDS_ZABBIX;

/// The queues a process has: `nzj serve` both (embedded), a Lambda function those it is given.
#[derive(Clone, Default)]
pub struct Queues {
    pub host: Option<Arc<dyn JobQueue>>,
    pub bulk: Option<Arc<dyn JobQueue<SyncStep>>>,
}

/// Everything one process runs, built once (a Lambda container is reused across invocations).
pub struct App {
    pub config: Config,
    pub store: Arc<dyn JobStore>,
    pub clock: Arc<dyn Clock>,
    /// One Zabbix client per process: keep-alive, the version detected once, one login.
    pub zabbix: Option<Arc<ZabbixClient>>,
    pub netbox: Option<Arc<NetboxClient>>,
    /// The scheduler, the runnable system jobs, and how runs are started.
    pub launcher: Launcher,
    pub maintenance: Option<Arc<MaintenanceService>>,
    pub queues: Queues,
    /// Where the values of secret macros and PSKs named in NetBox are looked up: variables and
    /// files by default (`nzj serve`), SSM Parameter Store on AWS ([`App::with_secret_store`]).
    pub secrets: Arc<dyn SecretStore>,
}

impl App {
    /// Wires the product for `config` on `store` and `queues`.
    pub fn build(config: &Config, store: Arc<dyn JobStore>, queues: Queues) -> anyhow::Result<App> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let zabbix = zabbix_client(config)?;
        let netbox = netbox_client(config)?;
        let scheduler = Arc::new(Scheduler::new(store.clone(), clock.clone(), config.job_lease, config.job_retention));
        let (registry, maintenance) = system_jobs(
            config,
            store.clone(),
            zabbix.clone(),
            netbox.clone().map(|n| n as Arc<dyn NetboxSource>),
            clock.clone(),
        );
        let timeout = config.job_timeout.to_std().context("NZJ_JOB_TIMEOUT_SECONDS")?;
        Ok(App {
            config: config.clone(),
            store,
            launcher: Launcher { scheduler, clock: clock.clone(), registry, timeout },
            clock,
            zabbix,
            netbox,
            maintenance,
            queues,
            secrets: Arc::new(LocalSecrets::new(&config.secrets)),
        })
    }

    /// The same app looking secrets up in `secrets` (a Lambda: SSM Parameter Store).
    pub fn with_secret_store(mut self, secrets: Arc<dyn SecretStore>) -> App {
        self.secrets = secrets;
        self
    }

    /// The same app with other system jobs (tests run handlers of their own).
    pub fn with_registry(mut self, registry: Registry) -> App {
        self.launcher.registry = registry;
        self
    }

    /// The retry policy of both queues: the configured attempts (the queues' redrive setting)
    /// and first backoff.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.config.host_job_attempts, std_duration(self.config.host_job_backoff))
    }

    fn converger(&self) -> Option<HostConverger> {
        Some(HostConverger::new(self.zabbix.clone()?, self.store.clone()).with_secrets(self.secrets.clone()))
    }

    /// Host jobs, run now (API, tests) or from the queue; needs Zabbix.
    pub fn host_jobs(&self) -> Option<HostJobs> {
        let jobs =
            HostJobs::new(self.converger()?, self.clock.clone(), self.config.job_lease, self.config.job_retention);
        // NetBox shows each host's state when it is configured (the `write_back` setting turns it off).
        Some(match self.netbox.clone() {
            Some(netbox) => jobs.with_netbox(netbox),
            None => jobs,
        })
    }

    /// The host worker on the host queue; `None` without Zabbix or a host queue.
    pub fn host_worker(&self) -> Option<HostWorker> {
        let netbox = self.netbox.clone().map(|n| n as Arc<dyn NetboxSource>);
        Some(HostWorker::new(self.host_jobs()?, netbox, self.queues.host.clone()?, self.retry_policy()))
    }

    /// SyncHostsNow; `None` unless Zabbix and NetBox are both configured (a sync reads every
    /// object from NetBox).
    pub fn sync_hosts_now(&self) -> Option<SyncHostsNow> {
        let netbox: Arc<dyn NetboxSource> = self.netbox.clone()?;
        Some(SyncHostsNow::new(
            self.converger()?,
            netbox,
            self.clock.clone(),
            sync_lease(&self.config),
            self.config.job_retention,
        ))
    }

    /// SyncHostsNow with the bulk queue its steps go on: what a manual run, a retry and the
    /// schedule start; `None` without SyncHostsNow or a bulk queue.
    pub fn sync_launcher(&self) -> Option<SyncHostsNowLauncher> {
        Some(SyncHostsNowLauncher { sync: Arc::new(self.sync_hosts_now()?), queue: self.queues.bulk.clone()? })
    }

    /// The sync worker on the bulk queue; `None` without SyncHostsNow or a bulk queue.
    pub fn sync_worker(&self) -> Option<SyncWorker> {
        let sync = Arc::new(self.sync_hosts_now()?);
        Some(SyncWorker::new(sync, self.queues.bulk.clone()?, self.retry_policy()))
    }

    /// The NetBox webhook intake; `None` without a webhook secret (an unsigned webhook is never
    /// accepted) or a host queue.
    pub fn webhook_intake(&self) -> Option<WebhookIntake> {
        let secret = self.config.webhook_secret.clone()?;
        Some(WebhookIntake::new(
            secret,
            self.store.clone(),
            self.queues.host.clone()?,
            self.clock.clone(),
            self.config.job_retention,
        ))
    }

    /// The outbox sweeper: sends host jobs recorded but never enqueued; `None` without a host
    /// queue. Runs on every scheduler tick (`nzj serve`'s, and the SyncRefresh function's).
    pub fn outbox_sweeper(&self) -> Option<OutboxSweeper> {
        Some(OutboxSweeper::new(self.store.clone(), self.queues.host.clone()?, self.clock.clone()))
    }

    /// The jobs API's state; `runs` says where a manual system-job run runs (in the background in
    /// `nzj serve`; on AWS in the job's own function, or within the request).
    pub fn api_state(&self, auth: ApiAuth, runs: nzj_runtime::RunPlace) -> AppState {
        let sync = self.sync_launcher();
        AppState {
            store: self.store.clone(),
            launcher: self.launcher.clone(),
            webhook: self.webhook_intake().map(Arc::new),
            // A host sync reads the object's current state from NetBox.
            host_queue: self.netbox.as_ref().and(self.queues.host.clone()),
            intake_queue: self.queues.host.clone(),
            maintenance: self.maintenance.clone(),
            sync,
            auth,
            runs,
            metrics: None,
        }
    }
}

/// A configured duration as a std one; configuration only accepts non-negative values.
fn std_duration(d: chrono::Duration) -> std::time::Duration {
    d.to_std().expect("configuration durations are validated non-negative")
}

/// A sync's lease, and the bulk queue's visibility timeout: it must outlast the longest step (one
/// NetBox page of 1,000 hosts, written in batches; a Lambda runs at most 15 minutes). A sync whose
/// process died can be replaced after it.
pub fn sync_lease(config: &Config) -> chrono::Duration {
    chrono::Duration::minutes(15).max(config.job_lease)
}

/// The system jobs this process can run, given what is configured, and the maintenance service
/// (when Zabbix is configured).
fn system_jobs(
    config: &Config,
    store: Arc<dyn JobStore>,
    zabbix: Option<Arc<ZabbixClient>>,
    netbox: Option<Arc<dyn NetboxSource>>,
    clock: Arc<dyn Clock>,
) -> (Registry, Option<Arc<MaintenanceService>>) {
    let Some(zabbix) = zabbix else {
        let registry = SystemJob::ALL.iter().fold(Registry::default(), |r, job| r.without(*job, NEEDS_ZABBIX));
        return (registry, None);
    };
    let maintenance = Arc::new(MaintenanceService::new(zabbix.clone(), store.clone(), clock));
    let refresh = HostConfigSyncRefresh::new(zabbix.clone(), store.clone());
    let refresh = match netbox {
        Some(netbox) => refresh.with_netbox(netbox),
        None => refresh,
    };
    let registry = Registry::default()
        .with(
            SystemJob::ImportZabbixSettings,
            Arc::new(ImportZabbixSettings::new(zabbix.clone(), store.clone(), config.max_deletions)),
        )
        .with(
            SystemJob::MaintenanceCleanup,
            Arc::new(
                MaintenanceCleanup::new(maintenance.clone())
                    .with_graveyard_purge(HostConverger::new(zabbix.clone(), store.clone())),
            ),
        )
        .with(SystemJob::HostConfigSyncRefresh, Arc::new(refresh));
    (registry, Some(maintenance))
}

/// The Zabbix client of a configuration, if Zabbix is configured.
fn zabbix_client(config: &Config) -> anyhow::Result<Option<Arc<ZabbixClient>>> {
    let Some(z) = &config.zabbix else { return Ok(None) };
    let client = ZabbixClient::new(ZabbixClientConfig {
        url: z.url.to_string(),
        auth: z.auth.clone(),
        connect_timeout: std_duration(z.connect_timeout),
        request_timeout: std_duration(z.request_timeout),
    })
    .context("NZJ_ZABBIX_URL")?;
    client.set_array_concurrency(z.array_concurrency);
    Ok(Some(Arc::new(client)))
}

/// The NetBox client of a configuration, if NetBox is configured.
fn netbox_client(config: &Config) -> anyhow::Result<Option<Arc<NetboxClient>>> {
    let Some(netbox) = &config.netbox else { return Ok(None) };
    let client = NetboxClient::new(NetboxClientConfig {
        url: netbox.url.to_string(),
        token: netbox.token.clone(),
        connect_timeout: std_duration(netbox.connect_timeout),
        request_timeout: std_duration(netbox.request_timeout),
    })
    .context("NZJ_NETBOX_URL")?;
    Ok(Some(Arc::new(client)))
}

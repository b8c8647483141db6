//! `nzj serve`: the scheduler (what EventBridge Scheduler does on AWS) and the HTTP API in one
//! process, on the embedded store (or DynamoDB with NZJ_STORE=dynamodb).

use anyhow::{Context, bail};
use nzj_app::{App, Queues};
use nzj_core::Secret;
use nzj_core::config::{Config, StoreConfig};
use nzj_core::tokens::Tokens;
use nzj_jobs::{HostWorker, OutboxSweeper, SyncStep, SyncWorker};
use nzj_queue::{JobQueue, SqliteQueue};
use nzj_runtime::{Launcher, TriggerOutcome};
use nzj_store::{DynamoDbStore, JobStore, SqliteStore};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where `serve` keeps a generated API token, and where the CLI looks for it.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("api-token")
}

pub async fn serve(listen: Option<String>, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    init_logging()?;
    let file_text = match &config_file {
        Some(path) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("NZJ_CONFIG: cannot read {}", path.display()))?)
        }
        None => None,
    };
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    if let Some(listen) = listen {
        env.push(("NZJ_LISTEN".into(), listen));
    }
    warn_unknown_variables(env.iter().map(|(name, _)| name.clone()));
    let config = Config::from_sources(env, file_text.as_deref())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("NZJ_DATA_DIR: cannot create {}", config.data_dir.display()))?;

    let store: Arc<dyn JobStore> = match &config.store {
        StoreConfig::Embedded => {
            let path = config.data_dir.join("nzj.sqlite3");
            Arc::new(
                SqliteStore::open(&path)
                    .with_context(|| format!("cannot open the embedded store {}", path.display()))?,
            )
        }
        StoreConfig::DynamoDb { table } => {
            let store = DynamoDbStore::from_env(table.clone()).await;
            store.ensure_table().await.with_context(|| format!("NZJ_DYNAMODB_TABLE: cannot use table {table}"))?;
            Arc::new(store)
        }
    };
    let tokens = api_tokens(&config)?;

    // Host jobs: the embedded queue (SQS's semantics) and its worker, as the host-worker Lambda on
    // AWS. Bulk work (SyncHostsNow) has a queue and a worker of its own: webhooks never wait
    // behind it.
    let lease = config.job_lease.to_std().context("NZJ_JOB_LEASE_SECONDS")?;
    let host: Arc<dyn JobQueue> = Arc::new(
        SqliteQueue::open(&config.data_dir.join("queue.sqlite3"), lease, config.host_job_attempts)
            .context("cannot open the embedded host-job queue")?,
    );
    let bulk_lease = nzj_app::sync_lease(&config).to_std().context("NZJ_JOB_LEASE_SECONDS")?;
    let bulk: Arc<dyn JobQueue<SyncStep>> = Arc::new(
        SqliteQueue::open(&config.data_dir.join("bulk-queue.sqlite3"), bulk_lease, config.host_job_attempts)
            .context("cannot open the embedded bulk queue")?,
    );
    let app = App::build(&config, store, Queues { host: Some(host), bulk: Some(bulk) })?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("NZJ_LISTEN: cannot listen on {}", config.listen))?;
    tracing::info!(listen = %config.listen, store = ?config.store, data_dir = %config.data_dir.display(), "nzj serve started");

    let tick_every = config.scheduler_tick.to_std().unwrap_or(Duration::from_secs(30));
    tokio::spawn(run_scheduler(
        app.launcher.clone(),
        app.store.clone(),
        app.outbox_sweeper(),
        app.sync_launcher(),
        tick_every,
    ));
    match app.host_worker() {
        Some(worker) => {
            tokio::spawn(run_host_worker(worker));
        }
        None => tracing::warn!("Zabbix is not configured: host jobs stay queued until it is"),
    }
    if let Some(worker) = app.sync_worker() {
        tokio::spawn(run_sync_worker(worker));
    }
    if config.webhook_secret.is_none() {
        tracing::warn!("NZJ_WEBHOOK_SECRET is not set: NetBox webhooks are refused");
    }
    // Every job records into the metrics facade; /metrics renders it as Prometheus text.
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let mut state = app.api_state(nzj_api::ApiAuth::Tokens(tokens), nzj_runtime::RunPlace::Background);
    // Zabbix calls are counted by the client for the whole process: read at each scrape.
    let zabbix = app.zabbix.clone();
    state.metrics = Some(Arc::new(move || {
        if let Some(zabbix) = &zabbix {
            metrics::counter!("nzj_zabbix_calls_total").absolute(zabbix.calls().total());
        }
        prometheus.render()
    }));
    let api = nzj_api::router(Arc::new(state));
    // The page at `/`: every read and action is a call into the same router.
    let ui = nzj_ui::Ui::new(Arc::new(nzj_ui::InProcessApi::new(api.clone())), nzj_ui::Login::Token);
    let app = api.merge(nzj_ui::router(ui));
    nzj_api::serve(listener, app, config.http, shutdown_signal()).await.context("HTTP server failed")?;
    tracing::info!("nzj serve stopped");
    Ok(())
}

/// Logs on standard error: for a person at a terminal in lines to read, for a log collector in
/// JSON; `NZJ_LOG_FORMAT` (human, json) overrides the guess. `NZJ_LOG` filters (`info`, `debug`).
fn init_logging() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NZJ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match std::env::var("NZJ_LOG_FORMAT").as_deref().map(str::trim) {
        Err(_) | Ok("") => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
        Ok("json") => true,
        Ok("human") => false,
        Ok(other) => bail!("configuration: NZJ_LOG_FORMAT: {other:?} is not one of: human, json"),
    };
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        logs.json().init()
    } else {
        logs.init()
    }
    Ok(())
}

/// A warning for each `NZJ_*` variable the product does not read (a typo would be ignored).
fn warn_unknown_variables(names: impl IntoIterator<Item = String>) {
    let names: Vec<String> = names.into_iter().collect();
    for (name, likely) in nzj_core::variables::unknown(names.iter().map(String::as_str)) {
        match likely {
            Some(known) => tracing::warn!(variable = %name, "unknown variable {name}, ignored: did you mean {known}?"),
            None => tracing::warn!(variable = %name, "unknown variable {name}, ignored"),
        }
    }
}

/// The named tokens of `NZJ_API_TOKENS_FILE`, and `NZJ_API_TOKEN` as the admin token (or, when
/// neither is set, the generated one of [`api_token`]).
fn api_tokens(config: &Config) -> anyhow::Result<Tokens> {
    let tokens = match &config.api_tokens_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("NZJ_API_TOKENS_FILE: cannot read {}", path.display()))?;
            let tokens = Tokens::parse(&text)
                .map_err(|e| anyhow::anyhow!("configuration: NZJ_API_TOKENS_FILE: {}: {e}", path.display()))?;
            tracing::info!(tokens = tokens.len(), file = %path.display(), "API tokens read");
            tokens
        }
        None => Tokens::default(),
    };
    if config.api_token.is_none() && !tokens.is_empty() {
        return Ok(tokens);
    }
    tokens.with_env_token(&api_token(config)?).map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

/// The configured token; on a loopback address without one, the token kept in the data dir,
/// generated (and printed once) on first start. Elsewhere a token is required.
fn api_token(config: &Config) -> anyhow::Result<Secret> {
    if let Some(token) = &config.api_token {
        return Ok(token.clone());
    }
    if !config.listen.ip().is_loopback() {
        bail!(
            "configuration: NZJ_API_TOKEN or NZJ_API_TOKENS_FILE: required when listening on a non-loopback address ({})",
            config.listen
        );
    }
    let path = token_path(&config.data_dir);
    if let Ok(kept) = std::fs::read_to_string(&path)
        && kept.trim().len() >= 16
    {
        eprintln!("nzj: API token kept in {}", path.display());
        return Ok(Secret::new(kept.trim()));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("cannot generate an API token: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &token).with_context(|| format!("cannot keep the API token in {}", path.display()))?;
    // Printed once, on the terminal only: never through the logs.
    outln!("nzj: generated an API token (kept in {}, where the CLI finds it): {token}", path.display());
    Ok(Secret::new(token))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Polls the embedded queue; idles briefly when it is empty. No wait is added to gather a batch:
/// what arrives while a round runs is the next round, so a lone webhook waits at most the idle
/// pause (250 ms) and a burst becomes array calls of `batch_size` by itself.
async fn run_host_worker(worker: HostWorker) {
    loop {
        match worker.poll().await {
            Ok(0) => tokio::time::sleep(Duration::from_millis(250)).await,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "host-job queue unavailable");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Runs sync steps one after the other; idles briefly when there are none.
async fn run_sync_worker(worker: SyncWorker) {
    loop {
        match worker.poll_once().await {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(e) => {
                tracing::error!(error = %e, "bulk queue unavailable");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Every tick: the outbox swept, the system jobs triggered, SyncHostsNow started if its schedule
/// is due, and (hourly) expired job records purged.
async fn run_scheduler(
    launcher: Launcher,
    store: Arc<dyn JobStore>,
    outbox: Option<OutboxSweeper>,
    sync: Option<nzj_api::SyncHostsNowLauncher>,
    every: Duration,
) {
    const PURGE_EVERY: Duration = Duration::from_secs(3600);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_purge: Option<tokio::time::Instant> = None;
    loop {
        ticker.tick().await;
        if let Some(outbox) = &outbox
            && let Err(e) = outbox.sweep().await
        {
            tracing::error!(error = %e, "outbox sweep failed");
        }
        for (job, outcome) in launcher.tick().await {
            match outcome {
                Ok(TriggerOutcome::Claimed(run)) => tracing::info!(job = %job, job_id = %run.record.id, "run claimed"),
                Ok(TriggerOutcome::StallRecorded(id)) => tracing::warn!(job = %job, job_id = %id, "run stalled"),
                Ok(TriggerOutcome::Skipped(reason)) => tracing::debug!(job = %job, ?reason, "trigger skipped"),
                Err(e) => tracing::error!(job = %job, error = %e, "trigger failed"),
            }
        }
        if let Some(sync) = &sync {
            match sync.sync.launch_scheduled(sync.queue.as_ref()).await {
                Ok(Some(record)) => tracing::info!(job_id = %record.id, "scheduled SyncHostsNow started"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "scheduled SyncHostsNow did not start"),
            }
        }
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            match store.purge_expired(launcher.clock.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired job records deleted"),
                Err(e) => tracing::warn!(error = %e, "purging expired job records failed"),
            }
            last_purge = Some(tokio::time::Instant::now());
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}

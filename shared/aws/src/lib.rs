//! What every Lambda function shares, so each `main.rs` is a few lines: configuration from the
//! environment, the DynamoDB store, one Zabbix client per process (reused across invocations),
//! and the handler that turns an EventBridge Scheduler event into at most one run of a system job.

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use nzj_core::config::Config;
use nzj_core::job::JobOrigin;
use nzj_core::{Clock, SystemClock, SystemJob, Trigger};
use nzj_jobs::{HostWorker, MessageHandler, Settlement, SyncStep, SyncWorker, WebhookIntake};
use nzj_queue::{Delivery, JobQueue, Message, SqsQueue};
use nzj_runtime::{Launcher, Scheduler, TriggerOutcome, run_claimed};
use nzj_store::{DynamoDbStore, JobStore};
use nzj_zabbix::ZabbixClient;
use serde_json::{Value, json};
use std::sync::Arc;

/// Time kept back from the Lambda deadline so a run that would overrun fails cleanly instead.
const DEADLINE_MARGIN: Duration = Duration::seconds(10);

/// What EventBridge Scheduler sends: the schedule's `Input`, which `template.yaml` fills with the
/// scheduler's context attributes. An EventBridge rule's event (`time`, `id`) is accepted too.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct ScheduledEvent {
    #[serde(default, alias = "time")]
    pub scheduled_time: Option<DateTime<Utc>>,
    #[serde(default, alias = "id")]
    pub execution_id: Option<String>,
    #[serde(default)]
    pub schedule_arn: Option<String>,
}

/// The secrets a deployment may keep in SSM Parameter Store (SecureString): for each, the variable
/// `<NAME>_PARAMETER` names the parameter, read once at start with decryption.
pub const SECRET_VARIABLES: [&str; 4] =
    ["NZJ_ZABBIX_TOKEN", "NZJ_ZABBIX_PASSWORD", "NZJ_NETBOX_TOKEN", "NZJ_WEBHOOK_SECRET"];

/// `env` with each secret whose `<NAME>_PARAMETER` is set read from SSM Parameter Store, so no
/// secret sits in the function's configuration. An error names the parameter, never its value.
pub async fn with_secrets_from_ssm(
    ssm: &aws_sdk_ssm::Client,
    mut env: Vec<(String, String)>,
) -> anyhow::Result<Vec<(String, String)>> {
    for name in SECRET_VARIABLES {
        let wanted = format!("{name}_PARAMETER");
        let Some(parameter) = env.iter().find(|(k, v)| *k == wanted && !v.is_empty()).map(|(_, v)| v.clone()) else {
            continue;
        };
        let answer = ssm.get_parameter().name(&parameter).with_decryption(true).send().await.map_err(|e| {
            anyhow::anyhow!(
                "configuration: {wanted}: cannot read SSM parameter {parameter:?}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            )
        })?;
        let value = answer.parameter().and_then(|p| p.value()).unwrap_or_default().to_string();
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value));
    }
    Ok(env)
}

/// Everything an invocation needs, built once per process (a Lambda container is reused).
pub struct Deployment {
    pub store: Arc<dyn JobStore>,
    pub launcher: Launcher,
    pub zabbix: Option<Arc<ZabbixClient>>,
    pub maintenance: Option<Arc<nzj_jobs::MaintenanceService>>,
    pub config: Config,
}

impl Deployment {
    /// From the environment: `NZJ_DYNAMODB_TABLE`, Zabbix settings, leases and timeouts (the
    /// same names as `nzj serve`); the AWS SDK finds region, credentials and endpoint itself.
    pub async fn from_env() -> anyhow::Result<Deployment> {
        let aws = aws_config::load_from_env().await;
        let env = with_secrets_from_ssm(&aws_sdk_ssm::Client::new(&aws), std::env::vars().collect()).await?;
        let config = Config::from_sources(env, None)?;
        let table = std::env::var("NZJ_DYNAMODB_TABLE").unwrap_or_else(|_| "nzj-jobs".to_string());
        let store: Arc<dyn JobStore> = Arc::new(DynamoDbStore::from_env(table).await);
        Deployment::new(&config, store)
    }

    pub fn new(config: &Config, store: Arc<dyn JobStore>) -> anyhow::Result<Deployment> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let zabbix = nzj_jobs::zabbix_client(config)?;
        let (registry, maintenance) =
            nzj_jobs::system_jobs(store.clone(), zabbix.clone(), clock.clone(), config.max_deletions);
        let scheduler = Arc::new(Scheduler::new(store.clone(), clock.clone(), config.job_lease, config.job_retention));
        let timeout = config.job_timeout.to_std()?;
        Ok(Deployment {
            store,
            launcher: Launcher { scheduler, clock, registry, timeout },
            zabbix,
            maintenance,
            config: config.clone(),
        })
    }

    /// One scheduled trigger of `job`: claims a run if it is due and free, and runs it within
    /// this invocation, ending before `deadline`. Duplicate deliveries of the same tick (EventBridge
    /// and async Lambda retries) find the job running or not due, and return `skipped`.
    pub async fn handle_scheduled(
        &self,
        job: SystemJob,
        event: &ScheduledEvent,
        deadline: DateTime<Utc>,
    ) -> anyhow::Result<Value> {
        let scheduled_time = event.scheduled_time.map(|t| t.to_rfc3339()).unwrap_or_default();
        let execution = event.execution_id.clone().unwrap_or_default();
        if let Some(reason) = self.launcher.registry.unavailable_reason(job) {
            anyhow::bail!("{job} cannot run here: {reason}");
        }
        let origin = JobOrigin { trigger: Trigger::Schedule, user: "eventbridge-scheduler".into(), object: None };
        let run = match self.launcher.scheduler.trigger(job, origin).await? {
            TriggerOutcome::Claimed(run) => *run,
            TriggerOutcome::Skipped(reason) => {
                tracing::info!(job = %job, ?reason, %scheduled_time, %execution, "trigger skipped");
                return Ok(json!({"job": job, "skipped": reason}));
            }
            TriggerOutcome::StallRecorded(id) => return Ok(json!({"job": job, "stalled": id})),
        };
        let left = deadline - self.launcher.clock.now() - DEADLINE_MARGIN;
        let timeout = left.to_std().unwrap_or_default().min(self.launcher.timeout);
        let handler = self.launcher.registry.handler(job).expect("a runnable job has a handler");
        let record =
            run_claimed(&self.launcher.scheduler, self.launcher.clock.clone(), handler.as_ref(), run, timeout).await?;
        tracing::info!(job = %job, job_id = %record.id, status = %record.status, %scheduled_time, %execution, "run finished");
        Ok(
            json!({"job": job, "job_id": record.id, "status": record.status, "result": record.result, "error": record.error}),
        )
    }
}

impl Deployment {
    /// The host worker on `queue`; needs Zabbix.
    pub fn host_worker(&self, queue: Arc<dyn JobQueue>) -> anyhow::Result<HostWorker> {
        let zabbix = self.zabbix.clone().ok_or_else(|| anyhow::anyhow!("host-worker: {}", nzj_jobs::NEEDS_ZABBIX))?;
        let clock = self.launcher.clock.clone();
        Ok(nzj_jobs::host_worker(&self.config, self.store.clone(), zabbix, clock, queue)?)
    }
}

/// The host queue from `NZJ_HOST_QUEUE_URL` and `NZJ_HOST_DLQ_URL`.
pub async fn host_queue_from_env(config: &Config) -> anyhow::Result<SqsQueue> {
    queue_from_env("NZJ_HOST_QUEUE_URL", "NZJ_HOST_DLQ_URL", config.job_lease.to_std()?, config.host_job_attempts).await
}

/// The bulk queue (SyncHostsNow's steps) from `NZJ_BULK_QUEUE_URL` and `NZJ_BULK_DLQ_URL`.
pub async fn bulk_queue_from_env(config: &Config) -> anyhow::Result<SqsQueue<SyncStep>> {
    let visibility = nzj_jobs::sync_lease(config).to_std()?;
    queue_from_env("NZJ_BULK_QUEUE_URL", "NZJ_BULK_DLQ_URL", visibility, config.host_job_attempts).await
}

/// The queue whose URL is in the variable `url`, with its dead-letter queue's in `dlq`.
async fn queue_from_env<M>(
    url: &str,
    dlq: &str,
    visibility: std::time::Duration,
    attempts: u32,
) -> anyhow::Result<SqsQueue<M>> {
    let var = |name: &str| std::env::var(name).map_err(|_| anyhow::anyhow!("configuration: {name}: required"));
    let aws = aws_config::load_from_env().await;
    Ok(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), var(url)?, var(dlq)?, visibility, attempts))
}

/// One SQS batch for a worker (host jobs, or sync steps). Groups run side by side, each group's
/// messages in order; once a message of a group is not done, the rest of that group's messages
/// are reported failed without being run (so they come back in order). A retry's backoff is set
/// on its message's visibility before it is reported failed.
pub async fn handle_sqs_batch<M: Message>(worker: &dyn MessageHandler<M>, event: SqsEvent) -> SqsBatchResponse {
    // Per message group, its messages in order: (message id, the job or why it is unreadable).
    type Messages<M> = Vec<(String, Result<Delivery<M>, String>)>;
    let mut groups: Vec<(String, Messages<M>)> = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let delivery = serde_json::from_str(record.body.as_deref().unwrap_or_default())
            .map(|job| Delivery {
                job,
                receipt: record.receipt_handle.clone().unwrap_or_default(),
                receive_count: record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
            })
            .map_err(|e| e.to_string());
        let group = record.attributes.get("MessageGroupId").cloned().unwrap_or_default();
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, items)) => items.push((id, delivery)),
            None => groups.push((group, vec![(id, delivery)])),
        }
    }
    let runs = groups.into_iter().map(|(_, group)| async move {
        let mut failed = Vec::new();
        let mut blocked = false;
        for (id, delivery) in group {
            let delivery = match delivery {
                Ok(d) if !blocked => d,
                Ok(_) => {
                    failed.push(id);
                    continue;
                }
                Err(e) => {
                    // Not a host job: the redrive policy moves it to the DLQ after its receives.
                    tracing::error!(message_id = %id, error = %e, "unreadable message");
                    failed.push(id);
                    continue;
                }
            };
            let settlement = worker.handle(&delivery).await;
            if settlement == Settlement::Done {
                continue;
            }
            if let Settlement::RetryAfter(delay) = settlement
                && let Err(e) = worker.queue().release(&delivery, delay).await
            {
                tracing::warn!(message_id = %id, error = %e, "could not set the retry delay");
            }
            blocked = true;
            failed.push(id);
        }
        failed
    });
    let failed: Vec<String> = futures_util::future::join_all(runs).await.into_iter().flatten().collect();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// The whole `main` of the host-worker function.
pub async fn run_host_worker_function() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let deployment = Deployment::from_env().await.map_err(|e| format!("{e:#}"))?;
    let queue = host_queue_from_env(&deployment.config).await.map_err(|e| format!("{e:#}"))?;
    let worker = deployment.host_worker(Arc::new(queue)).map_err(|e| format!("{e:#}"))?;
    let zabbix = worker.jobs.sync.zabbix.clone();
    run_sqs_function(Arc::new(worker), zabbix).await
}

/// Serves SQS batches to `worker` until the Lambda runtime stops, one metric of Zabbix calls per
/// invocation.
async fn run_sqs_function<M: Message>(
    worker: Arc<dyn MessageHandler<M>>,
    zabbix: Arc<ZabbixClient>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (worker, zabbix) = (worker.clone(), zabbix.clone());
        async move {
            let response = counting_zabbix_calls(Some(&zabbix), handle_sqs_batch(worker.as_ref(), event.payload)).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

/// Runs one invocation and reports the Zabbix calls it made as a metric.
async fn counting_zabbix_calls<T>(zabbix: Option<&Arc<ZabbixClient>>, work: impl std::future::Future<Output = T>) -> T {
    let before = zabbix.map_or(0, |z| z.calls().total());
    let out = work.await;
    nzj_runtime::metrics::zabbix_calls(zabbix.map_or(0, |z| z.calls().total()) - before);
    out
}

impl Deployment {
    /// The sync worker on the bulk `queue`; needs Zabbix and NetBox.
    pub fn sync_worker(&self, queue: Arc<dyn JobQueue<SyncStep>>) -> anyhow::Result<SyncWorker> {
        let zabbix = self.zabbix.clone().ok_or_else(|| anyhow::anyhow!("sync-all: {}", nzj_jobs::NEEDS_ZABBIX))?;
        nzj_jobs::sync_worker(&self.config, self.store.clone(), zabbix, self.launcher.clock.clone(), queue)?
            .ok_or_else(|| anyhow::anyhow!("sync-all: needs NetBox: set NZJ_NETBOX_URL and NZJ_NETBOX_TOKEN"))
    }
}

/// The whole `main` of the sync-all function: SyncHostsNow's steps from the bulk queue, one NetBox
/// page per step; each step enqueues the next, so a sync of any size finishes.
pub async fn run_sync_all_function() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let deployment = Deployment::from_env().await.map_err(|e| format!("{e:#}"))?;
    let queue = bulk_queue_from_env(&deployment.config).await.map_err(|e| format!("{e:#}"))?;
    let worker = deployment.sync_worker(Arc::new(queue)).map_err(|e| format!("{e:#}"))?;
    let zabbix = worker.sync.hosts.zabbix.clone();
    run_sqs_function(Arc::new(worker), zabbix).await
}

/// The webhook intake of a deployment: the host queue, and the secret from `NZJ_WEBHOOK_SECRET`.
impl Deployment {
    pub fn webhook_intake(&self, queue: Arc<dyn JobQueue>) -> anyhow::Result<WebhookIntake> {
        let secret =
            self.config.webhook_secret.clone().ok_or_else(|| {
                anyhow::anyhow!("configuration: NZJ_WEBHOOK_SECRET: required by the webhook function")
            })?;
        Ok(WebhookIntake {
            secret,
            store: self.store.clone(),
            queue,
            clock: self.launcher.clock.clone(),
            retention: self.config.job_retention,
        })
    }
}

/// One Function URL request to the webhook function.
pub async fn handle_webhook_request(
    intake: &WebhookIntake,
    request: LambdaFunctionUrlRequest,
) -> LambdaFunctionUrlResponse {
    let body = match (request.body, request.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.into_bytes(),
        (Some(text), true) => match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) => bytes,
            Err(e) => return url_response(400, &json!({"error": format!("body is not valid base64: {e}")})),
        },
    };
    let signature = request.headers.get("x-hook-signature").and_then(|v| v.to_str().ok());
    let answer = intake.receive(signature, &body).await;
    url_response(answer.status, &answer.body)
}

fn url_response(status: u16, body: &Value) -> LambdaFunctionUrlResponse {
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert("content-type", "application/json".parse().expect("header value"));
    response.body = Some(body.to_string());
    response
}

/// The whole `main` of the webhook function.
pub async fn run_webhook_function() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let deployment = Deployment::from_env().await.map_err(|e| format!("{e:#}"))?;
    let queue = host_queue_from_env(&deployment.config).await.map_err(|e| format!("{e:#}"))?;
    let intake = Arc::new(deployment.webhook_intake(Arc::new(queue)).map_err(|e| format!("{e:#}"))?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
        let intake = intake.clone();
        async move { Ok::<_, lambda_runtime::Error>(handle_webhook_request(&intake, event.payload).await) }
    }))
    .await
}

/// JSON logs for CloudWatch, filtered by `NZJ_LOG` (default `info`), and metrics in Embedded
/// Metric Format on stdout.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NZJ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).without_time().try_init();
    nzj_runtime::metrics::enable();
}

/// The whole `main` of a scheduled system-job function.
pub async fn run_scheduled_function(job: SystemJob) -> Result<(), lambda_runtime::Error> {
    init_logging();
    let deployment = Arc::new(Deployment::from_env().await.map_err(|e| format!("{e:#}"))?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let deployment = deployment.clone();
        async move {
            let deadline: DateTime<Utc> = event.context.deadline().into();
            counting_zabbix_calls(
                deployment.zabbix.as_ref(),
                deployment.handle_scheduled(job, &event.payload, deadline),
            )
            .await
            .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        }
    }))
    .await
}

impl Deployment {
    /// The jobs API of this deployment, as `nzj serve` serves it, behind the Function URL's IAM
    /// auth: host syncs go on `host_queue`, SyncHostsNow's steps on `bulk_queue`, and a manual
    /// system-job run runs within its request (a Lambda function is frozen once it answers).
    pub fn api_state(
        &self,
        host_queue: Arc<dyn JobQueue>,
        bulk_queue: Arc<dyn JobQueue<SyncStep>>,
    ) -> anyhow::Result<nzj_api::AppState> {
        let sync = match &self.zabbix {
            Some(zabbix) => {
                nzj_jobs::sync_hosts_now(&self.config, self.store.clone(), zabbix.clone(), self.launcher.clock.clone())?
                    .map(|sync| nzj_api::SyncLauncher { sync: Arc::new(sync), queue: bulk_queue })
            }
            None => None,
        };
        Ok(nzj_api::AppState {
            store: self.store.clone(),
            launcher: self.launcher.clone(),
            webhook: None,
            host_queue: self.config.netbox.as_ref().map(|_| host_queue),
            maintenance: self.maintenance.clone(),
            sync,
            auth: nzj_api::ApiAuth::Upstream,
            runs_in_request: true,
        })
    }
}

/// The whole `main` of the api function: the jobs API on a Function URL with IAM auth.
pub async fn run_api_function() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let deployment = Deployment::from_env().await.map_err(|e| format!("{e:#}"))?;
    let host_queue = host_queue_from_env(&deployment.config).await.map_err(|e| format!("{e:#}"))?;
    let bulk_queue = bulk_queue_from_env(&deployment.config).await.map_err(|e| format!("{e:#}"))?;
    let state = deployment.api_state(Arc::new(host_queue), Arc::new(bulk_queue)).map_err(|e| format!("{e:#}"))?;
    lambda_http::run(nzj_api::router(Arc::new(state))).await
}

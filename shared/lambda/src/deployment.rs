//! The app of a Lambda process, built once per container (reused across invocations): the
//! configuration from the environment with secrets read from SSM Parameter Store, the DynamoDB
//! store, and the SQS queues the configuration names.

use nzj_app::{App, Queues};
use nzj_core::config::{Config, QueueUrls};
use nzj_jobs::SyncStep;
use nzj_queue::{Message, SqsQueue};
use nzj_secrets::SsmSecrets;
use nzj_store::{DynamoDbStore, JobStore};
use std::sync::Arc;

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

/// The app from the environment: the same variables as `nzj serve` (`NZJ_DYNAMODB_TABLE`, the
/// queue URLs, Zabbix, NetBox, leases); the AWS SDK finds region, credentials and endpoint itself.
pub async fn app_from_env() -> anyhow::Result<App> {
    app_from(&aws_config::load_from_env().await).await
}

/// As [`app_from_env`], with the AWS SDK configuration loaded already (every client shares it).
pub async fn app_from(aws: &aws_config::SdkConfig) -> anyhow::Result<App> {
    let env = with_secrets_from_ssm(&aws_sdk_ssm::Client::new(aws), std::env::vars().collect()).await?;
    let config = Config::from_sources(env, None)?;
    let store: Arc<dyn JobStore> = Arc::new(DynamoDbStore::with_config(aws, config.dynamodb_table.clone()));
    let sqs = aws_sdk_sqs::Client::new(aws);
    let attempts = config.host_job_attempts;
    let mut queues = Queues::default();
    if let Some(urls) = &config.host_queue {
        let queue: SqsQueue = sqs_queue(sqs.clone(), urls, config.job_lease.to_std()?, attempts);
        queues.host = Some(Arc::new(queue));
    }
    if let Some(urls) = &config.bulk_queue {
        let queue: SqsQueue<SyncStep> = sqs_queue(sqs, urls, nzj_app::sync_lease(&config).to_std()?, attempts);
        queues.bulk = Some(Arc::new(queue));
    }
    let app = App::build(&config, store, queues)?;
    // On AWS, secret macros and PSKs named in NetBox are SSM parameters under one prefix.
    Ok(match &config.secrets.ssm_prefix {
        Some(prefix) => app.with_secret_store(Arc::new(SsmSecrets::new(aws_sdk_ssm::Client::new(aws), prefix.clone()))),
        None => app,
    })
}

fn sqs_queue<M: Message>(
    sqs: aws_sdk_sqs::Client,
    urls: &QueueUrls,
    visibility: std::time::Duration,
    attempts: u32,
) -> SqsQueue<M> {
    SqsQueue::new(sqs, urls.url.clone(), urls.dlq.clone(), visibility, attempts)
}

/// JSON logs for CloudWatch, filtered by `NZJ_LOG` (default `info`), and metrics in Embedded
/// Metric Format on stdout.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NZJ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).without_time().try_init();
    nzj_runtime::metrics::enable();
}

/// An error at start as the runtime's error, with its whole chain.
pub(crate) fn start_error(e: anyhow::Error) -> lambda_runtime::Error {
    format!("{e:#}").into()
}

/// What a function needs and the configuration does not give.
pub(crate) fn missing(function: &str, what: &str) -> lambda_runtime::Error {
    format!("{function}: {what}").into()
}

//! Queue functions: an SQS batch for the host worker or the sync worker, with partial batch
//! responses. The batch runs as FIFO groups in rounds (`nzj_queue::run_fifo_rounds`; the
//! host worker converges a round's hosts together); a message not done is
//! reported failed, after its retry delay is set on its visibility, so SQS brings it back.

use crate::deployment::{app_from_env, init_logging, missing, start_error};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use nzj_core::retry::Settlement;
use nzj_queue::{Delivery, Message, MessageHandler, run_fifo_rounds};
use nzj_zabbix::ZabbixClient;
use std::sync::Arc;

/// One SQS batch for a worker (host jobs, or sync steps). A message that is not a job of this
/// queue is reported failed: the redrive policy moves it to the DLQ after its receives.
pub async fn handle_sqs_batch<M: Message>(worker: &dyn MessageHandler<M>, event: SqsEvent) -> SqsBatchResponse {
    let mut failed = Vec::new();
    let mut deliveries = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        match serde_json::from_str::<M>(record.body.as_deref().unwrap_or_default()) {
            Ok(job) => {
                let group = record.attributes.get("MessageGroupId").cloned().unwrap_or_default();
                let receive_count =
                    record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
                let receipt = record.receipt_handle.clone().unwrap_or_default();
                deliveries.push((id, group, Delivery { job, receipt, receive_count }));
            }
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "unreadable message");
                failed.push(id);
            }
        }
    }
    let ran = run_fifo_rounds(
        deliveries,
        |(_, group, _)| group.clone(),
        |round| async move {
            let settlements = worker.handle_round(&round.iter().map(|(_, _, d)| d).collect::<Vec<_>>()).await;
            for ((id, _, delivery), settlement) in round.iter().zip(&settlements) {
                let delayed = match settlement {
                    Settlement::RetryAfter(delay) => worker.queue().release(delivery, *delay).await,
                    Settlement::Postpone(delay) => worker.queue().postpone(delivery, *delay).await,
                    Settlement::Done | Settlement::DeadLetter => Ok(()),
                };
                if let Err(e) = delayed {
                    tracing::warn!(message_id = %id, error = %e, "could not set the retry delay");
                }
            }
            round.into_iter().zip(settlements).collect()
        },
    )
    .await;
    // Held back (None), to retry or dead-lettered: reported failed, so SQS keeps the message.
    failed.extend(ran.into_iter().filter(|(_, s)| *s != Some(Settlement::Done)).map(|((id, _, _), _)| id));
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
    let app = app_from_env().await.map_err(start_error)?;
    let zabbix = app.zabbix.clone().ok_or_else(|| missing("host-worker", nzj_app::NEEDS_ZABBIX))?;
    let worker =
        app.host_worker().ok_or_else(|| missing("host-worker", "needs NZJ_HOST_QUEUE_URL and NZJ_HOST_DLQ_URL"))?;
    run_sqs_function(Arc::new(worker), zabbix).await
}

/// The whole `main` of the sync-all function: SyncHostsNow's steps from the bulk queue, the next
/// NetBox page of each kind per step; each step enqueues the next, so a sync of any size finishes.
pub async fn run_sync_all_function() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let app = app_from_env().await.map_err(start_error)?;
    let zabbix = app.zabbix.clone().ok_or_else(|| missing("sync-all", nzj_app::NEEDS_ZABBIX))?;
    if app.netbox.is_none() {
        return Err(missing("sync-all", "needs NetBox: set NZJ_NETBOX_URL and NZJ_NETBOX_TOKEN"));
    }
    let worker =
        app.sync_worker().ok_or_else(|| missing("sync-all", "needs NZJ_BULK_QUEUE_URL and NZJ_BULK_DLQ_URL"))?;
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
pub(crate) async fn counting_zabbix_calls<T>(
    zabbix: Option<&Arc<ZabbixClient>>,
    work: impl std::future::Future<Output = T>,
) -> T {
    let before = zabbix.map_or(0, |z| z.calls().total());
    let out = work.await;
    nzj_runtime::metrics::zabbix_calls(zabbix.map_or(0, |z| z.calls().total()) - before);
    out
}

//! The NetBox webhook intake, shared by `nzj serve` (`POST /webhook/netbox`) and the webhook
//! function (Function URL): verify, parse, record the job and enqueue it, and answer 2xx only
//! once the job is on the queue. Every answer says what happened (docs/product.md §8).

use crate::outbox::{EnqueueError, enqueue_host_job, send};
use nzj_core::job::JobOrigin;
use nzj_core::{Clock, JobId, JobStatus, Secret, Trigger};
use nzj_netbox::{MAX_BODY_BYTES, Routing, delivery_key, parse, route, verify_signature};
use nzj_queue::{JobQueue, QueuedJob};
use nzj_store::{JobStore, StoreError, Write};
use serde_json::{Value, json};
use std::sync::Arc;

pub struct WebhookIntake {
    secret: Secret,
    store: Arc<dyn JobStore>,
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    retention: chrono::Duration,
}

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer { status, body }
}

fn error(status: u16, message: impl Into<String>) -> Answer {
    answer(status, json!({"error": message.into()}))
}

impl WebhookIntake {
    pub fn new(
        secret: Secret,
        store: Arc<dyn JobStore>,
        queue: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
        retention: chrono::Duration,
    ) -> WebhookIntake {
        WebhookIntake { secret, store, queue, clock, retention }
    }

    /// Handles one delivery: `signature` is the `X-Hook-Signature` header, `body` the raw body.
    pub async fn receive(&self, signature: Option<&str>, body: &[u8]) -> Answer {
        let answer = self.answer(signature, body).await;
        if (400..500).contains(&answer.status) {
            nzj_runtime::metrics::webhook_rejected();
        }
        answer
    }

    async fn answer(&self, signature: Option<&str>, body: &[u8]) -> Answer {
        if body.len() > MAX_BODY_BYTES {
            return error(413, format!("body of {} bytes is over the limit of {MAX_BODY_BYTES}", body.len()));
        }
        if let Err(e) = verify_signature(self.secret.expose().as_bytes(), body, signature) {
            tracing::warn!(reason = %e, "webhook rejected");
            return error(401, e.to_string());
        }
        let event = match parse(body) {
            Ok(event) => event,
            Err(e) => return error(400, e),
        };
        let (name, object, data) = match route(&event) {
            Ok(Routing::Job { name, object, data }) => (name, object, data),
            Ok(Routing::Ignored(reason)) => return answer(202, json!({"status": "ignored", "reason": reason})),
            Err(e) => return error(400, e),
        };
        // Our own write-back makes NetBox send `updated`: a change of nothing but our fields
        // starts no job (else every write would come back as a job, for ever).
        if let (Some((pre, post)), true) = (&event.snapshots, data.is_some()) {
            match self.store.get_settings().await {
                Ok(settings) if settings.write_back.only_ours(pre, post) => {
                    let reason = "only the product's own custom fields changed (its write-back)";
                    return answer(202, json!({"status": "ignored", "reason": reason}));
                }
                Ok(_) => {}
                Err(e) => return error(503, e.to_string()),
            }
        }
        // A delivery seen before is found by its key's conditional write failing, not by a read
        // first: a new delivery, the usual case, costs one store round trip less.
        let key = delivery_key(body);
        let now = self.clock.now();
        let job = QueuedJob { job_id: JobId::new_at(now), name, object, data };
        let user = event.user.clone().unwrap_or_else(|| "netbox".into());
        let origin = JobOrigin { trigger: Trigger::Webhook, user, object: None };
        let delivery = Write::Delivery { key: key.clone(), job_id: job.job_id.clone() };
        let request_id = event.request_id.clone().unwrap_or_default();
        match enqueue_host_job(
            self.store.as_ref(),
            self.queue.as_ref(),
            job,
            origin,
            now,
            self.retention,
            vec![delivery],
        )
        .await
        {
            Ok(record) => {
                tracing::info!(job_id = %record.id, %object, job = %name, netbox_request_id = %request_id, "webhook queued");
                answer(202, json!({"status": "queued", "job": record.id, "name": name, "object": object}))
            }
            // The same delivery was recorded before (or at the same moment): its job is named.
            Err(EnqueueError::Store(StoreError::Conflict)) => match self.store.get_delivery(&key).await {
                Ok(Some(job)) => self.duplicate(job).await,
                _ => error(503, "a concurrent delivery could not be read back; retry"),
            },
            Err(e) => error(503, e.to_string()),
        }
    }

    /// A delivery seen before names the job it became, once that job is surely on the queue: a
    /// job recorded but not sent (its first delivery's process died in between) is sent now.
    async fn duplicate(&self, id: JobId) -> Answer {
        let record = match self.store.get_job(&id).await {
            Ok(record) => record,
            Err(e) => return error(503, e.to_string()),
        };
        if let Some(record) = record.filter(|r| r.outbox.is_some() && r.status == JobStatus::Pending) {
            if let Err(e) = send(self.store.as_ref(), self.queue.as_ref(), record).await {
                return error(503, e.to_string());
            }
            tracing::warn!(job_id = %id, "a resent delivery sent its job, recorded but never enqueued");
        }
        answer(200, json!({"status": "duplicate", "job": id}))
    }
}

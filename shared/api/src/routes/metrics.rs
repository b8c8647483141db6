//! `GET /metrics` in `nzj serve`: Prometheus text (for self-hosters; on AWS the same figures are
//! EMF metrics in CloudWatch). Counters and durations come from every job as it runs (jobs by
//! name and status, durations, Zabbix calls, hosts changed, webhooks rejected, NetBox writes);
//! at each scrape the queues' depth, oldest message's age and dead letters and the held deletions are read. Behind the
//! API token like every read.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Renders what was recorded as Prometheus text (the exporter's handle in `nzj serve`).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    let Some(render) = &state.metrics else {
        return Err(ApiError::not_found("no /metrics here: on AWS the metrics are in CloudWatch"));
    };
    if let Some(queue) = &state.intake_queue {
        gauges("host", queue.backlog().await?, queue.dead_letters().await?);
    }
    if let Some(sync) = &state.sync {
        gauges("bulk", sync.queue.backlog().await?, sync.queue.dead_letters().await?);
    }
    let held = nzj_jobs::deletions::held(state.store.as_ref()).await?.len();
    metrics::gauge!("nzj_deletions_held").set(held as f64);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], render()).into_response())
}

fn gauges(queue: &'static str, backlog: Option<nzj_queue::Backlog>, dead_letters: usize) {
    if let Some(backlog) = backlog {
        metrics::gauge!("nzj_queue_messages", "queue" => queue).set(backlog.messages as f64);
        let oldest = backlog.oldest.unwrap_or_default().as_secs_f64();
        metrics::gauge!("nzj_queue_oldest_message_age_seconds", "queue" => queue).set(oldest);
    }
    metrics::gauge!("nzj_dead_letters", "queue" => queue).set(dead_letters as f64);
}

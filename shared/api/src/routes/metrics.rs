//! `GET /metrics` in `nzj serve`: Prometheus text (for self-hosters; on AWS the same figures are
//! EMF metrics in CloudWatch). Counters and durations come from every job as it runs (jobs by
//! name and status, durations, Zabbix calls, hosts changed, webhooks rejected, NetBox writes);
//! at each scrape the queues' depth and dead letters and the held deletions are read. Behind the
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
        gauges("host", queue.depth().await?, queue.dead_letters().await?);
    }
    if let Some(sync) = &state.sync {
        gauges("bulk", sync.queue.depth().await?, sync.queue.dead_letters().await?);
    }
    let held = nzj_jobs::deletions::held(state.store.as_ref()).await?.len();
    metrics::gauge!("nzj_deletions_held").set(held as f64);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], render()).into_response())
}

fn gauges(queue: &'static str, depth: Option<usize>, dead_letters: usize) {
    if let Some(depth) = depth {
        metrics::gauge!("nzj_queue_messages", "queue" => queue).set(depth as f64);
    }
    metrics::gauge!("nzj_dead_letters", "queue" => queue).set(dead_letters as f64);
}

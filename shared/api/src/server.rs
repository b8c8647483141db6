//! `nzj serve`'s HTTP server: the router on HTTP/1.1 connections that cannot stop the service.
//! A client that connects and says nothing, sends half a header, keeps a connection alive
//! without using it, or trickles a body, is cut off after the configured time; and connections
//! beyond the limit are closed at once, so the process never runs out of file descriptors and
//! `/healthz`, the API and the webhook keep answering (docs/guarantees.md).

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use nzj_core::config::HttpLimits;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How long a failed `accept` (most often: out of file descriptors) waits before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` (the API's router, and the page's beside it) on `listener` within `limits` until
/// `shutdown` completes; then stops taking connections and lets the open ones finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let seconds = |d: chrono::Duration| d.to_std().unwrap_or(Duration::from_secs(1));
    let app = app.layer(RequestBodyTimeoutLayer::new(seconds(limits.body_timeout)));
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    // hyper starts this timer as soon as a connection waits for a request: it is both the
    // header-read timeout and the idle timeout of a kept-alive connection.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(seconds(limits.header_timeout));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.max_connections, "connection closed: at NZJ_HTTP_MAX_CONNECTIONS");
            drop(stream);
            continue;
        };
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

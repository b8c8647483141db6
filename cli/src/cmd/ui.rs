//! `nzj ui`: the jobs page on loopback for a deployment whose API a browser cannot call itself
//! (on AWS the Function URL takes only SigV4-signed requests). The page's API calls go through
//! this process, signed with the user's AWS credentials (or with `--token` for another
//! `nzj serve`). Only someone with the key printed at start can open it: another user of the
//! same machine can reach the port, not the key.

use crate::client::ApiClient;
use anyhow::{Context, bail};
use nzj_core::Secret;
use nzj_ui::{Answer, Api, Login, Ui};
use std::sync::Arc;

/// The API of `--endpoint`, called as the CLI calls it.
struct RemoteApi(ApiClient);

#[async_trait::async_trait]
impl Api for RemoteApi {
    async fn call(
        &self,
        _credential: Option<&Secret>,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, String> {
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).map_err(|e| e.to_string())?;
        match self.0.call(method, path, body).await {
            Ok((status, body)) => Ok(Answer { status: status.as_u16(), body }),
            Err(e) => Err(format!("{e:#}")),
        }
    }
}

pub async fn ui(api: ApiClient, listen: &str) -> anyhow::Result<()> {
    let address: std::net::SocketAddr =
        listen.parse().with_context(|| format!("--listen: {listen:?} is not an address like 127.0.0.1:8081"))?;
    if !address.ip().is_loopback() {
        bail!(
            "--listen: {address} is not a loopback address; the page acts with your credentials, so it stays on this machine"
        );
    }
    let listener =
        tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
    let local = listener.local_addr()?;
    let key = nzj_ui::session::random_token();
    let endpoint = api.base().to_string();
    let ui = Ui::new(Arc::new(RemoteApi(api)), Login::Key(Secret::new(key.clone())));
    outln!("nzj ui: the page for {endpoint}");
    outln!("open http://{local}/login?key={key}");
    let app = nzj_ui::router(ui).fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no such page") });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("nzj ui: the HTTP server failed")
}

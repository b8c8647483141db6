//! `nzj netbox setup [--check]`: makes NetBox ready for the product in one command (the write-back
//! custom fields, the webhook with the product's secret, the event rule), idempotently, talking to
//! NetBox's REST API with the product's NetBox settings (NZJ_NETBOX_URL, NZJ_NETBOX_TOKEN,
//! NZJ_WEBHOOK_SECRET, from the environment or `--config`). The custom fields' names are the
//! product's settings (read through its API); `--check` changes nothing and exits 1 when NetBox
//! differs.

use crate::client::ApiClient;
use anyhow::{Context, anyhow};
use nzj_core::config::Config;
use nzj_core::write_back::WriteBack;
use nzj_netbox::setup::{SetupTarget, setup};
use nzj_netbox::{NetboxClient, NetboxClientConfig};
use std::path::PathBuf;

/// Where the webhook URL comes from.
pub enum WebhookUrl {
    Given(String),
    /// The `WebhookUrl` output of this CloudFormation stack.
    Stack(String),
}

impl WebhookUrl {
    async fn resolve(self) -> anyhow::Result<String> {
        let stack = match self {
            WebhookUrl::Given(url) => return Ok(url),
            WebhookUrl::Stack(stack) => stack,
        };
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let found = aws_sdk_cloudformation::Client::new(&aws)
            .describe_stacks()
            .stack_name(&stack)
            .send()
            .await
            .map_err(|e| anyhow!("--stack {stack}: {}", aws_sdk_cloudformation::error::DisplayErrorContext(e)))?;
        found
            .stacks()
            .iter()
            .flat_map(|s| s.outputs())
            .find(|o| o.output_key() == Some("WebhookUrl"))
            .and_then(|o| o.output_value().map(str::to_string))
            .ok_or_else(|| anyhow!("--stack {stack}: the stack has no WebhookUrl output (is it this product's stack?)"))
    }
}

pub struct SetupArgs {
    pub webhook_url: WebhookUrl,
    pub check: bool,
    pub config: Option<PathBuf>,
}

/// Runs setup; `Ok(false)` when checking found differences.
pub async fn netbox_setup(api: &ApiClient, args: SetupArgs, json: bool) -> anyhow::Result<bool> {
    let given = args.webhook_url.resolve().await?;
    let url = url::Url::parse(&given)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| anyhow!("--webhook-url {given:?}: an http(s) URL, like https://nzj.example/webhook/netbox"))?;
    let file = match &args.config {
        Some(path) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("--config: cannot read {}", path.display()))?)
        }
        None => None,
    };
    let config = Config::from_sources(std::env::vars(), file.as_deref())?;
    let netbox = config
        .netbox
        .as_ref()
        .ok_or_else(|| anyhow!("NetBox is not configured: set NZJ_NETBOX_URL and NZJ_NETBOX_TOKEN"))?;
    let secret = config
        .webhook_secret
        .as_ref()
        .ok_or_else(|| anyhow!("NZJ_WEBHOOK_SECRET is not set: the webhook needs the product's secret"))?;
    // The field names the product writes: its settings, or the defaults when its API is not up.
    let write_back = match api.get("/api/settings", &[]).await {
        Ok(settings) => serde_json::from_value::<WriteBack>(settings["write_back"].clone()).unwrap_or_default(),
        Err(e) => {
            eprintln!("nzj: the product's API did not answer ({e:#}); using the default custom field names");
            WriteBack::default()
        }
    };
    let client = NetboxClient::new(NetboxClientConfig {
        url: netbox.url.to_string(),
        token: netbox.token.clone(),
        connect_timeout: netbox.connect_timeout.to_std()?,
        request_timeout: netbox.request_timeout.to_std()?,
    })?;
    let target = SetupTarget { webhook_url: url.as_str(), secret: secret.expose(), write_back: &write_back };
    let changes = setup(&client, &target, args.check).await?;
    if json {
        let list: Vec<_> = changes.iter().map(|c| serde_json::json!({"object": c.object, "what": c.what})).collect();
        crate::client::print_json(&serde_json::json!({"check": args.check, "changes": list}));
    } else {
        let done = if args.check { "" } else { " (made so)" };
        for change in &changes {
            outln!("{}: {}{done}", change.object, change.what);
        }
        match (changes.is_empty(), args.check) {
            (true, _) => outln!("NetBox is set up for netbox-zabbix-jobs: nothing to change"),
            (false, true) => outln!("{} difference(s); `nzj netbox setup` makes them so", changes.len()),
            (false, false) => outln!("NetBox is set up for netbox-zabbix-jobs ({} change(s))", changes.len()),
        }
    }
    Ok(!args.check || changes.is_empty())
}

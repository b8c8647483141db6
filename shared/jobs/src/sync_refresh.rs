//! HostConfigSyncRefresh: for host configs not checked since the cutoff, compare what Zabbix has
//! now with the desired host computed from the *current* settings and cache and the object's last
//! known NetBox state (so a new or changed rule shows as drift until applied), in pages of host
//! configs with one `host.get` per page (never one per host), and store `in_sync` and the
//! difference. A host config without stored NetBox state is compared with the desired host last
//! written. A Zabbix outage counts as failed, never as out of sync.

use crate::{store_failure, zabbix_failure};
use async_trait::async_trait;
use chrono::Duration;
use nzj_core::LogLevel;
use nzj_core::desired::{CacheView, Desired, Difference, desired_host, differences};
use nzj_core::host_config::HostConfig;
use nzj_core::settings::Settings;
use nzj_core::write_back::SyncState;
use nzj_runtime::{JobContext, JobFailure, SystemJobHandler};
use nzj_store::{JobStore, StoreError, Write};
use nzj_zabbix::{ZabbixClient, ZabbixHost};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Host configs per page; also the most writes in one store commit (DynamoDB allows 100).
pub const PAGE_SIZE: usize = 100;

pub struct HostConfigSyncRefresh {
    zabbix: Arc<ZabbixClient>,
    store: Arc<dyn JobStore>,
    page_size: usize,
    /// Where in_sync / out_of_sync is written back (docs/product.md §3.4); none: not written.
    netbox: Option<Arc<dyn nzj_netbox::NetboxSource>>,
}

impl HostConfigSyncRefresh {
    pub fn new(zabbix: Arc<ZabbixClient>, store: Arc<dyn JobStore>) -> HostConfigSyncRefresh {
        HostConfigSyncRefresh { zabbix, store, page_size: PAGE_SIZE, netbox: None }
    }

    /// Writing each checked object's state back into `netbox`, in bulk per page.
    pub fn with_netbox(mut self, netbox: Arc<dyn nzj_netbox::NetboxSource>) -> HostConfigSyncRefresh {
        self.netbox = Some(netbox);
        self
    }

    /// With smaller pages (tests).
    pub fn with_page_size(mut self, page_size: usize) -> HostConfigSyncRefresh {
        self.page_size = page_size.max(1);
        self
    }
}

#[async_trait]
impl SystemJobHandler for HostConfigSyncRefresh {
    async fn run(&self, ctx: &JobContext) -> Result<Value, JobFailure> {
        let settings = self.store.get_settings().await.map_err(store_failure)?;
        let now = ctx.now();
        let cutoff = now - Duration::minutes(settings.sync_refresh_cutoff_minutes as i64);
        // Zabbix unreachable from the start fails the run (nothing was checked).
        self.zabbix.version().await.map_err(zabbix_failure)?;
        let view = CacheView::new(&crate::load_cache(self.store.as_ref()).await.map_err(store_failure)?);
        let (mut total, mut updated, mut failed) = (0usize, 0usize, 0usize);
        let mut after = None;
        loop {
            let page = self.store.list_host_configs(after, self.page_size).await.map_err(store_failure)?;
            let Some(last) = page.last() else { break };
            after = Some(last.object);
            let mut due: Vec<_> = page
                .into_iter()
                .filter(|c| {
                    c.hostid.is_some()
                        && (c.desired.is_some() || c.netbox.is_some())
                        && c.last_sync_update.is_none_or(|t| t < cutoff)
                })
                .collect();
            if due.is_empty() {
                continue;
            }
            total += due.len();
            let hostids: Vec<String> = due.iter().filter_map(|c| c.hostid.clone()).collect();
            let hosts = match self.zabbix.hosts_by_id(&hostids).await {
                Ok(hosts) => hosts,
                Err(e) => {
                    failed += due.len();
                    ctx.log(LogLevel::Warning, format!("{} host configs not checked: {e}", due.len()));
                    continue;
                }
            };
            let by_id: HashMap<&str, &ZabbixHost> = hosts.iter().map(|h| (h.hostid.as_str(), h)).collect();
            for config in &mut due {
                let host = config.hostid.as_deref().and_then(|id| by_id.get(id)).copied();
                let difference = drift(config, host, &settings, &view);
                if !difference.is_empty() {
                    let fields: Vec<&str> = difference.iter().map(|d| d.field.as_str()).collect();
                    ctx.log(LogLevel::Info, format!("{} out of sync: {}", config.object, fields.join(", ")));
                }
                config.in_sync = Some(difference.is_empty());
                config.difference = difference;
                config.last_sync_update = Some(now);
            }
            let mut log = nzj_core::JobLog::default();
            let mut pairs: Vec<(&mut HostConfig, SyncState)> = due
                .iter_mut()
                .map(|c| {
                    let state = SyncState::of(c, false, false);
                    (c, state)
                })
                .collect();
            let none = vec![None; pairs.len()];
            crate::write_back_logged(
                self.netbox.as_deref(),
                &settings,
                &mut pairs,
                none,
                &ctx.record.id,
                now,
                &mut log,
            )
            .await;
            for entry in log.entries {
                ctx.log(entry.level, entry.message);
            }
            let count = due.len();
            match self.store.commit(due.into_iter().map(Write::host_config).collect()).await {
                Ok(()) => updated += count,
                // A host job wrote some of them meanwhile: theirs is newer; these count as failed.
                Err(StoreError::Conflict) => failed += count,
                Err(e) => return Err(store_failure(e)),
            }
        }
        Ok(json!({
            "total": total,
            "updated": updated,
            "failed": failed,
            "cutoff_in_minutes": settings.sync_refresh_cutoff_minutes,
            "cutoff": cutoff,
        }))
    }
}

/// How the host Zabbix has (`None`: missing) differs from what `config` should be now.
fn drift(config: &HostConfig, host: Option<&ZabbixHost>, settings: &Settings, view: &CacheView) -> Vec<Difference> {
    let differ =
        |field: &str, desired: String, actual: String| vec![Difference { field: field.into(), desired, actual }];
    let now = match &config.netbox {
        Some(object) => desired_host(object, settings, view),
        None => Ok(Desired::Host(Box::new(config.desired.clone().expect("filtered on desired or netbox")))),
    };
    match (now, host) {
        (Err(e), _) => differ("mapping", e.0, "no desired host can be computed".into()),
        (Ok(Desired::Host(desired)), Some(host)) => differences(&desired, &host.actual(&settings.tag_prefix)),
        (Ok(Desired::Host(desired)), None) => differ("host", desired.host.clone(), "missing in Zabbix".into()),
        (Ok(Desired::OutOfScope(reason)), Some(host)) => {
            differ("host", format!("deleted: {reason}"), host.host.clone())
        }
        // Kept as it is (no primary IP), or already gone as it should be.
        (Ok(Desired::Keep { .. } | Desired::OutOfScope(_)), _) => Vec::new(),
    }
}

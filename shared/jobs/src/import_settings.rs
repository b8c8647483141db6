//! ImportZabbixSettings: templates (with their parent templates), proxies, proxy groups (7.0+)
//! and host groups into the store's cache, in a fixed number of Zabbix calls whatever their count
//! (read by `nzj_zabbix`), under the max-deletions breaker. The cache is written in one atomic
//! commit, so a failed or refused import changes nothing; removing a cached object never touches
//! a host.

use crate::{store_failure, zabbix_failure};
use async_trait::async_trait;
use nzj_core::LogLevel;
use nzj_core::zabbix_cache::{CacheKind, KindChanges, changes, check_deletions};
use nzj_runtime::{JobContext, JobFailure, SystemJobHandler};
use nzj_store::{JobStore, Write};
use nzj_zabbix::ZabbixClient;
use serde_json::{Map, Value};
use std::sync::Arc;

pub struct ImportZabbixSettings {
    zabbix: Arc<ZabbixClient>,
    store: Arc<dyn JobStore>,
    /// The breaker: an import that would drop more cached objects than this changes nothing.
    max_deletions: usize,
}

impl ImportZabbixSettings {
    pub fn new(zabbix: Arc<ZabbixClient>, store: Arc<dyn JobStore>, max_deletions: usize) -> ImportZabbixSettings {
        ImportZabbixSettings { zabbix, store, max_deletions }
    }
}

#[async_trait]
impl SystemJobHandler for ImportZabbixSettings {
    async fn run(&self, ctx: &JobContext) -> Result<Value, JobFailure> {
        let fetched = self.zabbix.settings_snapshot().await.map_err(zabbix_failure)?;
        let mut writes = Vec::new();
        let mut all_changes: Vec<(CacheKind, KindChanges)> = Vec::new();
        for (kind, current) in fetched {
            let mut snapshot = self.store.get_cache(kind).await.map_err(store_failure)?;
            let kind_changes = changes(&snapshot.objects, &current);
            if kind_changes != KindChanges::default() || snapshot.version == 0 {
                snapshot.objects = current;
                snapshot.updated = Some(ctx.now());
                writes.push(Write::cache(snapshot));
            }
            all_changes.push((kind, kind_changes));
        }
        check_deletions(&all_changes, self.max_deletions).map_err(JobFailure::permanent)?;
        // One commit: all kinds change together, or none does.
        self.store.commit(writes).await.map_err(store_failure)?;

        let mut result = Map::new();
        for (kind, c) in &all_changes {
            ctx.log(LogLevel::Info, format!("{kind}: {} added, {} updated, {} deleted", c.added, c.updated, c.deleted));
            result.insert(kind.to_string(), serde_json::to_value(c).expect("changes serialize"));
        }
        Ok(Value::Object(result))
    }
}

//! A plan over every stored host config (`POST /api/plan`, `nzj plan`): the pure
//! `nzj_core::plan` applied page by page to the store, with the imported cache. No Zabbix or
//! NetBox call is made and nothing is written.

use nzj_core::desired::CacheView;
use nzj_core::netbox::ObjectRef;
use nzj_core::plan::{Plan, plan_one};
use nzj_core::settings::Settings;
use nzj_store::{JobStore, StoreError};

/// Host configs read per store page.
const CONFIGS_PER_READ: usize = 500;

/// What bringing every known host to `settings` would do; the changes after `after` are listed,
/// `limit` at most.
pub async fn plan(
    store: &dyn JobStore,
    settings: &Settings,
    after: Option<ObjectRef>,
    limit: usize,
) -> Result<Plan, StoreError> {
    let view = CacheView::new(&crate::load_cache(store).await?);
    let mut plan = Plan::default();
    let mut cursor = None;
    loop {
        let configs = store.list_host_configs(cursor, CONFIGS_PER_READ).await?;
        let Some(last) = configs.last() else { break };
        cursor = Some(last.object);
        for config in &configs {
            let listed = after.is_none_or(|a| config.object > a);
            plan.add(plan_one(config, settings, &view), listed, limit);
        }
    }
    plan.finish(settings);
    Ok(plan)
}

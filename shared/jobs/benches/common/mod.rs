//! What the benches against a real Zabbix share: the client of the Zabbix 6.0 that `make bench`
//! starts, and a fresh embedded store with its settings imported.

use nzj_core::job::JobOrigin;
use nzj_core::{Clock, JobName, JobRecord, Secret, SystemClock, Trigger};
use nzj_jobs::ImportZabbixSettings;
use nzj_runtime::{JobContext, SystemJobHandler};
use nzj_store::{JobStore, SqliteStore};
use nzj_zabbix::{ZabbixAuth, ZabbixClient, ZabbixClientConfig};
use std::sync::Arc;
use std::time::Duration;

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A variable `make bench` sets; without it the bench says so and exits.
pub fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("{name} is not set: run `make bench`, which starts the peers");
        std::process::exit(2)
    })
}

/// The Zabbix 6.0 of `make bench` (ZBX60_API_URL, ZBX60_TOKEN), with room for slow array calls.
pub fn zabbix_60() -> Arc<ZabbixClient> {
    Arc::new(
        ZabbixClient::new(ZabbixClientConfig {
            url: required("ZBX60_API_URL"),
            auth: ZabbixAuth::Token(Secret::new(required("ZBX60_TOKEN"))),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
        })
        .unwrap(),
    )
}

/// A fresh embedded store in `dir` with `zabbix`'s settings imported, and the clock of the bench.
pub async fn imported_store(zabbix: &Arc<ZabbixClient>, dir: &std::path::Path) -> (Arc<dyn JobStore>, Arc<dyn Clock>) {
    let store: Arc<dyn JobStore> = Arc::new(SqliteStore::open(&dir.join("nzj.sqlite3")).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let origin = JobOrigin { trigger: Trigger::Cli, user: "bench".into(), object: None };
    let record = JobRecord::new_running(
        JobName::ImportZabbixSettings,
        origin,
        clock.now(),
        chrono::Duration::minutes(5),
        chrono::Duration::days(1),
    );
    let import = ImportZabbixSettings::new(zabbix.clone(), store.clone(), 1_000_000);
    import.run(&JobContext::new(record, clock.clone())).await.unwrap();
    (store, clock)
}

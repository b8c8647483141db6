//! The failed-hosts index on both stores: host configs whose last job failed are listed apart, in
//! object order, page after page; a config whose next job succeeds leaves the list in the same
//! write (no second item to keep in step).

mod support;

use chrono::Utc;
use nzj_core::JobId;
use nzj_core::host_config::HostConfig;
use nzj_core::host_failure::HostFailure;
use nzj_core::netbox::{ObjectKind, ObjectRef};
use nzj_store::{JobStore, Write};
use std::sync::Arc;

for_each_store!(failed_hosts_are_listed_apart_and_leave_the_list_when_their_next_job_succeeds);

fn failure() -> HostFailure {
    HostFailure::new(JobId::new_at(Utc::now()), Utc::now(), "Zabbix host.create: refused".into(), None)
}

async fn failed(store: &Arc<dyn JobStore>, page: usize) -> Vec<ObjectRef> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let configs = store.list_failed_hosts(after, page).await.unwrap();
        assert!(configs.iter().all(|c| c.last_failure.is_some()));
        all.extend(configs.iter().map(|c| c.object));
        if configs.len() < page {
            return all;
        }
        after = configs.last().map(|c| c.object);
    }
}

async fn failed_hosts_are_listed_apart_and_leave_the_list_when_their_next_job_succeeds(store: Arc<dyn JobStore>) {
    let mut expected = Vec::new();
    for id in 1..=30 {
        let mut config = HostConfig::new(ObjectRef { kind: ObjectKind::Device, id });
        if id % 4 == 0 {
            config.job_ended(JobId::new_at(Utc::now()), Some(failure()));
            expected.push(config.object);
        }
        store.commit(vec![Write::host_config(config)]).await.unwrap();
    }
    // In the order of their keys, as every host config listing (text: `dcim.device/12` first).
    expected.sort_by_key(|o| o.to_string());
    assert_eq!(failed(&store, 2).await, expected);
    assert_eq!(store.list_host_configs(None, 100).await.unwrap().len(), 30, "every config is still listed");

    let object = expected[3];
    let mut config = store.get_host_config(object).await.unwrap().unwrap();
    config.job_ended(JobId::new_at(Utc::now()), None);
    store.commit(vec![Write::host_config(config)]).await.unwrap();
    assert!(!failed(&store, 500).await.contains(&object));
    assert_eq!(failed(&store, 500).await.len(), expected.len() - 1);
}

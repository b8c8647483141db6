//! ImportZabbixSettings against real Zabbix 6.0 and 7.0.

mod support;

use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot, CachedObject};
use nzj_core::{JobStatus, SystemJob};
use nzj_jobs::ImportZabbixSettings;
use nzj_store::Write;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::{CutProxy, Env, Peer, first_id, since, unique};

for_each_zabbix!(
    the_import_creates_updates_and_deletes_cache_entries_to_match_zabbix,
    the_breaker_trips_on_a_mass_disappearance_without_changing_anything,
    import_call_counts_are_pinned_and_do_not_grow_with_the_number_of_templates,
    zabbix_cut_off_mid_run_fails_the_job_as_transient_and_a_later_run_succeeds,
);

fn import(zabbix: std::sync::Arc<nzj_zabbix::ZabbixClient>, env: &Env, max_deletions: usize) -> ImportZabbixSettings {
    ImportZabbixSettings::new(zabbix, env.store.clone(), max_deletions)
}

fn find<'a>(snapshot: &'a CacheSnapshot, name: &str) -> Option<&'a CachedObject> {
    snapshot.objects.iter().find(|o| o.name == name)
}

fn count(result: &Value, kind: &str, what: &str) -> u64 {
    result[kind][what].as_u64().unwrap_or_else(|| panic!("{kind}.{what} missing in {result}"))
}

async fn the_import_creates_updates_and_deletes_cache_entries_to_match_zabbix(peer: Peer) {
    let zbx = peer.client();
    let seven = peer.major_minor == "7.0";
    let (group, template, proxy) = (unique("nzj-hg"), unique("nzj-tpl"), unique("nzj-px"));
    let group_id = first_id(&support::setup_call(&zbx, "hostgroup.create", json!({"name": group})).await, "groupids");
    let template_id = first_id(
        &support::setup_call(
            &zbx,
            "template.create",
            json!({"host": template, "groups": [{"groupid": "1"}], "templates": [{"templateid": "10001"}]}),
        )
        .await,
        "templateids",
    );
    let proxy_params =
        if seven { json!({"name": proxy, "operating_mode": 0}) } else { json!({"host": proxy, "status": 5}) };
    let proxy_id = first_id(&support::setup_call(&zbx, "proxy.create", proxy_params).await, "proxyids");
    let proxy_group = unique("nzj-pg");
    let proxy_group_id = if seven {
        let created = support::setup_call(
            &zbx,
            "proxygroup.create",
            json!({"name": proxy_group, "failover_delay": "1m", "min_online": "1"}),
        );
        Some(first_id(&created.await, "proxy_groupids"))
    } else {
        None
    };

    let env = Env::new();
    let first = env.run(SystemJob::ImportZabbixSettings, &import(zbx.clone(), &env, 50)).await;
    assert_eq!(first.status, JobStatus::Completed, "{:?}", first.error);
    let result = first.result.clone().unwrap();
    assert!(count(&result, "templates", "added") > 300, "{result}");
    assert!(count(&result, "host_groups", "added") >= 1);
    assert!(count(&result, "proxies", "added") >= 1);
    assert_eq!(count(&result, "templates", "deleted"), 0);

    let templates = env.store.get_cache(CacheKind::Templates).await.unwrap();
    let cached_template = find(&templates, &template).expect("new template cached");
    assert_eq!(cached_template.id, template_id);
    assert_eq!(cached_template.attributes["parents"], json!(["10001"]), "parent templates are kept");
    assert_eq!(find(&env.store.get_cache(CacheKind::HostGroups).await.unwrap(), &group).unwrap().id, group_id);
    assert_eq!(find(&env.store.get_cache(CacheKind::Proxies).await.unwrap(), &proxy).unwrap().id, proxy_id);
    let proxy_groups = env.store.get_cache(CacheKind::ProxyGroups).await.unwrap();
    match &proxy_group_id {
        Some(id) => assert_eq!(&find(&proxy_groups, &proxy_group).unwrap().id, id),
        None => assert!(proxy_groups.objects.is_empty(), "no proxy groups before 7.0"),
    }

    // Rename the group, delete the template and the proxy: the next import follows.
    let renamed = unique("nzj-hg-renamed");
    support::setup_call(&zbx, "hostgroup.update", json!({"groupid": group_id, "name": renamed})).await;
    support::setup_call(&zbx, "template.delete", json!([template_id])).await;
    support::setup_call(&zbx, "proxy.delete", json!([proxy_id])).await;
    let second = env.run(SystemJob::ImportZabbixSettings, &import(zbx.clone(), &env, 50)).await;
    assert_eq!(second.status, JobStatus::Completed, "{:?}", second.error);
    let result = second.result.unwrap();
    assert!(count(&result, "host_groups", "updated") >= 1, "{result}");
    assert!(count(&result, "templates", "deleted") >= 1, "{result}");
    assert!(count(&result, "proxies", "deleted") >= 1, "{result}");
    let groups = env.store.get_cache(CacheKind::HostGroups).await.unwrap();
    assert_eq!(find(&groups, &renamed).unwrap().id, group_id);
    assert!(find(&groups, &group).is_none());
    assert!(find(&env.store.get_cache(CacheKind::Templates).await.unwrap(), &template).is_none());
    assert!(find(&env.store.get_cache(CacheKind::Proxies).await.unwrap(), &proxy).is_none());

    support::setup_call(&zbx, "hostgroup.delete", json!([group_id])).await;
    if let Some(id) = proxy_group_id {
        support::setup_call(&zbx, "proxygroup.delete", json!([id])).await;
    }
}

async fn the_breaker_trips_on_a_mass_disappearance_without_changing_anything(peer: Peer) {
    let env = Env::new();
    // The cache knows 30 host groups that Zabbix no longer has: importing would drop them all.
    let mut groups = env.store.get_cache(CacheKind::HostGroups).await.unwrap();
    groups.objects = (0..30)
        .map(|i| CachedObject {
            id: format!("{}", 9_000_000 + i),
            name: format!("gone {i}"),
            attributes: BTreeMap::new(),
        })
        .collect();
    env.store.commit(vec![Write::cache(groups)]).await.unwrap();
    let before = env.store.get_cache(CacheKind::HostGroups).await.unwrap();

    let job = env.run(SystemJob::ImportZabbixSettings, &import(peer.client(), &env, 10)).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(error.contains("refusing to import") && error.contains("remove 30"), "{error}");
    assert!(!error.starts_with("transient"), "the breaker is not a transient failure: {error}");
    assert_eq!(env.store.get_cache(CacheKind::HostGroups).await.unwrap(), before, "nothing changed");
    assert!(env.store.get_cache(CacheKind::Templates).await.unwrap().objects.is_empty(), "nothing imported");

    // With a limit that allows it, the same import goes through.
    let job = env.run(SystemJob::ImportZabbixSettings, &import(peer.client(), &env, 1000)).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert_eq!(count(job.result.as_ref().unwrap(), "host_groups", "deleted"), 30);
}

fn pinned(scenario: &str, version: &str) -> BTreeMap<String, u64> {
    let pins: Value = serde_json::from_str(include_str!("call_counts.json")).unwrap();
    serde_json::from_value(pins[scenario][version].clone()).unwrap()
}

async fn import_call_counts_are_pinned_and_do_not_grow_with_the_number_of_templates(peer: Peer) {
    let env = Env::new();
    let zbx = peer.client();
    let job = env.run(SystemJob::ImportZabbixSettings, &import(zbx.clone(), &env, 50)).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert_eq!(zbx.calls().snapshot(), pinned("ImportZabbixSettings, first run of a fresh client", peer.major_minor));

    // Ten more templates: the same number of calls.
    let mut created = Vec::new();
    for _ in 0..10 {
        let params = json!({"host": unique("nzj-count-tpl"), "groups": [{"groupid": "1"}]});
        created.push(first_id(&support::setup_call(&zbx, "template.create", params).await, "templateids"));
    }
    let before = zbx.calls().snapshot();
    let job = env.run(SystemJob::ImportZabbixSettings, &import(zbx.clone(), &env, 50)).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert!(count(job.result.as_ref().unwrap(), "templates", "added") >= 10);
    assert_eq!(
        since(&before, zbx.calls().snapshot()),
        pinned("ImportZabbixSettings, a second run on the same client", peer.major_minor)
    );
    support::setup_call(&zbx, "template.delete", json!(created)).await;
}

async fn zabbix_cut_off_mid_run_fails_the_job_as_transient_and_a_later_run_succeeds(peer: Peer) {
    let proxy = CutProxy::start(&peer.url).await;
    let zbx = support::client_at(&proxy.url, &peer.token);
    let env = Env::new();
    // apiinfo.version and template.get get through; the network is gone at proxy.get.
    proxy.allow(2);
    let job = env.run(SystemJob::ImportZabbixSettings, &import(zbx.clone(), &env, 50)).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(error.starts_with("transient: Zabbix proxy.get"), "{error}");
    assert!(
        env.store.get_cache(CacheKind::Templates).await.unwrap().objects.is_empty(),
        "a failed import writes nothing"
    );

    proxy.allow_all();
    let job = env.run(SystemJob::ImportZabbixSettings, &import(zbx.clone(), &env, 50)).await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert!(!env.store.get_cache(CacheKind::Templates).await.unwrap().objects.is_empty());
}

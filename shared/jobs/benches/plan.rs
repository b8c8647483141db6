//! `make bench`: a plan (`POST /api/plan`, `nzj plan`) over NZJ_BENCH_CONFIGS stored host
//! configs (default 50,000) on the embedded store, for a rule change that moves a tenth of the
//! hosts to another group, against a baseline measured in the same run: reading every host config
//! alone. Medians of 5 rounds. The plan makes no Zabbix or NetBox call, so this is all it costs.

use nzj_core::desired::{CacheView, Desired, desired_host};
use nzj_core::host_config::HostConfig;
use nzj_core::netbox::{NetboxObject, ObjectKind, ObjectRef};
use nzj_core::settings::{MappingRule, RuleMatch, Settings};
use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot, CachedObject};
use nzj_store::{JobStore, SqliteStore, Write};
use std::time::Instant;

const ROUNDS: usize = 5;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let count: u64 = std::env::var("NZJ_BENCH_CONFIGS").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("nzj.sqlite3")).unwrap();
    let mut templates = CacheSnapshot::empty(CacheKind::Templates);
    templates.objects =
        vec![CachedObject { id: "10001".into(), name: "Linux by Zabbix agent".into(), attributes: Default::default() }];
    store.commit(vec![Write::cache(templates)]).await.unwrap();
    let view = CacheView::new(&nzj_jobs::load_cache(&store).await.unwrap());
    let settings = Settings::default();

    let text = include_str!("../../../tests/fixtures/netbox-4.7-webhooks/04_dcim.device_updated.body.json");
    let template = serde_json::from_str::<serde_json::Value>(text).unwrap()["data"].take();
    let setup = Instant::now();
    let mut writes = Vec::new();
    for id in 1..=count {
        let mut data = template.clone();
        data["id"] = serde_json::json!(id);
        data["name"] = serde_json::json!(format!("bench-{id}"));
        if id % 10 == 0 {
            data["role"]["name"] = serde_json::json!("Switch");
        }
        let object = NetboxObject::from_rest(ObjectKind::Device, &data).unwrap();
        let Ok(Desired::Host(desired)) = desired_host(&object, &settings, &view) else { panic!("no desired host") };
        let mut config = HostConfig::new(ObjectRef { kind: ObjectKind::Device, id });
        config.hostid = Some((10_000 + id).to_string());
        config.host = Some(desired.host.clone());
        config.desired = Some(*desired);
        config.netbox = Some(object);
        writes.push(Write::host_config(config));
        if writes.len() == 50 {
            store.commit(std::mem::take(&mut writes)).await.unwrap();
        }
    }
    if !writes.is_empty() {
        store.commit(writes).await.unwrap();
    }
    eprintln!("stored {count} host configs in {:.1} s", setup.elapsed().as_secs_f64());

    let mut proposed = settings.clone();
    proposed.rules.push(MappingRule {
        name: "switches".into(),
        matches: RuleMatch { role: Some("Switch".into()), ..Default::default() },
        host_groups: vec!["NetBox/switches".into()],
        ..settings.rules[0].clone()
    });
    let (mut read, mut planned) = (Vec::new(), Vec::new());
    let mut plan = None;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut after = None;
        let mut seen = 0;
        loop {
            let page = store.list_host_configs(after, 500).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.object);
            seen += page.len();
        }
        assert_eq!(seen as u64, count);
        read.push(start.elapsed().as_secs_f64());

        let start = Instant::now();
        plan = Some(nzj_jobs::plan::plan(&store, &proposed, None, 50).await.unwrap());
        planned.push(start.elapsed().as_secs_f64());
    }
    let plan = plan.unwrap();
    assert_eq!(plan.counts.update, count / 10, "a tenth of the hosts change group");
    let (read, planned) = (median(read), median(planned));
    println!("plan over {count} host configs (median of {ROUNDS}):");
    println!("  read every host config (baseline): {read:.2} s");
    println!(
        "  plan ({} updates, {} host.update calls): {planned:.2} s, {:.2}x the read",
        plan.counts.update,
        plan.calls["host.update"],
        planned / read
    );
}

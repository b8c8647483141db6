//! Plans and drift after a settings change (docs/product.md §4.1), on real Zabbix 6.0 and 7.0:
//! a plan for a rule change lists exactly the hosts the next SyncHostsNow changes, with the
//! fields and the calls, and makes no Zabbix call at all; until the change is applied,
//! HostConfigSyncRefresh reports those hosts out of sync.

mod support;

use nzj_core::plan::PlanAction;
use nzj_core::settings::{MappingRule, RuleMatch, Settings};
use nzj_core::{JobStatus, SystemJob};
use nzj_jobs::HostConfigSyncRefresh;
use nzj_store::Write;
use serde_json::json;
use std::collections::BTreeSet;
use support::Peer;
use support::sync::{Sync, edit};

for_each_zabbix!(a_plan_for_a_rule_change_lists_exactly_what_the_next_sync_changes_and_calls_zabbix_not_once);

/// The default rule, and one that puts the "Switch" role's devices in a group of their own.
fn with_switch_rule(settings: &Settings) -> Settings {
    let mut changed = settings.clone();
    changed.rules.push(MappingRule {
        name: "switches".into(),
        matches: RuleMatch { role: Some("Switch 4242".into()), ..Default::default() },
        host_groups: vec!["NetBox/switches".into()],
        ..settings.rules[0].clone()
    });
    changed
}

async fn a_plan_for_a_rule_change_lists_exactly_what_the_next_sync_changes_and_calls_zabbix_not_once(peer: Peer) {
    let settings = Settings { sync_refresh_cutoff_minutes: 0, ..Settings::default() };
    let s = Sync::new(&peer, 12, 1000, settings.clone()).await;
    for i in [1, 4, 7, 10] {
        edit(&s.inventory, i, |d| d["role"] = json!({"id": 42, "name": "Switch 4242", "slug": "switch-4242"}));
    }
    assert_eq!(s.run().await.0.status, JobStatus::Completed);
    assert_eq!(s.run().await.0.result.unwrap()["unchanged"], 12, "in sync before the change");

    // The plan: from the store alone.
    let proposed = with_switch_rule(&settings);
    let zabbix = s.sync.converger().zabbix().clone();
    let before = zabbix.calls().snapshot();
    let plan = nzj_jobs::plan::plan(s.env.store.as_ref(), &proposed, None, 100).await.unwrap();
    assert_eq!(zabbix.calls().snapshot(), before, "a plan calls Zabbix not once");
    assert_eq!((plan.counts.total, plan.counts.update, plan.counts.unchanged), (12, 4, 8), "{plan:?}");
    assert!(plan.changes.iter().all(|c| c.action == PlanAction::Update && c.fields == ["host_groups"]), "{plan:?}");
    assert_eq!(plan.calls.get("host.update"), Some(&1));
    assert!(plan.breaker.is_none());
    let planned: BTreeSet<String> = plan.changes.iter().map(|c| c.object.to_string()).collect();
    // A page of 2: the first two, and where to go on.
    let page = nzj_jobs::plan::plan(s.env.store.as_ref(), &proposed, None, 2).await.unwrap();
    let rest = nzj_jobs::plan::plan(s.env.store.as_ref(), &proposed, page.next_after(), 100).await.unwrap();
    assert_eq!((page.changes.len(), rest.changes.len(), rest.next_after()), (2, 2, None));

    // Until it is applied, the rule change is drift.
    let stored = s.env.store.get_settings().await.unwrap();
    s.env.store.commit(vec![Write::settings(Settings { version: stored.version, ..proposed.clone() })]).await.unwrap();
    let refresh = HostConfigSyncRefresh::new(zabbix.clone(), s.env.store.clone());
    assert_eq!(s.env.run(SystemJob::HostConfigSyncRefresh, &refresh).await.status, JobStatus::Completed);
    let mut drifted = BTreeSet::new();
    for object in s.inventory.objects() {
        let config = s.env.store.get_host_config(object).await.unwrap().unwrap();
        if config.in_sync == Some(false) {
            assert_eq!(config.difference[0].field, "host_groups");
            drifted.insert(object.to_string());
        }
    }
    assert_eq!(drifted, planned, "the planned hosts are the out-of-sync ones");

    // The sync changes exactly the planned hosts, with the planned calls.
    let (record, calls) = s.run().await;
    assert_eq!(record.result.as_ref().unwrap()["updated"], 4, "{:?}", record.result);
    let changed: BTreeSet<String> = record
        .log
        .entries
        .iter()
        .filter(|e| e.message.contains("host updated"))
        .map(|e| e.message.split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(changed, planned);
    assert_eq!(calls.get("host.update"), plan.calls.get("host.update"));
    assert_eq!(calls.get("host.create"), None);
    let after = nzj_jobs::plan::plan(s.env.store.as_ref(), &proposed, None, 100).await.unwrap();
    assert_eq!((after.counts.changed(), after.counts.unchanged), (0, 12), "nothing left to do");
}

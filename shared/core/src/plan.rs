//! A plan: what bringing every known host to the desired state under some settings would do
//! (docs/product.md §4.1), before anything is done. A pure function of the host configs (the
//! last known NetBox state of each object, and the desired host last written), the settings and
//! the imported cache: no Zabbix and no NetBox call, so a plan over 50,000 host configs takes
//! seconds. Where it cannot know (an object never read by this version, so no stored NetBox
//! state), it says so instead of guessing: a SyncHostsNow reads NetBox for those.

use crate::desired::{CacheView, Desired, desired_host, differences};
use crate::host_config::HostConfig;
use crate::netbox::ObjectRef;
use crate::settings::{DeletePolicy, HostStatus, Settings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

named_enum!(
    /// What applying the settings would do to one object's host.
    PlanAction {
        Create => "create",
        Update => "update",
        Disable => "disable",
        Delete => "delete",
        Unchanged => "unchanged",
        Skip => "skip",
        Fail => "fail",
        Unknown => "unknown",
    }
);

/// One object's planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChange {
    pub object: ObjectRef,
    pub action: PlanAction,
    /// The host's technical name (the new one for a create or rename).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// For an update: the fields that change.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fields: Vec<String>,
    /// For a delete, skip, fail or unknown: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How many objects each action concerns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCounts {
    pub total: u64,
    pub create: u64,
    pub update: u64,
    pub disable: u64,
    pub delete: u64,
    pub unchanged: u64,
    pub skip: u64,
    pub fail: u64,
    pub unknown: u64,
}

impl PlanCounts {
    fn add(&mut self, action: PlanAction) {
        self.total += 1;
        *match action {
            PlanAction::Create => &mut self.create,
            PlanAction::Update => &mut self.update,
            PlanAction::Disable => &mut self.disable,
            PlanAction::Delete => &mut self.delete,
            PlanAction::Unchanged => &mut self.unchanged,
            PlanAction::Skip => &mut self.skip,
            PlanAction::Fail => &mut self.fail,
            PlanAction::Unknown => &mut self.unknown,
        } += 1;
    }

    /// Hosts the plan would write (created, updated, disabled or deleted).
    pub fn changed(&self) -> u64 {
        self.create + self.update + self.disable + self.delete
    }
}

/// What one host config would become under `settings`.
pub fn plan_one(config: &HostConfig, settings: &Settings, cache: &CacheView) -> PlannedChange {
    let change = |action, host: Option<&str>, fields: Vec<String>, reason: Option<String>| PlannedChange {
        object: config.object,
        action,
        host: host.map(str::to_string),
        fields,
        reason,
    };
    let Some(object) = &config.netbox else {
        let reason = "no NetBox state stored for it yet: SyncHostsNow reads it from NetBox".to_string();
        return change(PlanAction::Unknown, config.host.as_deref(), Vec::new(), Some(reason));
    };
    let has_host = config.hostid.is_some();
    match desired_host(object, settings, cache) {
        Err(e) => change(PlanAction::Fail, config.host.as_deref(), Vec::new(), Some(e.0)),
        Ok(Desired::OutOfScope(reason)) if has_host => {
            change(PlanAction::Delete, config.host.as_deref(), Vec::new(), Some(reason))
        }
        Ok(Desired::OutOfScope(reason)) => change(PlanAction::Skip, None, Vec::new(), Some(reason)),
        Ok(Desired::Keep { reason, disable }) => {
            let enabled = config.desired.as_ref().is_some_and(|d| d.status == HostStatus::Enabled);
            match (has_host, disable && enabled) {
                (true, true) => change(PlanAction::Disable, config.host.as_deref(), Vec::new(), Some(reason)),
                (true, false) => change(PlanAction::Unchanged, config.host.as_deref(), Vec::new(), Some(reason)),
                (false, _) => change(PlanAction::Skip, None, Vec::new(), Some(reason)),
            }
        }
        Ok(Desired::Host(desired)) => {
            let host = Some(desired.host.as_str());
            let Some(last) = config.desired.as_ref().filter(|_| has_host) else {
                return change(PlanAction::Create, host, Vec::new(), None);
            };
            let fields: Vec<String> =
                differences(&desired, &last.as_actual(config.hostid.as_deref().unwrap_or_default()))
                    .into_iter()
                    .map(|d| d.field)
                    .collect();
            let action = match fields.as_slice() {
                [] => PlanAction::Unchanged,
                [only] if only == "status" && desired.status == HostStatus::Disabled => PlanAction::Disable,
                _ => PlanAction::Update,
            };
            change(action, host, fields, None)
        }
    }
}

/// A plan being built, one host config at a time (they are read page by page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub counts: PlanCounts,
    /// The changes (not the unchanged or skipped objects), in object order, at most `limit`.
    pub changes: Vec<PlannedChange>,
    /// Changes counted but not listed (before the page, or beyond its limit).
    pub unlisted: u64,
    /// Whether changes beyond the page's limit follow it.
    #[serde(skip)]
    more: bool,
    /// Zabbix write calls applying it would make, by method.
    pub calls: BTreeMap<String, u64>,
    /// Set when applying it would trip the deletion breaker, with what would happen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<String>,
}

impl Plan {
    /// Adds one host config's planned change. A change is listed if `listed` (the page asked
    /// for) while fewer than `limit` are listed, else only counted.
    pub fn add(&mut self, change: PlannedChange, listed: bool, limit: usize) {
        self.counts.add(change.action);
        if matches!(change.action, PlanAction::Unchanged | PlanAction::Skip) {
            return;
        }
        if listed && self.changes.len() < limit {
            self.changes.push(change);
        } else {
            self.more |= listed;
            self.unlisted += 1;
        }
    }

    /// The last object listed when more changes follow it: the next page starts after it.
    pub fn next_after(&self) -> Option<ObjectRef> {
        self.changes.last().map(|c| c.object).filter(|_| self.more)
    }

    /// Completes the plan: the Zabbix calls applying it makes, and what the breaker would do.
    pub fn finish(&mut self, settings: &Settings) {
        let batches = |n: u64| n.div_ceil(settings.batch_size.max(1) as u64);
        let c = &self.counts;
        let deletes = match settings.delete_policy {
            DeletePolicy::Soft => ("host.update", batches(c.delete)),
            DeletePolicy::Hard => ("host.delete", batches(c.delete)),
        };
        let mut calls = BTreeMap::from([
            ("host.create".to_string(), batches(c.create)),
            ("host.update".to_string(), batches(c.update) + batches(c.disable)),
        ]);
        *calls.entry(deletes.0.to_string()).or_default() += deletes.1;
        calls.retain(|_, n| *n > 0);
        self.calls = calls;
        if c.delete as usize > settings.max_deletions {
            self.breaker = Some(format!(
                "{} deletions is more than max_deletions ({}): a SyncHostsNow would delete none of them and fail",
                c.delete, settings.max_deletions
            ));
        }
    }
}

//! Host jobs (CreateHost, UpdateHost, DeleteHost): converge one Zabbix host to the desired state
//! of its NetBox object. Whatever the job's name, the work is the same: compute what the host
//! should be, read what it is (one `host.get` by the managed tag), and write the difference in one
//! call. So a job delivered three times, or an update that arrives before its create, converges.

use crate::{store_failure, zabbix_failure};
use chrono::{DateTime, Utc};
use nzj_core::desired::{ActualHost, Desired, DesiredHost, DesiredInterface, MonitoredBy, Named, differences};
use nzj_core::host_config::HostConfig;
use nzj_core::job::JobOrigin;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::{DeletePolicy, HostStatus, InterfaceKind, InventoryMode, Settings};
use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot};
use nzj_core::{Clock, JobLog, JobName, JobRecord, LogLevel};
use nzj_runtime::JobFailure;
use nzj_store::{JobStore, Write};
use nzj_zabbix::{ZabbixClient, ZabbixError, ZabbixVersion};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// What converging did to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    Created,
    Updated,
    Unchanged,
    Adopted,
    SoftDeleted {
        renamed_to: String,
    },
    HardDeleted,
    /// Out of scope or deleted in NetBox, and no host in Zabbix: nothing to do.
    AlreadyGone,
}

#[derive(Debug, Clone)]
pub struct HostOutcome {
    pub action: HostAction,
    pub hostid: Option<String>,
    /// The Zabbix host before, and what was sent (secrets redacted).
    pub pre_data: Option<Value>,
    pub post_data: Option<Value>,
    pub difference: Vec<nzj_core::desired::Difference>,
}

impl HostOutcome {
    /// The host `raw` already is as desired.
    pub fn unchanged(hostid: String, raw: &Value) -> HostOutcome {
        HostOutcome {
            action: HostAction::Unchanged,
            hostid: Some(hostid),
            pre_data: Some(redact(raw)),
            post_data: None,
            difference: Vec::new(),
        }
    }

    /// What happened, as the job's message and log line.
    pub fn message(&self) -> String {
        match &self.action {
            HostAction::Created => "host created".to_string(),
            HostAction::Updated => format!(
                "host updated: {}",
                self.difference.iter().map(|d| d.field.as_str()).collect::<Vec<_>>().join(", ")
            ),
            HostAction::Unchanged => "host already in sync".to_string(),
            HostAction::Adopted => "existing host adopted".to_string(),
            HostAction::SoftDeleted { renamed_to } => format!("host soft-deleted as {renamed_to}"),
            HostAction::HardDeleted => "host deleted".to_string(),
            HostAction::AlreadyGone => "no host to delete".to_string(),
        }
    }

    /// Records the outcome in the object's host config: the host is now as `wanted` (`None`: gone).
    pub fn record_in(&self, config: &mut HostConfig, wanted: Option<DesiredHost>, now: DateTime<Utc>) {
        let gone =
            matches!(self.action, HostAction::SoftDeleted { .. } | HostAction::HardDeleted | HostAction::AlreadyGone);
        config.hostid = if gone { None } else { self.hostid.clone() };
        config.host = wanted.as_ref().map(|d| d.host.clone());
        config.desired = wanted;
        config.in_sync = Some(true);
        config.difference = Vec::new();
        config.last_sync_update = Some(now);
    }
}

pub struct HostSync {
    pub zabbix: Arc<ZabbixClient>,
    pub store: Arc<dyn JobStore>,
}

/// Keys whose values are secrets when they are not a user macro reference.
const SECRET_KEYS: [&str; 6] =
    ["tls_psk", "tls_psk_identity", "community", "authpassphrase", "privpassphrase", "password"];

/// A copy of `value` with every secret replaced, for job logs.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = SECRET_KEYS.contains(&k.as_str()) && v.as_str().is_some_and(|s| !s.starts_with("{$"));
                    (k.clone(), if secret { Value::String("<redacted>".into()) } else { redact(v) })
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn is_already_exists(e: &ZabbixError) -> bool {
    matches!(e, ZabbixError::Api { data, .. } if data.contains("already exists"))
}

/// Whether an array call's failure may be the fault of some of its hosts: Zabbix refused it
/// (validation), or PHP died on its size (an empty HTTP 500). An outage is no host's fault.
fn splits(e: &ZabbixError) -> bool {
    match e {
        ZabbixError::Api { .. } => !e.is_transient(),
        ZabbixError::Http { status: 500, body, .. } => body.trim().is_empty(),
        _ => false,
    }
}

/// The ids of `names` in `groups` (names missing from it are left out).
fn ids_of(names: &BTreeSet<String>, groups: &BTreeMap<String, String>) -> Vec<String> {
    names.iter().filter_map(|n| groups.get(n).cloned()).collect()
}

/// An existing host to bring to its desired state.
pub struct HostUpdate<'a> {
    pub desired: &'a DesiredHost,
    /// The host as `host.get` returned it.
    pub raw: &'a Value,
    pub difference: Vec<nzj_core::desired::Difference>,
}

impl HostSync {
    fn output(version: ZabbixVersion) -> Vec<&'static str> {
        let mut fields = vec!["hostid", "host", "name", "status", "inventory_mode"];
        if version.proxy_on_host_by_monitored_by() {
            fields.extend(["monitored_by", "proxyid", "proxy_groupid"]);
        } else {
            fields.push("proxy_hostid");
        }
        fields
    }

    /// `host.get` parameters that read everything the desired host is compared on.
    pub fn host_query(version: ZabbixVersion) -> Value {
        let (select_groups, _) = version.select_host_groups();
        json!({
            "output": Self::output(version),
            select_groups: ["groupid", "name"],
            "selectParentTemplates": ["templateid"],
            "selectInterfaces": ["interfaceid", "type", "main", "ip", "dns", "port", "details"],
            "selectTags": ["tag", "value"],
            "selectInventory": "extend",
        })
    }

    /// The managed hosts of `objects`: one `host.get` per `page` objects, by the exact managed tag
    /// values (never by name). An object with no host is absent from the answer.
    pub async fn find_managed(
        &self,
        version: ZabbixVersion,
        settings: &Settings,
        objects: &[ObjectRef],
        page: usize,
    ) -> Result<BTreeMap<ObjectRef, Value>, ZabbixError> {
        let tag = settings.tag_name("object");
        let mut found = BTreeMap::new();
        for chunk in objects.chunks(page.max(1)) {
            let mut query = Self::host_query(version);
            query["tags"] =
                chunk.iter().map(|o| json!({"tag": tag, "value": o.to_string(), "operator": 1})).collect::<Value>();
            query["evaltype"] = json!(2); // Or: any of the page's objects.
            for host in items(&self.zabbix.call("host.get", query).await?) {
                let object = items(&host["tags"])
                    .iter()
                    .find(|t| text(&t["tag"]) == tag)
                    .and_then(|t| text(&t["value"]).parse::<ObjectRef>().ok());
                if let Some(object) = object {
                    found.entry(object).or_insert_with(|| host.clone());
                }
            }
        }
        Ok(found)
    }

    /// A host as read back, in the desired host's terms; only tags with the product's prefix count.
    pub fn actual(version: ZabbixVersion, settings: &Settings, raw: &Value) -> ActualHost {
        let (_, groups_key) = version.select_host_groups();
        let monitored_by = if version.proxy_on_host_by_monitored_by() {
            match text(&raw["monitored_by"]).as_str() {
                "1" => MonitoredBy::Proxy(Named { id: text(&raw["proxyid"]), name: String::new() }),
                "2" => MonitoredBy::ProxyGroup(Named { id: text(&raw["proxy_groupid"]), name: String::new() }),
                _ => MonitoredBy::Server,
            }
        } else {
            match text(&raw["proxy_hostid"]).as_str() {
                "" | "0" => MonitoredBy::Server,
                id => MonitoredBy::Proxy(Named { id: id.to_string(), name: String::new() }),
            }
        };
        let interface = items(&raw["interfaces"]).iter().find(|i| text(&i["main"]) == "1").map(|i| DesiredInterface {
            kind: match (text(&i["type"]).as_str(), text(&i["details"]["version"]).as_str()) {
                ("2", "3") => InterfaceKind::SnmpV3,
                ("2", _) => InterfaceKind::SnmpV2c,
                _ => InterfaceKind::Agent,
            },
            ip: text(&i["ip"]),
            dns: text(&i["dns"]),
            port: text(&i["port"]),
        });
        let inventory_mode = match text(&raw["inventory_mode"]).as_str() {
            "0" => InventoryMode::Manual,
            "1" => InventoryMode::Automatic,
            _ => InventoryMode::Disabled,
        };
        ActualHost {
            hostid: text(&raw["hostid"]),
            host: text(&raw["host"]),
            name: text(&raw["name"]),
            status: if text(&raw["status"]) == "0" { HostStatus::Enabled } else { HostStatus::Disabled },
            host_groups: items(&raw[groups_key]).iter().map(|g| text(&g["name"])).collect(),
            template_ids: items(&raw["parentTemplates"]).iter().map(|t| text(&t["templateid"])).collect(),
            monitored_by,
            interface,
            tags: items(&raw["tags"])
                .iter()
                .map(|t| (text(&t["tag"]), text(&t["value"])))
                .filter(|(tag, _)| tag.starts_with(&settings.tag_prefix))
                .collect(),
            inventory_mode,
            inventory: raw["inventory"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).filter(|(_, v)| !v.is_empty()).collect())
                .unwrap_or_default(),
        }
    }

    /// Ids of the named host groups: from groups hosts already have (`known`) and the imported
    /// cache, creating the missing ones in one call. When every group is known, no call is made.
    async fn group_map(
        &self,
        names: &BTreeSet<String>,
        known: impl IntoIterator<Item = (String, String)>,
    ) -> Result<BTreeMap<String, String>, ZabbixError> {
        let cached: CacheSnapshot = self
            .store
            .get_cache(CacheKind::HostGroups)
            .await
            .unwrap_or_else(|_| CacheSnapshot::empty(CacheKind::HostGroups));
        let mut ids: BTreeMap<String, String> = cached.objects.iter().map(|o| (o.name.clone(), o.id.clone())).collect();
        ids.extend(known);
        ids.retain(|name, _| names.contains(name));
        let missing: Vec<&String> = names.iter().filter(|n| !ids.contains_key(*n)).collect();
        if missing.is_empty() {
            return Ok(ids);
        }
        let create: Vec<Value> = missing.iter().map(|n| json!({"name": n})).collect();
        let before = ids.len();
        match self.zabbix.call("hostgroup.create", json!(create)).await {
            Ok(created) => {
                ids.extend(missing.iter().map(|n| n.to_string()).zip(items(&created["groupids"]).iter().map(text)))
            }
            // The groups exist already (the cache is older than Zabbix), or another job created
            // them at the same moment: look them up; if they are not all there, the error stands.
            Err(e) if is_already_exists(&e) || e.is_transient() => {
                let found = self
                    .zabbix
                    .call("hostgroup.get", json!({"output": ["groupid", "name"], "filter": {"name": missing}}))
                    .await?;
                let found = items(&found);
                if found.len() < missing.len() {
                    return Err(e);
                }
                ids.extend(found.iter().map(|g| (text(&g["name"]), text(&g["groupid"]))));
            }
            Err(e) => return Err(e),
        }
        if ids.len() > before {
            self.learn_groups(cached, &ids).await;
        }
        Ok(ids)
    }

    /// Adds host groups just created to the cache, so the next page or job finds them without a
    /// call. Best effort: if the cache changed meanwhile, the next import brings them anyway.
    async fn learn_groups(&self, mut cached: CacheSnapshot, groups: &BTreeMap<String, String>) {
        let known: BTreeSet<String> = cached.objects.iter().map(|o| o.id.clone()).collect();
        cached.objects.extend(groups.iter().filter(|(_, id)| !known.contains(*id)).map(|(name, id)| {
            nzj_core::zabbix_cache::CachedObject { id: id.clone(), name: name.clone(), attributes: Default::default() }
        }));
        if let Err(e) = self.store.commit(vec![Write::cache(cached)]).await {
            tracing::debug!(error = %e, "host groups not added to the cache");
        }
    }

    /// The groups of a host as (name, id) pairs, as `host.get` returned them.
    fn groups_of(version: ZabbixVersion, raw: &Value) -> impl Iterator<Item = (String, String)> + '_ {
        let (_, groups_key) = version.select_host_groups();
        items(&raw[groups_key]).iter().map(|g| (text(&g["name"]), text(&g["groupid"])))
    }

    /// Calls `method`, trying again twice (after 0.5 s, then 2 s) when Zabbix fails transiently:
    /// a timeout, a 5xx, its database failing under concurrent writes. A write that timed out but
    /// was done shows up on the next try as "already exists" for the hosts it created.
    async fn call_retrying(&self, method: &str, params: Value) -> Result<Value, ZabbixError> {
        let mut delays = [Duration::from_millis(500), Duration::from_secs(2)].into_iter();
        loop {
            match self.zabbix.call(method, params.clone()).await {
                Err(e) if e.is_transient() && !splits(&e) => match delays.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(e),
                },
                answer => return answer,
            }
        }
    }

    /// Calls `method` with `params` in arrays of at most `batch`. Zabbix applies an array call
    /// atomically, so when one is refused it is split in halves until the refused hosts are
    /// isolated, and the rest go through. One result per entry of `params`, in order: the host id
    /// Zabbix answered, or why that host failed. An outage is not split: it fails its whole array.
    async fn call_split(&self, method: &str, params: &[Value], batch: usize) -> Vec<Result<String, ZabbixError>> {
        let mut results: Vec<Option<Result<String, ZabbixError>>> = vec![None; params.len()];
        let batch = batch.max(1);
        let mut work: Vec<std::ops::Range<usize>> =
            (0..params.len()).step_by(batch).map(|start| start..(start + batch).min(params.len())).rev().collect();
        while let Some(range) = work.pop() {
            let call = Value::Array(params[range.clone()].to_vec());
            match self.call_retrying(method, call).await {
                Ok(answer) => {
                    let ids = items(&answer["hostids"]);
                    for (k, i) in range.enumerate() {
                        results[i] = Some(Ok(ids.get(k).map(text).unwrap_or_default()));
                    }
                }
                Err(e) if range.len() > 1 && splits(&e) => {
                    let middle = range.start + range.len() / 2;
                    work.push(middle..range.end);
                    work.push(range.start..middle);
                }
                Err(e) => {
                    for i in range {
                        results[i] = Some(Err(e.clone()));
                    }
                }
            }
        }
        results.into_iter().map(|r| r.expect("every entry is answered")).collect()
    }

    /// The `host.create` / `host.update` parameters of `desired`, with the version's field names.
    fn params(
        version: ZabbixVersion,
        settings: &Settings,
        desired: &DesiredHost,
        group_ids: &[String],
        keep: Option<&Value>,
    ) -> Value {
        let iface = &desired.interface;
        let mut interface =
            json!({"type": 1, "main": 1, "useip": 1, "ip": iface.ip, "dns": iface.dns, "port": iface.port});
        match iface.kind {
            InterfaceKind::Agent => {}
            InterfaceKind::SnmpV2c => {
                interface["type"] = json!(2);
                interface["details"] = json!({"version": 2, "bulk": 1, "community": "{$SNMP_COMMUNITY}"});
            }
            InterfaceKind::SnmpV3 => {
                interface["type"] = json!(2);
                interface["details"] = json!({
                    "version": 3, "bulk": 1, "securityname": "{$SNMPV3_SECURITYNAME}", "securitylevel": 2,
                    "authprotocol": 1, "authpassphrase": "{$SNMPV3_AUTHPASS}",
                    "privprotocol": 1, "privpassphrase": "{$SNMPV3_PRIVPASS}",
                });
            }
        }
        // Keep the existing interface id (items and triggers refer to it) when the type is the same.
        if let Some(raw) = keep {
            let same_type = items(&raw["interfaces"])
                .iter()
                .find(|i| text(&i["main"]) == "1" && text(&i["type"]) == text(&interface["type"]));
            if let Some(existing) = same_type {
                interface["interfaceid"] = existing["interfaceid"].clone();
            }
        }
        let mut tags: Vec<Value> =
            desired.tags.iter().map(|(tag, value)| json!({"tag": tag, "value": value})).collect();
        if let Some(raw) = keep {
            // Tags without the product's prefix belong to someone else: keep them.
            tags.extend(
                items(&raw["tags"]).iter().filter(|t| !text(&t["tag"]).starts_with(&settings.tag_prefix)).cloned(),
            );
        }
        let mut params = json!({
            "host": desired.host,
            "name": desired.name,
            "status": if desired.status == HostStatus::Enabled { 0 } else { 1 },
            "groups": group_ids.iter().map(|id| json!({"groupid": id})).collect::<Vec<_>>(),
            "templates": desired.templates.iter().map(|t| json!({"templateid": t.id})).collect::<Vec<_>>(),
            "interfaces": [interface],
            "tags": tags,
            "inventory_mode": match desired.inventory_mode { InventoryMode::Disabled => -1, InventoryMode::Manual => 0, InventoryMode::Automatic => 1 },
        });
        if desired.inventory_mode == InventoryMode::Manual {
            params["inventory"] = json!(desired.inventory);
        }
        if version.proxy_on_host_by_monitored_by() {
            let (by, proxy, group) = match &desired.monitored_by {
                MonitoredBy::Server => (0, "0".to_string(), "0".to_string()),
                MonitoredBy::Proxy(p) => (1, p.id.clone(), "0".to_string()),
                MonitoredBy::ProxyGroup(g) => (2, "0".to_string(), g.id.clone()),
            };
            params["monitored_by"] = json!(by);
            params["proxyid"] = json!(proxy);
            params["proxy_groupid"] = json!(group);
        } else {
            params["proxy_hostid"] = json!(match &desired.monitored_by {
                MonitoredBy::Proxy(p) => p.id.clone(),
                _ => "0".to_string(),
            });
        }
        params
    }

    /// Brings the Zabbix host of `object` to `desired`. `Desired::OutOfScope` (or a NetBox
    /// deletion) deletes the host per the delete policy; a host already gone is success.
    pub async fn converge(
        &self,
        object: ObjectRef,
        desired: &Desired,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> Result<HostOutcome, JobFailure> {
        let version = self.zabbix.version().await.map_err(zabbix_failure)?;
        let existing =
            self.find_managed(version, settings, &[object], 1).await.map_err(zabbix_failure)?.remove(&object);
        let mut outcomes = match (desired, existing) {
            (Desired::Host(desired), None) => self.create_many(version, settings, &[desired], 1).await,
            (Desired::Host(desired), Some(raw)) => {
                let actual = Self::actual(version, settings, &raw);
                let difference = differences(desired, &actual);
                if difference.is_empty() {
                    return Ok(HostOutcome::unchanged(actual.hostid, &raw));
                }
                self.update_many(version, settings, &[HostUpdate { desired, raw: &raw, difference }], 1).await
            }
            (Desired::OutOfScope(_), Some(raw)) => self.delete_many(version, settings, &[(object, &raw)], now, 1).await,
            (Desired::OutOfScope(_), None) => vec![Ok(HostOutcome {
                action: HostAction::AlreadyGone,
                hostid: None,
                pre_data: None,
                post_data: None,
                difference: Vec::new(),
            })],
        };
        outcomes.pop().expect("one outcome per host")
    }

    /// Creates the hosts, `batch` per `host.create`. A host Zabbix refuses because a host of that
    /// name exists without the managed tag is adopted (when adoption is on) or reported.
    pub async fn create_many(
        &self,
        version: ZabbixVersion,
        settings: &Settings,
        hosts: &[&DesiredHost],
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let names: BTreeSet<String> = hosts.iter().flat_map(|d| d.host_groups.iter().cloned()).collect();
        let groups = match self.group_map(&names, []).await {
            Ok(groups) => groups,
            Err(e) => return hosts.iter().map(|_| Err(zabbix_failure(e.clone()))).collect(),
        };
        let params: Vec<Value> =
            hosts.iter().map(|d| Self::params(version, settings, d, &ids_of(&d.host_groups, &groups), None)).collect();
        let answers = self.call_split("host.create", &params, batch).await;
        let mut outcomes = Vec::with_capacity(hosts.len());
        for ((desired, params), answer) in hosts.iter().zip(params).zip(answers) {
            outcomes.push(match answer {
                Ok(hostid) => Ok(HostOutcome {
                    action: HostAction::Created,
                    hostid: Some(hostid),
                    pre_data: None,
                    post_data: Some(redact(&params)),
                    difference: Vec::new(),
                }),
                // A host with this name exists but is not ours (no managed tag): brownfield.
                Err(e) if is_already_exists(&e) => self.adopt(version, settings, desired, &groups).await,
                Err(e) => Err(zabbix_failure(e)),
            });
        }
        outcomes
    }

    async fn adopt(
        &self,
        version: ZabbixVersion,
        settings: &Settings,
        desired: &DesiredHost,
        groups: &BTreeMap<String, String>,
    ) -> Result<HostOutcome, JobFailure> {
        let found = self
            .zabbix
            .call("host.get", json!({"output": Self::output(version), "selectTags": ["tag", "value"], "selectInterfaces": ["interfaceid", "type", "main"], "filter": {"host": [desired.host]}}))
            .await
            .map_err(zabbix_failure)?;
        let raw = items(&found)
            .first()
            .cloned()
            .ok_or_else(|| JobFailure::transient(format!("host {:?} vanished while adopting it", desired.host)))?;
        // Ours already: an earlier try created it (its answer was lost) or another job did.
        let managed = (settings.tag_name("object"), desired.object.to_string());
        if items(&raw["tags"]).iter().any(|t| (text(&t["tag"]), text(&t["value"])) == managed) {
            return Ok(HostOutcome {
                action: HostAction::Created,
                hostid: Some(text(&raw["hostid"])),
                pre_data: None,
                post_data: None,
                difference: Vec::new(),
            });
        }
        if !settings.adoption {
            return Err(JobFailure::permanent(format!(
                "a Zabbix host named {:?} exists without the tag {}; turn adoption on to adopt it, or rename one of them",
                desired.host,
                settings.tag_name("object")
            )));
        }
        let mut params = Self::params(version, settings, desired, &ids_of(&desired.host_groups, groups), Some(&raw));
        params["hostid"] = raw["hostid"].clone();
        self.zabbix.call("host.update", params.clone()).await.map_err(zabbix_failure)?;
        Ok(HostOutcome {
            action: HostAction::Adopted,
            hostid: Some(text(&raw["hostid"])),
            pre_data: Some(redact(&raw)),
            post_data: Some(redact(&params)),
            difference: Vec::new(),
        })
    }

    /// Brings existing hosts to their desired state, `batch` per `host.update`; interface ids are
    /// kept, and templates no longer wanted are cleared.
    pub async fn update_many(
        &self,
        version: ZabbixVersion,
        settings: &Settings,
        hosts: &[HostUpdate<'_>],
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let names: BTreeSet<String> = hosts.iter().flat_map(|u| u.desired.host_groups.iter().cloned()).collect();
        let known: Vec<(String, String)> = hosts.iter().flat_map(|u| Self::groups_of(version, u.raw)).collect();
        let groups = match self.group_map(&names, known).await {
            Ok(groups) => groups,
            Err(e) => return hosts.iter().map(|_| Err(zabbix_failure(e.clone()))).collect(),
        };
        let params: Vec<Value> = hosts
            .iter()
            .map(|u| {
                let group_ids = ids_of(&u.desired.host_groups, &groups);
                let mut params = Self::params(version, settings, u.desired, &group_ids, Some(u.raw));
                params["hostid"] = u.raw["hostid"].clone();
                let wanted: BTreeSet<&String> = u.desired.templates.iter().map(|t| &t.id).collect();
                let removed: Vec<Value> = items(&u.raw["parentTemplates"])
                    .iter()
                    .map(|t| text(&t["templateid"]))
                    .filter(|id| !wanted.contains(id))
                    .map(|id| json!({"templateid": id}))
                    .collect();
                if !removed.is_empty() {
                    params["templates_clear"] = json!(removed);
                }
                params
            })
            .collect();
        let answers = self.call_split("host.update", &params, batch).await;
        hosts
            .iter()
            .zip(params)
            .zip(answers)
            .map(|((u, params), answer)| {
                answer.map_err(zabbix_failure)?;
                Ok(HostOutcome {
                    action: HostAction::Updated,
                    hostid: Some(text(&u.raw["hostid"])),
                    pre_data: Some(redact(u.raw)),
                    post_data: Some(redact(&params)),
                    difference: u.difference.clone(),
                })
            })
            .collect()
    }

    /// Deletes managed hosts per the delete policy (SPEC §4), `batch` per call: hard with
    /// `host.delete`, soft by renaming, moving to the graveyard group and disabling. A host in an
    /// active maintenance window is not deleted; a host already gone is success.
    pub async fn delete_many(
        &self,
        version: ZabbixVersion,
        settings: &Settings,
        hosts: &[(ObjectRef, &Value)],
        now: DateTime<Utc>,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        if hosts.is_empty() {
            return Vec::new();
        }
        let fail_all = |e: ZabbixError| hosts.iter().map(|_| Err(zabbix_failure(e.clone()))).collect();
        let (select_groups, _) = version.select_host_groups();
        let windows = match self
            .zabbix
            .call("maintenance.get", json!({"output": ["name", "active_since", "active_till"], "selectHosts": ["hostid"], select_groups: ["groupid"]}))
            .await
        {
            Ok(windows) => windows,
            Err(e) => return fail_all(e),
        };
        let blocked: Vec<Option<String>> =
            hosts.iter().map(|(_, raw)| Self::active_window(version, &windows, raw, now)).collect();
        // Only the hosts no window holds go on; the others fail with the window's name.
        let free: Vec<usize> = (0..hosts.len()).filter(|i| blocked[*i].is_none()).collect();
        let (params, renamed): (Vec<Value>, Vec<Option<String>>) = match settings.delete_policy {
            DeletePolicy::Hard => free.iter().map(|i| (json!(text(&hosts[*i].1["hostid"])), None)).unzip(),
            DeletePolicy::Soft => match self.soft_delete_params(settings, hosts, &free).await {
                Ok(params) => params.into_iter().map(|(p, name)| (p, Some(name))).unzip(),
                Err(e) => return fail_all(e),
            },
        };
        let method = if settings.delete_policy == DeletePolicy::Hard { "host.delete" } else { "host.update" };
        let mut answers = self.call_split(method, &params, batch).await.into_iter().zip(params).zip(renamed);
        hosts
            .iter()
            .zip(blocked)
            .map(|((_, raw), window)| {
                if let Some(window) = window {
                    return Err(JobFailure::permanent(format!(
                        "host {:?} is in the active maintenance window {window:?}; it is not deleted",
                        text(&raw["host"])
                    )));
                }
                let ((answer, params), renamed_to) = answers.next().expect("one answer per free host");
                match answer {
                    Ok(_) => {}
                    // Deleted meanwhile by someone else: the goal is reached.
                    Err(ZabbixError::Api { data, .. })
                        if renamed_to.is_none()
                            && (data.contains("does not exist") || data.contains("No permissions")) => {}
                    Err(e) => return Err(zabbix_failure(e)),
                }
                Ok(HostOutcome {
                    action: match renamed_to {
                        Some(renamed_to) => HostAction::SoftDeleted { renamed_to },
                        None => HostAction::HardDeleted,
                    },
                    hostid: Some(text(&raw["hostid"])),
                    pre_data: Some(redact(raw)),
                    post_data: (settings.delete_policy == DeletePolicy::Soft).then(|| redact(&params)),
                    difference: Vec::new(),
                })
            })
            .collect()
    }

    /// The name of the active maintenance window that covers the host, if any.
    fn active_window(version: ZabbixVersion, windows: &Value, raw: &Value, now: DateTime<Utc>) -> Option<String> {
        let (_, groups_key) = version.select_host_groups();
        let hostid = text(&raw["hostid"]);
        let host_groups: BTreeSet<String> = items(&raw[groups_key]).iter().map(|g| text(&g["groupid"])).collect();
        let stamp = now.timestamp();
        items(windows)
            .iter()
            .find(|window| {
                let active = text(&window["active_since"]).parse::<i64>().is_ok_and(|s| s <= stamp)
                    && text(&window["active_till"]).parse::<i64>().is_ok_and(|t| stamp < t);
                let covers = items(&window["hosts"]).iter().any(|h| text(&h["hostid"]) == hostid)
                    || items(&window[groups_key]).iter().any(|g| host_groups.contains(&text(&g["groupid"])));
                active && covers
            })
            .map(|window| text(&window["name"]))
    }

    /// The `host.update` of each soft deletion in `free` (indexes into `hosts`) and the name it
    /// renames the host to: `<host><suffix>`, or `-N` after it until free (one `host.get` for all).
    async fn soft_delete_params(
        &self,
        settings: &Settings,
        hosts: &[(ObjectRef, &Value)],
        free: &[usize],
    ) -> Result<Vec<(Value, String)>, ZabbixError> {
        if free.is_empty() {
            return Ok(Vec::new());
        }
        let candidates = |raw: &Value| -> Vec<String> {
            let base = format!("{}{}", text(&raw["host"]), settings.graveyard_suffix);
            std::iter::once(base.clone()).chain((1..=20).map(|n| format!("{base}-{n}"))).collect()
        };
        let all: Vec<String> = free.iter().flat_map(|i| candidates(hosts[*i].1)).collect();
        let taken = self.zabbix.call("host.get", json!({"output": ["host"], "filter": {"host": all}})).await?;
        let mut taken: BTreeSet<String> = items(&taken).iter().map(|h| text(&h["host"])).collect();
        let graveyard = self.group_map(&BTreeSet::from([settings.graveyard_group.clone()]), []).await?;
        let mut out = Vec::new();
        for i in free {
            let (object, raw) = hosts[*i];
            let host = text(&raw["host"]);
            let Some(renamed_to) = candidates(raw).into_iter().find(|c| !taken.contains(c)) else {
                return Err(ZabbixError::Protocol {
                    method: "host.update".into(),
                    message: format!("no free graveyard name for {host:?} (tried 21)"),
                });
            };
            taken.insert(renamed_to.clone());
            // The managed tag goes, so a NetBox object created again gets a new host.
            let mut tags: Vec<Value> = items(&raw["tags"])
                .iter()
                .filter(|t| text(&t["tag"]) != settings.tag_name("object"))
                .cloned()
                .collect();
            tags.push(json!({"tag": settings.tag_name("deleted"), "value": object.to_string()}));
            let params = json!({
                "hostid": text(&raw["hostid"]),
                "host": renamed_to,
                "name": format!("{}{}", text(&raw["name"]), &renamed_to[host.len()..]),
                "status": 1,
                "groups": graveyard.values().map(|id| json!({"groupid": id})).collect::<Vec<_>>(),
                "tags": tags,
            });
            out.push((params, renamed_to));
        }
        Ok(out)
    }
}

/// Runs one host job from start to end: records it, converges the host, records the outcome in
/// the job and the host config. Returns the recorded job and what converging did (or why it
/// failed: a worker retries a transient failure); `Err` only if the store could not record it. `desired` is computed by the caller from the NetBox object (or
/// `OutOfScope` for a NetBox deletion).
pub struct HostJobs {
    pub sync: HostSync,
    pub clock: Arc<dyn Clock>,
    pub lease: chrono::Duration,
    pub retention: chrono::Duration,
}

impl HostJobs {
    /// Records a new host job and runs it now (API, tests); the worker runs queued ones with
    /// [`HostJobs::run_record`].
    pub async fn run(
        &self,
        name: JobName,
        object: ObjectRef,
        desired: Result<Desired, nzj_core::desired::MappingError>,
        settings: &Settings,
        mut origin: JobOrigin,
    ) -> Result<(JobRecord, Result<HostAction, JobFailure>), JobFailure> {
        origin.object = Some(object.to_string());
        let mut record = JobRecord::new_running(name, origin, self.clock.now(), self.lease, self.retention);
        self.sync.store.commit(vec![Write::job(record.clone())]).await.map_err(store_failure)?;
        record.version += 1;
        self.run_record(record, object, desired, settings, false).await
    }

    /// Runs a job whose record is `running` and held by the caller, and records its outcome in the
    /// job (completed or failed) and in the host config. With `retry_allowed`, a transient failure
    /// leaves the record running for the caller to put back to pending; without, it fails the job
    /// as the last attempt.
    pub async fn run_record(
        &self,
        mut record: JobRecord,
        object: ObjectRef,
        desired: Result<Desired, nzj_core::desired::MappingError>,
        settings: &Settings,
        retry_allowed: bool,
    ) -> Result<(JobRecord, Result<HostAction, JobFailure>), JobFailure> {
        let store = &self.sync.store;
        let mut log = JobLog::default();
        let (outcome, wanted) = match desired {
            Ok(desired) => {
                let outcome = self.sync.converge(object, &desired, settings, self.clock.now()).await;
                let wanted = match desired {
                    Desired::Host(host) => Some(*host),
                    Desired::OutOfScope(_) => None,
                };
                (outcome, wanted)
            }
            Err(e) => (Err(JobFailure::permanent(e.to_string())), None),
        };
        let now = self.clock.now();
        let mut config =
            store.get_host_config(object).await.map_err(store_failure)?.unwrap_or_else(|| HostConfig::new(object));
        match &outcome {
            Ok(done) => {
                if let Some(pre) = &done.pre_data {
                    log.push(now, LogLevel::Info, format!("pre_data: {pre}"));
                }
                if let Some(post) = &done.post_data {
                    log.push(now, LogLevel::Info, format!("post_data: {post}"));
                }
                let message = done.message();
                log.push(now, LogLevel::Info, message.clone());
                record.log = log;
                record
                    .complete(now, json!({"message": message, "hostid": done.hostid}))
                    .map_err(|e| JobFailure::permanent(e.to_string()))?;
                done.record_in(&mut config, wanted, now);
            }
            Err(failure) if failure.transient && retry_allowed => {
                tracing::warn!(job_id = %record.id, %object, error = %failure, "host job will be retried");
                return Ok((record, outcome.map(|done| done.action)));
            }
            Err(failure) => {
                record.log = log;
                let reason = if failure.transient {
                    format!(
                        "{failure}; gave up after attempt {}, the message is kept in the dead-letter queue",
                        record.attempt
                    )
                } else {
                    failure.to_string()
                };
                record.fail(now, reason).map_err(|e| JobFailure::permanent(e.to_string()))?;
            }
        }
        config.last_job = Some(record.id.clone());
        store.commit(vec![Write::job(record.clone()), Write::host_config(config)]).await.map_err(store_failure)?;
        record.version += 1;
        nzj_runtime::metrics::job_finished(&record);
        if outcome.as_ref().is_ok_and(|done| !matches!(done.action, HostAction::Unchanged | HostAction::AlreadyGone)) {
            nzj_runtime::metrics::hosts_changed(record.name, 1);
        }
        Ok((record, outcome.map(|done| done.action)))
    }
}

//! Typed host calls: `host.get` by managed tag, by id and by name, and `host.create`,
//! `host.update` and `host.delete` in split-on-refusal arrays (`batch.rs`). What the product
//! decides (create or adopt, which host to delete) is the caller's; this file only speaks Zabbix.

use crate::batch::is_ambiguous;
use crate::client::{ZabbixClient, ZabbixError};
use crate::host::{
    HostWrite, SoftDelete, ZabbixHost, drops_interfaces, host_create_params, host_get_params, host_output,
    host_update_params, items, redact, soft_delete_params, text,
};
use nzj_core::desired::DesiredHost;
use nzj_core::netbox::ObjectRef;
use nzj_core::retry::CALL_RETRY_DELAYS;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The managed hosts found for some objects: one per object, and any further ones.
#[derive(Debug, Clone, Default)]
pub struct Managed {
    pub hosts: BTreeMap<ObjectRef, ZabbixHost>,
    /// Hosts carrying the managed tag of an object that has an older host.
    pub duplicates: Vec<(ObjectRef, ZabbixHost)>,
}

impl Managed {
    fn add(&mut self, object: ObjectRef, host: ZabbixHost) {
        match self.hosts.get_mut(&object) {
            None => {
                self.hosts.insert(object, host);
            }
            Some(kept) => {
                // The oldest host keeps its history; Zabbix ids only grow.
                let older = |a: &ZabbixHost, b: &ZabbixHost| host_id_order(&a.hostid, &b.hostid).is_lt();
                let extra = if older(&host, kept) { std::mem::replace(kept, host) } else { host };
                self.duplicates.push((object, extra));
            }
        }
    }
}

/// How often a create with an ambiguous failure is sent again (after reading back), at most.
const CREATE_RESENDS: usize = 2;

/// Host ids are decimal numbers: compare them as numbers, not as text.
fn host_id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A host written: its id, and the parameters sent (secrets redacted), for the job log.
#[derive(Debug, Clone)]
pub struct Written {
    pub hostid: String,
    pub sent: Value,
}

/// Whether Zabbix refused a create because an object of that name exists.
pub fn is_already_exists(e: &ZabbixError) -> bool {
    matches!(e, ZabbixError::Api { data, .. } if data.contains("already exists"))
}

/// Whether Zabbix refused a delete because the object is gone (or was never visible to us).
pub fn is_gone(e: &ZabbixError) -> bool {
    matches!(e, ZabbixError::Api { data, .. } if data.contains("does not exist") || data.contains("No permissions"))
}

impl ZabbixClient {
    /// The hosts that carry `tag` = one of `objects` (exact values, never a name search): one
    /// `host.get` per `page` objects. An object with no host is absent. Of several hosts with one
    /// object's tag (an overlapping create, a human's copy), the oldest (lowest host id) is the
    /// object's host and the others are reported as duplicates for the caller to repair.
    pub async fn find_managed(&self, tag: &str, objects: &[ObjectRef], page: usize) -> Result<Managed, ZabbixError> {
        Ok(self.find_tagged(&[tag], objects, page).await?.remove(0))
    }

    /// As [`ZabbixClient::find_managed`] for several tags at once (the managed tag and the
    /// graveyard's, say) in the same `host.get` per `page` objects: one [`Managed`] per tag, in order.
    pub async fn find_tagged(
        &self,
        tags: &[&str],
        objects: &[ObjectRef],
        page: usize,
    ) -> Result<Vec<Managed>, ZabbixError> {
        let mut found: Vec<Managed> = tags.iter().map(|_| Managed::default()).collect();
        if objects.is_empty() {
            return Ok(found);
        }
        let version = self.version().await?;
        for chunk in objects.chunks(page.max(1)) {
            let mut query = host_get_params(version);
            query["tags"] = chunk
                .iter()
                .flat_map(|o| tags.iter().map(move |tag| json!({"tag": tag, "value": o.to_string(), "operator": 1})))
                .collect::<Value>();
            query["evaltype"] = json!(2); // Or: any of the page's objects.
            for raw in items(&self.call("host.get", query).await?) {
                let host = ZabbixHost::from_answer(version, raw);
                for (tag, managed) in tags.iter().zip(found.iter_mut()) {
                    if let Some(object) = host.tag(tag).and_then(|v| v.parse::<ObjectRef>().ok()) {
                        managed.add(object, host.clone());
                    }
                }
            }
        }
        Ok(found)
    }

    /// Every host that has the tag `tag` (any value), with everything a desired host is
    /// compared on: one `host.get`.
    pub async fn hosts_with_tag(&self, tag: &str) -> Result<Vec<ZabbixHost>, ZabbixError> {
        let version = self.version().await?;
        let mut query = host_get_params(version);
        query["tags"] = json!([{"tag": tag, "operator": 4}]); // 4: exists.
        Ok(items(&self.call("host.get", query).await?)
            .iter()
            .map(|raw| ZabbixHost::from_answer(version, raw))
            .collect())
    }

    /// The hosts with these ids, everything a desired host is compared on: one `host.get`.
    pub async fn hosts_by_id(&self, hostids: &[String]) -> Result<Vec<ZabbixHost>, ZabbixError> {
        let version = self.version().await?;
        let mut query = host_get_params(version);
        query["hostids"] = json!(hostids);
        Ok(items(&self.call("host.get", query).await?)
            .iter()
            .map(|raw| ZabbixHost::from_answer(version, raw))
            .collect())
    }

    /// The host with this technical name, with its tags and interfaces, if there is one.
    pub async fn host_by_name(&self, host: &str) -> Result<Option<ZabbixHost>, ZabbixError> {
        let version = self.version().await?;
        let query = json!({
            "output": host_output(version),
            "selectTags": ["tag", "value"],
            "selectInterfaces": ["interfaceid", "type", "main"],
            "filter": {"host": [host]},
        });
        Ok(items(&self.call("host.get", query).await?).first().map(|raw| ZabbixHost::from_answer(version, raw)))
    }

    /// Which of these technical names hosts already have: one `host.get`.
    pub async fn host_names_taken(&self, names: &[String]) -> Result<BTreeSet<String>, ZabbixError> {
        let taken = self.call("host.get", json!({"output": ["host"], "filter": {"host": names}})).await?;
        Ok(items(&taken).iter().map(|h| text(&h["host"])).collect())
    }

    /// Creates the hosts, `batch` per `host.create`; one result per host, in order.
    ///
    /// A create is not idempotent: Zabbix checks a name with a read, not an index, so two
    /// creates that overlap both commit. After an ambiguous failure (a timeout, a cut connection,
    /// an empty answer: the create may have been done) it is never sent again blindly: the hosts
    /// are read back by their managed tag `object_tag`, and only those still missing are created
    /// again, at the delays of `nzj_core::retry`.
    pub async fn create_hosts(
        &self,
        hosts: &[HostWrite<'_>],
        tag_prefix: &str,
        object_tag: &str,
        batch: usize,
    ) -> Vec<Result<Written, ZabbixError>> {
        let version = match self.version().await {
            Ok(version) => version,
            Err(e) => return hosts.iter().map(|_| Err(e.clone())).collect(),
        };
        let params: Vec<Value> = hosts.iter().map(|h| host_create_params(version, h, tag_prefix)).collect();
        let mut answers = self.call_split_once("host.create", &params, batch, "hostids").await;
        for _ in 0..CREATE_RESENDS {
            let unsure: Vec<usize> =
                (0..hosts.len()).filter(|&i| answers[i].as_ref().is_err_and(is_ambiguous)).collect();
            // Read back soon; what is still missing gets as long again as the create was given
            // (it may still be running), and is read back once more before it is sent again.
            let Some(missing) =
                self.read_back(hosts, &mut answers, unsure, object_tag, batch, CALL_RETRY_DELAYS[0]).await
            else {
                break;
            };
            let settle = self.settle_time();
            let Some(missing) = self.read_back(hosts, &mut answers, missing, object_tag, batch, settle).await else {
                break;
            };
            if missing.is_empty() {
                break;
            }
            let again: Vec<Value> = missing.iter().map(|&i| params[i].clone()).collect();
            for (i, answer) in
                missing.into_iter().zip(self.call_split_once("host.create", &again, batch, "hostids").await)
            {
                answers[i] = answer;
            }
        }
        params
            .iter()
            .zip(answers)
            .map(|(params, answer)| answer.map(|hostid| Written { hostid, sent: redact(params) }))
            .collect()
    }

    /// After `wait`, reads back the hosts `unsure` (indexes into `hosts`) by their managed tag:
    /// those found are answered with their id; returns those still missing, or `None` if there
    /// was nothing to read or the read failed too (the errors stand, and a later job reads first).
    async fn read_back(
        &self,
        hosts: &[HostWrite<'_>],
        answers: &mut [Result<String, ZabbixError>],
        unsure: Vec<usize>,
        object_tag: &str,
        batch: usize,
        wait: std::time::Duration,
    ) -> Option<Vec<usize>> {
        if unsure.is_empty() {
            return None;
        }
        tokio::time::sleep(wait).await;
        let objects: Vec<ObjectRef> = unsure.iter().map(|&i| hosts[i].desired.object).collect();
        let found = self.find_managed(object_tag, &objects, batch).await.ok()?;
        let mut missing = Vec::new();
        for i in unsure {
            match found.hosts.get(&hosts[i].desired.object) {
                Some(host) => answers[i] = Ok(host.hostid.clone()),
                None => missing.push(i),
            }
        }
        Some(missing)
    }

    /// Updates the hosts (each `existing` is the one updated), `batch` per `host.update`. A host
    /// whose interface changes type gets a second `host.update` after the first: the first
    /// unlinks the old templates and adds the new interface beside the old one, the second (after
    /// the host is read again) drops the old one and links the new templates
    /// ([`drops_interfaces`]).
    pub async fn update_hosts(
        &self,
        hosts: &[HostWrite<'_>],
        tag_prefix: &str,
        batch: usize,
    ) -> Vec<Result<Written, ZabbixError>> {
        let version = match self.version().await {
            Ok(version) => version,
            Err(e) => return hosts.iter().map(|_| Err(e.clone())).collect(),
        };
        let switching: Vec<bool> =
            hosts.iter().map(|h| h.existing.is_some_and(|e| drops_interfaces(h.desired, e))).collect();
        // The first step of a switch unlinks (and clears) the old templates and adds the new
        // interface beside the old one; the new templates come with the second, once only the new
        // interface is left for their items (else Zabbix may bind them to the old one).
        let first_steps: Vec<Option<DesiredHost>> = hosts
            .iter()
            .zip(&switching)
            .map(|(h, &switch)| {
                let existing = h.existing.filter(|_| switch)?;
                let mut first = h.desired.clone();
                first.templates.retain(|t| existing.template_ids.contains(&t.id));
                Some(first)
            })
            .collect();
        let params: Vec<Value> = hosts
            .iter()
            .zip(&first_steps)
            .map(|(h, first)| match first {
                Some(desired) => {
                    let first = HostWrite { desired, keep_other_interfaces: true, ..h.clone() };
                    host_update_params(version, &first, tag_prefix)
                }
                None => host_update_params(version, h, tag_prefix),
            })
            .collect();
        let mut answers = self.write_split("host.update", params, batch).await;
        let second: Vec<usize> = (0..hosts.len()).filter(|&i| switching[i] && answers[i].is_ok()).collect();
        if second.is_empty() {
            return answers;
        }
        let ids: Vec<String> = second.iter().map(|&i| answers[i].as_ref().expect("ok").hostid.clone()).collect();
        let reread = match self.hosts_by_id(&ids).await {
            Ok(reread) => reread,
            Err(e) => {
                for &i in &second {
                    answers[i] = Err(e.clone());
                }
                return answers;
            }
        };
        let by_id: BTreeMap<&str, &ZabbixHost> = reread.iter().map(|h| (h.hostid.as_str(), h)).collect();
        // A host gone between the two steps keeps its first answer; the next job sees it.
        let writes: Vec<(usize, HostWrite)> = second
            .iter()
            .zip(&ids)
            .filter_map(|(&i, id)| {
                let existing = by_id.get(id.as_str())?;
                Some((i, HostWrite { existing: Some(existing), keep_other_interfaces: false, ..hosts[i].clone() }))
            })
            .collect();
        let params: Vec<Value> = writes.iter().map(|(_, w)| host_update_params(version, w, tag_prefix)).collect();
        for ((i, _), answer) in writes.iter().zip(self.write_split("host.update", params, batch).await) {
            answers[*i] = answer.map_err(|e| match e {
                ZabbixError::Api { method, code, message, data } if data.contains("linked to item") => ZabbixError::Api {
                    method,
                    code,
                    message,
                    data: format!(
                        "{data} The new interface and templates are in place, but items that are not from the mapped templates still use the old interface: move them to the new interface or delete them in Zabbix, then sync the host again."
                    ),
                },
                other => other,
            });
        }
        answers
    }

    /// Updates one host in one call, not retried (an adoption: the caller decides what next).
    pub async fn update_host_once(&self, host: &HostWrite<'_>, tag_prefix: &str) -> Result<Written, ZabbixError> {
        let version = self.version().await?;
        let params = host_update_params(version, host, tag_prefix);
        self.call("host.update", params.clone()).await?;
        Ok(Written { hostid: host.existing.map(|h| h.hostid.clone()).unwrap_or_default(), sent: redact(&params) })
    }

    /// Disables the hosts (`host.update` of the status only), `batch` per call.
    pub async fn disable_hosts(&self, hostids: &[String], batch: usize) -> Vec<Result<Written, ZabbixError>> {
        self.write_split("host.update", hostids.iter().map(|id| json!({"hostid": id, "status": 1})).collect(), batch)
            .await
    }

    /// Soft-deletes the hosts (`host.update`), `batch` per call.
    pub async fn soft_delete_hosts(&self, hosts: &[SoftDelete<'_>], batch: usize) -> Vec<Result<Written, ZabbixError>> {
        self.write_split("host.update", hosts.iter().map(soft_delete_params).collect(), batch).await
    }

    /// Deletes the hosts (`host.delete`), `batch` per call. A host already gone is an error the
    /// caller may accept ([`is_gone`]).
    pub async fn delete_hosts(&self, hostids: &[String], batch: usize) -> Vec<Result<(), ZabbixError>> {
        let params: Vec<Value> = hostids.iter().map(|id| json!(id)).collect();
        self.call_split("host.delete", &params, batch, "hostids").await.into_iter().map(|r| r.map(|_| ())).collect()
    }

    async fn write_split(&self, method: &str, params: Vec<Value>, batch: usize) -> Vec<Result<Written, ZabbixError>> {
        let answers = self.call_split(method, &params, batch, "hostids").await;
        params
            .iter()
            .zip(answers)
            .map(|(params, answer)| {
                answer.map(|id| Written {
                    // host.update answers the ids it updated; an empty one falls back to ours.
                    hostid: if id.is_empty() { text(&params["hostid"]) } else { id },
                    sent: redact(params),
                })
            })
            .collect()
    }
}

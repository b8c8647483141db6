//! What the product knows of each managed host: its NetBox object, its Zabbix host id, whether it
//! was in sync when last checked, and how it differed.

use crate::desired::{DesiredHost, Difference};
use crate::host_failure::HostFailure;
use crate::job::JobId;
use crate::netbox::{NetboxObject, ObjectRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    pub object: ObjectRef,
    pub hostid: Option<String>,
    /// The technical name last written.
    pub host: Option<String>,
    /// `None` until first checked; a Zabbix outage leaves it as it was (never "out of sync").
    pub in_sync: Option<bool>,
    pub last_sync_update: Option<DateTime<Utc>>,
    pub difference: Vec<Difference>,
    pub last_job: Option<JobId>,
    /// The desired host last written: what HostConfigSyncRefresh compares Zabbix with.
    #[serde(default)]
    pub desired: Option<DesiredHost>,
    /// The last SyncHostsNow that found the object in NetBox: a host config with a host that the
    /// running sync has not seen belongs to an object gone from NetBox.
    #[serde(default)]
    pub seen_by_sync: Option<JobId>,
    /// The object as NetBox last described it (what the host was computed from): with it,
    /// HostConfigSyncRefresh and a plan recompute the desired host under the current settings
    /// without reading NetBox. `None` once the object is gone from NetBox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netbox: Option<NetboxObject>,
    /// Why the object has no desired host (out of scope by status, no primary IP, ...): the answer
    /// to "why is my switch not in Zabbix?".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Hash of the write-only fields last written (PSK, secret macros): they cannot be read back.
    pub secrets_hash: Option<String>,
    /// The state NetBox shows for the object (docs/product.md §3.4): `in_sync`, `failed`, ...,
    /// as of the last job or check, whether or not NetBox took the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_state: Option<String>,
    /// When each kind of journal entry was last written for the object (its rate limit).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub journaled: std::collections::BTreeMap<String, DateTime<Utc>>,
    /// Why the last job for the object failed; `None` when it succeeded. Such configs are listed
    /// apart (`nzj hosts ls --failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<HostFailure>,
    #[serde(default)]
    pub version: u64,
}

impl HostConfig {
    pub fn new(object: ObjectRef) -> Self {
        HostConfig {
            object,
            hostid: None,
            host: None,
            in_sync: None,
            last_sync_update: None,
            difference: Vec::new(),
            last_job: None,
            desired: None,
            seen_by_sync: None,
            netbox: None,
            note: None,
            secrets_hash: None,
            sync_state: None,
            journaled: Default::default(),
            last_failure: None,
            version: 0,
        }
    }

    /// Records how job `job` ended for the object: the failure, or none.
    pub fn job_ended(&mut self, job: JobId, failure: Option<HostFailure>) {
        self.last_job = Some(job);
        self.last_failure = failure;
    }
}

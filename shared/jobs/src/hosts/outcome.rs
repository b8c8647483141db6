//! What converging one host did: the action, the host id, what the host was and what was sent
//! (secrets redacted), as the job's message and in the object's host config.

use chrono::{DateTime, Utc};
use nzj_core::desired::{DesiredHost, Difference};
use nzj_core::host_config::HostConfig;
use nzj_zabbix::{ZabbixHost, redact};
use serde_json::Value;

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
    /// A graveyard host of the object brought back (same host id, history kept).
    Restored,
    /// The object has no desired host but is not gone (no primary IP): its host is kept as is.
    Kept {
        reason: String,
    },
    /// As `Kept`, and the host disabled (the `without_primary_ip` setting).
    Disabled {
        reason: String,
    },
    /// No host, and none wanted: `reason` says why (out of scope, no primary IP).
    Skipped {
        reason: String,
    },
    /// The deletion breaker had no room: the deletion waits for an operator (`nzj deletions`).
    Held {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct HostOutcome {
    pub action: HostAction,
    pub hostid: Option<String>,
    /// The Zabbix host before, and what was sent (secrets redacted).
    pub pre_data: Option<Value>,
    pub post_data: Option<Value>,
    pub difference: Vec<Difference>,
    /// What else happened on the way, for the job log (a duplicate host repaired).
    pub notes: Vec<String>,
    /// The hash of the secrets written ([`super::HostSecrets::hash`]), when Zabbix was written.
    pub secrets_hash: Option<String>,
}

impl HostOutcome {
    pub fn new(action: HostAction, hostid: Option<String>) -> HostOutcome {
        HostOutcome {
            action,
            hostid,
            pre_data: None,
            post_data: None,
            difference: Vec::new(),
            notes: Vec::new(),
            secrets_hash: None,
        }
    }

    /// With these notes for the log before its own.
    pub fn noting(mut self, mut notes: Vec<String>) -> HostOutcome {
        notes.append(&mut self.notes);
        self.notes = notes;
        self
    }

    /// The host already is as desired.
    pub fn unchanged(host: &ZabbixHost) -> HostOutcome {
        HostOutcome::new(HostAction::Unchanged, Some(host.hostid.clone())).before(host)
    }

    /// With the host as it was before.
    pub fn before(mut self, host: &ZabbixHost) -> HostOutcome {
        self.pre_data = Some(redact(&host.raw));
        self
    }

    /// With what was sent (already redacted).
    pub fn sent(mut self, params: Value) -> HostOutcome {
        self.post_data = Some(params);
        self
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
            HostAction::Restored => "host restored from the graveyard (same host, history kept)".to_string(),
            HostAction::Kept { reason } => format!("host kept as it is: {reason}"),
            HostAction::Disabled { reason } => format!("host disabled: {reason}"),
            HostAction::Skipped { reason } => format!("no host: {reason}"),
            HostAction::Held { reason } => reason.clone(),
        }
    }

    /// Whether the host is gone from the product's view (deleted, or never there).
    pub fn is_gone(&self) -> bool {
        matches!(
            self.action,
            HostAction::SoftDeleted { .. }
                | HostAction::HardDeleted
                | HostAction::AlreadyGone
                | HostAction::Skipped { .. }
        )
    }

    /// Whether Zabbix was written.
    pub fn changed(&self) -> bool {
        !matches!(
            self.action,
            HostAction::Unchanged
                | HostAction::AlreadyGone
                | HostAction::Kept { .. }
                | HostAction::Skipped { .. }
                | HostAction::Held { .. }
        )
    }

    /// Records the outcome in the object's host config: the host is now as `wanted` (`None`: gone,
    /// or kept without a desired state), and `note` says why there is no desired host.
    pub fn record_in(
        &self,
        config: &mut HostConfig,
        wanted: Option<DesiredHost>,
        note: Option<String>,
        now: DateTime<Utc>,
    ) {
        config.hostid = if self.is_gone() { None } else { self.hostid.clone() };
        if wanted.is_some() || self.is_gone() {
            config.host = wanted.as_ref().map(|d| d.host.clone());
        }
        // What was written replaces the hash; a host left as it was keeps its own.
        if matches!(self.action, HostAction::Created | HostAction::Updated | HostAction::Adopted | HostAction::Restored)
        {
            config.secrets_hash = self.secrets_hash.clone();
        }
        config.desired = wanted;
        config.note = note;
        config.in_sync = Some(true);
        config.difference = Vec::new();
        config.last_sync_update = Some(now);
    }
}

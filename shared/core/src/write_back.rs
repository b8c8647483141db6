//! What NetBox shows of each object's host (docs/product.md §3.4): the Zabbix host id, the sync
//! state, when that state was found, and a link to the host, written into custom fields of the
//! device or VM. Pure: the values to write, and whether they differ from what the object has, so
//! a job writes only when something changed and a sync writes only the objects that changed.
//! The time counts as a change only with the others: "the state since", never a write per check.

use crate::host_config::HostConfig;
use crate::settings::HostStatus;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The names of the custom fields the product writes (a setting: `write_back`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriteBack {
    /// Write into NetBox at all (when NetBox is configured).
    pub enabled: bool,
    pub hostid_field: String,
    pub state_field: String,
    pub checked_field: String,
    pub url_field: String,
    /// The Zabbix frontend's base URL (`https://zabbix.example/`): with it, a link to the host.
    pub zabbix_frontend_url: Option<String>,
    /// A NetBox journal entry on the object when its host is created, restored, disabled,
    /// deleted or fails (off by default).
    pub journal: bool,
    /// At most one journal entry per object and kind of event in this many minutes, so a
    /// flapping device cannot flood its journal.
    pub journal_every_minutes: u64,
}

impl Default for WriteBack {
    fn default() -> Self {
        WriteBack {
            enabled: true,
            hostid_field: "zabbix_hostid".into(),
            state_field: "zabbix_sync_state".into(),
            checked_field: "zabbix_checked_at".into(),
            url_field: "zabbix_url".into(),
            zabbix_frontend_url: None,
            journal: false,
            journal_every_minutes: 60,
        }
    }
}

/// An object's sync state as NetBox shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    InSync,
    OutOfSync,
    Failed,
    Disabled,
    Held,
    NotMonitored(String),
}

impl SyncState {
    /// The text in the state field: `in_sync`, ..., `not_monitored: <reason>`.
    pub fn text(&self) -> String {
        match self {
            SyncState::InSync => "in_sync".into(),
            SyncState::OutOfSync => "out_of_sync".into(),
            SyncState::Failed => "failed".into(),
            SyncState::Disabled => "disabled".into(),
            SyncState::Held => "held".into(),
            SyncState::NotMonitored(reason) => format!("not_monitored: {reason}"),
        }
    }
}

/// What happened to an object's host that its NetBox journal records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalEvent {
    Created,
    Restored,
    Disabled,
    Deleted,
    Failed,
}

impl JournalEvent {
    pub fn name(self) -> &'static str {
        match self {
            JournalEvent::Created => "created",
            JournalEvent::Restored => "restored",
            JournalEvent::Disabled => "disabled",
            JournalEvent::Deleted => "deleted",
            JournalEvent::Failed => "failed",
        }
    }

    /// NetBox's journal entry kind.
    pub fn kind(self) -> &'static str {
        match self {
            JournalEvent::Created => "success",
            JournalEvent::Restored => "info",
            JournalEvent::Disabled | JournalEvent::Deleted => "warning",
            JournalEvent::Failed => "danger",
        }
    }

    /// Whether an entry for this event is due: none of its kind in the last `every` (recorded in
    /// `config.journaled`), which it then records.
    pub fn due(self, config: &mut HostConfig, every: chrono::Duration, now: DateTime<Utc>) -> bool {
        let last = config.journaled.get(self.name()).copied();
        if last.is_some_and(|t| now - t < every) {
            return false;
        }
        config.journaled.insert(self.name().to_string(), now);
        true
    }
}

impl SyncState {
    /// The state of an object whose host config is `config` after a job or a sync step that
    /// `failed`, or ended `held`.
    pub fn of(config: &HostConfig, failed: bool, held: bool) -> SyncState {
        let reason = || config.note.clone().unwrap_or_else(|| "no host".into());
        if failed {
            SyncState::Failed
        } else if held {
            SyncState::Held
        } else if config.hostid.is_none() {
            SyncState::NotMonitored(reason())
        } else {
            match &config.desired {
                // A host kept as it was (the object lost its primary IP): not managed now.
                None => SyncState::NotMonitored(reason()),
                Some(desired) if desired.status == HostStatus::Disabled => SyncState::Disabled,
                Some(_) if config.in_sync == Some(false) => SyncState::OutOfSync,
                Some(_) => SyncState::InSync,
            }
        }
    }
}

impl WriteBack {
    /// The field names, for reading and keeping them.
    pub fn fields(&self) -> [&str; 4] {
        [&self.hostid_field, &self.state_field, &self.checked_field, &self.url_field]
    }

    pub fn validate(&self) -> Result<(), String> {
        for name in self.fields() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(format!(
                    "write_back: {name:?} is not a NetBox custom field name (lower case letters, digits, _)"
                ));
            }
        }
        if !(1..=10_080).contains(&self.journal_every_minutes) {
            return Err("write_back.journal_every_minutes must be 1-10080 (a week at most)".into());
        }
        if let Some(url) = &self.zabbix_frontend_url
            && url::Url::parse(url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true)
        {
            return Err(format!("write_back.zabbix_frontend_url: {url:?} is not an http(s) URL"));
        }
        Ok(())
    }

    /// The custom field values for a host `hostid` (none: no host) in `state`, found `now`, if
    /// they differ from `current` (the object's custom fields as NetBox has them); `None` when
    /// NetBox already shows this. The time alone is never a difference.
    pub fn changes(
        &self,
        current: &BTreeMap<String, Value>,
        hostid: Option<&str>,
        state: &SyncState,
        now: DateTime<Utc>,
    ) -> Option<Map<String, Value>> {
        let hostid = hostid.and_then(|h| h.parse::<u64>().ok());
        let url = match (&self.zabbix_frontend_url, hostid) {
            (Some(base), Some(id)) => {
                json!(format!("{}/zabbix.php?action=host.edit&hostid={id}", base.trim_end_matches('/')))
            }
            _ => Value::Null,
        };
        let wanted =
            [(&self.hostid_field, json!(hostid)), (&self.state_field, json!(state.text())), (&self.url_field, url)];
        let same = wanted.iter().all(|(field, value)| current.get(*field).unwrap_or(&Value::Null) == value);
        if same {
            return None;
        }
        let mut fields: Map<String, Value> = wanted.into_iter().map(|(f, v)| (f.clone(), v)).collect();
        fields.insert(self.checked_field.clone(), json!(now.to_rfc3339_opts(SecondsFormat::Secs, true)));
        Some(fields)
    }

    /// Whether a NetBox change touched only these fields: `pre` and `post` are a delivery's
    /// snapshots (flat, custom fields under `custom_fields`); `last_updated` moves with any save.
    pub fn only_ours(&self, pre: &Value, post: &Value) -> bool {
        let (Some(pre), Some(post)) = (pre.as_object(), post.as_object()) else { return false };
        let empty = Map::new();
        let fields =
            |m: &Map<String, Value>| m.get("custom_fields").and_then(Value::as_object).unwrap_or(&empty).clone();
        let (pre_fields, post_fields) = (fields(pre), fields(post));
        let ours = self.fields();
        let others_same = |a: &Map<String, Value>, b: &Map<String, Value>, skip: &dyn Fn(&str) -> bool| {
            a.keys().chain(b.keys()).filter(|k| !skip(k)).all(|k| a.get(k) == b.get(k))
        };
        let changed_ours = ours.iter().any(|f| pre_fields.get(*f) != post_fields.get(*f));
        changed_ours
            && others_same(pre, post, &|k| k == "custom_fields" || k == "last_updated")
            && others_same(&pre_fields, &post_fields, &|k| ours.contains(&k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-05T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn values_are_written_only_when_they_differ_and_the_time_alone_is_no_difference() {
        let wb = WriteBack { zabbix_frontend_url: Some("https://zbx.example/".into()), ..WriteBack::default() };
        let first = wb.changes(&BTreeMap::new(), Some("10681"), &SyncState::InSync, now()).unwrap();
        assert_eq!(first["zabbix_hostid"], 10681);
        assert_eq!(first["zabbix_sync_state"], "in_sync");
        assert_eq!(first["zabbix_checked_at"], "2026-12-05T10:00:00Z");
        assert_eq!(first["zabbix_url"], "https://zbx.example/zabbix.php?action=host.edit&hostid=10681");
        let current: BTreeMap<String, Value> = first.into_iter().collect();
        let later = now() + chrono::Duration::hours(1);
        assert_eq!(wb.changes(&current, Some("10681"), &SyncState::InSync, later), None);
        let failed = wb.changes(&current, Some("10681"), &SyncState::Failed, later).unwrap();
        assert_eq!(failed["zabbix_sync_state"], "failed");
        let gone = wb.changes(&current, None, &SyncState::NotMonitored("no primary IP".into()), later).unwrap();
        assert_eq!((gone["zabbix_hostid"].clone(), gone["zabbix_url"].clone()), (Value::Null, Value::Null));
        assert_eq!(gone["zabbix_sync_state"], "not_monitored: no primary IP");
    }

    #[test]
    fn a_change_of_only_our_fields_is_ours_and_a_users_change_beside_it_is_not() {
        let wb = WriteBack::default();
        let pre =
            json!({"name": "sw1", "last_updated": "a", "custom_fields": {"owner": "x", "zabbix_sync_state": null}});
        let ours = json!({"name": "sw1", "last_updated": "b", "custom_fields": {"owner": "x", "zabbix_sync_state": "in_sync"}});
        assert!(wb.only_ours(&pre, &ours));
        let renamed = json!({"name": "sw2", "last_updated": "b", "custom_fields": {"owner": "x", "zabbix_sync_state": "in_sync"}});
        assert!(!wb.only_ours(&pre, &renamed), "a rename in the same PATCH");
        let owner = json!({"name": "sw1", "last_updated": "b", "custom_fields": {"owner": "y", "zabbix_sync_state": "in_sync"}});
        assert!(!wb.only_ours(&pre, &owner), "a user's custom field in the same PATCH");
        assert!(!wb.only_ours(&pre, &pre), "nothing changed is not our change");
        assert!(!wb.only_ours(&json!(null), &ours));
    }

    #[test]
    fn a_flapping_object_gets_one_journal_entry_per_kind_per_interval() {
        let mut config = HostConfig::new("dcim.device/1".parse().unwrap());
        let every = chrono::Duration::minutes(60);
        assert!(JournalEvent::Failed.due(&mut config, every, now()));
        assert!(!JournalEvent::Failed.due(&mut config, every, now() + chrono::Duration::minutes(59)));
        assert!(JournalEvent::Created.due(&mut config, every, now() + chrono::Duration::minutes(1)), "another kind");
        assert!(JournalEvent::Failed.due(&mut config, every, now() + chrono::Duration::minutes(60)));
    }

    #[test]
    fn bad_field_names_and_urls_are_refused() {
        assert!(WriteBack::default().validate().is_ok());
        let bad = WriteBack { state_field: "Zabbix State".into(), ..WriteBack::default() };
        assert!(bad.validate().unwrap_err().contains("not a NetBox custom field name"));
        let bad = WriteBack { zabbix_frontend_url: Some("zbx.example".into()), ..WriteBack::default() };
        assert!(bad.validate().unwrap_err().contains("not an http(s) URL"));
    }
}

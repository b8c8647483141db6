//! `nzj netbox setup` (docs/product.md §3.4): what NetBox needs for the product, made so through
//! its REST API, idempotently: the write-back custom fields on devices and VMs (shown on the
//! object, left out of NetBox's edit form: the product owns them; `ui_editable: no` would make
//! NetBox drop the API's writes too), the webhook to the product's intake with its secret, and
//! the event rule that sends devices, VMs, interfaces and IP addresses on create, update and
//! delete. Each object is found by name; what is missing is created and what differs is changed,
//! nothing else. A check (`--check`) reports the same differences and changes nothing.
//! Fields and endpoints are NetBox 4.2 to 4.7's (`object_types`, `event_types`, `ui_editable`).

use crate::client::{NetboxClient, NetboxError};
use nzj_core::write_back::WriteBack;
use serde_json::{Map, Value, json};

/// The webhook's and the event rule's name in NetBox.
pub const NAME: &str = "netbox-zabbix-jobs";

/// The object types whose changes the product needs.
pub const EVENT_OBJECT_TYPES: [&str; 5] =
    ["dcim.device", "virtualization.virtualmachine", "dcim.interface", "virtualization.vminterface", "ipam.ipaddress"];

/// What setup is asked to make so.
pub struct SetupTarget<'a> {
    /// Where NetBox sends deliveries: `https://nzj.example/webhook/netbox`, or the Function URL.
    pub webhook_url: &'a str,
    /// The webhook secret of the product's configuration (`NZJ_WEBHOOK_SECRET`).
    pub secret: &'a str,
    pub write_back: &'a WriteBack,
}

/// One difference between NetBox and what the product needs, and what setup did about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupChange {
    /// `custom field zabbix_hostid`, `webhook netbox-zabbix-jobs`, ...
    pub object: String,
    /// `missing`, or the fields that differ.
    pub what: String,
}

/// One NetBox object the product needs: its list endpoint, name and wanted fields.
struct Wanted {
    path: &'static str,
    kind: &'static str,
    name: String,
    fields: Map<String, Value>,
}

fn wanted(target: &SetupTarget) -> Vec<Wanted> {
    let wb = target.write_back;
    let field = |name: &str, label: &str, kind: &str, description: &str| Wanted {
        path: "/api/extras/custom-fields/",
        kind: "custom field",
        name: name.to_string(),
        fields: json!({
            "name": name, "label": label, "type": kind, "group_name": "Zabbix", "description": description,
            "object_types": ["dcim.device", "virtualization.virtualmachine"],
            "required": false, "ui_visible": "always", "ui_editable": "hidden",
        })
        .as_object()
        .cloned()
        .expect("an object"),
    };
    let mut all = vec![
        field(&wb.hostid_field, "Zabbix host id", "integer", "Written by netbox-zabbix-jobs"),
        field(
            &wb.state_field,
            "Zabbix sync state",
            "text",
            "in_sync, out_of_sync, failed, disabled, held, not_monitored: why",
        ),
        field(&wb.checked_field, "Zabbix state since", "text", "When netbox-zabbix-jobs found this state (UTC)"),
        field(&wb.url_field, "Zabbix host", "url", "The host in the Zabbix frontend"),
    ];
    all.push(Wanted {
        path: "/api/extras/webhooks/",
        kind: "webhook",
        name: NAME.into(),
        fields: json!({
            "name": NAME, "payload_url": target.webhook_url, "http_method": "POST",
            "http_content_type": "application/json", "secret": target.secret, "ssl_verification": true,
        })
        .as_object()
        .cloned()
        .expect("an object"),
    });
    all
}

fn rule(webhook_id: u64) -> Wanted {
    Wanted {
        path: "/api/extras/event-rules/",
        kind: "event rule",
        name: NAME.into(),
        fields: json!({
            "name": NAME, "enabled": true, "object_types": EVENT_OBJECT_TYPES,
            "event_types": ["object_created", "object_updated", "object_deleted"],
            "action_type": "webhook", "action_object_type": "extras.webhook", "action_object_id": webhook_id,
        })
        .as_object()
        .cloned()
        .expect("an object"),
    }
}

/// Whether NetBox's `have` (a REST representation) shows `want`: lists compare as sets, choice
/// fields by their `value`, a secret NetBox hides (`*****`) as unknown (then it is set again).
fn differs(want: &Value, have: Option<&Value>) -> bool {
    let Some(have) = have else { return true };
    let have = have.get("value").filter(|_| have.is_object() && !want.is_object()).unwrap_or(have);
    match (want, have) {
        (Value::Array(w), Value::Array(h)) => {
            let mut w: Vec<String> = w.iter().map(Value::to_string).collect();
            let mut h: Vec<String> = h.iter().map(Value::to_string).collect();
            w.sort();
            h.sort();
            w != h
        }
        _ => want != have,
    }
}

/// Makes NetBox so (or, with `check`, only says what differs). Returns every difference found.
pub async fn setup(
    client: &NetboxClient,
    target: &SetupTarget<'_>,
    check: bool,
) -> Result<Vec<SetupChange>, NetboxError> {
    let mut changes = Vec::new();
    let mut webhook_id = None;
    for wanted in wanted(target) {
        let id = converge(client, &wanted, check, &mut changes).await?;
        if wanted.kind == "webhook" {
            webhook_id = id;
        }
    }
    // Without a webhook (a check of a NetBox that has none) the rule cannot name it yet.
    match webhook_id {
        Some(id) => {
            converge(client, &rule(id), check, &mut changes).await?;
        }
        None => {
            if client.find_named("/api/extras/event-rules/", NAME).await?.is_none() {
                changes.push(SetupChange { object: format!("event rule {NAME}"), what: "missing".into() });
            }
        }
    }
    Ok(changes)
}

/// One object made so; its id (none when checking a missing one).
async fn converge(
    client: &NetboxClient,
    wanted: &Wanted,
    check: bool,
    changes: &mut Vec<SetupChange>,
) -> Result<Option<u64>, NetboxError> {
    let object = format!("{} {}", wanted.kind, wanted.name);
    let Some(have) = client.find_named(wanted.path, &wanted.name).await? else {
        changes.push(SetupChange { object, what: "missing".into() });
        if check {
            return Ok(None);
        }
        let created = client.create(wanted.path, &Value::Object(wanted.fields.clone())).await?;
        return Ok(created.get("id").and_then(Value::as_u64));
    };
    let id = have.get("id").and_then(Value::as_u64);
    let patch: Map<String, Value> =
        wanted.fields.iter().filter(|(k, v)| differs(v, have.get(*k))).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !patch.is_empty() {
        // The secret is never shown: name it, not its value.
        changes.push(SetupChange {
            object,
            what: format!("differs: {}", patch.keys().cloned().collect::<Vec<_>>().join(", ")),
        });
        if !check && let Some(id) = id {
            client.update(&format!("{}{id}/", wanted.path), &Value::Object(patch)).await?;
        }
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_compare_as_sets_and_choices_by_value() {
        assert!(!differs(&json!(["a", "b"]), Some(&json!(["b", "a"]))));
        assert!(differs(&json!(["a"]), Some(&json!(["a", "b"]))));
        assert!(!differs(&json!("integer"), Some(&json!({"value": "integer", "label": "Integer"}))));
        assert!(differs(&json!("no"), Some(&json!({"value": "yes", "label": "Yes"}))));
        assert!(differs(&json!("s3cret"), Some(&json!("*****"))));
        assert!(differs(&json!(1), None));
    }
}

//! NetBox for the product: webhooks (the `X-Hook-Signature` check, the NetBox 4.x payload, and
//! which host job a delivery means; pure, so every rule is tested on the real captured deliveries),
//! the REST client, and the port jobs read NetBox through ([`NetboxSource`]).

mod client;
pub mod setup;
mod source;

pub use client::{
    FIELDS, FieldWrite, NetboxClient, NetboxClientConfig, NetboxError, NetboxReads, PAGE_SIZE, etag_of, fields,
    fields_with,
};
#[cfg(any(test, feature = "test-util"))]
pub use source::NetboxInMemory;
pub use source::{InScope, NetboxSource, objects_in_scope};

use hmac::{Hmac, KeyInit, Mac};
use nzj_core::JobName;
use nzj_core::netbox::{ObjectKind, ObjectRef};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

/// NetBox sends one object per delivery; a body larger than this is refused (413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hook-Signature header")]
    Missing,
    #[error("X-Hook-Signature is not a hex HMAC-SHA512")]
    Malformed,
    #[error("X-Hook-Signature does not match the body")]
    Mismatch,
}

/// Checks `header` (hex HMAC-SHA512 of the raw body keyed with the shared secret) in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let signature = hex::decode(header).map_err(|_| SignatureError::Malformed)?;
    if signature.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    mac(secret, body).verify_slice(&signature).map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hook-Signature` NetBox sends for `body`: what a test or a bench sending a delivery signs with.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(mac(secret, body).finalize().into_bytes())
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha512> {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac
}

/// The identity of a delivery for idempotency: the same body twice is the same delivery.
pub fn delivery_key(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// What a NetBox 4.x webhook says happened.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub event: String,
    pub object_type: String,
    pub data: Value,
    pub request_id: Option<String>,
    pub user: Option<String>,
    /// NetBox's `prechange` and `postchange` snapshots of an update (flat: foreign keys as ids).
    pub snapshots: Option<(Value, Value)>,
}

/// Parses a webhook body, saying what is wrong when it is not a NetBox webhook.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let object = value.as_object().ok_or("body is not a JSON object")?;
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
    let event = text("event").ok_or("not a NetBox webhook: no \"event\"")?;
    if !matches!(event.as_str(), "created" | "updated" | "deleted") {
        return Err(format!("unknown event {event:?}; NetBox sends created, updated or deleted"));
    }
    // NetBox 4.4 and later name the type (`dcim.device`); 4.2 and 4.3 only the model (`device`).
    let object_type = match (text("object_type"), text("model")) {
        (Some(object_type), _) => object_type,
        (None, Some(model)) => object_type_of_model(&model),
        (None, None) => return Err("not a NetBox webhook: no \"object_type\" (or \"model\")".into()),
    };
    let data = object
        .get("data")
        .cloned()
        .filter(Value::is_object)
        .ok_or("not a NetBox webhook: \"data\" is not an object")?;
    let request = object.get("request");
    Ok(WebhookEvent {
        event,
        object_type,
        data,
        // 4.4 and later: `request: {id, user}`; 4.2 and 4.3: `request_id`, `username`.
        request_id: request
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(text("request_id")),
        user: request.and_then(|r| r.get("user")).and_then(Value::as_str).map(str::to_string).or(text("username")),
        snapshots: object.get("snapshots").and_then(|s| {
            let (pre, post) = (s.get("prechange")?, s.get("postchange")?);
            (pre.is_object() && post.is_object()).then(|| (pre.clone(), post.clone()))
        }),
    })
}

/// The object type of a model NetBox 4.2 and 4.3 name alone: those the event rule sends (another
/// model stays as it is, and is ignored).
fn object_type_of_model(model: &str) -> String {
    match model {
        "device" => "dcim.device",
        "virtualmachine" => "virtualization.virtualmachine",
        "interface" => "dcim.interface",
        "vminterface" => "virtualization.vminterface",
        "ipaddress" => "ipam.ipaddress",
        other => other,
    }
    .to_string()
}

/// Which host job a delivery means.
#[derive(Debug, Clone, PartialEq)]
pub enum Routing {
    /// Run `name` for `object`; `data` is the object's REST representation when the delivery is
    /// about the object itself (for an interface or IP address, the job reads its parent).
    Job { name: JobName, object: ObjectRef, data: Option<Value> },
    /// Nothing to do (answered 202 "ignored").
    Ignored(String),
}

fn id_at(value: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(value, |v, key| v.get(key)).and_then(Value::as_u64)
}

pub fn route(event: &WebhookEvent) -> Result<Routing, String> {
    let id = |path: &[&str]| {
        id_at(&event.data, path).ok_or_else(|| format!("{}: no {} in data", event.object_type, path.join(".")))
    };
    let parent_update =
        |kind, id| Ok(Routing::Job { name: JobName::UpdateHost, object: ObjectRef { kind, id }, data: None });
    match event.object_type.as_str() {
        "dcim.device" | "virtualization.virtualmachine" => {
            let kind: ObjectKind = event.object_type.parse().expect("handled types");
            let object = ObjectRef { kind, id: id(&["id"])? };
            Ok(match event.event.as_str() {
                "created" => Routing::Job { name: JobName::CreateHost, object, data: Some(event.data.clone()) },
                "updated" => Routing::Job { name: JobName::UpdateHost, object, data: Some(event.data.clone()) },
                _ => Routing::Job { name: JobName::DeleteHost, object, data: None },
            })
        }
        "dcim.interface" => parent_update(ObjectKind::Device, id(&["device", "id"])?),
        "virtualization.vminterface" => parent_update(ObjectKind::VirtualMachine, id(&["virtual_machine", "id"])?),
        "ipam.ipaddress" => match event.data.get("assigned_object_type").and_then(Value::as_str) {
            Some("dcim.interface") => parent_update(ObjectKind::Device, id(&["assigned_object", "device", "id"])?),
            Some("virtualization.vminterface") => {
                parent_update(ObjectKind::VirtualMachine, id(&["assigned_object", "virtual_machine", "id"])?)
            }
            _ => Ok(Routing::Ignored("IP address not assigned to a device or VM interface".into())),
        },
        other => Ok(Routing::Ignored(format!("object type {other} is not handled"))),
    }
}

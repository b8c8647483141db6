//! The write-back never undoes a person's change, against the real NetBox: NetBox saves the whole
//! object on a PATCH, so a custom-field write that raced a person's edit once put the old primary
//! IP back (seen against NetBox 4.4 in `make netbox-compat`). A single object's write now carries
//! `If-Match` with the `last_updated` the job read; NetBox 4.6 and later refuse it (412) when the
//! object changed since, and the client says so (`NetboxError::Changed`).

mod support;

use nzj_core::Secret;
use nzj_core::netbox::{NetboxObject, ObjectKind, ObjectRef};
use nzj_netbox::{FieldWrite, NetboxClient, NetboxClientConfig, NetboxError};
use serde_json::json;
use std::time::Duration;
use support::netbox::{NetBox, var};

#[tokio::test]
#[ignore = "needs the NetBox peer: `make test` or `make e2e`"]
async fn a_write_back_computed_before_a_persons_change_is_refused_not_applied() {
    let nb = NetBox::from_env();
    let client = NetboxClient::new(NetboxClientConfig {
        url: var("NB_URL"),
        token: Secret::new(var("NB_TOKEN")),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
    })
    .unwrap();
    let tag = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let field = "nzj_e2e_precondition";
    if nb.list("/api/extras/custom-fields/", &format!("name={field}")).is_empty() {
        nb.create(
            "/api/extras/custom-fields/",
            json!({"name": field, "type": "text", "object_types": ["dcim.device"]}),
        );
    }
    let site = nb.create("/api/dcim/sites/", json!({"name": format!("pc-{tag}"), "slug": format!("pc-{tag}")}));
    let maker =
        nb.create("/api/dcim/manufacturers/", json!({"name": format!("pc-{tag}"), "slug": format!("pc-{tag}")}));
    let dtype = nb.create(
        "/api/dcim/device-types/",
        json!({"manufacturer": maker, "model": format!("pc-{tag}"), "slug": format!("pc-{tag}")}),
    );
    let role = nb.create("/api/dcim/device-roles/", json!({"name": format!("pc-{tag}"), "slug": format!("pc-{tag}")}));
    let id = nb.create(
        "/api/dcim/devices/",
        json!({"name": format!("pc-{tag}"), "device_type": dtype, "role": role, "site": site}),
    );
    let object = ObjectRef { kind: ObjectKind::Device, id };

    // The job reads the device; a person changes it; then the write-back comes.
    let read = NetboxObject::from_rest(ObjectKind::Device, &client.get_object(object).await.unwrap().unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    nb.call("PATCH", &format!("/api/dcim/devices/{id}/"), Some(json!({"serial": "SET-BY-A-PERSON"})));
    let write = |last_updated: Option<String>| FieldWrite {
        id,
        fields: json!({field: "in_sync"}).as_object().unwrap().clone(),
        last_updated,
    };
    let version = nb.call("GET", "/api/status/", None)["netbox-version"].as_str().unwrap_or_default().to_string();
    let checks_preconditions =
        version.split('.').take(2).map(|n| n.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>() >= vec![4, 6];
    let stale = client.write_custom_fields(ObjectKind::Device, &[write(read.last_updated.clone())]).await;
    let now = nb.call("GET", &format!("/api/dcim/devices/{id}/"), None);
    assert_eq!(now["serial"], "SET-BY-A-PERSON", "the person's change stays, whatever NetBox version");
    if checks_preconditions {
        assert!(matches!(stale, Err(NetboxError::Changed { .. })), "NetBox {version}: {stale:?}");
        assert!(now["custom_fields"][field].is_null(), "nothing was written: {now}");
    }
    // Computed from the object as it is now: written.
    let fresh = now["last_updated"].as_str().map(str::to_string);
    client.write_custom_fields(ObjectKind::Device, &[write(fresh)]).await.unwrap();
    let after = nb.call("GET", &format!("/api/dcim/devices/{id}/"), None);
    assert_eq!(
        (after["custom_fields"][field].as_str(), after["serial"].as_str()),
        (Some("in_sync"), Some("SET-BY-A-PERSON"))
    );
    nb.call("DELETE", &format!("/api/dcim/devices/{id}/"), None);
}

//! Every real NetBox 4.7 delivery in tests/fixtures: its captured signature, its parse, and the
//! host job it means; and malformed, unsigned and wrongly signed input.

use nzj_core::JobName;
use nzj_netbox::{Routing, SignatureError, delivery_key, parse, route, verify_signature};
use proptest::prelude::*;

const SECRET: &[u8] = b"s3cret";

fn fixture(name: &str) -> (Vec<u8>, String) {
    let dir = format!("{}/../../tests/fixtures/netbox-4.7-webhooks", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(format!("{dir}/{name}.body.json")).unwrap();
    let sig = std::fs::read_to_string(format!("{dir}/{name}.sig")).unwrap();
    (body, sig.trim().to_string())
}

/// Each delivery, and the job it must give: (name, object, whether the job carries the object).
const EXPECTED: &[(&str, JobName, &str, bool)] = &[
    ("01_dcim.device_created", JobName::CreateHost, "dcim.device/1", true),
    ("02_dcim.interface_created", JobName::UpdateHost, "dcim.device/1", false),
    ("03_ipam.ipaddress_created", JobName::UpdateHost, "dcim.device/1", false),
    ("04_dcim.device_updated", JobName::UpdateHost, "dcim.device/1", true),
    ("05_virtualization.virtualmachine_created", JobName::CreateHost, "virtualization.virtualmachine/1", true),
    ("06_ipam.ipaddress_created", JobName::UpdateHost, "virtualization.virtualmachine/1", false),
    ("07_virtualization.virtualmachine_updated", JobName::UpdateHost, "virtualization.virtualmachine/1", true),
    ("08_dcim.device_updated", JobName::UpdateHost, "dcim.device/1", true),
    ("09_ipam.ipaddress_deleted", JobName::UpdateHost, "virtualization.virtualmachine/1", false),
    ("10_virtualization.virtualmachine_deleted", JobName::DeleteHost, "virtualization.virtualmachine/1", false),
    ("11_ipam.ipaddress_deleted", JobName::UpdateHost, "dcim.device/1", false),
    ("12_dcim.device_deleted", JobName::DeleteHost, "dcim.device/1", false),
    ("13_dcim.interface_deleted", JobName::UpdateHost, "dcim.device/1", false),
    ("extra_bulk_create_dcim.device_created_sample", JobName::CreateHost, "dcim.device/2", true),
    ("extra_bulk_delete_dcim.device_deleted_0517", JobName::DeleteHost, "dcim.device/3", false),
    ("extra_bulk_delete_dcim.device_deleted_0518", JobName::DeleteHost, "dcim.device/4", false),
    ("extra_bulk_patch_dcim.device_updated_0515", JobName::UpdateHost, "dcim.device/3", true),
    ("extra_bulk_patch_dcim.device_updated_0516", JobName::UpdateHost, "dcim.device/4", true),
    ("extra_noop_patch_dcim.device_updated", JobName::UpdateHost, "dcim.device/2", true),
];

#[test]
fn every_captured_signature_verifies_against_its_raw_body() {
    for (name, ..) in EXPECTED {
        let (body, sig) = fixture(name);
        assert_eq!(verify_signature(SECRET, &body, Some(&sig)), Ok(()), "{name}");
    }
}

#[test]
fn a_changed_body_a_wrong_secret_and_a_missing_or_malformed_header_are_refused() {
    let (body, sig) = fixture("04_dcim.device_updated");
    let mut changed = body.clone();
    changed[10] ^= 1;
    assert_eq!(verify_signature(SECRET, &changed, Some(&sig)), Err(SignatureError::Mismatch));
    assert_eq!(verify_signature(b"other", &body, Some(&sig)), Err(SignatureError::Mismatch));
    assert_eq!(verify_signature(SECRET, &body, None), Err(SignatureError::Missing));
    assert_eq!(verify_signature(SECRET, &body, Some("  ")), Err(SignatureError::Missing));
    assert_eq!(verify_signature(SECRET, &body, Some("zz")), Err(SignatureError::Malformed));
    assert_eq!(verify_signature(SECRET, &body, Some(&sig[..64])), Err(SignatureError::Malformed), "a truncated MAC");
}

#[test]
fn every_delivery_routes_to_the_host_job_of_its_device_or_vm() {
    for (name, job, object, carries_data) in EXPECTED {
        let (body, _) = fixture(name);
        let event = parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(event.request_id.is_some(), "{name}: NetBox request id");
        match route(&event).unwrap() {
            Routing::Job { name: got, object: target, data } => {
                assert_eq!(
                    (got, target.to_string().as_str(), data.is_some()),
                    (*job, *object, *carries_data),
                    "{name}"
                );
            }
            Routing::Ignored(why) => panic!("{name} ignored: {why}"),
        }
    }
}

#[test]
fn the_same_body_is_the_same_delivery_and_another_body_is_another() {
    let (a, _) = fixture("extra_bulk_patch_dcim.device_updated_0515");
    let (b, _) = fixture("extra_bulk_patch_dcim.device_updated_0516");
    assert_eq!(delivery_key(&a), delivery_key(&a.clone()));
    assert_ne!(delivery_key(&a), delivery_key(&b));
}

#[test]
fn bodies_that_are_not_netbox_webhooks_say_what_is_wrong() {
    for (body, expect) in [
        (&b"not json"[..], "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "no \"event\""),
        (br#"{"event": "exploded", "object_type": "dcim.device", "data": {}}"#, "unknown event"),
        (br#"{"event": "created", "data": {}}"#, "no \"object_type\""),
        (br#"{"event": "created", "object_type": "dcim.device", "data": 3}"#, "\"data\" is not an object"),
    ] {
        let err = parse(body).unwrap_err();
        assert!(err.contains(expect), "{}: {err}", String::from_utf8_lossy(body));
    }
    let no_id = parse(br#"{"event": "created", "object_type": "dcim.device", "data": {}}"#).unwrap();
    assert!(route(&no_id).unwrap_err().contains("no id"));
    let site = parse(br#"{"event": "created", "object_type": "dcim.site", "data": {"id": 1}}"#).unwrap();
    assert_eq!(route(&site).unwrap(), Routing::Ignored("object type dcim.site is not handled".into()));
    let unassigned = parse(
        br#"{"event": "created", "object_type": "ipam.ipaddress", "data": {"id": 9, "assigned_object_type": null}}"#,
    )
    .unwrap();
    assert!(matches!(route(&unassigned).unwrap(), Routing::Ignored(_)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// No input makes the parser or the router panic: arbitrary bytes, and JSON shaped like a webhook.
    #[test]
    fn no_input_makes_the_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(event) = parse(&bytes) {
            let _ = route(&event);
        }
    }

    #[test]
    fn no_webhook_shaped_json_makes_the_router_panic(
        event in prop_oneof![Just("created".to_string()), Just("updated".to_string()), Just("deleted".to_string()), ".*"],
        object_type in prop_oneof![Just("dcim.device".to_string()), Just("virtualization.virtualmachine".to_string()), Just("dcim.interface".to_string()),
                                   Just("virtualization.vminterface".to_string()), Just("ipam.ipaddress".to_string()), ".*"],
        id in prop_oneof![Just(serde_json::json!(1)), Just(serde_json::json!(-1)), Just(serde_json::json!("1")), Just(serde_json::Value::Null)],
        assigned in prop_oneof![Just("dcim.interface".to_string()), Just("virtualization.vminterface".to_string()), ".*"],
    ) {
        let body = serde_json::json!({"event": event, "object_type": object_type,
            "data": {"id": id, "device": {"id": id}, "virtual_machine": {"id": id}, "assigned_object_type": assigned,
                     "assigned_object": {"device": {"id": id}, "virtual_machine": {"id": id}}}});
        if let Ok(parsed) = parse(body.to_string().as_bytes()) {
            let _ = route(&parsed);
        }
    }
}

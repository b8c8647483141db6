//! Real NetBox 4.2.9 deliveries (tests/fixtures/netbox-4.2-webhooks, captured from NetBox 4.2's
//! own webhook sender): NetBox 4.2 and 4.3 name only the model (`"model": "device"`) and put the
//! request's id and user at the top (`request_id`, `username`); they route to the same host jobs
//! as 4.7's deliveries, and the write-back's own echo is told from a person's change.

use nzj_core::JobName;
use nzj_core::write_back::WriteBack;
use nzj_netbox::{Routing, parse, route, verify_signature};

fn fixture(name: &str) -> (Vec<u8>, String) {
    let dir = format!("{}/../../tests/fixtures/netbox-4.2-webhooks", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(format!("{dir}/{name}.body.json")).unwrap();
    let sig = std::fs::read_to_string(format!("{dir}/{name}.sig")).unwrap();
    (body, sig.trim().to_string())
}

const EXPECTED: &[(&str, JobName, &str)] = &[
    ("01_device_created", JobName::CreateHost, "dcim.device/1003"),
    ("02_interface_created", JobName::UpdateHost, "dcim.device/1003"),
    ("03_ipaddress_created", JobName::UpdateHost, "dcim.device/1003"),
    ("04_device_updated", JobName::UpdateHost, "dcim.device/1003"),
    ("05_virtualmachine_created", JobName::CreateHost, "virtualization.virtualmachine/1"),
    ("06_device_updated", JobName::UpdateHost, "dcim.device/1003"),
    ("07_device_updated", JobName::UpdateHost, "dcim.device/1003"),
    ("09_virtualmachine_deleted", JobName::DeleteHost, "virtualization.virtualmachine/2"),
];

#[test]
fn netbox_4_2_deliveries_verify_parse_and_route_to_their_host_jobs() {
    for (name, job, object) in EXPECTED {
        let (body, sig) = fixture(name);
        assert_eq!(verify_signature(b"s3cret", &body, Some(&sig)), Ok(()), "{name}");
        let event = parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.user.as_deref(), Some("admin"), "{name}: the user from `username`");
        assert!(event.request_id.as_deref().is_some_and(|r| r.len() == 36), "{name}: the request id");
        match route(&event).unwrap() {
            Routing::Job { name: routed, object: routed_object, .. } => {
                assert_eq!((routed, routed_object.to_string().as_str()), (*job, *object), "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn on_netbox_4_2_the_write_backs_echo_is_ours_and_a_serial_in_the_same_patch_is_not() {
    let ours = |name: &str| {
        let event = parse(&fixture(name).0).unwrap();
        let (pre, post) = event.snapshots.expect("an update has snapshots");
        WriteBack::default().only_ours(&pre, &post)
    };
    assert!(ours("06_device_updated"), "zabbix_hostid and zabbix_sync_state written: ours");
    assert!(!ours("07_device_updated"), "a serial changed with our field: a person's change");
    assert!(!ours("04_device_updated"), "a primary IP set: a person's change");
}

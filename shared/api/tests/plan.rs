//! `POST /api/plan` black-box: a proposed change is planned from the stored host configs
//! (a stored object with a host and NetBox state, one without state), paged, and nothing is
//! written; malformed, invalid and unauthorised requests are refused clearly.

use nzj_core::host_config::HostConfig;
use nzj_core::netbox::{NetboxObject, ObjectKind, ObjectRef};
use nzj_store::{JobStore, Write};
use reqwest::StatusCode;
use serde_json::{Value, json};

mod support;
use support::{TOKEN, post};

/// A host config as a sync leaves it: a host, and the NetBox object it came from (an active device
/// from the real 4.7 payload, with `id`).
async fn stored(store: &dyn JobStore, id: u64, status: &str) {
    let text = include_str!("../../../tests/fixtures/netbox-4.7-webhooks/04_dcim.device_updated.body.json");
    let mut data = serde_json::from_str::<Value>(text).unwrap()["data"].take();
    data["id"] = json!(id);
    data["status"] = json!({"value": status, "label": status});
    let object = ObjectRef { kind: ObjectKind::Device, id };
    let mut config = HostConfig::new(object);
    config.hostid = Some(format!("{}", 10_000 + id));
    config.host = Some("rtr-76683".into());
    config.netbox = Some(NetboxObject::from_rest(ObjectKind::Device, &data).unwrap());
    store.commit(vec![Write::host_config(config)]).await.unwrap();
}

#[tokio::test]
async fn a_plan_answers_from_the_stored_state_writes_nothing_and_refuses_bad_requests_clearly() {
    let app = support::spawn_app(&[], None).await;
    for id in 1..=3 {
        stored(app.store.as_ref(), id, "active").await;
    }
    stored(app.store.as_ref(), 4, "decommissioning").await;
    let mut unknown = HostConfig::new(ObjectRef { kind: ObjectKind::Device, id: 5 });
    unknown.hostid = Some("10005".into());
    app.store.commit(vec![Write::host_config(unknown)]).await.unwrap();
    let before = app.store.get_settings().await.unwrap().version;

    // Active devices removed: their three hosts go. The table is replaced, so decommissioning is
    // an unnamed status now (disable): it would need a mapping, and nothing is imported here.
    let body = r#"{"statuses": {"active": "remove", "offline": "monitor"}, "delete_policy": "hard"}"#;
    let (status, plan) = post(&app, "/api/plan?limit=2", body, TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let c = &plan["counts"];
    assert_eq!(
        (c["delete"].as_u64(), c["fail"].as_u64(), c["unknown"].as_u64()),
        (Some(3), Some(1), Some(1)),
        "{plan}"
    );
    assert_eq!(plan["changes"].as_array().unwrap().len(), 2);
    assert_eq!(plan["changes"][0]["reason"], "status \"active\" is set to remove");
    assert_eq!(plan["calls"]["host.delete"], 1);
    assert!(plan["reads_netbox"].as_str().unwrap().contains("1 objects have no stored NetBox state"), "{plan}");
    let after = plan["next_after"].as_str().unwrap().to_string();
    let (_, rest) = post(&app, &format!("/api/plan?limit=10&after={after}"), body, TOKEN).await;
    assert_eq!(rest["changes"].as_array().unwrap().len(), 3, "the rest: a delete, a fail, an unknown: {rest}");
    assert!(rest["next_after"].is_null());
    assert_eq!(app.store.get_settings().await.unwrap().version, before, "a plan writes nothing");

    // No change proposed: what a SyncHostsNow would do now (the decommissioning one goes; the
    // others cannot be mapped before ImportZabbixSettings, and the plan says why).
    let (status, now) = post(&app, "/api/plan", "", TOKEN).await;
    assert_eq!(
        (status, now["counts"]["delete"].as_u64(), now["counts"]["fail"].as_u64()),
        (StatusCode::OK, Some(1), Some(3)),
        "{now}"
    );
    let reasons: Vec<&str> = now["changes"].as_array().unwrap().iter().filter_map(|c| c["reason"].as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("run ImportZabbixSettings")), "{now}");

    let bad = [
        ("/api/plan", "not json", "body is not valid JSON"),
        ("/api/plan", "[1]", "body must be an object"),
        ("/api/plan", r#"{"max_deletes": 3}"#, "unknown field"),
        ("/api/plan", r#"{"statuses": {"active": "disable"}}"#, "at least one status"),
        ("/api/plan?after=dcim.nothing/1", "{}", "after"),
        ("/api/plan?limit=0", "{}", "limit"),
        ("/api/plan?page=2", "{}", "unknown query parameter"),
    ];
    for (path, body, says) in bad {
        let (status, answer) = post(&app, path, body, TOKEN).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{path} {body}: {answer}");
    }
    let (status, _) = post(&app, "/api/plan", "{}", "wrong-token-0123456789").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

//! SyncHostsNow's schedule through the API: listed beside the system jobs (off by default, and not
//! runnable here without Zabbix and NetBox, which the view says), set by an admin with who and
//! when recorded, refused to a viewer, and a name that is no job is 404 naming the choices.

use reqwest::StatusCode;
use serde_json::Value;

mod support;
use support::{TOKEN, call, viewer_token};

#[tokio::test]
async fn sync_hosts_now_has_a_schedule_off_by_default_that_an_admin_sets() {
    let app = support::spawn_app(&[], None).await;
    let (status, all) = call(&app, reqwest::Method::GET, "/api/schedule", &viewer_token(), "").await;
    assert_eq!(status, StatusCode::OK);
    let sync = all["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "SyncHostsNow").expect("listed").clone();
    assert_eq!((sync["interval"].clone(), sync["scheduled"].clone()), (Value::Null, Value::Bool(false)));
    assert!(sync["note"].as_str().unwrap().contains("needs Zabbix and NetBox"), "{sync}");

    let (status, _) =
        call(&app, reqwest::Method::PUT, "/api/schedule/SyncHostsNow", &viewer_token(), r#"{"interval": 60}"#).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, set) =
        call(&app, reqwest::Method::PUT, "/api/schedule/SyncHostsNow", TOKEN, r#"{"interval": 60}"#).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!((set["interval"].as_u64(), set["changed"]["by"].as_str()), (Some(60), Some("admin")));
    assert!(set["next_due"].is_string(), "turned on: due at the next tick");
    let (_, one) = call(&app, reqwest::Method::GET, "/api/schedule/SyncHostsNow", &viewer_token(), "").await;
    assert_eq!(one["interval"], 60);
    let (status, bad) =
        call(&app, reqwest::Method::PUT, "/api/schedule/SyncHostsNow", TOKEN, r#"{"interval": 7}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, unknown) = call(&app, reqwest::Method::GET, "/api/schedule/SyncAllNow", TOKEN, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(unknown["error"].as_str().unwrap().contains("SyncHostsNow has a schedule too"), "{unknown}");
}

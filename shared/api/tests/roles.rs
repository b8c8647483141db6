//! Who may do what, and who did it: a viewer reads everything and is refused (403, naming the role)
//! on every write route; an operator runs and syncs but changes no settings; jobs and changes
//! record the token's name. Every route the router declares is tried, read from its source, so a
//! route added later is in this test without anyone remembering to add it.

use nzj_core::tokens::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

mod support;
use support::{TOKEN, call, operator_token, viewer_token};

/// Every (method, route) `nzj_api::router` declares, read from its source.
fn declared_routes() -> Vec<(Method, String)> {
    let source = include_str!("../src/lib.rs");
    let start = source.find("pub fn router(").expect("the router function");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("its end")];
    let mut routes = Vec::new();
    for chunk in body.split(".route(").skip(1) {
        let chunk = &chunk[chunk.find('"').unwrap() + 1..];
        let path = &chunk[..chunk.find('"').unwrap()];
        let handlers = &chunk[..chunk.find(".route").unwrap_or(chunk.len())];
        for (marker, method) in
            [("get(", Method::GET), ("post(", Method::POST), ("put(", Method::PUT), ("patch(", Method::PATCH)]
        {
            if handlers.contains(marker) {
                routes.push((method, path.to_string()));
            }
        }
        if handlers.contains(".delete(") {
            routes.push((Method::DELETE, path.to_string()));
        }
    }
    routes
        .into_iter()
        .map(|(method, path)| {
            let full = if path == "/metrics" || path == "/healthz" || path.starts_with("/webhook") {
                path
            } else {
                format!("/api{path}")
            };
            (method, full)
        })
        .filter(|(_, path)| path != "/healthz" && !path.starts_with("/webhook"))
        .collect()
}

/// A concrete path for a route: ids that exist where a read needs one to answer 200.
fn concrete(route: &str) -> String {
    route
        .replace("{kind}/{id}", "dcim.device/1")
        .replace("/jobs/{id}", "/jobs/0193a6f2-7d1c-7b5e-9f00-3c2d1e0f4a5b")
        .replace("/maintenances/{id}", "/maintenances/1")
        .replace("/dlq/{id}", "/dlq/host:1")
        .replace("{job}", "MaintenanceCleanup")
}

#[tokio::test]
async fn a_viewer_reads_every_route_and_is_refused_on_every_write_naming_the_role() {
    let app = support::spawn_app(&[], None).await;
    let routes = declared_routes();
    assert!(routes.len() >= 25, "the routes are read from the source: {routes:?}");
    let viewer = viewer_token();
    let operator = operator_token();
    let mut writes = 0;
    for (method, route) in &routes {
        let path = concrete(route);
        let needed = nzj_api::required_role(method, route);
        let (status, answer) = call(&app, method.clone(), &path, &viewer, "{}").await;
        if needed == Role::Viewer {
            assert!(
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                "{method} {path}: a viewer reads: {status} {answer}"
            );
            // (Maintenance windows are read from Zabbix, and /metrics needs serve's recorder: not here.)
            if !route.contains('{')
                && *method == Method::GET
                && !["/api/maintenances", "/metrics"].contains(&route.as_str())
            {
                assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
            }
            continue;
        }
        writes += 1;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} by a viewer: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(&format!("needs the {needed} role")) && error.contains("\"vera\""), "{error}");
        let (status, answer) = call(&app, method.clone(), &path, &operator, "{}").await;
        match needed {
            Role::Operator => assert_ne!(status, StatusCode::FORBIDDEN, "{method} {path} by an operator: {answer}"),
            _ => assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} is an admin's: {answer}"),
        }
        let (status, answer) = call(&app, method.clone(), &path, TOKEN, "{}").await;
        assert_ne!(status, StatusCode::FORBIDDEN, "{method} {path} by the admin: {answer}");
    }
    assert!(writes >= 12, "{writes} write routes");
    // A token that is not one of them is not a viewer: 401.
    let (status, _) = call(&app, Method::GET, "/api/jobs", "nzj_0000000000000000", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn jobs_and_changes_record_the_tokens_name() {
    let env = [
        ("NZJ_ZABBIX_URL", "http://127.0.0.1:9/api_jsonrpc.php"),
        ("NZJ_ZABBIX_TOKEN", "unused"),
        ("NZJ_NETBOX_URL", "http://127.0.0.1:9"),
        ("NZJ_NETBOX_TOKEN", "0123456789abcdef0123456789abcdef01234567"),
    ];
    let app = support::spawn_app(&env, None).await;
    let (status, job) = call(&app, Method::POST, "/api/hosts/dcim.device/7/sync", &operator_token(), "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!((job["user"].as_str(), job["trigger"].as_str()), (Some("otto"), Some("api")));

    let (_, settings) = call(&app, Method::GET, "/api/settings", &viewer_token(), "").await;
    let patch = format!(r#"{{"version": {}, "adoption": true}}"#, settings["version"]);
    let response = reqwest::Client::new()
        .patch(format!("{}/api/settings", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(patch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, settings) = call(&app, Method::GET, "/api/settings", &viewer_token(), "").await;
    assert_eq!(settings["changed"]["by"], "admin", "{settings}");
    assert!(settings["changed"]["at"].is_string());
    let forged = format!(
        r#"{{"version": {}, "changed": {{"by": "mallory", "at": "2026-01-01T00:00:00Z"}}}}"#,
        settings["version"]
    );
    let response = reqwest::Client::new()
        .patch(format!("{}/api/settings", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "who changed it is not for the caller to say");

    let response = reqwest::Client::new()
        .put(format!("{}/api/schedule/MaintenanceCleanup", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"interval": 30}"#)
        .send()
        .await
        .unwrap();
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["changed"]["by"], "admin", "{view}");
}

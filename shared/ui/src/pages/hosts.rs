//! Hosts: in sync, out of sync (with the difference per field), failed (with why), and a Sync
//! button per host that runs a host job for its NetBox object. Held deletions have their own page.

use super::{Form, segment, to_started_job, with_query};
use crate::Ui;
use crate::session::Authed;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// A tab: its key, its label, and the API's filter for it.
type View = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

const VIEWS: &[View] = &[
    ("all", "All", &[]),
    ("in_sync", "In sync", &[("in_sync", "true")]),
    ("out_of_sync", "Out of sync", &[("in_sync", "false")]),
    ("failed", "Failed", &[("failed", "true")]),
];

/// `GET /hosts?view=&cursor=`.
pub(crate) async fn list(
    State(ui): State<Arc<Ui>>,
    who: Authed,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let view = query.get("view").map(String::as_str).filter(|v| VIEWS.iter().any(|(k, ..)| k == v)).unwrap_or("all");
    let (_, _, filter) = VIEWS.iter().find(|(k, ..)| *k == view).expect("a known view");
    let cursor = query.get("cursor").map(String::as_str).unwrap_or_default();
    let mut pairs = filter.to_vec();
    pairs.push(("cursor", cursor));
    let (hosts, next, error) = match ui.read(&who, &with_query("/api/hosts", &pairs)).await {
        Ok(page) => (page["hosts"].clone(), page["next_cursor"].as_str().map(str::to_string), None),
        Err(e) => (json!([]), None, Some(e)),
    };
    let hosts: Vec<Value> = hosts.as_array().cloned().unwrap_or_default().into_iter().map(row).collect();
    let views: Vec<Value> = VIEWS.iter().map(|(key, label, _)| json!({"key": key, "label": label})).collect();
    let page = json!({
        "hosts": hosts, "view": view, "views": views, "error": error,
        "older": next.map(|c| with_query("/hosts", &[("view", view), ("cursor", &c)])),
    });
    ui.page(&who, "hosts.html", "hosts", page)
}

/// A host config as a row: its object split for the Sync form's address.
fn row(mut host: Value) -> Value {
    let object = host["object"].as_str().unwrap_or_default().to_string();
    if let Some((kind, id)) = object.split_once('/') {
        host["sync_path"] = json!(format!("/hosts/{}/{}/sync", segment(kind), segment(id)));
    }
    host
}

/// `POST /hosts/{kind}/{id}/sync`: a host job for the object now; its page next.
pub(crate) async fn sync(
    State(ui): State<Arc<Ui>>,
    who: Authed,
    Path((kind, id)): Path<(String, String)>,
    axum::Form(form): Form,
) -> Response {
    let call = (Method::POST, format!("/api/hosts/{}/{}/sync", segment(&kind), segment(&id)), None);
    ui.act(
        &who,
        &form,
        call,
        |job| format!("Syncing {kind}/{id} as job {}", job["id"].as_str().unwrap_or("?")),
        to_started_job("/hosts".into()),
    )
    .await
}

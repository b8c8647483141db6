//! Maintenance windows as the store and Zabbix have them (created through the API and CLI).

use crate::Ui;
use crate::session::Authed;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

pub(crate) async fn list(State(ui): State<Arc<Ui>>, who: Authed) -> Response {
    let (maintenances, error) = match ui.read(&who, "/api/maintenances").await {
        Ok(answer) => (answer["maintenances"].clone(), None),
        Err(e) => (json!([]), Some(e)),
    };
    ui.page(&who, "maintenances.html", "maintenances", json!({"maintenances": maintenances, "error": error}))
}

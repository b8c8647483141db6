//! `POST /api/plan`: what a settings change (the body of `PATCH /api/settings`, without the
//! version) or a SyncHostsNow with the current settings (an empty body) would do to every known
//! host: counts, the changes (paged), the Zabbix write calls, and whether the breaker would trip.
//! Computed from the stored host configs (the last known NetBox state and the desired host last
//! written) and the imported cache: nothing is read from or written to Zabbix or NetBox, and
//! nothing is stored.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::request::{page_limit, param, refuse_unknown};
use crate::routes::settings::proposed;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use nzj_core::netbox::ObjectRef;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// `POST /api/plan?limit=&after=` with `{}` or `{"<setting>": value, ...}`.
pub(crate) async fn plan(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    refuse_unknown(&params, &["limit", "after"])?;
    let limit = page_limit(&params)?;
    let after = param::<ObjectRef>(&params, "after")?;
    let mut fields = if body.is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(ApiError::bad_request(r#"body must be an object like {"statuses": {...}}, or {}"#)),
            Err(e) => return Err(ApiError::bad_request(format!("body is not valid JSON: {e}"))),
        }
    };
    // The same body as a PATCH: its version is not needed to plan.
    fields.remove("version");
    let (_, settings) = proposed(&state, &fields).await?;
    let plan = nzj_jobs::plan::plan(state.store.as_ref(), &settings, after, limit).await?;
    let mut answer = serde_json::to_value(&plan).expect("a plan serializes");
    answer["settings_changed"] = json!(fields.keys().collect::<Vec<_>>());
    answer["next_after"] = json!(plan.next_after());
    if plan.counts.unknown > 0 {
        answer["reads_netbox"] = json!(format!(
            "{} objects have no stored NetBox state (never read by this version): a SyncHostsNow reads them from NetBox",
            plan.counts.unknown
        ));
    }
    Ok(Json(answer))
}

//! Reading requests strictly: a query parameter or body field the route does not know is an
//! error naming it, never silently ignored.

use crate::DEFAULT_PAGE;
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use nzj_store::JobQuery;
use serde_json::Value;
use std::collections::HashMap;

/// Parses a query parameter with `FromStr`, naming the parameter in the error.
pub(crate) fn param<T: std::str::FromStr>(params: &HashMap<String, String>, name: &str) -> ApiResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    params.get(name).map(|raw| raw.parse::<T>().map_err(|e| ApiError::bad_request(format!("{name}: {e}")))).transpose()
}

/// A listing's query parameters must be ones it knows: a typo is an error, not ignored.
pub(crate) fn refuse_unknown(params: &HashMap<String, String>, known: &[&str]) -> ApiResult<()> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => {
            Err(ApiError::bad_request(format!("unknown query parameter {unknown:?}; known: {}", known.join(", "))))
        }
        None => Ok(()),
    }
}

/// A listing's `limit`: 1 to [`JobQuery::MAX_LIMIT`], [`DEFAULT_PAGE`] when absent.
pub(crate) fn page_limit(params: &HashMap<String, String>) -> ApiResult<usize> {
    let limit = param::<usize>(params, "limit")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=JobQuery::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit: must be 1 to {}", JobQuery::MAX_LIMIT)));
    }
    Ok(limit)
}

/// Parses a JSON object body, refusing fields other than `allowed` with a clear message.
pub(crate) fn object_body(body: &Bytes, allowed: &[&str], example: &str) -> ApiResult<serde_json::Map<String, Value>> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(ApiError::bad_request(format!("body must be an object like {example}")));
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("unknown field {unknown:?}; known: {}", allowed.join(", "))));
    }
    Ok(object)
}

/// The selection of a body like `{"ids": [...]}` or `{"all": true}`: `None` for all, else the ids
/// (1 to 1000, each read by `parse`, `what` naming what an id is in the error).
pub(crate) fn ids_or_all<T>(
    fields: &serde_json::Map<String, Value>,
    example: &str,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> ApiResult<Option<Vec<T>>> {
    let all = match fields.get("all") {
        None => false,
        Some(Value::Bool(all)) => *all,
        Some(_) => return Err(ApiError::bad_request("all: true or false")),
    };
    match (fields.get("ids"), all) {
        (Some(_), true) => Err(ApiError::bad_request(format!("name ids or all, not both: {example}"))),
        (None, true) => Ok(None),
        (None, false) => Err(ApiError::bad_request(format!("nothing selected: {example}"))),
        (Some(Value::Array(ids)), false) if !ids.is_empty() && ids.len() <= 1000 => ids
            .iter()
            .map(|id| {
                id.as_str().and_then(&parse).ok_or_else(|| ApiError::bad_request(format!("ids: {id} is not {what}")))
            })
            .collect::<ApiResult<Vec<T>>>()
            .map(Some),
        (Some(_), false) => Err(ApiError::bad_request(format!("ids: a list of 1 to 1000 {what}s"))),
    }
}

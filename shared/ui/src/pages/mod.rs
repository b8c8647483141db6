//! One file per page, as the API has one per route group. What they share: reading the API as
//! the logged-in person, and an action (a form posted with its CSRF token) done as one API call
//! whose outcome is the next page's message (post, redirect, get: a reload never repeats it).

use crate::Ui;
use crate::session::Authed;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use std::collections::HashMap;

pub mod deletions;
pub mod hosts;
pub mod jobs;
pub mod login;
pub mod maintenances;
pub mod schedule;
pub mod sync;

/// A form as posted: field name to value.
pub(crate) type Form = axum::Form<HashMap<String, String>>;

impl Ui {
    /// An API read; the API's refusal (or why it could not be reached) as the message to show.
    pub(crate) async fn read(&self, who: &Authed, path: &str) -> Result<Value, String> {
        self.call(who, Method::GET, path, None).await
    }

    pub(crate) async fn call(
        &self,
        who: &Authed,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        match self.api.call(who.session.credential.as_ref(), method, path, body).await {
            Ok(answer) if answer.ok() => Ok(answer.body),
            Ok(answer) => Err(answer.error()),
            Err(e) => Err(e),
        }
    }

    /// A form's action: refused without this session's CSRF token; else the API call, its outcome
    /// kept for the next page (`done` words a success), and a redirect to `then(answer)`.
    pub(crate) async fn act(
        &self,
        who: &Authed,
        form: &HashMap<String, String>,
        call: (Method, String, Option<Value>),
        done: impl FnOnce(&Value) -> String,
        then: impl FnOnce(Option<&Value>) -> String,
    ) -> Response {
        if let Some(refused) = csrf_refused(who, form) {
            return refused;
        }
        let (method, path, body) = call;
        match self.call(who, method, &path, body).await {
            Ok(answer) => {
                who.session.flash(true, done(&answer));
                Redirect::to(&then(Some(&answer))).into_response()
            }
            Err(message) => {
                who.session.flash(false, message);
                Redirect::to(&then(None)).into_response()
            }
        }
    }
}

/// The answer to a form without this session's CSRF token: 403, and nothing done.
pub(crate) fn csrf_refused(who: &Authed, form: &HashMap<String, String>) -> Option<Response> {
    if who.session.csrf_matches(form.get("csrf").map(String::as_str)) {
        return None;
    }
    tracing::warn!(user = %who.session.name, "a form without this session's CSRF token was refused");
    Some(crate::problem(
        StatusCode::FORBIDDEN,
        "This form did not carry this session's CSRF token, so nothing was done. Reload the page and try again.",
    ))
}

/// Where an action that started a job goes next: the job's page, or `fallback` when the API
/// refused it (the refusal is the message shown there).
pub(crate) fn to_started_job(fallback: String) -> impl FnOnce(Option<&Value>) -> String {
    move |job| job.and_then(|j| j["id"].as_str()).map_or(fallback, |id| format!("/jobs/{}", segment(id)))
}

/// `path?key=value&...` with the non-empty `pairs`, encoded.
pub(crate) fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (key, value) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
        query.append_pair(key, value.trim());
        any = true;
    }
    if any { format!("{path}?{}", query.finish()) } else { path.to_string() }
}

/// A path segment from the request (a job id, an object kind) as it may go into an API path.
pub(crate) fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

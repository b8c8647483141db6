//! Logging in and out. In `nzj serve` a person presents an API token; the API says whose it is
//! (`GET /api/whoami`) and the session keeps it server-side. The login form has its own CSRF value
//! (a cookie and a hidden field that must match), so another site cannot log a browser in as
//! someone else. Under `nzj ui` the address it printed carries a key instead.

use super::Form;
use crate::session::{Authed, LOGIN_COOKIE, SESSION_COOKIE, cookie, random_token, same, set_cookie};
use crate::{Login, Ui};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use nzj_core::Secret;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// `GET /login`: the token form (or, under `nzj ui`, the key in the address logs in).
pub(crate) async fn page(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let (Login::Key(key), Some(given)) = (&ui.login, query.get("key")) {
        if !same(given, key.expose()) {
            return crate::problem(StatusCode::UNAUTHORIZED, "That is not the key `nzj ui` printed.");
        }
        return start(&ui, &headers, None).await;
    }
    form(&ui, &headers, None, StatusCode::OK)
}

fn form(ui: &Ui, headers: &HeaderMap, error: Option<String>, status: StatusCode) -> Response {
    let login_csrf = cookie(headers, LOGIN_COOKIE).filter(|v| v.len() == 64).unwrap_or_else(random_token);
    let ctx = context! { csrf => login_csrf.clone(), error, key_login => matches!(ui.login, Login::Key(_)) };
    let mut response = ui.render("login.html", ctx, status);
    let value = set_cookie(headers, LOGIN_COOKIE, &login_csrf, None);
    response.headers_mut().insert(header::SET_COOKIE, value.parse().expect("a cookie header"));
    response
}

/// `POST /login` with `token` and the login form's `csrf`.
pub(crate) async fn submit(State(ui): State<Arc<Ui>>, headers: HeaderMap, axum::Form(fields): Form) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE);
    let presented = fields.get("csrf").map(String::as_str).unwrap_or_default();
    if !expected.is_some_and(|e| !e.is_empty() && same(&e, presented)) {
        return crate::problem(
            StatusCode::FORBIDDEN,
            "The login form's CSRF value did not match: reload the login page.",
        );
    }
    if matches!(ui.login, Login::Key(_)) {
        return form(
            &ui,
            &headers,
            Some("Open the address `nzj ui` printed to log in.".into()),
            StatusCode::BAD_REQUEST,
        );
    }
    let token = fields.get("token").map(|t| t.trim()).unwrap_or_default();
    if token.is_empty() || token.len() > 1024 {
        return form(&ui, &headers, Some("Enter an API token.".into()), StatusCode::BAD_REQUEST);
    }
    start(&ui, &headers, Some(Secret::new(token))).await
}

/// Asks the API who `credential` is and starts a session for them.
async fn start(ui: &Ui, headers: &HeaderMap, credential: Option<Secret>) -> Response {
    let answer = ui.api.call(credential.as_ref(), Method::GET, "/api/whoami", None).await;
    let who = match answer {
        Ok(answer) if answer.ok() => answer.body,
        Ok(answer) if answer.status == 401 => {
            return form(ui, headers, Some("The API does not know that token.".into()), StatusCode::UNAUTHORIZED);
        }
        Ok(answer) => return form(ui, headers, Some(answer.error()), StatusCode::BAD_GATEWAY),
        Err(e) => return form(ui, headers, Some(e), StatusCode::BAD_GATEWAY),
    };
    let name = who["name"].as_str().unwrap_or("unknown").to_string();
    let role = who["role"].as_str().unwrap_or("viewer").to_string();
    tracing::info!(user = %name, role = %role, "logged in to the page");
    let id = ui.sessions.start(credential, name, role);
    let mut response = Redirect::to("/jobs").into_response();
    let cookies = response.headers_mut();
    cookies.append(header::SET_COOKIE, set_cookie(headers, SESSION_COOKIE, &id, None).parse().expect("cookie"));
    let spent = set_cookie(headers, LOGIN_COOKIE, "", Some(Duration::ZERO));
    cookies.append(header::SET_COOKIE, spent.parse().expect("cookie"));
    response
}

/// `POST /logout`: the session ends here (its cookie is then worth nothing anywhere).
pub(crate) async fn logout(
    State(ui): State<Arc<Ui>>,
    who: Authed,
    headers: HeaderMap,
    axum::Form(fields): Form,
) -> Response {
    if !who.session.csrf_matches(fields.get("csrf").map(String::as_str)) {
        return crate::problem(StatusCode::FORBIDDEN, "This form did not carry this session's CSRF token.");
    }
    ui.sessions.end(&who.id);
    let mut response = Redirect::to("/login").into_response();
    let cleared = set_cookie(&headers, SESSION_COOKIE, "", Some(Duration::ZERO));
    response.headers_mut().insert(header::SET_COOKIE, cleared.parse().expect("cookie"));
    response
}

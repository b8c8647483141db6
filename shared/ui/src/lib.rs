//! The jobs page in the browser (docs/ui.md): what the NetBox Zabbix plugin's users look at (a
//! jobs list with green and red status icons, a job's detail with its error, log and Retry, hosts
//! in and out of sync, the system jobs' schedule, held deletions, maintenance windows, and "Sync
//! all hosts now" behind a confirmation that shows the plan), served by `nzj serve` at `/` and by
//! `nzj ui` on loopback for a deployment on AWS.
//!
//! Server-rendered HTML from minijinja templates, one small stylesheet and one small script
//! (local times, live refresh while jobs run), all embedded in the binary: no CDN, works offline.
//! Every read and every action is a call to the jobs API ([`api::Api`]) as the logged-in person,
//! so the API's roles decide what happens; the page only hides the buttons a role cannot use.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use nzj_core::Secret;
use std::sync::Arc;

pub mod api;
mod pages;
mod render;
pub mod session;

pub use api::{Answer, Api, InProcessApi};
use session::Sessions;

/// Forms are a few fields; nothing bigger is read.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// How a person logs in.
pub enum Login {
    /// With an API token, as the API knows it (`nzj serve`).
    Token,
    /// With the key `nzj ui` printed as part of its address; the API calls carry the user's own
    /// AWS credentials, not a token.
    Key(Secret),
}

/// The page's state: where the API is, who is logged in, and the templates.
pub struct Ui {
    pub api: Arc<dyn Api>,
    pub sessions: Sessions,
    pub login: Login,
    templates: minijinja::Environment<'static>,
}

impl Ui {
    pub fn new(api: Arc<dyn Api>, login: Login) -> Arc<Ui> {
        Arc::new(Ui { api, sessions: Sessions::default(), login, templates: render::templates() })
    }
}

/// The page's routes (no fallback: merged beside the API's router, whose fallback answers the
/// rest).
pub fn router(ui: Arc<Ui>) -> Router {
    use pages::{deletions, hosts, jobs, login, maintenances, schedule, sync};
    Router::new()
        .route("/", get(|| async { Redirect::to("/jobs") }))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/hosts", get(hosts::list))
        .route("/hosts/{kind}/{id}/sync", post(hosts::sync))
        .route("/schedule", get(schedule::show))
        .route("/schedule/{job}", post(schedule::set_interval))
        .route("/schedule/{job}/run", post(schedule::run_now))
        .route("/deletions", get(deletions::list))
        .route("/deletions/{decision}", post(deletions::decide))
        .route("/maintenances", get(maintenances::list))
        .route("/sync", get(sync::confirm).post(sync::run))
        .route("/assets/app.css", get(|| asset("text/css", include_str!("../assets/app.css"))))
        .route("/assets/app.js", get(|| asset("text/javascript", include_str!("../assets/app.js"))))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::map_response(page_headers))
        .with_state(ui)
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Every page: only its own scripts and styles run, it is never framed, and nothing is cached.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A page that could not be shown, with why.
pub(crate) fn problem(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>nzj: {status}</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\"><main class=\"problem\"><h1>{status}</h1><p>{}</p>\
         <p><a href=\"/jobs\">Back to the jobs</a></p></main></html>",
        render::escape(message)
    );
    (status, Html(body)).into_response()
}

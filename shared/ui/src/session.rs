//! Who is looking at the page: sessions kept in this process, named by a random id in an
//! HttpOnly, SameSite=Strict cookie, so the API token a person logged in with never reaches the
//! page's HTML or scripts. Each session has its own CSRF token, which every form carries and every
//! POST must present (checked in constant time); a forged form from another site has neither the
//! cookie (SameSite) nor the token. Sessions end at logout, after [`SESSION_TTL`], or when the
//! process restarts (log in again).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use nzj_core::Secret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "nzj_session";
/// The login form's own CSRF value (double submit): set before anyone is logged in.
pub const LOGIN_COOKIE: &str = "nzj_login";
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Beyond this many live sessions the oldest is dropped: a script logging in in a loop cannot
/// grow the process without bound.
const MAX_SESSIONS: usize = 10_000;

/// A logged-in person.
#[derive(Debug)]
pub struct Session {
    /// The API token presented at login (`None` where the API is reached without one: `nzj ui`).
    pub credential: Option<Secret>,
    /// The name and role the API gave for it (`GET /api/whoami`).
    pub name: String,
    pub role: String,
    pub csrf: String,
    started: Instant,
    /// A message for the next page shown (what an action did, or why the API refused it).
    flash: Mutex<Option<Flash>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Flash {
    pub ok: bool,
    pub message: String,
}

impl Session {
    pub fn can_operate(&self) -> bool {
        matches!(self.role.as_str(), "operator" | "admin")
    }

    pub fn can_administer(&self) -> bool {
        self.role == "admin"
    }

    pub fn flash(&self, ok: bool, message: impl Into<String>) {
        *self.flash.lock().expect("flash lock") = Some(Flash { ok, message: message.into() });
    }

    pub fn take_flash(&self) -> Option<Flash> {
        self.flash.lock().expect("flash lock").take()
    }

    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| same(p, &self.csrf))
    }
}

/// Constant-time equality of two secrets.
pub fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// 32 random bytes as hex: session ids and CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random numbers");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// Starts a session; the id to set as the cookie.
    pub fn start(&self, credential: Option<Secret>, name: String, role: String) -> String {
        let id = random_token();
        let session =
            Session { credential, name, role, csrf: random_token(), started: Instant::now(), flash: Mutex::new(None) };
        let mut live = self.live.lock().expect("sessions lock");
        live.retain(|_, s| s.started.elapsed() < SESSION_TTL);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, s)| s.started).map(|(id, _)| id.clone())
        {
            live.remove(&oldest);
        }
        live.insert(id.clone(), Arc::new(session));
        id
    }

    pub fn find(&self, id: &str) -> Option<Arc<Session>> {
        let live = self.live.lock().expect("sessions lock");
        live.get(id).filter(|s| s.started.elapsed() < SESSION_TTL).cloned()
    }

    pub fn end(&self, id: &str) {
        self.live.lock().expect("sessions lock").remove(id);
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// A `Set-Cookie` value only this site's own requests send back and no script can read;
/// `Secure` when the page was reached over HTTPS (a proxy in front says so).
pub fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: Option<Duration>) -> String {
    let https = headers.get("x-forwarded-proto").is_some_and(|v| v == "https");
    let age = max_age.map(|d| format!("; Max-Age={}", d.as_secs())).unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}{}", if https { "; Secure" } else { "" })
}

/// The logged-in caller of a page; anyone else is sent to the login page.
pub struct Authed {
    pub id: String,
    pub session: Arc<Session>,
}

impl FromRequestParts<Arc<crate::Ui>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &Arc<crate::Ui>) -> Result<Self, Self::Rejection> {
        let found = cookie(&parts.headers, SESSION_COOKIE).and_then(|id| ui.sessions.find(&id).map(|s| (id, s)));
        match found {
            Some((id, session)) => Ok(Authed { id, session }),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_ends_and_its_csrf_token_is_its_own() {
        let sessions = Sessions::default();
        let id = sessions.start(Some(Secret::new("t")), "vera".into(), "viewer".into());
        let other = sessions.start(None, "otto".into(), "operator".into());
        let session = sessions.find(&id).unwrap();
        assert_eq!((session.name.as_str(), session.can_operate()), ("vera", false));
        assert!(session.csrf_matches(Some(&session.csrf.clone())));
        assert!(!session.csrf_matches(Some(&sessions.find(&other).unwrap().csrf)), "another session's token");
        assert!(!session.csrf_matches(None) && !session.csrf_matches(Some("")));
        sessions.end(&id);
        assert!(sessions.find(&id).is_none() && sessions.find(&other).is_some());
    }

    #[test]
    fn cookies_are_read_by_name_and_set_http_only_and_strict() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; nzj_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "nzj"), None);
        let set = set_cookie(&headers, SESSION_COOKIE, "abc", None);
        assert_eq!(set, "nzj_session=abc; Path=/; HttpOnly; SameSite=Strict");
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(set_cookie(&headers, SESSION_COOKIE, "", Some(Duration::ZERO)).ends_with("Max-Age=0; Secure"));
    }
}

//! Who may call `/api` and `/metrics`, and who they are: in `nzj serve` a named bearer token with a
//! role (`nzj_core::tokens`, compared by hash); on AWS nobody checks here because the Function
//! URL's IAM auth already did, and the caller is the IAM principal the api function passes on.
//!
//! Which role a route needs is decided in one table, [`required_role`]: reads are a viewer's, the
//! writes it names an operator's, and every other write an admin's, so a route added later is an
//! admin's until someone decides otherwise.

use crate::ApiAuth;
use crate::AppState;
use crate::error::ApiError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nzj_core::Trigger;
use nzj_core::job::JobOrigin;
use nzj_core::tokens::Role;
use std::sync::Arc;

/// Who made a request: what jobs and changes record as their user, and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// On AWS, the caller the api function read from the request context (the IAM principal).
#[derive(Debug, Clone)]
pub struct UpstreamCaller(pub String);

impl Caller {
    /// The origin of a job this caller starts: from the CLI when it says so, else the API.
    pub(crate) fn origin(&self, headers: &HeaderMap, object: Option<String>) -> JobOrigin {
        let cli = headers.get("x-nzj-client").is_some_and(|v| v == "cli");
        let trigger = if cli { Trigger::Cli } else { Trigger::Api };
        JobOrigin { trigger, user: self.name.clone(), object }
    }
}

/// The role `method` on `route` (as the router matched it, e.g. `/api/jobs/{id}/retry`) needs.
pub fn required_role(method: &Method, route: &str) -> Role {
    let route = route.strip_prefix("/api").unwrap_or(route);
    if matches!(*method, Method::GET | Method::HEAD) {
        return Role::Viewer;
    }
    match (method.as_str(), route) {
        // A plan computes and changes nothing.
        ("POST", "/plan") => Role::Viewer,
        ("POST", "/jobs" | "/jobs/{id}/retry" | "/hosts/{kind}/{id}/sync" | "/dlq/redrive" | "/maintenances")
        | ("PUT" | "DELETE", "/maintenances/{id}") => Role::Operator,
        _ => Role::Admin,
    }
}

pub(crate) async fn require_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match &state.auth {
        ApiAuth::Upstream => {
            let name = request.extensions().get::<UpstreamCaller>().map_or("iam", |c| c.0.as_str());
            Caller { name: name.to_string(), role: Role::Admin }
        }
        ApiAuth::Tokens(tokens) => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match presented.and_then(|t| tokens.find(t)) {
                Some(token) => Caller { name: token.name.clone(), role: token.role },
                None => {
                    return ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
                }
            }
        }
    };
    let route = request.extensions().get::<MatchedPath>().map_or(request.uri().path(), |m| m.as_str());
    let needed = required_role(request.method(), route);
    if caller.role < needed {
        let message = format!(
            "{} {route} needs the {needed} role; token {:?} is a{} {}",
            request.method(),
            caller.name,
            if caller.role == Role::Operator || caller.role == Role::Admin { "n" } else { "" },
            caller.role
        );
        return ApiError::new(StatusCode::FORBIDDEN, message).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_plans_are_a_viewers_runs_an_operators_and_the_rest_an_admins() {
        assert_eq!(required_role(&Method::GET, "/api/settings"), Role::Viewer);
        assert_eq!(required_role(&Method::POST, "/api/plan"), Role::Viewer);
        assert_eq!(required_role(&Method::POST, "/api/jobs/{id}/retry"), Role::Operator);
        assert_eq!(required_role(&Method::DELETE, "/api/maintenances/{id}"), Role::Operator);
        assert_eq!(required_role(&Method::PATCH, "/api/settings"), Role::Admin);
        assert_eq!(required_role(&Method::POST, "/api/dlq/purge"), Role::Admin);
        assert_eq!(required_role(&Method::POST, "/api/some/new/route"), Role::Admin, "fail closed");
    }
}

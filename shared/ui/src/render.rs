//! Turning API answers into HTML: the embedded templates (auto-escaped: everything NetBox, Zabbix
//! or a person typed is text, never markup), the helpers they share (a status icon, a time the
//! browser shows in its own zone with UTC on hover, a duration), and the frame every page has
//! (who is logged in, the navigation, the CSRF token its forms carry, the last action's message).

use crate::Ui;
use crate::session::Authed;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("jobs.html", include_str!("../templates/jobs.html")),
    ("job.html", include_str!("../templates/job.html")),
    ("hosts.html", include_str!("../templates/hosts.html")),
    ("schedule.html", include_str!("../templates/schedule.html")),
    ("deletions.html", include_str!("../templates/deletions.html")),
    ("maintenances.html", include_str!("../templates/maintenances.html")),
    ("sync.html", include_str!("../templates/sync.html")),
];

pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source).unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.add_function("status", status_icon);
    env.add_function("when", when);
    env.add_function("duration", duration);
    env
}

/// HTML-escapes text for the few places that build markup by hand.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The plugin's status icons: a green check, a red exclamation, and the in-between states.
fn status_icon(status: Option<String>) -> Value {
    let status = status.unwrap_or_default();
    let icon = match status.as_str() {
        "completed" => "✓",
        "failed" | "stalled" => "!",
        "running" => "↻",
        "held" => "‖",
        "" => "–",
        _ => "…",
    };
    let status = escape(&status);
    Value::from_safe_string(format!(
        "<span class=\"status status-{status}\" role=\"img\" aria-label=\"{status}\" title=\"{status}\">{icon}</span>"
    ))
}

/// A time in UTC that the script shows in the browser's zone; the UTC time stays on hover.
fn when(time: Option<String>) -> Value {
    let Some(parsed) = time.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
        return Value::from_safe_string("<span class=\"none\">–</span>".into());
    };
    let utc = parsed.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let iso = parsed.with_timezone(&Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Value::from_safe_string(format!("<time datetime=\"{iso}\" title=\"{utc}\">{utc}</time>"))
}

fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "–".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

impl Ui {
    /// `template` in the frame, for the logged-in `who`; `page` is what the template reads.
    pub(crate) fn page(&self, who: &Authed, template: &str, nav: &str, page: serde_json::Value) -> Response {
        let session = &who.session;
        let me = context! {
            name => session.name.clone(),
            role => session.role.clone(),
            can_operate => session.can_operate(),
            can_administer => session.can_administer(),
        };
        let ctx = context! {
            me, nav, csrf => session.csrf.clone(), flash => Value::from(Serde(session.take_flash())), page => Value::from(Serde(&page)),
        };
        self.render(template, ctx, StatusCode::OK)
    }

    pub(crate) fn render(&self, template: &str, ctx: Value, status: StatusCode) -> Response {
        match self.templates.get_template(template).and_then(|t| t.render(ctx)) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template, error = %e, "a page could not be rendered");
                crate::problem(StatusCode::INTERNAL_SERVER_ERROR, &format!("the page could not be rendered: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_text_is_escaped() {
        let env = templates();
        assert_eq!(env.templates().count(), TEMPLATES.len());
        assert_eq!(escape("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn times_carry_utc_for_the_script_and_the_hover_and_durations_read_as_people_say_them() {
        let html = when(Some("2026-12-05T23:01:02.123+00:00".into())).to_string();
        assert_eq!(
            html,
            "<time datetime=\"2026-12-05T23:01:02Z\" title=\"2026-12-05 23:01:02 UTC\">2026-12-05 23:01:02 UTC</time>"
        );
        assert!(when(None).to_string().contains('–'));
        assert_eq!(duration(Some(250)), "250 ms");
        assert_eq!(duration(Some(1500)), "1.5 s");
        assert_eq!(duration(Some(125_000)), "2m 05s");
        assert!(status_icon(Some("failed\"><script>".into())).to_string().contains("failed&quot;&gt;&lt;script&gt;"));
    }
}

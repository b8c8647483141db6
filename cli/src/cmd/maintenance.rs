//! `nzj maintenance ls|show|create|update|rm`: maintenance windows, with times given as RFC 3339,
//! `now` or relative (`+30m`, `-2h`, `+1d`; crate::when).

use crate::client::{ApiClient, print_json, text};
use crate::table;
use serde_json::{Value, json};

/// A maintenance window as given on the command line.
#[derive(clap::Args)]
pub struct WindowArgs {
    #[arg(long)]
    name: String,
    /// Start: RFC 3339 (2026-12-01T22:00:00Z), `now`, or relative to now (+30m, +2h, +1d)
    #[arg(long, default_value = "now")]
    from: String,
    /// End, in the same forms
    #[arg(long)]
    until: String,
    /// A Zabbix host name (repeatable)
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// A Zabbix host group name (repeatable)
    #[arg(long = "group")]
    host_groups: Vec<String>,
    /// A NetBox site: every host tagged with it (repeatable)
    #[arg(long = "site")]
    sites: Vec<String>,
    #[arg(long, default_value = "")]
    description: String,
}

/// What `nzj maintenance update` changes: only what is given; the rest of the window stays.
#[derive(clap::Args)]
pub struct UpdateArgs {
    #[arg(long)]
    name: Option<String>,
    /// New start (RFC 3339, `now`, or relative); unchanged when not given
    #[arg(long)]
    from: Option<String>,
    /// New end
    #[arg(long)]
    until: Option<String>,
    /// Replaces the window's hosts (repeatable); unchanged when not given
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// Replaces the window's host groups (repeatable)
    #[arg(long = "group")]
    host_groups: Vec<String>,
    /// Replaces the window's NetBox sites (repeatable)
    #[arg(long = "site")]
    sites: Vec<String>,
    #[arg(long)]
    description: Option<String>,
}

/// A window's times: a span without a sign is ahead of now (`--until 2h`).
fn parse_time(text: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    crate::when::parse_time(text, now, crate::when::Unsigned::Ahead)
}

fn window_row(w: &Value) -> Vec<String> {
    let targets = ["hosts", "host_groups", "sites"]
        .iter()
        .filter_map(|k| {
            let list: Vec<String> = w["targets"][k].as_array()?.iter().map(text).collect();
            (!list.is_empty()).then(|| format!("{k}: {}", list.join(", ")))
        })
        .collect::<Vec<_>>()
        .join("; ");
    vec![
        text(&w["id"]),
        text(&w["name"]),
        table::time(&w["active_since"]),
        table::time(&w["active_till"]),
        text(&w["zabbix_id"]),
        targets,
    ]
}

const WINDOW_HEADERS: [&str; 6] = ["ID", "NAME", "FROM", "UNTIL", "ZABBIX ID", "TARGETS"];

pub async fn maintenance_ls(api: &ApiClient, json: bool) -> anyhow::Result<()> {
    let listed = api.get("/api/maintenances", &[]).await?;
    if json {
        print_json(&listed);
        return Ok(());
    }
    let rows: Vec<_> =
        listed["maintenances"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(window_row).collect();
    out!("{}", table::render(&WINDOW_HEADERS, &rows));
    Ok(())
}

pub async fn maintenance_show(api: &ApiClient, id: &str) -> anyhow::Result<()> {
    print_json(&api.get(&format!("/api/maintenances/{id}"), &[]).await?);
    Ok(())
}

/// Creates a window.
pub async fn maintenance_create(api: &ApiClient, args: WindowArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let body = json!({
        "name": args.name,
        "description": args.description,
        "active_since": parse_time(&args.from, now)?,
        "active_till": parse_time(&args.until, now)?,
        "hosts": args.hosts,
        "host_groups": args.host_groups,
        "sites": args.sites,
    });
    let window = api.post("/api/maintenances", body).await?;
    out!("{}", table::render(&WINDOW_HEADERS, &[window_row(&window)]));
    Ok(())
}

/// Changes what `args` names in window `id`, keeping the rest (its start, its targets, ...): the
/// window is read, changed, and written back whole.
pub async fn maintenance_update(api: &ApiClient, id: &str, args: UpdateArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let current = api.get(&format!("/api/maintenances/{id}"), &[]).await?;
    let list =
        |given: Vec<String>, key: &str| if given.is_empty() { current["targets"][key].clone() } else { json!(given) };
    let time = |given: Option<String>, key: &str| -> anyhow::Result<Value> {
        Ok(match given {
            Some(text) => json!(parse_time(&text, now)?),
            None => current[key].clone(),
        })
    };
    let body = json!({
        "name": args.name.map_or_else(|| current["name"].clone(), Value::String),
        "description": args.description.map_or_else(|| current["description"].clone(), Value::String),
        "active_since": time(args.from, "active_since")?,
        "active_till": time(args.until, "active_till")?,
        "hosts": list(args.hosts, "hosts"),
        "host_groups": list(args.host_groups, "host_groups"),
        "sites": list(args.sites, "sites"),
    });
    let window = api.put(&format!("/api/maintenances/{id}"), body).await?;
    out!("{}", table::render(&WINDOW_HEADERS, &[window_row(&window)]));
    Ok(())
}

pub async fn maintenance_rm(api: &ApiClient, id: &str) -> anyhow::Result<()> {
    api.delete(&format!("/api/maintenances/{id}")).await?;
    outln!("deleted maintenance window {id}");
    Ok(())
}

//! `nzj settings show|set`: the plugin settings, set as FIELD VALUE pairs after the plan of the
//! change is shown (and confirmed when it changes more than a few hosts).

use super::plan;
use crate::client::{ApiClient, print_json};
use anyhow::anyhow;
use serde_json::Value;

pub async fn settings_show(api: &ApiClient) -> anyhow::Result<()> {
    print_json(&api.get("/api/settings", &[]).await?);
    Ok(())
}

/// Changes that touch more hosts than this are shown and confirmed first.
const CONFIRM_ABOVE: u64 = 5;

/// Reads the settings' version, shows what the change would do to the hosts (and asks, when it
/// changes more than a few, unless `yes`), then changes the given fields from that version: if
/// someone else changed the settings in between, the API refuses (409) and nothing is changed.
pub async fn settings_set(api: &ApiClient, pairs: &[String], yes: bool) -> anyhow::Result<()> {
    let fields = plan::fields(pairs)?;
    let current = api.get("/api/settings", &[]).await?;
    let proposed = plan::fetch(api, &fields, None).await?;
    let changed = plan::changed(&proposed);
    if changed > CONFIRM_ABOVE && !yes {
        plan::print(&proposed);
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(anyhow!("this changes {changed} hosts; nothing was changed: pass --yes to apply it"));
        }
        eprint!("apply this change to {changed} hosts? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "yes") {
            return Err(anyhow!("nothing was changed"));
        }
    }
    let mut patch = fields;
    patch.insert("version".into(), current["version"].clone());
    let changed_settings = api.patch("/api/settings", Value::Object(patch)).await?;
    outln!("settings changed: version {} ({changed} hosts change at the next sync)", changed_settings["version"]);
    Ok(())
}

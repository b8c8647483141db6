//! `nzj settings show|set`: the plugin settings, set as `key=value` pairs.

use crate::client::{ApiClient, print_json};
use anyhow::anyhow;
use serde_json::Value;

pub async fn settings_show(api: &ApiClient) -> anyhow::Result<()> {
    print_json(&api.get("/api/settings", &[]).await?);
    Ok(())
}

/// Reads the settings' version, then changes the given fields from that version: if someone else
/// changed the settings in between, the API refuses (409) and nothing is changed.
pub async fn settings_set(api: &ApiClient, pairs: &[String]) -> anyhow::Result<()> {
    if !pairs.len().is_multiple_of(2) {
        return Err(anyhow!("give FIELD VALUE pairs; {:?} has no value", pairs.last().unwrap_or(&String::new())));
    }
    let current = api.get("/api/settings", &[]).await?;
    let mut patch = serde_json::Map::new();
    patch.insert("version".into(), current["version"].clone());
    for pair in pairs.chunks(2) {
        let value = serde_json::from_str(&pair[1]).unwrap_or_else(|_| Value::String(pair[1].clone()));
        patch.insert(pair[0].clone(), value);
    }
    let changed = api.patch("/api/settings", Value::Object(patch)).await?;
    println!("settings changed: version {}", changed["version"]);
    Ok(())
}

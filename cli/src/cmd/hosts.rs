//! `nzj hosts ls|show`: the managed hosts and whether each is in sync with NetBox.

use crate::client::{ApiClient, print_json, text};
use crate::table;

pub async fn hosts_ls(
    api: &ApiClient,
    out_of_sync: bool,
    limit: usize,
    cursor: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let mut query = vec![("limit", limit.to_string())];
    if out_of_sync {
        query.push(("in_sync", "false".to_string()));
    }
    query.extend(cursor.map(|c| ("cursor", c)));
    let page = api.get("/api/hosts", &query).await?;
    if json {
        print_json(&page);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = page["hosts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|h| {
            let in_sync = match h["in_sync"].as_bool() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            let differs: Vec<String> = h["difference"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|d| text(&d["field"]))
                .collect();
            vec![
                text(&h["object"]),
                text(&h["host"]),
                text(&h["hostid"]),
                text(&h["sync_state"]),
                in_sync.to_string(),
                table::time(&h["last_sync_update"]),
                differs.join(", "),
            ]
        })
        .collect();
    out!("{}", table::render(&["OBJECT", "HOST", "HOSTID", "STATE", "IN SYNC", "CHECKED", "DIFFERS IN"], &rows));
    if let Some(next) = page["next_cursor"].as_str() {
        outln!("more: nzj hosts ls --cursor {next}");
    }
    Ok(())
}

pub async fn hosts_show(api: &ApiClient, object: &str) -> anyhow::Result<()> {
    print_json(&api.get(&format!("/api/hosts/{object}"), &[]).await?);
    Ok(())
}

//! A NetBox 4.x REST client: what host jobs and syncs read. Token `Authorization: Token <40>` (v1)
//! or `Bearer nbt_<key>.<token>` (v2), only the fields the desired host needs, pages of 1000,
//! timeouts, typed errors that say whether a retry can help.

use nzj_core::Secret;
use nzj_core::netbox::{ObjectKind, ObjectRef, SitePlace};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The fields of a VM the desired host is computed from.
pub const FIELDS: &str = "id,name,status,site,role,platform,tenant,device_type,cluster,tags,primary_ip4,primary_ip6,serial,asset_tag,config_context,custom_fields,last_updated";

/// The fields read of `kind`: a device has an out-of-band IP and a location as well.
pub fn fields(kind: ObjectKind) -> String {
    fields_with(kind, &[])
}

/// The fields read of `kind` and `extra` REST fields (the ones templates read as `netbox.<field>`).
pub fn fields_with(kind: ObjectKind, extra: &[String]) -> String {
    let mut fields = match kind {
        ObjectKind::Device => format!("{FIELDS},oob_ip,location"),
        ObjectKind::VirtualMachine => FIELDS.to_string(),
    };
    for field in extra.iter().filter(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
        if !fields.split(',').any(|f| f == field) {
            fields.push(',');
            fields.push_str(field);
        }
    }
    fields
}

/// NetBox's largest page.
pub const PAGE_SIZE: usize = 1000;

/// Ids per request when objects are read by id (`?id=1&id=2...`): a URL of a few KB at most.
pub const IDS_PER_REQUEST: usize = 200;

#[derive(Debug, Clone)]
pub struct NetboxClientConfig {
    /// NetBox's base URL, e.g. `https://netbox.example`.
    pub url: String,
    pub token: Secret,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum NetboxError {
    #[error("NetBox {path}: no answer: {message}")]
    Transport { path: String, message: String },
    #[error("NetBox {path}: HTTP {status}: {body}")]
    Http { path: String, status: u16, body: String },
    #[error("NetBox refused the token (NZJ_NETBOX_TOKEN): HTTP {status}")]
    Auth { status: u16 },
    /// A write's precondition failed (HTTP 412): the object changed since it was read.
    #[error("NetBox {path}: the object changed since it was read (HTTP 412)")]
    Changed { path: String },
    #[error("NetBox {path}: {message}")]
    Protocol { path: String, message: String },
}

impl NetboxError {
    /// Whether the same request may succeed later (network, timeout, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            NetboxError::Transport { .. } => true,
            NetboxError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

pub struct NetboxClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
    request_timeout: Duration,
    reads: ReadCounters,
}

/// What this client asked of NetBox so far: requests sent and answer bytes read (the bench's
/// figures: a sync that reads only what is in scope reads less).
#[derive(Debug, Default)]
struct ReadCounters {
    requests: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
}

/// [`NetboxClient::reads`]: requests sent and answer bytes read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetboxReads {
    pub requests: u64,
    pub bytes: u64,
}

/// How much longer NetBox may take per object of a bulk write than for one request: it saves,
/// logs and queues webhooks for each (NetBox 4.2 took 37 s for 1,000 devices on a busy 2-core
/// machine, past the 30 s default).
pub const BULK_WRITE_TIME_PER_OBJECT: Duration = Duration::from_millis(100);

fn api_path(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Device => "/api/dcim/devices/",
        ObjectKind::VirtualMachine => "/api/virtualization/virtual-machines/",
    }
}

/// NetBox's weak ETag of an object last changed at `last_updated` (as its REST API shows the
/// time): `W/"<the time in UTC, Python's isoformat>"`, microseconds only when there are any.
pub fn etag_of(last_updated: &str) -> Option<String> {
    let time = chrono::DateTime::parse_from_rfc3339(last_updated).ok()?.with_timezone(&chrono::Utc);
    let format =
        if time.timestamp_subsec_micros() == 0 { "%Y-%m-%dT%H:%M:%S+00:00" } else { "%Y-%m-%dT%H:%M:%S%.6f+00:00" };
    Some(format!("W/\"{}\"", time.format(format)))
}

/// One object's custom fields to write, and when NetBox last changed the object as read (the
/// precondition of a single object's write).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldWrite {
    pub id: u64,
    pub fields: serde_json::Map<String, Value>,
    pub last_updated: Option<String>,
}

impl NetboxClient {
    pub fn new(config: NetboxClientConfig) -> Result<Self, NetboxError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| NetboxError::Protocol { path: String::new(), message: e.to_string() })?;
        Ok(NetboxClient {
            http,
            base: config.url.trim_end_matches('/').to_string(),
            token: config.token,
            request_timeout: config.request_timeout,
            reads: ReadCounters::default(),
        })
    }

    /// Requests sent and answer bytes read since this client was made.
    pub fn reads(&self) -> NetboxReads {
        use std::sync::atomic::Ordering::Relaxed;
        NetboxReads { requests: self.reads.requests.load(Relaxed), bytes: self.reads.bytes.load(Relaxed) }
    }

    fn authorization(&self) -> String {
        let token = self.token.expose();
        if token.starts_with("nbt_") { format!("Bearer {token}") } else { format!("Token {token}") }
    }

    /// GET `path` with `query`; `Ok(None)` on 404.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Option<Value>, NetboxError> {
        self.send(reqwest::Method::GET, path, query, None).await
    }

    /// `method` on `path` with `query` and a JSON `body`; `Ok(None)` on 404.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, NetboxError> {
        self.send_within(method, path, query, body, self.request_timeout, None).await
    }

    /// As [`NetboxClient::send`], allowing the answer `timeout`, with an `If-Match` precondition.
    async fn send_within(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        timeout: Duration,
        if_match: Option<String>,
    ) -> Result<Option<Value>, NetboxError> {
        let transport = |e: reqwest::Error| NetboxError::Transport {
            path: path.to_string(),
            message: if e.is_timeout() { "timed out".into() } else { e.to_string() },
        };
        let mut request = self.http.request(method, format!("{}{path}", self.base)).query(query).timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(etag) = if_match {
            request = request.header("If-Match", etag);
        }
        self.reads.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = request
            .header("Authorization", self.authorization())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if status == 401 || status == 403 {
            return Err(NetboxError::Auth { status });
        }
        if status == 412 {
            return Err(NetboxError::Changed { path: path.to_string() });
        }
        let text = response.text().await.map_err(transport)?;
        self.reads.bytes.fetch_add(text.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if !(200..300).contains(&status) {
            return Err(NetboxError::Http { path: path.to_string(), status, body: text.chars().take(300).collect() });
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| NetboxError::Protocol { path: path.to_string(), message: format!("answer is not JSON: {e}") })
    }

    /// The current state of one device or VM; `None` if NetBox no longer has it.
    pub async fn get_object(&self, object: ObjectRef) -> Result<Option<Value>, NetboxError> {
        self.get_object_with(object, &[]).await
    }

    /// The same, with `extra` REST fields.
    pub async fn get_object_with(&self, object: ObjectRef, extra: &[String]) -> Result<Option<Value>, NetboxError> {
        let path = format!("{}{}/", api_path(object.kind), object.id);
        self.get(&path, &[("fields", fields_with(object.kind, extra))]).await
    }

    /// Up to `limit` devices or VMs with ids above `after_id`, in id order, with only the needed
    /// fields, and how many there are from `after_id` on. Keyset paging stays exact while NetBox
    /// changes underneath, where offsets would skip or repeat objects.
    pub async fn list_page(
        &self,
        kind: ObjectKind,
        after_id: u64,
        limit: usize,
        extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<(Vec<Value>, Option<u64>), NetboxError> {
        let mut query = vec![
            ("fields", fields_with(kind, extra)),
            ("ordering", "id".to_string()),
            ("id__gt", after_id.to_string()),
            ("limit", limit.clamp(1, PAGE_SIZE).to_string()),
        ];
        query.extend(filters.iter().cloned());
        self.list(kind, &query).await
    }

    /// One list request of devices or VMs: the objects of the page, and how many NetBox counts.
    async fn list(&self, kind: ObjectKind, query: &[(&str, String)]) -> Result<(Vec<Value>, Option<u64>), NetboxError> {
        let mut page = self.get(api_path(kind), query).await?.unwrap_or(Value::Null);
        let Value::Array(results) = page["results"].take() else {
            return Err(NetboxError::Protocol {
                path: api_path(kind).into(),
                message: "answer without results".into(),
            });
        };
        Ok((results, page["count"].as_u64()))
    }

    /// The slug of the tag whose slug or name is `tag`, if NetBox has one (list filters take slugs).
    pub async fn tag_slug(&self, tag: &str) -> Result<Option<String>, NetboxError> {
        for by in ["slug", "name"] {
            let query = [(by, tag.to_string()), ("limit", "1".to_string()), ("fields", "slug".to_string())];
            let page = self.get("/api/extras/tags/", &query).await?.unwrap_or(Value::Null);
            if let Some(slug) = page["results"][0]["slug"].as_str() {
                return Ok(Some(slug.to_string()));
            }
        }
        Ok(None)
    }

    /// How many devices or VMs pass `filters` (one request, no objects read).
    pub async fn count(&self, kind: ObjectKind, filters: &[(&'static str, String)]) -> Result<u64, NetboxError> {
        let mut query = vec![("fields", "id".to_string()), ("limit", "1".to_string())];
        query.extend(filters.iter().cloned());
        let (_, count) = self.list(kind, &query).await?;
        count.ok_or_else(|| NetboxError::Protocol {
            path: api_path(kind).into(),
            message: "answer without a count".into(),
        })
    }

    /// The devices or VMs with these ids that NetBox has and that pass `filters` (the others are
    /// gone, or filtered out), with only the needed fields: one request per [`IDS_PER_REQUEST`] ids.
    pub async fn objects_by_id(
        &self,
        kind: ObjectKind,
        ids: &[u64],
        extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<Vec<Value>, NetboxError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let mut query = vec![
                ("fields", fields_with(kind, extra)),
                ("ordering", "id".to_string()),
                ("limit", chunk.len().to_string()),
            ];
            query.extend(chunk.iter().map(|id| ("id", id.to_string())));
            query.extend(filters.iter().cloned());
            found.extend(self.list(kind, &query).await?.0);
        }
        Ok(found)
    }

    /// Sets custom fields of objects of `kind`: one PATCH of the object for one, NetBox's bulk
    /// PATCH (a list) for more (at most a page of them at once, as the sync sends them). NetBox
    /// saves the whole object on a PATCH, so a write could undo a change made at the same moment:
    /// a single object's write carries `If-Match` with the `last_updated` it was computed from
    /// (NetBox 4.6 and later check it, under a row lock), and [`NetboxError::Changed`] says the
    /// object changed since. NetBox drops a write to a field its API may not change
    /// (`ui_editable: no`) without an error, so the answer is checked: a value not taken is an
    /// error naming the field.
    pub async fn write_custom_fields(&self, kind: ObjectKind, updates: &[FieldWrite]) -> Result<(), NetboxError> {
        let patch = |w: &FieldWrite| serde_json::json!({"id": w.id, "custom_fields": w.fields});
        let query = [("fields", "id,custom_fields".to_string())];
        let answer = match updates {
            [] => return Ok(()),
            [one] => {
                let path = format!("{}{}/", api_path(kind), one.id);
                let if_match = one.last_updated.as_deref().and_then(etag_of);
                let timeout = self.request_timeout;
                let written = self
                    .send_within(reqwest::Method::PATCH, &path, &query, Some(&patch(one)), timeout, if_match)
                    .await?;
                Value::Array(written.into_iter().collect())
            }
            many => {
                let body = Value::Array(many.iter().map(patch).collect());
                let timeout = self.request_timeout + BULK_WRITE_TIME_PER_OBJECT * many.len() as u32;
                self.send_within(reqwest::Method::PATCH, api_path(kind), &query, Some(&body), timeout, None)
                    .await?
                    .unwrap_or_default()
            }
        };
        let taken: std::collections::HashMap<u64, &Value> = answer
            .as_array()
            .map(|a| a.iter().filter_map(|o| Some((o["id"].as_u64()?, &o["custom_fields"]))).collect())
            .unwrap_or_default();
        for FieldWrite { id, fields, .. } in updates {
            let Some(have) = taken.get(id) else {
                return Err(NetboxError::Protocol {
                    path: api_path(kind).into(),
                    message: format!("object {id} missing from the answer"),
                });
            };
            if let Some((name, _)) = fields.iter().find(|(name, value)| have.get(name.as_str()) != Some(*value)) {
                return Err(NetboxError::Protocol {
                    path: api_path(kind).into(),
                    message: format!(
                        "NetBox did not take custom field {name:?} of object {id}: does it exist for this object type, and is it editable through the API (not ui_editable: no)? `nzj netbox setup` makes it so"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Adds journal entries (object, NetBox kind, text): one POST, a list for more than one.
    pub async fn add_journal_entries(&self, entries: &[(ObjectRef, &str, String)]) -> Result<(), NetboxError> {
        let entry = |(object, kind, text): &(ObjectRef, &str, String)| serde_json::json!({"assigned_object_type": object.kind.as_str(), "assigned_object_id": object.id, "kind": kind, "comments": text});
        let body = match entries {
            [] => return Ok(()),
            [one] => entry(one),
            many => Value::Array(many.iter().map(entry).collect()),
        };
        self.send(reqwest::Method::POST, "/api/extras/journal-entries/", &[("fields", "id".into())], Some(&body))
            .await?;
        Ok(())
    }

    /// The object named `name` at the list endpoint `path` (custom fields, webhooks, event rules).
    pub async fn find_named(&self, path: &str, name: &str) -> Result<Option<Value>, NetboxError> {
        let page = self.get(path, &[("name", name.to_string()), ("limit", "2".into())]).await?.unwrap_or(Value::Null);
        let results = page["results"]
            .as_array()
            .ok_or_else(|| NetboxError::Protocol { path: path.into(), message: "answer without results".into() })?;
        Ok(results.iter().find(|r| r["name"] == name).cloned())
    }

    /// Creates an object at the list endpoint `path`; NetBox's answer.
    pub async fn create(&self, path: &str, body: &Value) -> Result<Value, NetboxError> {
        self.send(reqwest::Method::POST, path, &[], Some(body)).await.map(Option::unwrap_or_default)
    }

    /// Changes the object at `path` (its own URL) to have `body`'s fields.
    pub async fn update(&self, path: &str, body: &Value) -> Result<Value, NetboxError> {
        self.send(reqwest::Method::PATCH, path, &[], Some(body)).await.map(Option::unwrap_or_default)
    }

    /// Every site's region and site group with their parents: three lists (sites, regions, site
    /// groups) of a few fields each, read only when a template needs them.
    pub async fn site_places(&self) -> Result<BTreeMap<u64, SitePlace>, NetboxError> {
        let sites = self.list_all("/api/dcim/sites/", "id,region,group").await?;
        let regions = self.list_all("/api/dcim/regions/", "id,name,parent").await?;
        let groups = self.list_all("/api/dcim/site-groups/", "id,name,parent").await?;
        Ok(SitePlace::of_sites(&sites, &regions, &groups))
    }

    /// Every object of a NetBox list endpoint, `fields` only, in pages of [`PAGE_SIZE`].
    async fn list_all(&self, path: &str, fields: &str) -> Result<Vec<Value>, NetboxError> {
        let mut objects = Vec::new();
        loop {
            let query = [
                ("fields", fields.to_string()),
                ("ordering", "id".to_string()),
                ("limit", PAGE_SIZE.to_string()),
                ("offset", objects.len().to_string()),
            ];
            let page = self.get(path, &query).await?.unwrap_or(Value::Null);
            let Some(results) = page["results"].as_array() else {
                return Err(NetboxError::Protocol { path: path.into(), message: "answer without results".into() });
            };
            let got = results.len();
            objects.extend(results.iter().cloned());
            if got < PAGE_SIZE || page["next"].is_null() {
                return Ok(objects);
            }
        }
    }

    /// Every device or VM, in pages of [`PAGE_SIZE`] with only the needed fields; `filters` are
    /// NetBox query filters such as `("status", "active")`.
    pub async fn list_objects(&self, kind: ObjectKind, filters: &[(&str, String)]) -> Result<Vec<Value>, NetboxError> {
        let path = api_path(kind);
        let mut objects = Vec::new();
        loop {
            let mut query =
                vec![("fields", fields(kind)), ("limit", PAGE_SIZE.to_string()), ("offset", objects.len().to_string())];
            query.extend(filters.iter().cloned());
            let page = self.get(path, &query).await?.unwrap_or(Value::Null);
            let results = page["results"].as_array().cloned().unwrap_or_default();
            let got = results.len();
            objects.extend(results);
            if got < PAGE_SIZE || page["next"].is_null() {
                return Ok(objects);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_is_netboxs_own_from_the_time_its_api_shows() {
        assert_eq!(etag_of("2026-12-05T14:57:22.113973Z").unwrap(), r#"W/"2026-12-05T14:57:22.113973+00:00""#);
        assert_eq!(etag_of("2026-12-05T15:57:22.1+01:00").unwrap(), r#"W/"2026-12-05T14:57:22.100000+00:00""#);
        assert_eq!(etag_of("2026-12-05T14:57:22Z").unwrap(), r#"W/"2026-12-05T14:57:22+00:00""#);
        assert_eq!(etag_of("yesterday"), None);
    }

    #[test]
    fn extra_fields_are_added_once_and_only_when_they_are_field_names() {
        assert_eq!(fields_with(ObjectKind::VirtualMachine, &[]), FIELDS);
        let extra = ["rack".to_string(), "site".into(), "a,b".into(), "x&y=1".into(), String::new()];
        assert_eq!(fields_with(ObjectKind::Device, &extra), format!("{FIELDS},oob_ip,location,rack"));
    }
}

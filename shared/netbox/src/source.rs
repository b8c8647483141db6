//! The NetBox port: what the jobs read from NetBox (one object's current state, pages of objects
//! in id order), implemented by the REST client and, for tests and benchmarks, by an in-memory
//! NetBox behind the `test-util` feature.

use crate::client::{FieldWrite, NetboxClient, NetboxError};
use async_trait::async_trait;
use nzj_core::netbox::{ObjectKind, ObjectRef, SitePlace};
use serde_json::Value;
use std::collections::BTreeMap;

/// The objects of some ids as an operator's scope filter sees them.
#[derive(Debug, Default)]
pub struct InScope {
    /// Those that pass the filter, as read.
    pub passing: Vec<Value>,
    /// Ids NetBox has but the filter leaves out; an id in neither list is gone from NetBox.
    pub outside: Vec<u64>,
}

/// Reads the `kind` objects with these `ids` through the scope `filter`: NetBox evaluates it (only
/// NetBox can: regions and groups nest). What it leaves out is asked once more without the filter,
/// ids only, to tell an object out of scope from one gone; that second request is made only with a
/// filter and only for what the first did not return. The sync's last step and a host job's round
/// both read by id this way.
pub async fn objects_in_scope(
    netbox: &dyn NetboxSource,
    kind: ObjectKind,
    ids: &[u64],
    extra: &[String],
    filter: &[(&'static str, String)],
) -> Result<InScope, NetboxError> {
    let passing = netbox.objects(kind, ids, extra, filter).await?;
    let read: std::collections::HashSet<u64> = passing.iter().filter_map(|o| o["id"].as_u64()).collect();
    let missing: Vec<u64> = ids.iter().filter(|id| !read.contains(id)).copied().collect();
    let outside = if filter.is_empty() || missing.is_empty() {
        Vec::new()
    } else {
        let found = netbox.objects(kind, &missing, &["id".to_string()], &[]).await?;
        found.iter().filter_map(|o| o["id"].as_u64()).collect()
    };
    Ok(InScope { passing, outside })
}

/// Where jobs read NetBox.
#[async_trait]
pub trait NetboxSource: Send + Sync {
    /// The current state of one device or VM; `None` if NetBox no longer has it. `extra` names
    /// REST fields to read beside the ones the product always reads (what templates use).
    async fn get_object(&self, object: ObjectRef, extra: &[String]) -> Result<Option<Value>, NetboxError>;

    /// Up to `limit` objects of `kind` with ids above `after_id` that pass `filters` (NetBox list
    /// filters: `status__n`, `status`), in id order, and how many pass from `after_id` on (if
    /// NetBox says); `extra` as for [`NetboxSource::get_object`].
    async fn page(
        &self,
        kind: ObjectKind,
        after_id: u64,
        limit: usize,
        extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<(Vec<Value>, Option<u64>), NetboxError>;

    /// The objects of `kind` with these ids that NetBox has (the others are gone).
    async fn objects(
        &self,
        kind: ObjectKind,
        ids: &[u64],
        extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<Vec<Value>, NetboxError>;

    /// How many objects of `kind` pass `filters`.
    async fn count(&self, kind: ObjectKind, filters: &[(&'static str, String)]) -> Result<u64, NetboxError>;

    /// The slug of the tag whose slug or name is `tag`, if NetBox has it.
    async fn tag_slug(&self, tag: &str) -> Result<Option<String>, NetboxError>;

    /// Every site's region and site group, each with its parents, by site id.
    async fn site_places(&self) -> Result<BTreeMap<u64, SitePlace>, NetboxError>;

    /// Sets custom fields of objects of `kind` (id -> fields): one request, whatever the count
    /// (NetBox's bulk form for more than one). The product's write-back (docs/product.md §3.4).
    async fn write_custom_fields(&self, kind: ObjectKind, updates: &[FieldWrite]) -> Result<(), NetboxError>;

    /// Adds journal entries (object, NetBox kind, text) in one request.
    async fn add_journal_entries(&self, entries: &[(ObjectRef, &str, String)]) -> Result<(), NetboxError>;
}

#[async_trait]
impl NetboxSource for NetboxClient {
    async fn get_object(&self, object: ObjectRef, extra: &[String]) -> Result<Option<Value>, NetboxError> {
        NetboxClient::get_object_with(self, object, extra).await
    }

    async fn page(
        &self,
        kind: ObjectKind,
        after_id: u64,
        limit: usize,
        extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<(Vec<Value>, Option<u64>), NetboxError> {
        self.list_page(kind, after_id, limit, extra, filters).await
    }

    async fn objects(
        &self,
        kind: ObjectKind,
        ids: &[u64],
        extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<Vec<Value>, NetboxError> {
        self.objects_by_id(kind, ids, extra, filters).await
    }

    async fn count(&self, kind: ObjectKind, filters: &[(&'static str, String)]) -> Result<u64, NetboxError> {
        NetboxClient::count(self, kind, filters).await
    }

    async fn tag_slug(&self, tag: &str) -> Result<Option<String>, NetboxError> {
        NetboxClient::tag_slug(self, tag).await
    }

    async fn site_places(&self) -> Result<BTreeMap<u64, SitePlace>, NetboxError> {
        NetboxClient::site_places(self).await
    }

    async fn write_custom_fields(&self, kind: ObjectKind, updates: &[FieldWrite]) -> Result<(), NetboxError> {
        NetboxClient::write_custom_fields(self, kind, updates).await
    }

    async fn add_journal_entries(&self, entries: &[(ObjectRef, &str, String)]) -> Result<(), NetboxError> {
        NetboxClient::add_journal_entries(self, entries).await
    }
}

/// NetBox objects held in memory and paged as NetBox pages them (by id, per kind): for tests and
/// benchmarks, where no NetBox runs.
#[cfg(any(test, feature = "test-util"))]
#[derive(Default)]
pub struct NetboxInMemory(pub std::sync::Mutex<std::collections::BTreeMap<ObjectRef, Value>>, pub InMemoryExtra);

/// The in-memory NetBox's sites, regions and site groups (NetBox's list representation, as
/// [`NetboxClient::site_places`] reads them), and how many page and site reads it answered.
#[cfg(any(test, feature = "test-util"))]
#[derive(Default)]
pub struct InMemoryExtra {
    pub sites: std::sync::Mutex<[Vec<Value>; 3]>,
    pub page_reads: std::sync::atomic::AtomicUsize,
    pub site_reads: std::sync::atomic::AtomicUsize,
    /// Each write request's number of objects, in order.
    pub writes: std::sync::Mutex<Vec<usize>>,
    /// When set, writes fail as an unreachable NetBox does.
    pub refuse_writes: std::sync::atomic::AtomicBool,
    /// How many objects the pages handed out in all.
    pub listed: std::sync::atomic::AtomicUsize,
    /// Journal entries added: (object, kind, text), in order.
    pub journal: std::sync::Mutex<Vec<(ObjectRef, String, String)>>,
}

#[cfg(any(test, feature = "test-util"))]
impl NetboxInMemory {
    /// Objects in their REST representation (`id` set).
    pub fn new(kind: ObjectKind, objects: impl IntoIterator<Item = Value>) -> NetboxInMemory {
        let objects = objects.into_iter().map(|o| (ObjectRef { kind, id: o["id"].as_u64().expect("an id") }, o));
        NetboxInMemory(std::sync::Mutex::new(objects.collect()), InMemoryExtra::default())
    }

    pub fn objects(&self) -> Vec<ObjectRef> {
        self.0.lock().expect("objects").keys().copied().collect()
    }
}

/// Whether an object passes NetBox list filters as NetBox applies them: `status` keeps the listed
/// statuses, `status__n` drops them, `tag` keeps those with the tag (by slug), and a related
/// object's filter (`site`, `tenant`, `role`, `platform`, `cluster`: by slug; `<name>_id`: by id;
/// `__n`: not) keeps those it names. The in-memory NetBox knows no other filter (regions and
/// groups nest: the tests that use them run on a real NetBox).
#[cfg(any(test, feature = "test-util"))]
fn passes(object: &Value, filters: &[(&'static str, String)]) -> bool {
    let status = object["status"]["value"].as_str().unwrap_or_default();
    let wanted: Vec<&str> = filters.iter().filter(|(k, _)| *k == "status").map(|(_, v)| v.as_str()).collect();
    let tagged = |slug: &str| object["tags"].as_array().is_some_and(|tags| tags.iter().any(|t| t["slug"] == slug));
    let related = |key: &str, value: &str| {
        let (field, by_id) = key.strip_suffix("_id").map_or((key, false), |f| (f, true));
        assert!(
            matches!(field, "site" | "tenant" | "role" | "platform" | "cluster"),
            "the in-memory NetBox does not know the filter {key}"
        );
        let related = &object[field];
        if by_id { related["id"].as_u64().is_some_and(|id| id.to_string() == value) } else { related["slug"] == value }
    };
    let others = filters.iter().filter(|(k, _)| !matches!(*k, "status" | "status__n" | "tag"));
    (wanted.is_empty() || wanted.contains(&status))
        && !filters.iter().any(|(k, v)| *k == "status__n" && v == status)
        && filters.iter().filter(|(k, _)| *k == "tag").all(|(_, slug)| tagged(slug))
        && others.into_iter().all(|(k, v)| match k.strip_suffix("__n") {
            Some(key) => !related(key, v),
            None => related(k, v),
        })
}

#[cfg(any(test, feature = "test-util"))]
#[async_trait]
impl NetboxSource for NetboxInMemory {
    /// The whole object, whatever `extra` says (the tests' objects hold only what they need).
    async fn get_object(&self, object: ObjectRef, _extra: &[String]) -> Result<Option<Value>, NetboxError> {
        Ok(self.0.lock().expect("objects").get(&object).cloned())
    }

    async fn page(
        &self,
        kind: ObjectKind,
        after_id: u64,
        limit: usize,
        _extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<(Vec<Value>, Option<u64>), NetboxError> {
        self.1.page_reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let objects = self.0.lock().expect("objects");
        let after: Vec<&Value> = objects
            .range(ObjectRef { kind, id: after_id + 1 }..)
            .take_while(|(o, _)| o.kind == kind)
            .map(|(_, v)| v)
            .filter(|v| passes(v, filters))
            .collect();
        self.1.listed.fetch_add(after.len().min(limit), std::sync::atomic::Ordering::SeqCst);
        Ok((after.iter().take(limit).map(|v| (*v).clone()).collect(), Some(after.len() as u64)))
    }

    async fn objects(
        &self,
        kind: ObjectKind,
        ids: &[u64],
        _extra: &[String],
        filters: &[(&'static str, String)],
    ) -> Result<Vec<Value>, NetboxError> {
        let objects = self.0.lock().expect("objects");
        Ok(ids
            .iter()
            .filter_map(|id| objects.get(&ObjectRef { kind, id: *id }).filter(|v| passes(v, filters)).cloned())
            .collect())
    }

    async fn count(&self, kind: ObjectKind, filters: &[(&'static str, String)]) -> Result<u64, NetboxError> {
        let objects = self.0.lock().expect("objects");
        Ok(objects.iter().filter(|(o, v)| o.kind == kind && passes(v, filters)).count() as u64)
    }

    /// The tags the objects carry are the in-memory NetBox's tags.
    async fn tag_slug(&self, tag: &str) -> Result<Option<String>, NetboxError> {
        let objects = self.0.lock().expect("objects");
        let mut tags = objects.values().flat_map(|o| o["tags"].as_array().cloned().unwrap_or_default());
        Ok(tags.find(|t| t["slug"] == tag || t["name"] == tag).and_then(|t| t["slug"].as_str().map(str::to_string)))
    }

    async fn site_places(&self) -> Result<BTreeMap<u64, SitePlace>, NetboxError> {
        self.1.site_reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let [sites, regions, groups] = &*self.1.sites.lock().expect("sites");
        Ok(SitePlace::of_sites(sites, regions, groups))
    }

    async fn write_custom_fields(&self, kind: ObjectKind, updates: &[FieldWrite]) -> Result<(), NetboxError> {
        if self.1.refuse_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(NetboxError::Transport { path: "write-back".into(), message: "connection refused".into() });
        }
        self.1.writes.lock().expect("writes").push(updates.len());
        let mut objects = self.0.lock().expect("objects");
        for FieldWrite { id, fields, .. } in updates {
            if let Some(object) = objects.get_mut(&ObjectRef { kind, id: *id }) {
                for (name, value) in fields {
                    object["custom_fields"][name] = value.clone();
                }
            }
        }
        Ok(())
    }

    async fn add_journal_entries(&self, entries: &[(ObjectRef, &str, String)]) -> Result<(), NetboxError> {
        if self.1.refuse_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(NetboxError::Transport { path: "journal".into(), message: "connection refused".into() });
        }
        let mut journal = self.1.journal.lock().expect("journal");
        journal.extend(entries.iter().map(|(o, k, t)| (*o, k.to_string(), t.clone())));
        Ok(())
    }
}

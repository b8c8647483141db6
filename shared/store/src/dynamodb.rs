//! The AWS store: one DynamoDB table.
//!
//! Items: `pk = job#<id>` (job records, with `list_pk = job#<name>`, `list_sk = <id>`, `status`,
//! `version`, `expires_at` as attributes for the index, filters and TTL), and versioned documents
//! `pk = schedule#<job>` (one per system job) and `pk = cache#<kind>` (imported Zabbix settings).
//! The record itself is the JSON `body`, the same bytes the embedded store keeps. Index
//! `by_list` (`list_pk`, `list_sk`) lists a job's runs newest first; ids are UUIDv7, so their
//! order is creation order, and a time range is a key range. Index `by_group` (`group_pk`,
//! `list_sk`) lists one NetBox object's jobs; status, user and trigger filter what an index reads
//! (a Query, never a Scan). Single writes are `PutItem` with a condition on `version`; several
//! are one `TransactWriteItems`.

use crate::{
    DELETION_WINDOW_KEY, FAILED_HOSTS, HOST_CONFIG_LIST, JobPage, JobQuery, JobStore, MAINTENANCE_LIST, Prepared,
    SETTINGS_KEY, SYNC_RUN_KEY, SYNC_SCHEDULE_KEY, StoreError, Write, cache_key, decode_versioned, encode,
    host_config_key, maintenance_key, schedule_key,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use nzj_core::breaker::DeletionWindow;
use nzj_core::host_config::HostConfig;
use nzj_core::maintenance::Maintenance;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_core::sync::SyncRun;
use nzj_core::sync_schedule::SyncSchedule;
use nzj_core::zabbix_cache::{CacheKind, CacheSnapshot};
use nzj_core::{JobId, JobName, JobRecord, ScheduleEntry, SystemJob};
use std::collections::HashMap;

pub const LIST_INDEX: &str = "by_list";
/// Items of one group, in `list_sk` order: a NetBox object's jobs, newest first (`group_pk` =
/// `dcim.device/12`, `list_sk` = id), and the host configs whose last job failed (`group_pk` =
/// [`FAILED_HOSTS`], `list_sk` = their key). Sparse: an item outside every group is not in it.
pub const GROUP_INDEX: &str = "by_group";
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

fn unavailable<E: ProvideErrorMetadata + std::fmt::Debug, R>(e: SdkError<E, R>) -> StoreError {
    match e.as_service_error() {
        Some(service) => StoreError::Unavailable(format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("")
        )),
        None => StoreError::Unavailable(format!("{e}")),
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn job_pk(id: &JobId) -> String {
    format!("job#{id}")
}

fn job_list_pk(name: JobName) -> String {
    format!("job#{name}")
}

/// The item format this build writes, in every item's `schema` attribute. Readers accept every
/// format up to theirs: an item without the attribute is format 0 (written before it existed; its
/// body is the same JSON). A newer item is refused, never misread. Bump it when an item's
/// attributes or body change in a way older readers would misread, and keep reading the old one.
pub const ITEM_SCHEMA: u64 = 1;

fn body_and_version(item: &Item) -> Result<(&str, u64), StoreError> {
    let schema = match item.get("schema") {
        None => 0,
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Corrupt("item with a malformed schema attribute".into()))?,
    };
    if schema > ITEM_SCHEMA {
        return Err(StoreError::Corrupt(format!(
            "item written by a newer nzj (schema {schema}; this one reads up to {ITEM_SCHEMA}): upgrade nzj"
        )));
    }
    let body =
        item.get("body").and_then(|v| v.as_s().ok()).ok_or_else(|| StoreError::Corrupt("item without body".into()))?;
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("item without version".into()))?;
    Ok((body, version))
}

fn job_from_item(item: &Item) -> Result<JobRecord, StoreError> {
    let (body, version) = body_and_version(item)?;
    decode_versioned(body, version, |job: &mut JobRecord, v| job.version = v)
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbStore { client, table: table.into() }
    }

    /// A client configured the standard way (region, credentials, `AWS_ENDPOINT_URL`).
    pub async fn from_env(table: impl Into<String>) -> Self {
        DynamoDbStore::with_config(&aws_config::load_from_env().await, table)
    }

    /// A client of an SDK configuration the caller loaded already (a Lambda's, shared by its clients).
    pub fn with_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        DynamoDbStore::new(Client::new(config), table)
    }

    /// Creates the table with its index and TTL if it does not exist (local peers and tests;
    /// on AWS `template.yaml` creates it).
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("key schema")
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition")
        };
        let index = |name: &str, hash: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash))
                .key_schema(key("list_sk", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("index")
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("list_pk"))
            .attribute_definitions(attr("list_sk"))
            .attribute_definitions(attr("group_pk"))
            .key_schema(key("pk", KeyType::Hash))
            .global_secondary_indexes(index(LIST_INDEX, "list_pk"))
            .global_secondary_indexes(index(GROUP_INDEX, "group_pk"))
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
                // A table made by an older nzj: add the object index it lacks.
                let table = self.client.describe_table().table_name(&self.table).send().await.map_err(unavailable)?;
                let indexes = table.table().map(|t| t.global_secondary_indexes()).unwrap_or_default();
                if !indexes.iter().any(|i| i.index_name() == Some(GROUP_INDEX)) {
                    let create = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                        .index_name(GROUP_INDEX)
                        .key_schema(key("group_pk", KeyType::Hash))
                        .key_schema(key("list_sk", KeyType::Range))
                        .projection(Projection::builder().projection_type(ProjectionType::All).build())
                        .build()
                        .expect("index");
                    let update = aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder().create(create).build();
                    self.client
                        .update_table()
                        .table_name(&self.table)
                        .attribute_definitions(attr("group_pk"))
                        .attribute_definitions(attr("list_sk"))
                        .global_secondary_index_updates(update)
                        .send()
                        .await
                        .map_err(unavailable)?;
                }
                return Ok(());
            }
            Err(e) => return Err(unavailable(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(TTL_ATTRIBUTE).enabled(true).build().expect("ttl"),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// One write as a transaction item: a conditional put, or a conditional delete.
    fn item_for(&self, write: Write) -> Result<TransactWriteItem, StoreError> {
        let build_error = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let (item, expected) = match write.prepare()? {
            Prepared::Job { record, expected_version } => {
                let mut item = HashMap::from([
                    ("pk".to_string(), s(job_pk(&record.id))),
                    ("list_pk".to_string(), s(job_list_pk(record.name))),
                    ("list_sk".to_string(), s(record.id.to_string())),
                    ("status".to_string(), s(record.status.as_str())),
                    ("version".to_string(), n(record.version)),
                    ("schema".to_string(), n(ITEM_SCHEMA)),
                    (TTL_ATTRIBUTE.to_string(), n(record.expires_at)),
                    ("user".to_string(), s(record.user.clone())),
                    ("trigger".to_string(), s(record.trigger.as_str())),
                    ("body".to_string(), s(encode(&record)?)),
                ]);
                if let Some(object) = &record.object {
                    item.insert("group_pk".to_string(), s(object.clone()));
                }
                (item, expected_version)
            }
            Prepared::Document(doc) => {
                let mut item = HashMap::from([
                    ("pk".to_string(), s(doc.key.clone())),
                    ("version".to_string(), n(doc.expected_version + 1)),
                    ("schema".to_string(), n(ITEM_SCHEMA)),
                    ("body".to_string(), s(doc.body)),
                ]);
                if let Some(list) = doc.list {
                    item.insert("list_pk".to_string(), s(list));
                    item.insert("list_sk".to_string(), s(doc.key));
                }
                if let Some(group) = doc.group {
                    item.insert("group_pk".to_string(), s(group));
                }
                (item, doc.expected_version)
            }
            Prepared::Delete { key, expected_version } => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .key("pk", s(key))
                    .condition_expression("version = :expected")
                    .expression_attribute_values(":expected", n(expected_version))
                    .build()
                    .map_err(build_error)?;
                return Ok(TransactWriteItem::builder().delete(delete).build());
            }
        };
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if expected == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :expected").expression_attribute_values(":expected", n(expected))
        };
        Ok(TransactWriteItem::builder().put(put.build().map_err(build_error)?).build())
    }

    /// Documents of one list in key order, after the key `after`, at most `limit`, in as many
    /// queries as pages.
    async fn list_documents(
        &self,
        list: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.list_partition(LIST_INDEX, "list_pk", list, after, limit).await
    }

    /// The items of one partition of `index` (hash attribute `hash`) in `list_sk` order, after
    /// `after`, at most `limit`: their bodies and versions.
    async fn list_partition(
        &self,
        index: &str,
        hash: &str,
        partition: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut documents = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .expression_attribute_values(":list", s(partition))
                .set_exclusive_start_key(start.take());
            req = match &after {
                Some(after) => req
                    .key_condition_expression(format!("{hash} = :list AND list_sk > :after"))
                    .expression_attribute_values(":after", s(after.clone())),
                None => req.key_condition_expression(format!("{hash} = :list")),
            };
            if limit < usize::MAX {
                req = req.limit((limit - documents.len()).min(1000) as i32);
            }
            let out = req.send().await.map_err(unavailable)?;
            for item in out.items() {
                let (body, version) = body_and_version(item)?;
                documents.push((body.to_string(), version));
            }
            start = out.last_evaluated_key;
            if start.is_none() || documents.len() >= limit {
                return Ok(documents);
            }
        }
    }

    async fn get_document<T: serde::de::DeserializeOwned>(
        &self,
        key: String,
        set_version: impl FnOnce(&mut T, u64),
    ) -> Result<Option<T>, StoreError> {
        let Some(item) = self.get_item(key).await? else { return Ok(None) };
        let (body, version) = body_and_version(&item)?;
        decode_versioned(body, version, set_version).map(Some)
    }

    /// The jobs of one index partition (a name's in `by_list`, an object's or a group's in `by_group`) that
    /// match the query, newest first, until one more than a page match or the partition's range
    /// is read. The time range and cursor are a key range; the other filters narrow what is read.
    async fn query_partition(
        &self,
        index: &str,
        partition: String,
        query: &JobQuery,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let want = query.limit() + 1;
        let hash = if index == GROUP_INDEX { "group_pk" } else { "list_pk" };
        let (lower, upper) = query.id_range();
        let mut values: Item = HashMap::from([(":partition".to_string(), s(partition))]);
        let mut names: HashMap<String, String> = HashMap::new();
        // Newest first: the cursor or `until` bounds the key range; reading stops at `since`.
        let range = match &upper {
            Some(upper) => {
                values.insert(":upper".into(), s(upper.clone()));
                " AND list_sk < :upper"
            }
            None => "",
        };
        let mut filters = Vec::new();
        let mut filter = |attribute: &str, value: String| {
            names.insert(format!("#{attribute}"), attribute.to_string());
            values.insert(format!(":{attribute}"), s(value));
            filters.push(format!("#{attribute} = :{attribute}"));
        };
        if let Some(status) = query.status {
            filter("status", status.to_string());
        }
        if let Some(user) = &query.user {
            filter("user", user.clone());
        }
        if let Some(trigger) = query.trigger {
            filter("trigger", trigger.to_string());
        }
        if index == GROUP_INDEX && (query.name.is_some() || query.kind.is_some()) {
            let listed: Vec<String> = query
                .names()
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    values.insert(format!(":name{i}"), s(job_list_pk(*n)));
                    format!(":name{i}")
                })
                .collect();
            filters.push(format!("list_pk IN ({})", listed.join(", ")));
        }
        let mut jobs = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .scan_index_forward(false)
                .limit(want as i32)
                .key_condition_expression(format!("{hash} = :partition{range}"))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take());
            if !filters.is_empty() {
                req = req.filter_expression(filters.join(" AND ")).set_expression_attribute_names(Some(names.clone()));
            }
            let out = req.send().await.map_err(unavailable)?;
            for item in out.items() {
                let job = job_from_item(item)?;
                if lower.as_ref().is_some_and(|lower| job.id.to_string() < *lower) {
                    return Ok(jobs);
                }
                jobs.push(job);
            }
            start = out.last_evaluated_key;
            if jobs.len() >= want || start.is_none() {
                return Ok(jobs);
            }
        }
    }
}

#[async_trait]
impl JobStore for DynamoDbStore {
    async fn get_job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        self.get_item(job_pk(id)).await?.as_ref().map(job_from_item).transpose()
    }

    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        let mut candidates = Vec::new();
        match &query.object {
            Some(object) => candidates.extend(self.query_partition(GROUP_INDEX, object.clone(), query).await?),
            None => {
                for name in query.names() {
                    candidates.extend(self.query_partition(LIST_INDEX, job_list_pk(name), query).await?);
                }
            }
        }
        Ok(JobPage::from_candidates(candidates, query))
    }

    async fn get_schedule(&self, job: SystemJob) -> Result<Option<ScheduleEntry>, StoreError> {
        self.get_document(schedule_key(job), |e: &mut ScheduleEntry, v| e.version = v).await
    }

    async fn get_cache(&self, kind: CacheKind) -> Result<CacheSnapshot, StoreError> {
        let stored = self.get_document(cache_key(kind), |s: &mut CacheSnapshot, v| s.version = v).await?;
        Ok(stored.unwrap_or_else(|| CacheSnapshot::empty(kind)))
    }

    async fn get_sync_schedule(&self) -> Result<SyncSchedule, StoreError> {
        let stored = self.get_document(SYNC_SCHEDULE_KEY.to_string(), |s: &mut SyncSchedule, v| s.version = v).await?;
        Ok(stored.unwrap_or_default())
    }

    async fn get_sync_run(&self) -> Result<Option<SyncRun>, StoreError> {
        self.get_document(SYNC_RUN_KEY.to_string(), |r: &mut SyncRun, v| r.version = v).await
    }

    async fn get_settings(&self) -> Result<Settings, StoreError> {
        let stored = self.get_document(SETTINGS_KEY.to_string(), |s: &mut Settings, v| s.version = v).await?;
        Ok(stored.unwrap_or_default())
    }

    async fn get_deletion_window(&self) -> Result<DeletionWindow, StoreError> {
        let stored =
            self.get_document(DELETION_WINDOW_KEY.to_string(), |w: &mut DeletionWindow, v| w.version = v).await?;
        Ok(stored.unwrap_or_default())
    }

    async fn get_delivery(&self, key: &str) -> Result<Option<JobId>, StoreError> {
        let Some(item) = self.get_item(crate::delivery_key(key)).await? else { return Ok(None) };
        let (body, _) = body_and_version(&item)?;
        crate::decode(body).map(Some)
    }

    async fn get_maintenance(&self, id: &str) -> Result<Option<Maintenance>, StoreError> {
        self.get_document(maintenance_key(id), |m: &mut Maintenance, v| m.version = v).await
    }

    async fn list_maintenances(&self) -> Result<Vec<Maintenance>, StoreError> {
        let items = self.list_documents(MAINTENANCE_LIST, None, usize::MAX).await?;
        items
            .iter()
            .map(|(body, version)| decode_versioned(body, *version, |m: &mut Maintenance, v| m.version = v))
            .collect()
    }

    async fn get_host_config(&self, object: ObjectRef) -> Result<Option<HostConfig>, StoreError> {
        self.get_document(host_config_key(object), |c: &mut HostConfig, v| c.version = v).await
    }

    async fn list_host_configs(&self, after: Option<ObjectRef>, limit: usize) -> Result<Vec<HostConfig>, StoreError> {
        let items = self.list_documents(HOST_CONFIG_LIST, after.map(host_config_key), limit).await?;
        items
            .iter()
            .map(|(body, version)| decode_versioned(body, *version, |c: &mut HostConfig, v| c.version = v))
            .collect()
    }

    async fn list_failed_hosts(&self, after: Option<ObjectRef>, limit: usize) -> Result<Vec<HostConfig>, StoreError> {
        let items =
            self.list_partition(GROUP_INDEX, "group_pk", FAILED_HOSTS, after.map(host_config_key), limit).await?;
        items
            .iter()
            .map(|(body, version)| decode_versioned(body, *version, |c: &mut HostConfig, v| c.version = v))
            .collect()
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut items = writes.into_iter().map(|w| self.item_for(w)).collect::<Result<Vec<_>, _>>()?;
        // A single put is a PutItem (half the cost of a transaction); anything else is atomic.
        if items.len() == 1 && items[0].put.is_some() {
            let put = items.pop().and_then(|i| i.put).expect("one put");
            let result = self
                .client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_values(put.expression_attribute_values)
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                    Err(StoreError::Conflict)
                }
                Err(e) => Err(unavailable(e)),
            };
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let lost_race = e.as_service_error().is_some_and(transaction_lost_race);
                if lost_race { Err(StoreError::Conflict) } else { Err(unavailable(e)) }
            }
        }
    }

    async fn purge_expired(&self, _now: DateTime<Utc>) -> Result<u64, StoreError> {
        // The table's TTL on `expires_at` deletes expired records (within about 48 hours).
        Ok(0)
    }
}

/// Whether a cancelled transaction failed only because another writer got there first.
fn transaction_lost_race(error: &aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
        return false;
    };
    cancelled
        .cancellation_reasons()
        .iter()
        .filter_map(|r| r.code())
        .any(|code| code == "ConditionalCheckFailed" || code == "TransactionConflict")
}

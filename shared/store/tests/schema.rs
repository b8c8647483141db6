//! Stored data survives an upgrade: an embedded store written before schema versions existed
//! opens with its data and is brought to the current version; a store written by a newer nzj is
//! refused with a message naming it; DynamoDB items of the previous format (no `schema`
//! attribute) are read, and items of a newer format refused, never misread.

use chrono::Utc;
use nzj_core::job::JobOrigin;
use nzj_core::{JobName, JobRecord, Trigger};
use nzj_store::{DynamoDbStore, JobStore, SqliteStore, StoreError, Write};

/// The embedded store's tables as the release before schema versions created them (no
/// `user_version`): a file that release wrote looks like this.
const UNVERSIONED_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (name, id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, id);
CREATE INDEX IF NOT EXISTS jobs_by_expiry ON jobs (expires_at);
CREATE TABLE IF NOT EXISTS documents (key TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL);
";

fn record() -> JobRecord {
    let origin = JobOrigin { trigger: Trigger::Api, user: "ops".into(), object: Some("dcim.device/7".into()) };
    JobRecord::new_pending(JobName::UpdateHost, origin, Utc::now(), chrono::Duration::days(30))
}

fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn an_embedded_store_written_before_schema_versions_opens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nzj.sqlite3");
    let job = record();
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(UNVERSIONED_SCHEMA).unwrap();
        old.execute(
            "INSERT INTO jobs (id, name, status, version, expires_at, body) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
            rusqlite::params![
                job.id.to_string(),
                job.name.as_str(),
                job.status.as_str(),
                job.expires_at,
                serde_json::to_string(&job).unwrap()
            ],
        )
        .unwrap();
        old.execute("INSERT INTO documents (key, version, body) VALUES ('settings', 1, '{}')", []).unwrap();
    }
    assert_eq!(user_version(&path), 0);

    let store = SqliteStore::open(&path).unwrap();
    let read = store.get_job(&job.id).await.unwrap().expect("the job written before the upgrade");
    assert_eq!((&read.id, read.name, &read.user, read.version), (&job.id, job.name, &job.user, 1));
    store.get_settings().await.unwrap();
    assert_eq!(user_version(&path), nzj_store::SQLITE_SCHEMA_VERSION as i64);

    // And it keeps working: a write after the upgrade, and a second open changes nothing.
    let mut next = read.clone();
    next.start(Utc::now(), chrono::Duration::seconds(60)).unwrap();
    store.commit(vec![Write::job(next)]).await.unwrap();
    drop(store);
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.get_job(&job.id).await.unwrap().unwrap().version, 2);
}

#[test]
fn an_embedded_store_from_a_newer_nzj_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nzj.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let error = SqliteStore::open(&path).err().expect("refused").to_string();
    assert!(error.contains("newer nzj") && error.contains("nzj.sqlite3") && error.contains("99"), "{error}");
}

#[tokio::test]
async fn dynamodb_items_of_the_previous_format_are_read_and_newer_ones_refused() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run `make test`, which starts moto");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!("nzj-schema-{}", uuid::Uuid::now_v7());
    let store = DynamoDbStore::new(client.clone(), table.clone());
    store.ensure_table().await.unwrap();
    let job = record();
    store.commit(vec![Write::job(job.clone())]).await.unwrap();
    let key = aws_sdk_dynamodb::types::AttributeValue::S(format!("job#{}", job.id));
    let item = client.get_item().table_name(&table).key("pk", key.clone()).send().await.unwrap();
    assert_eq!(item.item().unwrap()["schema"].as_n().unwrap(), &nzj_store::DYNAMODB_ITEM_SCHEMA.to_string());

    // As the release before the attribute wrote it.
    client
        .update_item()
        .table_name(&table)
        .key("pk", key.clone())
        .update_expression("REMOVE #s")
        .expression_attribute_names("#s", "schema")
        .send()
        .await
        .unwrap();
    assert_eq!(store.get_job(&job.id).await.unwrap().unwrap().user, job.user);

    // As a newer release would write it: refused, not misread.
    client
        .update_item()
        .table_name(&table)
        .key("pk", key)
        .update_expression("SET #s = :v")
        .expression_attribute_names("#s", "schema")
        .expression_attribute_values(":v", aws_sdk_dynamodb::types::AttributeValue::N("99".into()))
        .send()
        .await
        .unwrap();
    match store.get_job(&job.id).await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("newer nzj"), "{message}"),
        other => panic!("a newer item must be refused: {other:?}"),
    }
}

/// The plan SQLite makes for `sql`, as one line.
fn plan(path: &std::path::Path, sql: &str) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
}

#[tokio::test]
async fn the_embedded_stores_listings_by_object_user_trigger_and_failure_read_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nzj.sqlite3");
    SqliteStore::open(&path).unwrap().commit(vec![Write::job(record())]).await.unwrap();
    for (filter, index) in [
        ("json_extract(body, '$.object') = 'dcim.device/7'", "jobs_by_object"),
        ("json_extract(body, '$.user') = 'ops'", "jobs_by_user"),
        ("json_extract(body, '$.trigger') = 'api'", "jobs_by_trigger"),
    ] {
        let plan = plan(&path, &format!("SELECT body FROM jobs WHERE 1 = 1 AND {filter} ORDER BY id DESC LIMIT 51"));
        assert!(plan.contains(index), "{filter}: {plan}");
    }
    let failed = plan(
        &path,
        "SELECT body FROM documents WHERE key > 'hostconfig#' AND key < 'hostconfig$' AND CASE WHEN json_valid(body) THEN json_extract(body, '$.last_failure') END IS NOT NULL ORDER BY key LIMIT 50",
    );
    assert!(failed.contains("documents_failed"), "{failed}");
}

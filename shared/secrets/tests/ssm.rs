//! Secrets from SSM Parameter Store on the real-protocol AWS endpoint the test peers start
//! (`AWS_ENDPOINT_URL`): more than one `GetParameters` page of names, decrypted SecureStrings,
//! and a missing parameter reported by name (not an error), never a value.

use nzj_secrets::{SecretStore, SsmSecrets};
use std::collections::BTreeSet;

async fn ssm() -> aws_sdk_ssm::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run under infra/with-peers.sh");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    aws_sdk_ssm::Client::new(&aws)
}

#[tokio::test]
async fn secrets_are_read_from_ssm_in_pages_and_a_missing_one_is_named() {
    let client = ssm().await;
    let prefix = format!("/nzj-test/{}/", uuid::Uuid::now_v7().simple());
    let mut names = BTreeSet::new();
    for i in 0..12 {
        let name = format!("snmp/device-{i}");
        client
            .put_parameter()
            .name(format!("{prefix}{name}"))
            .value(format!("value-{i}"))
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
        names.insert(name);
    }
    names.insert("snmp/nowhere".into());
    let found = SsmSecrets::new(client, prefix.clone()).lookup(&names).await.unwrap();
    assert_eq!(found.values.0.len(), 12, "two GetParameters pages");
    assert_eq!(found.values.get("snmp/device-11").unwrap().expose(), "value-11");
    assert_eq!(found.missing.keys().collect::<Vec<_>>(), ["snmp/nowhere"]);
    assert!(found.missing["snmp/nowhere"].contains(&format!("{prefix}snmp/nowhere")));
}

#[tokio::test]
async fn an_unreachable_ssm_is_unavailable_not_missing() {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new("test", "test", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let store = SsmSecrets::new(aws_sdk_ssm::Client::new(&aws), "/nzj/");
    let err = store.lookup(&BTreeSet::from(["x".to_string()])).await.unwrap_err();
    assert!(matches!(err, nzj_secrets::SecretsError::Unavailable(_)), "{err:?}");
}

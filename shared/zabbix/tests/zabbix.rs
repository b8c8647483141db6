//! The client against real Zabbix 6.0 and 7.0 APIs (`make test` starts both and sets
//! ZBX60_API_URL/ZBX60_TOKEN and ZBX70_API_URL/ZBX70_TOKEN).

use nzj_core::Secret;
use nzj_zabbix::{ZabbixAuth, ZabbixClient, ZabbixClientConfig, ZabbixError};
use serde_json::json;
use std::time::Duration;

struct Peer {
    url: String,
    token: String,
    major_minor: &'static str,
}

fn peer(prefix: &str, major_minor: &'static str) -> Peer {
    let var = |name: &str| {
        std::env::var(format!("{prefix}_{name}")).unwrap_or_else(|_| {
            panic!("{prefix}_{name} is not set: run `make test`, which starts Zabbix 6.0 and 7.0 (infra/zabbix.sh)")
        })
    };
    Peer { url: var("API_URL"), token: var("TOKEN"), major_minor }
}

fn client(url: &str, auth: ZabbixAuth) -> ZabbixClient {
    ZabbixClient::new(ZabbixClientConfig {
        url: url.to_string(),
        auth,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(60),
    })
    .unwrap()
}

macro_rules! for_each_zabbix {
    ($($name:ident),+ $(,)?) => {
        mod zabbix60 { $( #[tokio::test] async fn $name() { super::$name(super::peer("ZBX60", "6.0")).await } )+ }
        mod zabbix70 { $( #[tokio::test] async fn $name() { super::$name(super::peer("ZBX70", "7.0")).await } )+ }
    };
}

for_each_zabbix!(
    the_version_is_detected_once_and_a_token_authenticates,
    a_password_logs_in_once_per_client,
    a_wrong_token_is_a_clear_permanent_auth_error,
    a_validation_error_keeps_zabbix_code_message_and_data,
);

async fn the_version_is_detected_once_and_a_token_authenticates(peer: Peer) {
    let zbx = client(&peer.url, ZabbixAuth::Token(Secret::new(peer.token)));
    let version = zbx.version().await.unwrap();
    assert!(version.to_string().starts_with(peer.major_minor), "{version}");
    for _ in 0..3 {
        let groups = zbx.call("hostgroup.get", json!({"output": ["groupid", "name"]})).await.unwrap();
        assert!(!groups.as_array().unwrap().is_empty());
    }
    let calls = zbx.calls().snapshot();
    assert_eq!(calls["apiinfo.version"], 1);
    assert_eq!(calls["hostgroup.get"], 3);
    assert!(!calls.contains_key("user.login"));
}

async fn a_password_logs_in_once_per_client(peer: Peer) {
    let auth = ZabbixAuth::Password { user: "Admin".into(), password: Secret::new("zabbix") };
    let zbx = client(&peer.url, auth);
    for _ in 0..3 {
        zbx.call("template.get", json!({"countOutput": true})).await.unwrap();
    }
    let calls = zbx.calls().snapshot();
    assert_eq!(calls["user.login"], 1);
    assert_eq!(calls["apiinfo.version"], 1);
}

async fn a_wrong_token_is_a_clear_permanent_auth_error(peer: Peer) {
    let zbx = client(&peer.url, ZabbixAuth::Token(Secret::new("0".repeat(64))));
    let err = zbx.call("host.get", json!({"limit": 1})).await.unwrap_err();
    assert!(matches!(err, ZabbixError::Auth { what: "NZJ_ZABBIX_TOKEN", .. }), "{err:?}");
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains(&"0".repeat(64)), "the token must not appear in errors");
}

async fn a_validation_error_keeps_zabbix_code_message_and_data(peer: Peer) {
    let zbx = client(&peer.url, ZabbixAuth::Token(Secret::new(peer.token)));
    let err = zbx.call("host.create", json!({"host": "nzj-invalid-no-groups"})).await.unwrap_err();
    match &err {
        ZabbixError::Api { method, code, message, data } => {
            assert_eq!(method, "host.create");
            assert_eq!(*code, -32602);
            assert_eq!(message, "Invalid params.");
            assert!(!data.is_empty());
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_auth_error() {
    // One bad login per run on one instance: five in a row would lock the Admin account for 30 s.
    let peer = peer("ZBX70", "7.0");
    let auth = ZabbixAuth::Password { user: "Admin".into(), password: Secret::new("wrong-password") };
    let err = client(&peer.url, auth).call("host.get", json!({})).await.unwrap_err();
    assert!(matches!(err, ZabbixError::Auth { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong-password"));
}

#[tokio::test]
async fn an_unreachable_zabbix_is_a_transient_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let zbx = client(&format!("http://127.0.0.1:{port}/api_jsonrpc.php"), ZabbixAuth::Token(Secret::new("x")));
    let err = zbx.call("host.get", json!({})).await.unwrap_err();
    assert!(matches!(err, ZabbixError::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
}

//! A connection cut in the middle of Zabbix's answer is a transport failure: transient (retried,
//! dead-lettered at the end), never a permanent one. Zabbix 7.0's built-in server answers with
//! `Connection: close` and no length, so a cut shows as a short body, not as a read error. A real
//! Zabbix cannot be made to cut an answer on demand: a server of the test's own sends the cut
//! answers (a mock, for this fault only).

use nzj_core::Secret;
use nzj_zabbix::{ZabbixAuth, ZabbixClient, ZabbixClientConfig, ZabbixError, is_ambiguous};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `body` once per connection after `200 OK` and `Connection: close`, then closes.
async fn cutting_server(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api_jsonrpc.php", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
                let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

async fn call_through(body: &'static str) -> ZabbixError {
    let client = ZabbixClient::new(ZabbixClientConfig {
        url: cutting_server(body).await,
        auth: ZabbixAuth::Token(Secret::new("unused")),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
    })
    .unwrap();
    client.call("apiinfo.version", serde_json::json!({})).await.unwrap_err()
}

#[tokio::test]
async fn an_answer_cut_off_mid_body_is_a_transient_transport_failure() {
    for body in ["", "{\"jsonrpc\":\"2.0\",\"result\":[{\"hostid\":\"10", "{\"jsonrpc\":"] {
        let e = call_through(body).await;
        assert!(matches!(e, ZabbixError::Transport { .. }), "{body:?}: {e:?}");
        assert!(e.is_transient() && is_ambiguous(&e), "{body:?}: {e}");
    }
}

#[tokio::test]
async fn a_complete_answer_that_is_not_json_stays_a_protocol_error() {
    let e = call_through("<html>Service Unavailable</html>").await;
    assert!(matches!(e, ZabbixError::Protocol { .. }) && !e.is_transient(), "{e:?}");
}

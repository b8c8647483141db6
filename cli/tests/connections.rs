//! `nzj serve` keeps answering while clients misbehave: idle connections, half-sent headers and
//! more connections than its file limit, held open by the test. The server runs as a person runs
//! it (its own port and data dir), under a low `ulimit -n` (a common systemd default is 1,024;
//! 256 here keeps the test small).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::Serve;

fn serve_with_file_limit(limit: u32, env: &[(&str, &str)]) -> (Serve, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("data"), &format!("ulimit -n {limit};"), env);
    (serve, dir)
}

fn healthz(serve: &Serve) -> bool {
    serve.healthz() == Some(200)
}

/// Whether the server closed `stream` (a read returns end of stream or an error, not a timeout).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn idle_and_half_sent_connections_beyond_the_file_limit_do_not_stop_the_service() {
    let (serve, _dir) =
        serve_with_file_limit(256, &[("NZJ_HTTP_HEADER_TIMEOUT_SECONDS", "2"), ("NZJ_HTTP_MAX_CONNECTIONS", "150")]);
    // More connections than the server has file descriptors: most say nothing, some send half a
    // request's headers; the test holds every one of them open.
    let mut held: Vec<TcpStream> = Vec::new();
    for i in 0..320 {
        let Ok(mut stream) = TcpStream::connect(&serve.listen) else { continue };
        if i % 5 == 0 {
            let _ = stream.write_all(b"POST /webhook/netbox HTTP/1.1\r\nHost: nzj\r\nX-Hook-Signature: ab");
        }
        held.push(stream);
    }
    assert!(held.len() > 256, "the test holds more connections than the server's limit: {}", held.len());

    // Other clients get answers: at once or, while the held ones take every slot, within the
    // header timeout.
    assert!(serve.healthy_within(Duration::from_secs(10)), "healthz must answer while connections are held");
    let mut answered = 0;
    for _ in 0..20 {
        answered += usize::from(healthz(&serve));
    }
    assert_eq!(answered, 20, "every later client is answered");

    // The server cut the held connections (idle, half-sent, or over the limit).
    std::thread::sleep(Duration::from_secs(1));
    let still_open = held.iter_mut().map(closed_by_server).filter(|closed| !closed).count();
    assert_eq!(still_open, 0, "idle and half-sent connections are closed by the server");
}

#[test]
fn a_kept_alive_connection_serves_requests_and_is_closed_when_idle() {
    let (serve, _dir) = serve_with_file_limit(1024, &[("NZJ_HTTP_HEADER_TIMEOUT_SECONDS", "1")][..]);
    let mut stream = TcpStream::connect(&serve.listen).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for _ in 0..3 {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: nzj\r\n\r\n").unwrap();
        let mut buffer = [0u8; 4096];
        let n = stream.read(&mut buffer).unwrap();
        assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"), "keep-alive works");
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(closed_by_server(&mut stream), "an idle kept-alive connection is closed after the timeout");
}

#[test]
fn a_body_that_trickles_in_is_cut_off_after_the_body_timeout() {
    let (serve, _dir) = serve_with_file_limit(1024, &[("NZJ_HTTP_BODY_TIMEOUT_SECONDS", "1")][..]);
    let mut stream = TcpStream::connect(&serve.listen).unwrap();
    stream
        .write_all(b"POST /webhook/netbox HTTP/1.1\r\nHost: nzj\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"event\":")
        .unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(started.elapsed() < Duration::from_secs(5), "the server ended the request itself");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "refused, never accepted: {answer}");
    assert!(healthz(&serve));
}

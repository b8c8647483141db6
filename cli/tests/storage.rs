//! `nzj serve` never acknowledges what it cannot keep: a data directory removed under it, or a
//! disk that fills up, turns deliveries away with 503 (NetBox resends them) and makes `/healthz`
//! say so, and everything acknowledged before is still there after a restart. The full disk is
//! real: the kernel's file-size limit (`ulimit -f`, with SIGXFSZ ignored) makes every write past
//! it fail as a full disk would.

mod support;

use std::time::Duration;
use support::{Serve, delivery};

#[test]
fn a_removed_data_dir_refuses_deliveries_and_healthz_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = Serve::start(&data, "", &[]);
    let (body, signature) = delivery(1);
    assert_eq!(serve.deliver(&body, &signature).map(|(s, _)| s), Some(202));

    std::fs::remove_dir_all(&data).unwrap();
    let (body, signature) = delivery(2);
    let (status, answer) = serve.deliver(&body, &signature).expect("an answer");
    assert_eq!(status, 503, "not acknowledged: {answer}");
    assert!(answer["error"].as_str().unwrap().contains("removed or replaced"), "{answer}");
    assert_eq!(serve.healthz(), Some(503), "/healthz is not ok");
}

#[test]
fn a_full_disk_refuses_deliveries_healthz_says_so_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Files of at most 512 KiB: the store fills up after a few dozen deliveries.
    let serve = Serve::start(&data, "trap '' XFSZ; ulimit -f 512;", &[]);
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for n in 1..=2000 {
        let (body, signature) = delivery(n);
        match serve.deliver(&body, &signature) {
            Some((202, answer)) => acknowledged.push(answer["job"].as_str().unwrap().to_string()),
            Some((503, _)) => {
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            other => panic!("delivery {n}: {other:?}"),
        }
    }
    assert!(refused == 5, "the disk filled up ({} acknowledged)", acknowledged.len());
    assert!(!acknowledged.is_empty());
    assert_eq!(serve.healthz(), Some(503), "/healthz is not ok while the store cannot be written");
    drop(serve);

    // Room again: every acknowledged delivery is still there.
    let serve = Serve::start(&data, "", &[]);
    for job in &acknowledged {
        let (status, _) = support::request(&serve.listen, "GET", &format!("/api/jobs/{job}"), &[token(&data)], b"")
            .expect("an answer");
        assert_eq!(status, 200, "acknowledged job {job} is kept");
    }
    assert!(serve.healthy_within(Duration::from_secs(5)));
}

/// The API token `nzj serve` generated in its data dir, as an Authorization header.
fn token(data: &std::path::Path) -> (&'static str, &'static str) {
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    ("Authorization", Box::leak(format!("Bearer {}", token.trim()).into_boxed_str()))
}

//! The CLI and `nzj serve` take what a person types without panicking: a reader that goes away
//! (`| head`), half-typed times, a client flag given to the server, a misspelt variable.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::{NZJ, Serve, free_listen};

#[test]
fn a_reader_that_goes_away_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), "", &[]);
    for args in [&["schedule", "show"][..], &["jobs", "ls"], &["--json", "schedule", "show"]] {
        let mut child = Command::new(NZJ)
            .args(args)
            .env_clear()
            .env("NZJ_LISTEN", &serve.listen)
            .env("NZJ_DATA_DIR", &serve.data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -0`: the pipe is closed before the CLI has its answer to print.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !err.contains("panicked"), "{args:?}: {:?} {err}", out.status);
    }
}

#[test]
fn half_typed_and_foreign_times_are_errors_that_name_the_forms() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), "", &[]);
    for until in ["+", "-", "+5ö", "+ß", "", "5 parsecs", "+99999999999999999999y"] {
        let out = serve.nzj(&["maintenance", "create", "--name", "w", "--host", "h", "--until", until]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{until:?}: {err}");
        assert!(!err.contains("panicked") && (err.contains("RFC 3339") || err.contains("too far")), "{until:?}: {err}");
    }
}

#[test]
fn serve_refuses_a_client_flag_instead_of_ignoring_it() {
    for flag in [&["--token", "0123456789abcdef0123"][..], &["--endpoint", "http://127.0.0.1:1"], &["--sigv4"]] {
        let out = Command::new(NZJ).arg("serve").args(flag).env_clear().output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {err}");
        assert!(err.contains(&format!("{} is for the commands that talk to an API", flag[0])), "{err}");
    }
    // The same flags still reach the client commands.
    let out = Command::new(NZJ)
        .args(["--endpoint", "http://127.0.0.1:1", "--token", "0123456789abcdef0123", "jobs", "ls"])
        .env_clear()
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"), "{out:?}");
}

#[test]
fn serve_warns_about_a_misspelt_variable_and_says_what_it_likely_means() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_listen();
    let mut child = Command::new(NZJ)
        .arg("serve")
        .env_clear()
        .env("NZJ_LISTEN", &listen)
        .env("NZJ_DATA_DIR", dir.path())
        .env("NZJ_ZABIX_URL", "http://zabbix.example/api_jsonrpc.php")
        .env("NZJ_LOG_FORMAT", "human")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(support::healthy_within(&listen, Duration::from_secs(30)), "nzj serve did not start");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown variable NZJ_ZABIX_URL, ignored: did you mean NZJ_ZABBIX_URL?"), "{err}");
    assert!(!err.trim_start().starts_with('{'), "a human format when asked for: {err}");

    let bad = Command::new(NZJ).arg("serve").env_clear().env("NZJ_LOG_FORMAT", "xml").output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NZJ_LOG_FORMAT"), "{bad:?}");
}

#[test]
fn the_operators_commands_answer_clearly_on_a_fresh_serve() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), "", &[]);
    let failed = serve.nzj(&["hosts", "ls", "--failed"]);
    assert!(failed.status.success() && String::from_utf8_lossy(&failed.stdout).starts_with("OBJECT"), "{failed:?}");
    let none = serve.nzj(&["hosts", "retry", "--failed"]);
    assert!(
        none.status.success() && String::from_utf8_lossy(&none.stdout).contains("0 started, 0 refused"),
        "{none:?}"
    );
    let bare = serve.nzj(&["hosts", "retry"]);
    assert_eq!(bare.status.code(), Some(2), "objects or --failed: {bare:?}");
    let unknown = serve.nzj(&["jobs", "retry", "01a24696-0ac0-7ebc-9c15-a1b6c0d4eab3"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("404"), "{unknown:?}");
    // Filters reach the API; a page of nothing is an empty table, and a bad filter is named.
    let ls = serve.nzj(&["jobs", "ls", "--since", "1h", "--user", "cli", "--object", "dcim.device/1"]);
    assert!(ls.status.success() && String::from_utf8_lossy(&ls.stdout).starts_with("ID"), "{ls:?}");
    let bad = serve.nzj(&["jobs", "ls", "--trigger", "telepathy"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("400"), "{bad:?}");
    let schedule = serve.nzj(&["schedule", "show"]);
    assert!(String::from_utf8_lossy(&schedule.stdout).contains("LAST RUN"), "{schedule:?}");
}

//! Named tokens with roles, end to end: `nzj tokens new` writes only a hash, `nzj serve` reads the
//! file (and refuses a bad one naming the line), a viewer reads (jobs, dead letters, /metrics) and
//! is refused what an operator or admin does with the role named, and dead letters are listed,
//! purged and redriven through the CLI.

mod support;

use std::process::Command;
use support::{NZJ, Serve, request};

fn new_token(file: &std::path::Path, name: &str, role: &str) -> std::process::Output {
    Command::new(NZJ).args(["tokens", "new", name, "--role", role, "--file"]).arg(file).env_clear().output().unwrap()
}

fn nzj_as(serve: &Serve, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(NZJ)
        .args(["--token", token])
        .args(args)
        .env_clear()
        .env("NZJ_LISTEN", &serve.listen)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.success(), stdout.into_owned(), stderr.into_owned())
}

#[test]
fn a_viewer_reads_and_is_refused_writes_with_the_role_named_and_the_file_keeps_only_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    let made = new_token(&file, "vera", "viewer");
    assert!(made.status.success(), "{made:?}");
    let viewer = String::from_utf8_lossy(&made.stdout).trim().to_string();
    assert!(viewer.starts_with("nzj_") && viewer.len() == 68, "{viewer}");
    let kept = std::fs::read_to_string(&file).unwrap();
    assert!(kept.starts_with("vera viewer sha256:") && !kept.contains(&viewer), "{kept}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let twice = new_token(&file, "vera", "operator");
    assert!(!twice.status.success() && String::from_utf8_lossy(&twice.stderr).contains("two tokens are named"));
    let root = new_token(&file, "root", "root");
    assert!(String::from_utf8_lossy(&root.stderr).contains("not a role (viewer, operator, admin)"), "{root:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), kept, "a refused token is not written");

    let admin = "admin-token-0123456789abcdef";
    let data = dir.path().join("data");
    let tokens_file = file.to_str().unwrap();
    let serve = Serve::start(&data, "", &[("NZJ_API_TOKENS_FILE", tokens_file), ("NZJ_API_TOKEN", admin)]);

    let (ok, out, _) = nzj_as(&serve, &viewer, &["jobs", "ls"]);
    assert!(ok && out.starts_with("ID"), "{out}");
    let (ok, out, _) = nzj_as(&serve, &viewer, &["dlq", "ls"]);
    assert!(ok && out.contains("0 dead letters"), "{out}");
    let metrics = request(&serve.listen, "GET", "/metrics", &[("authorization", &format!("Bearer {viewer}"))], b"");
    assert_eq!(metrics.map(|(status, _)| status), Some(200), "a viewer scrapes /metrics");

    let (ok, _, err) = nzj_as(&serve, &viewer, &["schedule", "set", "MaintenanceCleanup", "30"]);
    assert!(!ok && err.contains("403") && err.contains("needs the admin role"), "{err}");
    let (ok, _, err) = nzj_as(&serve, &viewer, &["jobs", "run", "MaintenanceCleanup", "--no-wait"]);
    assert!(!ok && err.contains("needs the operator role") && err.contains("\"vera\""), "{err}");
    let (ok, _, err) = nzj_as(&serve, &viewer, &["dlq", "purge", "--all"]);
    assert!(!ok && err.contains("needs the admin role"), "{err}");

    let (ok, out, _) = nzj_as(&serve, admin, &["dlq", "purge", "--all"]);
    assert!(ok && out.contains("0 dead letters removed"), "{out}");
    let (ok, _, err) = nzj_as(&serve, admin, &["dlq", "redrive"]);
    assert!(!ok && err.contains("or --all"), "{err}");
    let (ok, _, err) = nzj_as(&serve, admin, &["dlq", "show", "nonsense"]);
    assert!(!ok && err.contains("400") && err.contains("host:<id>"), "{err}");
    let (ok, _, err) = nzj_as(&serve, admin, &["dlq", "show", "host:17"]);
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, out, _) = nzj_as(&serve, admin, &["schedule", "set", "MaintenanceCleanup", "30"]);
    assert!(ok, "{out}");
    let (ok, out, _) = nzj_as(&serve, admin, &["schedule", "set", "SyncHostsNow", "60"]);
    assert!(ok && out.contains("SyncHostsNow") && out.contains("60 min"), "a periodic full reconcile: {out}");
    let (_, shown, _) = nzj_as(&serve, &viewer, &["--json", "schedule", "show"]);
    assert!(shown.contains("\"by\": \"admin\""), "who changed the interval: {shown}");
}

#[test]
fn serve_refuses_a_bad_tokens_file_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, "# ours\nvera viewer sha256:0011\n").unwrap();
    let out = Command::new(NZJ)
        .arg("serve")
        .env_clear()
        .env("NZJ_LISTEN", support::free_listen())
        .env("NZJ_DATA_DIR", dir.path().join("data"))
        .env("NZJ_API_TOKENS_FILE", &file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("NZJ_API_TOKENS_FILE") && err.contains("line 2"), "{err}");
}

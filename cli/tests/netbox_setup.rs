//! `nzj netbox setup` as a person types it: what it cannot use (a URL that is not one, NetBox or
//! the webhook secret not configured, an unknown stack, a stack without the output) is refused
//! clearly, without a panic and without showing a secret; `--stack` reads the webhook URL from the
//! stack's outputs (CloudFormation on moto, which `make test` starts). Setup against the real
//! NetBox is in `e2e.rs`.

use std::net::TcpListener;
use std::process::{Command, Output};

const NZJ: &str = env!("CARGO_BIN_EXE_nzj");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The AWS settings of the environment (moto's endpoint and credentials in `make test`).
fn aws_env() -> Vec<(String, String)> {
    std::env::vars().filter(|(k, _)| k.starts_with("AWS_")).collect()
}

#[test]
fn netbox_setup_refuses_what_it_cannot_use_clearly_and_changes_nothing() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(NZJ)
            .args(["netbox", "setup"])
            .args(args)
            .env_clear()
            .envs(aws_env())
            .envs(env.iter().copied())
            .env("NZJ_LISTEN", format!("127.0.0.1:{}", free_port()))
            .output()
            .unwrap();
        (out.status.code(), stderr(&out))
    };
    let netbox =
        [("NZJ_NETBOX_URL", "http://127.0.0.1:9"), ("NZJ_NETBOX_TOKEN", "0123456789012345678901234567890123456789")];
    for (args, env, says) in [
        (&["--webhook-url", "nzj.example/webhook"][..], &netbox[..], "an http(s) URL"),
        (&["--webhook-url", "ftp://nzj.example/"][..], &netbox[..], "an http(s) URL"),
        (&["--webhook-url", "http://nzj.example/webhook/netbox"][..], &[][..], "NetBox is not configured"),
        (&["--webhook-url", "http://nzj.example/webhook/netbox"][..], &netbox[..], "NZJ_WEBHOOK_SECRET is not set"),
        (&[][..], &netbox[..], "--webhook-url"),
    ] {
        let (code, err) = run(args, env);
        assert!(code.is_some_and(|c| c != 0) && err.contains(says), "{args:?}: {code:?} {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // NetBox unreachable: the error says where, and never shows the token or the secret.
    let mut env = netbox.to_vec();
    env.push(("NZJ_WEBHOOK_SECRET", "t0p-s3cret-value"));
    let (code, err) = run(&["--webhook-url", "http://nzj.example/webhook/netbox", "--check"], &env);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("NetBox") && !err.contains("t0p-s3cret") && !err.contains("0123456789012345"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_url_comes_from_the_stacks_outputs_and_a_wrong_stack_is_named() {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let cloudformation = aws_sdk_cloudformation::Client::new(&aws);
    let name = format!("nzj-setup-{}", free_port());
    let template = |outputs: &str| {
        format!(r#"{{"Resources": {{"Queue": {{"Type": "AWS::SQS::Queue"}}}}, "Outputs": {{{outputs}}}}}"#)
    };
    let dead = format!("http://127.0.0.1:{}/webhook/netbox", free_port());
    let with_output = template(&format!(r#""WebhookUrl": {{"Value": "{dead}"}}"#));
    cloudformation.create_stack().stack_name(&name).template_body(with_output).send().await.unwrap();
    let other = format!("{name}-other");
    let without = template(r#""QueueUrl": {"Value": {"Ref": "Queue"}}"#);
    cloudformation.create_stack().stack_name(&other).template_body(without).send().await.unwrap();

    let netbox_port = free_port();
    let run = |stack: &str| {
        let out = Command::new(NZJ)
            .args(["netbox", "setup", "--check", "--stack", stack])
            .env_clear()
            .envs(aws_env())
            .env("NZJ_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("NZJ_NETBOX_URL", format!("http://127.0.0.1:{netbox_port}"))
            .env("NZJ_NETBOX_TOKEN", "0123456789012345678901234567890123456789")
            .env("NZJ_WEBHOOK_SECRET", "t0p-s3cret-value")
            .output()
            .unwrap();
        (out.status.code(), stderr(&out))
    };
    // The URL came from the output: setup went on to NetBox (which is not there).
    let (code, err) = run(&name);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{netbox_port}")) && !err.contains("--stack"), "{err}");
    let (code, err) = run(&other);
    assert!(code == Some(1) && err.contains("has no WebhookUrl output"), "{err}");
    let (code, err) = run("nzj-no-such-stack");
    assert!(code == Some(1) && err.contains("--stack nzj-no-such-stack"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("t0p-s3cret"), "{err}");
    // Both a URL and a stack: clap refuses the pair.
    let out = Command::new(NZJ).args(["netbox", "setup", "--webhook-url", &dead, "--stack", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

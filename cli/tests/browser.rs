//! The page, in a real Chromium (Debian's, through chromedriver) against a real `nzj serve` with a
//! real Zabbix 7.0 and, for SyncHostsNow, the real NetBox 4.7: a person logs in, sees a failed
//! job in red with its error, retries it and watches it turn green without reloading, filters by
//! time range in the browser's own time zone, changes an interval, and runs "Sync all hosts now"
//! through its confirmation; a viewer sees no action buttons and the API refuses the action
//! anyway; a form without the session's CSRF token does nothing. The screenshots in the README
//! are taken here (written to docs/screenshots with NZJ_UPDATE_SCREENSHOTS=1).
//!
//! Zabbix is made unreachable by a relay the test cuts (`support::browser::Relay`): a real Zabbix
//! cannot be cut on demand.

mod support;

use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::browser::{Browser, Relay};
use support::{NZJ, Serve, request};

const ADMIN: &str = "admin-token-for-the-page-0123456789";
/// +05:30 all year: a browser far from the server's UTC, on a half hour.
const TZ: &str = "Asia/Kolkata";
const TZ_MINUTES: i64 = 330;

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make test`, which starts the peers"))
}

fn api(serve: &Serve, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Bearer {ADMIN}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let (status, text) = request(&serve.listen, method, path, &headers, body.as_bytes()).expect("the API answers");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn jobs_named(serve: &Serve, name: &str) -> Vec<Value> {
    let (status, page) = api(serve, "GET", &format!("/api/jobs?name={name}&limit=200"), None);
    assert_eq!(status, 200, "{page}");
    page["jobs"].as_array().unwrap().clone()
}

/// The first job of `name` in `status`, waited for.
fn wait_job(serve: &Serve, name: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(job) = jobs_named(serve, name).into_iter().find(|j| j["status"] == status) {
            return job;
        }
        assert!(Instant::now() < deadline, "no {name} became {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn base(serve: &Serve) -> String {
    format!("http://{}", serve.listen)
}

async fn login(client: &Client, serve: &Serve, token: &str) {
    client.goto(&format!("{}/login", base(serve))).await.unwrap();
    client.find(Locator::Css("#token")).await.unwrap().send_keys(token).await.unwrap();
    click_through(client, "form button[type=submit]").await;
}

async fn text(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

async fn wait_for(client: &Client, css: &str, seconds: u64) {
    let found = client.wait().at_most(Duration::from_secs(seconds)).for_element(Locator::Css(css)).await;
    if let Err(e) = found {
        let page = client.source().await.unwrap_or_default();
        panic!("{css} did not appear within {seconds} s: {e}\n{page}");
    }
}

/// Clicks `css` and waits for the next document to load (a click that navigates).
async fn click_through(client: &Client, css: &str) {
    script(client, "window.nzjOld = true", vec![]).await;
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    next_document(client, css).await;
}

/// Waits until the document marked `nzjOld` is replaced by a new one, loaded.
async fn next_document(client: &Client, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let loaded = "return window.nzjOld !== true && document.readyState === 'complete'";
    while !client.execute(loaded, vec![]).await.is_ok_and(|done| done == true) {
        assert!(Instant::now() < deadline, "{after} loaded no new page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count(client: &Client, css: &str) -> usize {
    client.find_all(Locator::Css(css)).await.unwrap().len()
}

async fn script(client: &Client, js: &str, args: Vec<Value>) -> Value {
    client.execute(js, args).await.unwrap_or_else(|e| panic!("{js}: {e}"))
}

/// Posts a form to `action` from within the page, as a forged or hand-made form would.
async fn post_form(client: &Client, action: &str, fields: Value) {
    let js = "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
        for (const [k, v] of Object.entries(arguments[1])) { const i = document.createElement('input');
        i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }
        document.body.appendChild(f); f.submit();";
    script(client, "window.nzjOld = true", vec![]).await;
    script(client, js, vec![json!(action), fields]).await;
    next_document(client, action).await;
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot of {name}");
    let dir = match std::env::var("NZJ_UPDATE_SCREENSHOTS").as_deref() {
        Ok("1") => std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/screenshots")),
        _ => std::env::temp_dir().join("nzj-screenshots"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

fn serve_with(dir: &std::path::Path, zabbix_url: &str, extra: &[(&str, &str)]) -> Serve {
    let (zabbix_token, nb_url, nb_token) = (env_var("ZBX70_TOKEN"), env_var("NB_URL"), env_var("NB_TOKEN"));
    let mut env = vec![
        ("NZJ_ZABBIX_URL", zabbix_url),
        ("NZJ_ZABBIX_TOKEN", zabbix_token.as_str()),
        ("NZJ_NETBOX_URL", nb_url.as_str()),
        ("NZJ_NETBOX_TOKEN", nb_token.as_str()),
        ("NZJ_API_TOKEN", ADMIN),
    ];
    env.extend_from_slice(extra);
    let serve = Serve::start(dir, "", &env);
    wait_job(&serve, "ImportZabbixSettings", "completed");
    serve
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_red_with_its_error_turns_green_when_retried_and_an_admin_filters_schedules_and_syncs_all() {
    let zabbix = url::Url::parse(&env_var("ZBX70_API_URL")).unwrap();
    let relay = Relay::start(&format!("{}:{}", zabbix.host_str().unwrap(), zabbix.port_or_known_default().unwrap()));
    let relayed = format!("http://{}{}", relay.listen, zabbix.path());
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with(dir.path(), &relayed, &[]);
    let first = wait_job(&serve, "ImportZabbixSettings", "completed");
    // The failed job must be created in a later second than the first (the time filter below).
    std::thread::sleep(Duration::from_millis(1200));
    relay.cut();

    let browser = Browser::start(TZ, 1280, 900).await;
    let c = &browser.client;
    login(c, &serve, ADMIN).await;
    wait_for(c, "#who", 10).await;
    assert!(text(c, "#who").await.contains("admin"));

    // Run now, from the schedule: Zabbix is cut, so the job fails, and its page shows it in red.
    c.goto(&format!("{}/schedule", base(&serve))).await.unwrap();
    click_through(c, "#schedule-ImportZabbixSettings form[action$='/run'] button").await;
    wait_for(c, "#job-status .text-failed", 90).await;
    let failed_id = c.current_url().await.unwrap().path().rsplit('/').next().unwrap().to_string();
    let shown_error = text(c, "#job-error").await;
    let (_, failed) = api(&serve, "GET", &format!("/api/jobs/{failed_id}"), None);
    assert_eq!((failed["status"].as_str(), failed["error"].as_str()), (Some("failed"), Some(shown_error.as_str())));
    let red = script(c, "return getComputedStyle(document.querySelector('h1 .status')).backgroundColor", vec![]).await;
    assert_eq!(red, "rgb(201, 42, 42)", "the plugin's red");
    assert!(!c.source().await.unwrap().contains(ADMIN), "the token never reaches the page");

    // The list shows it red too.
    c.goto(&format!("{}/jobs", base(&serve))).await.unwrap();
    let row = format!("tr.row-failed[data-job='{failed_id}']");
    assert_eq!(count(c, &format!("{row} .status-failed")).await, 1);
    assert!(text(c, &row).await.contains(&shown_error));

    // Retry with Zabbix back: the retry's page turns green by itself (the same document, no reload).
    relay.restore();
    c.goto(&format!("{}/jobs/{failed_id}", base(&serve))).await.unwrap();
    click_through(c, "#retry").await;
    wait_for(c, "#job-status", 10).await;
    script(c, "window.nzjSameDocument = true", vec![]).await;
    wait_for(c, "#job-status .text-completed", 90).await;
    assert_eq!(
        script(c, "return window.nzjSameDocument === true", vec![]).await,
        true,
        "turned green without a reload"
    );
    let green =
        script(c, "return getComputedStyle(document.querySelector('h1 .status')).backgroundColor", vec![]).await;
    assert_eq!(green, "rgb(43, 138, 62)", "the plugin's green");
    let retry_id = c.current_url().await.unwrap().path().rsplit('/').next().unwrap().to_string();
    let (_, retry) = api(&serve, "GET", &format!("/api/jobs/{retry_id}"), None);
    assert_eq!((retry["status"].as_str(), retry["retry_of"].as_str()), (Some("completed"), Some(failed_id.as_str())));
    c.goto(&format!("{}/jobs/{failed_id}", base(&serve))).await.unwrap();
    assert_eq!(text(c, "#retried-by").await, retry_id);
    assert_eq!(count(c, "#retry").await, 0, "retried once: no second Retry");
    // A Retry posted for a job that did not fail (a stale page, a hand-made form): the API's
    // refusal is the page's message, and no job is made.
    let csrf = c.find(Locator::Css("input[name=csrf]")).await.unwrap().attr("value").await.unwrap().unwrap();
    post_form(c, &format!("/jobs/{retry_id}/retry"), json!({"csrf": csrf})).await;
    assert!(text(c, "#flash.bad").await.contains("is completed: only a failed or stalled job is retried"));
    assert_eq!(jobs_named(&serve, "ImportZabbixSettings").len(), 3, "the first, the failed one, its retry");
    screenshot(c, "job").await;
    // The failed job again (its page offers no Retry once retried): refused, naming its retry.
    post_form(c, &format!("/jobs/{failed_id}/retry"), json!({"csrf": csrf})).await;
    assert!(text(c, "#flash.bad").await.contains("which completed: nothing is left to retry"));
    assert_eq!(jobs_named(&serve, "ImportZabbixSettings").len(), 3, "a job is retried once");

    // Times in the browser's zone, UTC on hover; the time range is read in the browser's zone.
    c.goto(&format!("{}/jobs", base(&serve))).await.unwrap();
    let shown = text(c, &format!("tr[data-job='{failed_id}'] td:nth-child(4) time")).await;
    let utc = c.find(Locator::Css(&format!("tr[data-job='{failed_id}'] td:nth-child(4) time"))).await.unwrap();
    let utc = utc.attr("title").await.unwrap().unwrap();
    assert!(utc.ends_with(" UTC") && !shown.contains("UTC"), "{shown} / {utc}");
    screenshot(c, "jobs").await;
    let created = chrono::DateTime::parse_from_rfc3339(failed["created"].as_str().unwrap()).unwrap();
    let until = (created - chrono::Duration::seconds(1)).naive_utc() + chrono::Duration::minutes(TZ_MINUTES);
    let until = until.format("%Y-%m-%dT%H:%M:%S").to_string();
    script(c, "document.querySelector('input[name=until]').value = arguments[0]", vec![json!(until)]).await;
    click_through(c, "form.filters button[type=submit]").await;
    wait_for(c, &format!("tr[data-job='{}']", first["id"].as_str().unwrap()), 10).await;
    assert_eq!(count(c, &format!("tr[data-job='{failed_id}']")).await, 0, "created after the range");
    assert_eq!(count(c, &format!("tr[data-job='{retry_id}']")).await, 0);
    assert!(c.current_url().await.unwrap().query().unwrap().contains(&format!("tz=-{TZ_MINUTES}")));

    // An interval: a typo is named, a number is set (and recorded as the admin's change).
    c.goto(&format!("{}/schedule", base(&serve))).await.unwrap();
    let field = "#schedule-HostConfigSyncRefresh input[name=interval]";
    c.find(Locator::Css(field)).await.unwrap().clear().await.unwrap();
    c.find(Locator::Css(field)).await.unwrap().send_keys("4 5").await.unwrap();
    click_through(c, "#schedule-HostConfigSyncRefresh form button").await;
    wait_for(c, "#flash.bad", 10).await;
    assert!(text(c, "#flash").await.contains("not a number of minutes"));
    let set = |minutes: &'static str| async move {
        c.find(Locator::Css(field)).await.unwrap().clear().await.unwrap();
        c.find(Locator::Css(field)).await.unwrap().send_keys(minutes).await.unwrap();
        click_through(c, "#schedule-HostConfigSyncRefresh form button").await;
        wait_for(c, "#flash", 10).await;
        text(c, "#flash").await
    };
    // Not one of the allowed intervals: the API's own refusal, with the list.
    assert!(set("45").await.contains("120"), "the API names the allowed intervals");
    assert_eq!(count(c, "#flash.bad").await, 1);
    assert!(set("120").await.contains("every 120 minutes"));
    let (_, schedule) = api(&serve, "GET", "/api/schedule/HostConfigSyncRefresh", None);
    assert_eq!((schedule["interval"].as_u64(), schedule["changed"]["by"].as_str()), (Some(120), Some("admin")));

    // Sync all hosts now, through the plan: scoped to nothing of the shared NetBox.
    let (_, settings) = api(&serve, "GET", "/api/settings", None);
    let scope = json!({"version": settings["version"], "device_filter": "name=nzj-page-none", "vm_filter": "name=nzj-page-none"});
    assert_eq!(api(&serve, "PATCH", "/api/settings", Some(scope)).0, 200);
    c.goto(&format!("{}/sync", base(&serve))).await.unwrap();
    wait_for(c, "#plan-counts", 10).await;
    click_through(c, "#confirm-sync").await;
    wait_for(c, "#job-status .text-completed", 120).await;
    assert_eq!(text(c, "h1").await.split_whitespace().nth(1), Some("SyncHostsNow"));

    // A phone: nothing wider than the screen but the tables, which scroll in place.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}/jobs", base(&serve))).await.unwrap();
    let fits = script(c, "return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![]).await;
    assert_eq!(fits, true, "the page fits a phone's width");
    // The keyboard: the first Tab reaches the skip link, which moves focus to the content.
    c.set_window_size(1280, 900).await.unwrap();
    c.find(Locator::Css("body")).await.unwrap().send_keys("\u{E004}").await.unwrap();
    assert_eq!(c.active_element().await.unwrap().attr("class").await.unwrap().as_deref(), Some("skip"));

    // The page's weight: HTML, script and stylesheet.
    let session = c.get_named_cookie("nzj_session").await.unwrap();
    assert_eq!((session.http_only(), format!("{:?}", session.same_site())), (Some(true), "Some(Strict)".to_string()));
    let cookie = format!("nzj_session={}", session.value());
    let size = |path: &str| request(&serve.listen, "GET", path, &[("Cookie", &cookie)], b"").unwrap().1.len();
    let (html, css, js) = (size("/jobs"), size("/assets/app.css"), size("/assets/app.js"));
    println!("page weight: jobs list {html} B + app.css {css} B + app.js {js} B = {} B", html + css + js);
    assert!(html + css + js < 200_000);

    // Logging out ends the session: its cookie opens nothing.
    click_through(c, "form.who button").await;
    wait_for(c, "#token", 10).await;
    let (status, _) = request(&serve.listen, "GET", "/jobs", &[("Cookie", &cookie)], b"").unwrap();
    assert_eq!(status, 303, "to the login page");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_action_buttons_the_api_refuses_the_action_anyway_and_a_form_without_the_csrf_token_does_nothing()
 {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let made = std::process::Command::new(NZJ)
        .args(["tokens", "new", "vera", "--role", "viewer", "--file"])
        .arg(&tokens)
        .env_clear()
        .output()
        .unwrap();
    let viewer = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let data = dir.path().join("data");
    let serve = serve_with(&data, &env_var("ZBX70_API_URL"), &[("NZJ_API_TOKENS_FILE", tokens.to_str().unwrap())]);
    let imports = || jobs_named(&serve, "ImportZabbixSettings").len();
    let before = imports();

    // The login form itself is refused without its own CSRF value (a cross-site login).
    let body = format!("token={ADMIN}&csrf=x");
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(request(&serve.listen, "POST", "/login", &headers, body.as_bytes()).unwrap().0, 403);

    // An oversized form is refused before it is read.
    let huge = format!("token={}&csrf=x", "a".repeat(20_000));
    assert_eq!(request(&serve.listen, "POST", "/login", &headers, huge.as_bytes()).unwrap().0, 413);

    let browser = Browser::start("UTC", 1280, 900).await;
    let c = &browser.client;
    login(c, &serve, "not-a-token-anyone-has").await;
    wait_for(c, "#login-error", 10).await;
    assert!(text(c, "#login-error").await.contains("does not know that token"));

    login(c, &serve, &viewer).await;
    wait_for(c, "#who", 10).await;
    assert_eq!(text(c, "#who").await, "vera (viewer)");
    c.goto(&format!("{}/schedule", base(&serve))).await.unwrap();
    assert_eq!(count(c, "table button").await + count(c, "table input").await, 0, "no actions for a viewer");
    c.goto(&format!("{}/sync", base(&serve))).await.unwrap();
    assert_eq!(count(c, "#confirm-sync").await, 0);
    c.goto(&format!("{}/hosts", base(&serve))).await.unwrap();
    assert_eq!(count(c, "table button").await, 0);

    // The viewer's own session and token, on a hand-made form: the API refuses it, naming the role.
    let csrf = c.find(Locator::Css("input[name=csrf]")).await.unwrap().attr("value").await.unwrap().unwrap();
    post_form(c, "/schedule/ImportZabbixSettings/run", json!({"csrf": csrf})).await;
    wait_for(c, "#flash.bad", 10).await;
    assert!(text(c, "#flash").await.contains("needs the operator role"), "{}", text(c, "#flash").await);
    assert_eq!(imports(), before, "nothing ran");
    click_through(c, "form.who button").await;

    // An admin's session: a form without its CSRF token, or with another, does nothing.
    login(c, &serve, ADMIN).await;
    wait_for(c, "#who", 10).await;
    post_form(c, "/schedule/ImportZabbixSettings/run", json!({})).await;
    assert!(text(c, "h1").await.contains("403"));
    assert!(text(c, "main").await.contains("CSRF token"));
    c.goto(&format!("{}/jobs", base(&serve))).await.unwrap();
    post_form(c, "/schedule/ImportZabbixSettings/run", json!({"csrf": csrf})).await;
    assert!(text(c, "h1").await.contains("403"), "another session's token");
    assert_eq!(imports(), before, "nothing ran");
    // With the token, the same form runs the job: only the token was missing.
    c.goto(&format!("{}/jobs", base(&serve))).await.unwrap();
    let own = c.find(Locator::Css("input[name=csrf]")).await.unwrap().attr("value").await.unwrap().unwrap();
    post_form(c, "/schedule/ImportZabbixSettings/run", json!({"csrf": own})).await;
    wait_for(c, "#job-status", 10).await;
    assert_eq!(imports(), before + 1);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nzj_ui_serves_the_page_on_loopback_for_another_endpoint_behind_the_key_it_printed() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with(dir.path(), &env_var("ZBX70_API_URL"), &[]);
    let endpoint = base(&serve);
    let mut ui = std::process::Command::new(NZJ)
        .args(["ui", "--listen", "127.0.0.1:0", "--endpoint", &endpoint, "--token", ADMIN])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = ui.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("open ").map(str::to_string))
        .expect("nzj ui prints the address to open");
    let url = url::Url::parse(&address).unwrap();
    let origin = format!("http://{}:{}", url.host_str().unwrap(), url.port().unwrap());
    assert_eq!(url.host_str(), Some("127.0.0.1"));

    let browser = Browser::start("UTC", 1280, 900).await;
    let c = &browser.client;
    c.goto(&format!("{origin}/login?key=not-the-key")).await.unwrap();
    assert!(text(c, "h1").await.contains("401"));
    c.goto(&format!("{origin}/jobs")).await.unwrap();
    wait_for(c, "#token, main.login", 10).await;
    assert!(c.current_url().await.unwrap().path().ends_with("/login"), "no key, no page");

    c.goto(&address).await.unwrap();
    wait_for(c, "#who", 10).await;
    assert!(text(c, "#who").await.contains("admin"));
    let import = wait_job(&serve, "ImportZabbixSettings", "completed");
    wait_for(c, &format!("tr[data-job='{}']", import["id"].as_str().unwrap()), 10).await;
    // An action through nzj ui is the endpoint's API call, made as the token's holder.
    c.goto(&format!("{origin}/schedule")).await.unwrap();
    let before = jobs_named(&serve, "MaintenanceCleanup").len();
    click_through(c, "#schedule-MaintenanceCleanup form[action$='/run'] button").await;
    wait_for(c, "#job-status .text-completed", 60).await;
    let runs = jobs_named(&serve, "MaintenanceCleanup");
    assert_eq!(runs.len(), before + 1);
    assert_eq!((runs[0]["user"].as_str(), runs[0]["trigger"].as_str()), (Some("admin"), Some("api")));

    // A maintenance window made through the API shows on the page, its name as text.
    let name = format!("nzj-page-window-<b>{}</b>", std::process::id());
    let now = chrono::Utc::now();
    let window = json!({"name": name, "active_since": now.to_rfc3339(), "active_till": (now + chrono::Duration::hours(1)).to_rfc3339(), "host_groups": ["Linux servers"]});
    let (status, made) = api(&serve, "POST", "/api/maintenances", Some(window));
    assert_eq!(status, 201, "{made}");
    c.goto(&format!("{origin}/maintenances")).await.unwrap();
    assert!(text(c, "main table").await.contains(&name), "shown as text, not markup");
    assert_eq!(count(c, "main table b").await, 0);
    assert_eq!(api(&serve, "DELETE", &format!("/api/maintenances/{}", made["id"].as_str().unwrap()), None).0, 204);
    browser.close().await;
    let _ = ui.kill();
    let _ = ui.wait();
}

/// The held DeleteHost jobs, waited for until there are `n`.
fn held_deletions(serve: &Serve, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let held: Vec<Value> = jobs_named(serve, "DeleteHost").into_iter().filter(|j| j["status"] == "held").collect();
        if held.len() == n {
            return held;
        }
        assert!(Instant::now() < deadline, "{} deletions held, not {n}", held.len());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_releases_one_held_deletion_and_discards_the_other_from_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with(dir.path(), &env_var("ZBX70_API_URL"), &[]);
    // The breaker holds every deletion.
    let (_, settings) = api(&serve, "GET", "/api/settings", None);
    let patch = json!({"version": settings["version"], "max_deletions": 0});
    let (status, set) = api(&serve, "PATCH", "/api/settings", Some(patch));
    assert_eq!(status, 200, "{set}");

    // Two hosts of devices of this run (NetBox has none by these ids), and NetBox's deletions of
    // both, as NetBox sends them.
    let first = 3_000_000_000 + u64::from(std::process::id()) * 10;
    let groups = support::zabbix70_call("hostgroup.get", json!({"output": ["groupid"], "limit": 1})).unwrap();
    let mut objects = Vec::new();
    for id in [first, first + 1] {
        let object = format!("dcim.device/{id}");
        let host = json!({"host": format!("nzj-page-held-{id}"), "groups": [{"groupid": groups[0]["groupid"]}],
            "tags": [{"tag": "netbox:object", "value": object}]});
        assert!(support::zabbix70_call("host.create", host).is_some());
        let (body, signature) = support::delivery_of("12_dcim.device_deleted", id);
        let (status, answer) = serve.deliver(&body, &signature).expect("the webhook answers");
        assert_eq!(status, 202, "{answer}");
        objects.push(object);
    }
    let held = held_deletions(&serve, 2);
    let job_of =
        |object: &str| held.iter().find(|j| j["object"] == object).unwrap()["id"].as_str().unwrap().to_string();
    let (released, discarded) = (job_of(&objects[0]), job_of(&objects[1]));

    let browser = Browser::start("UTC", 1280, 900).await;
    let c = &browser.client;
    login(c, &serve, ADMIN).await;
    c.goto(&format!("{}/deletions", base(&serve))).await.unwrap();
    let table = text(c, "main table").await;
    assert!(table.contains(&objects[0]) && table.contains("nzj-page-held-") && table.contains(&released), "{table}");
    assert_eq!(count(c, "main tbody tr").await, 2);

    // Release the first from its row: it runs past the breaker, and its host goes.
    let row = |object: &str, decision: &str| {
        format!("//tr[td[normalize-space(.)='{object}']]//form[@action='/deletions/{decision}']//button")
    };
    script(c, "window.nzjOld = true", vec![]).await;
    c.find(Locator::XPath(&row(&objects[0], "release"))).await.unwrap().click().await.unwrap();
    next_document(c, "release").await;
    assert_eq!(text(c, "#flash").await, "1 released, 0 refused");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !support::zabbix70_managed_hosts(&objects[0]).is_empty() {
        assert!(Instant::now() < deadline, "the released deletion did not delete {}", objects[0]);
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, record) = api(&serve, "GET", &format!("/api/jobs/{released}"), None);
    assert!(record["retried_by"].is_string(), "the held job names the run that deleted: {record}");

    // Discard the second: its host stays, and nothing is held any more.
    script(c, "window.nzjOld = true", vec![]).await;
    c.find(Locator::XPath(&row(&objects[1], "discard"))).await.unwrap().click().await.unwrap();
    next_document(c, "discard").await;
    assert_eq!(text(c, "#flash").await, "1 discarded, 0 refused");
    assert!(text(c, "main table").await.contains("Nothing is held."));
    assert_eq!(support::zabbix70_managed_hosts(&objects[1]).len(), 1, "a discarded deletion keeps the host");
    let (_, record) = api(&serve, "GET", &format!("/api/jobs/{discarded}"), None);
    assert_ne!(record["status"], "held", "{record}");
    browser.close().await;

    let mut cleanup = Vec::new();
    for id in [first, first + 1] {
        let filter = json!({"output": ["hostid"], "search": {"host": format!("nzj-page-held-{id}")}});
        let found = support::zabbix70_call("host.get", filter).unwrap();
        cleanup.extend(found.as_array().unwrap().iter().map(|h| h["hostid"].clone()));
    }
    let _ = support::zabbix70_call("host.delete", Value::Array(cleanup));
}

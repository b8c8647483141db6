//! A real browser for the page's tests: Debian's Chromium, headless, driven through its own
//! chromedriver (WebDriver over plain HTTP on a free loopback port) with a fresh profile, in its
//! own process group so that nothing it started outlives the test. Both are installed by
//! `infra/chromium.sh` (`make test` runs it).
//!
//! And a cuttable relay: a TCP forwarder in front of a real peer that the test can cut (every
//! new connection closed at once) and restore. A real Zabbix cannot be made unreachable on
//! demand; a cut in front of it is the fault a network gives.

use fantoccini::{Client, ClientBuilder};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Chromium at `width` x `height`, in the time zone `tz` (an IANA name: the page must show
    /// times in the browser's zone, not the server's).
    pub async fn start(tz: &str, width: u32, height: u32) -> Browser {
        assert!(
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
            "{CHROMIUM} and {CHROMEDRIVER} are needed: run `make test` (infra/chromium.sh installs them)"
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = std::os::unix::process::CommandExt::process_group(
            Command::new(CHROMEDRIVER).arg(format!("--port={port}")).env("TZ", tz),
            0,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        // The flags this machine needs (docs/ui.md): no sandbox as root, and no background
        // connections, which its closed network refuses.
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), serde_json::json!({"binary": CHROMIUM, "args": args}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser { client, driver, _profile: profile }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and every Chromium process it started: the whole group.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.driver.id())]).status();
        let _ = self.driver.wait();
    }
}

/// A TCP relay to `upstream` (host:port) on a free loopback port, open until [`Relay::cut`].
pub struct Relay {
    pub listen: String,
    open: Arc<AtomicBool>,
    /// The connections relayed so far: a cut ends them too (a client's kept-alive connection
    /// would otherwise never see it).
    relayed: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    pub fn start(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = listener.local_addr().unwrap().to_string();
        let open = Arc::new(AtomicBool::new(true));
        let relayed = Arc::new(Mutex::new(Vec::new()));
        let (upstream, gate, kept) = (upstream.to_string(), open.clone(), relayed.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !gate.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                kept.lock().unwrap().push(client.try_clone().unwrap());
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Relay { listen, open, relayed }
    }

    /// From now on every new connection is closed as soon as it is accepted.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for stream in self.relayed.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

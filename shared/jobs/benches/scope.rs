//! `make bench`: a no-op SyncHostsNow that reads only what is in scope, against the real NetBox
//! 4.7 and Zabbix 6.0 that `make bench` starts, in one run.
//!
//! NetBox gets N_ALL devices (default 1,200): N_IN (default 200) in one site, with primary IPs
//! (so each has a host), and the rest in another site without (so none has one). After a first
//! sync creates the N_IN hosts:
//!
//! - (s) scoped: `device_filter = "site=<the first site>"`, so NetBox hands out only the N_IN;
//! - (r) the same no-op sync without the filter, which reads all N_ALL (the N_ALL - N_IN are read
//!   and skipped, "no primary IP"): the run that reads everything.
//!
//! Each is the median of 3; printed: wall time, NetBox requests and bytes read (counted by the
//! client), Zabbix calls, and the ratios (s)/(r). NZJ_BENCH_SCOPE_IN and NZJ_BENCH_SCOPE_ALL set
//! N_IN and N_ALL.

use nzj_core::job::JobOrigin;
use nzj_core::settings::Settings;
use nzj_core::{JobStatus, Secret, Trigger};
use nzj_jobs::{HostConverger, SyncHostsNow};
use nzj_netbox::{NetboxClient, NetboxClientConfig, NetboxReads};
use nzj_store::{JobStore, Write};
use nzj_zabbix::ZabbixClient;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{env_or, required};

fn netbox(timeout: Duration) -> NetboxClient {
    NetboxClient::new(NetboxClientConfig {
        url: required("NB_URL"),
        token: Secret::new(required("NB_TOKEN")),
        connect_timeout: Duration::from_secs(5),
        request_timeout: timeout,
    })
    .unwrap()
}

/// The bench's objects in NetBox (setup, not measured): the two sites' slugs.
async fn populate(nb: &NetboxClient, prefix: &str, n_in: usize, n_all: usize) -> (String, String) {
    let made = |v: Value| v["id"].as_u64().unwrap_or_else(|| panic!("NetBox did not create it: {v}"));
    let manufacturer =
        made(nb.create("/api/dcim/manufacturers/", &json!({"name": prefix, "slug": prefix})).await.unwrap());
    let body = json!({"manufacturer": manufacturer, "model": prefix, "slug": prefix});
    let device_type = made(nb.create("/api/dcim/device-types/", &body).await.unwrap());
    let body = json!({"name": prefix, "slug": prefix, "color": "2196f3"});
    let role = made(nb.create("/api/dcim/device-roles/", &body).await.unwrap());
    let (site_in, site_out) = (format!("{prefix}-in"), format!("{prefix}-out"));
    let mut sites = Vec::new();
    for slug in [&site_in, &site_out] {
        sites.push(made(nb.create("/api/dcim/sites/", &json!({"name": slug, "slug": slug})).await.unwrap()));
    }
    let mut in_scope = Vec::new();
    for chunk in (0..n_all).collect::<Vec<_>>().chunks(200) {
        let devices: Vec<Value> = chunk
            .iter()
            .map(|i| {
                let site = if *i < n_in { sites[0] } else { sites[1] };
                json!({"name": format!("{prefix}-{i}"), "device_type": device_type, "role": role, "site": site, "status": "active"})
            })
            .collect();
        let created = nb.create("/api/dcim/devices/", &json!(devices)).await.unwrap();
        for device in created.as_array().unwrap() {
            if device["site"]["id"].as_u64() == Some(sites[0]) {
                in_scope.push(made(device.clone()));
            }
        }
    }
    // Primary IPs for the devices in scope: an interface each, an address on it, then the device.
    for (n, chunk) in in_scope.chunks(200).enumerate() {
        let body: Vec<Value> =
            chunk.iter().map(|d| json!({"device": d, "name": "eth0", "type": "1000base-t"})).collect();
        let interfaces = nb.create("/api/dcim/interfaces/", &json!(body)).await.unwrap();
        let addresses: Vec<Value> = interfaces
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, interface)| {
                let address = format!("10.{}.{}.{}/16", 200 + n / 256, n % 256, i + 1);
                json!({"address": address, "assigned_object_type": "dcim.interface", "assigned_object_id": made(interface.clone())})
            })
            .collect();
        let addresses = nb.create("/api/ipam/ip-addresses/", &json!(addresses)).await.unwrap();
        let primary: Vec<Value> = chunk
            .iter()
            .zip(addresses.as_array().unwrap())
            .map(|(device, address)| json!({"id": device, "primary_ip4": made(address.clone())}))
            .collect();
        nb.update("/api/dcim/devices/", &json!(primary)).await.unwrap();
    }
    (site_in, site_out)
}

struct Run {
    seconds: f64,
    netbox: NetboxReads,
    zabbix_calls: u64,
    result: Value,
}

struct Bench {
    sync: SyncHostsNow,
    store: Arc<dyn JobStore>,
    netbox: Arc<NetboxClient>,
    zabbix: Arc<ZabbixClient>,
    settings: Settings,
}

impl Bench {
    async fn scope(&mut self, device_filter: &str) {
        self.settings.device_filter = device_filter.to_string();
        self.store.commit(vec![Write::settings(self.settings.clone())]).await.unwrap();
        self.settings.version += 1;
    }

    async fn sync(&self) -> Run {
        let (netbox, zabbix) = (self.netbox.reads(), self.zabbix.calls().total());
        let start = Instant::now();
        let origin = JobOrigin { trigger: Trigger::Cli, user: "bench".into(), object: None };
        let (_, first) = self.sync.start(origin).await.unwrap();
        self.sync.run_to_end(first.clone()).await.unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let record = self.store.get_job(&first.job_id).await.unwrap().unwrap();
        assert_eq!(record.status, JobStatus::Completed, "{:?}", record.error);
        let after = self.netbox.reads();
        Run {
            seconds,
            netbox: NetboxReads { requests: after.requests - netbox.requests, bytes: after.bytes - netbox.bytes },
            zabbix_calls: self.zabbix.calls().total() - zabbix,
            result: record.result.unwrap_or_default(),
        }
    }

    /// The median of 3 runs by wall time.
    async fn median(&self) -> Run {
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(self.sync().await);
        }
        runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        runs.swap_remove(1)
    }
}

fn line(name: &str, run: &Run) {
    println!(
        "{name:<52} {:>7.2} s {:>4} NetBox requests {:>10} bytes {:>4} Zabbix calls",
        run.seconds, run.netbox.requests, run.netbox.bytes, run.zabbix_calls
    );
}

#[tokio::main]
async fn main() {
    let n_in: usize = env_or("NZJ_BENCH_SCOPE_IN", 200);
    let n_all: usize = env_or("NZJ_BENCH_SCOPE_ALL", 1200);
    let zabbix = common::zabbix_60();
    let prefix = format!("nzjscope{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let setup = Instant::now();
    let (site_in, _) = populate(&netbox(Duration::from_secs(600)), &prefix, n_in, n_all).await;
    println!(
        "No-op SyncHostsNow, {n_in} of {n_all} devices in scope, NetBox {} and Zabbix {} ({} cores; setup {:.0} s)",
        std::env::var("NB_VERSION").unwrap_or_else(|_| "4.7".into()),
        zabbix.version().await.unwrap(),
        std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1),
        setup.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = common::imported_store(&zabbix, dir.path()).await;
    let mut settings = Settings { max_deletions: n_all, ..Settings::default() };
    settings.rules[0].templates.clear();
    // What is measured is the reading: the bench's NetBox has no custom fields to write into.
    settings.write_back.enabled = false;
    let netbox = Arc::new(netbox(Duration::from_secs(60)));
    let sync = SyncHostsNow::new(
        HostConverger::new(zabbix.clone(), store.clone()),
        netbox.clone(),
        clock,
        chrono::Duration::minutes(15),
        chrono::Duration::days(1),
    )
    .with_page_size(nzj_netbox::PAGE_SIZE);
    let mut bench = Bench { sync, store, netbox, zabbix, settings };
    bench.scope(&format!("site={site_in}")).await;

    let first = bench.sync().await;
    assert_eq!(first.result["created"], json!(n_in), "{}", first.result);
    line("first sync: creates the hosts in scope", &first);
    let scoped = bench.median().await;
    assert_eq!(scoped.result["unchanged"], json!(n_in), "{}", scoped.result);
    line("(s) no-op, scoped by device_filter (median of 3)", &scoped);
    bench.scope("").await;
    let everything = bench.median().await;
    assert_eq!(everything.result["unchanged"], json!(n_in), "{}", everything.result);
    assert_eq!(everything.result["total"], json!(n_all), "{}", everything.result);
    line("(r) no-op, reading every device (median of 3)", &everything);
    println!(
        "(s)/(r): time {:.2}x, NetBox bytes {:.2}x, requests {} vs {}",
        scoped.seconds / everything.seconds,
        scoped.netbox.bytes as f64 / everything.netbox.bytes as f64,
        scoped.netbox.requests,
        everything.netbox.requests
    );

    // The bench's hosts out of Zabbix (its NetBox objects go with the bench's NetBox).
    let found = bench
        .zabbix
        .call("host.get", json!({"output": ["hostid"], "search": {"host": format!("{prefix}-")}, "startSearch": true}))
        .await
        .unwrap();
    let ids: Vec<Value> = found.as_array().unwrap().iter().map(|h| h["hostid"].clone()).collect();
    if !ids.is_empty() {
        bench.zabbix.call("host.delete", json!(ids)).await.unwrap();
    }
}

//! Host jobs on a real Zabbix for the host tests: a device from the real NetBox 4.7 payload, and
//! host jobs on a fresh store with the Zabbix settings imported, run as the worker runs them.

use super::{Env, Peer};
use nzj_core::desired::{CacheView, Desired, desired_host};
use nzj_core::job::JobOrigin;
use nzj_core::netbox::{NetboxObject, ObjectKind, ObjectRef};
use nzj_core::settings::Settings;
use nzj_core::{JobName, JobStatus, SystemJob, Trigger};
use nzj_jobs::{HostAction, HostConverger, HostJobs, ImportZabbixSettings};
use serde_json::{Value, json};

/// A device from the real NetBox 4.7 payload, with its own id and name so tests do not collide.
pub struct Device {
    pub data: Value,
    pub object: ObjectRef,
}

impl Device {
    pub fn new() -> Device {
        let (object, data) = super::device("nzj-dev");
        Device { data, object }
    }

    pub fn name(&self) -> String {
        self.data["name"].as_str().unwrap().to_string()
    }
}

pub struct Hosts {
    pub env: Env,
    pub jobs: HostJobs,
    pub settings: Settings,
}

impl Hosts {
    /// A fresh store with the Zabbix settings imported, and host jobs on it.
    pub async fn new(peer: &Peer) -> Hosts {
        Hosts::with_secrets(peer, std::sync::Arc::new(nzj_secrets::NoSecrets)).await
    }

    /// The same, looking secret macros and PSKs up in `secrets`.
    pub async fn with_secrets(peer: &Peer, secrets: std::sync::Arc<dyn nzj_secrets::SecretStore>) -> Hosts {
        let env = Env::new();
        let zabbix = peer.client();
        let import = ImportZabbixSettings::new(zabbix.clone(), env.store.clone(), 100_000);
        assert_eq!(env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
        let jobs = HostJobs::new(
            HostConverger::new(zabbix, env.store.clone()).with_secrets(secrets),
            env.clock.clone(),
            chrono::Duration::seconds(60),
            chrono::Duration::days(1),
        );
        Hosts { env, jobs, settings: Settings::default() }
    }

    pub async fn reimport(&self) {
        let import = ImportZabbixSettings::new(self.jobs.converger().zabbix().clone(), self.env.store.clone(), 100_000);
        assert_eq!(self.env.run(SystemJob::ImportZabbixSettings, &import).await.status, JobStatus::Completed);
    }

    pub async fn desired(&self, data: Option<&Value>) -> Desired {
        let Some(data) = data else { return Desired::OutOfScope("deleted in NetBox".into()) };
        let object = NetboxObject::from_rest(ObjectKind::Device, data).unwrap();
        let snapshots = nzj_jobs::load_cache(self.env.store.as_ref()).await.unwrap();
        desired_host(&object, &self.settings, &CacheView::new(&snapshots)).unwrap()
    }

    /// Runs a host job to its end, retrying a transient failure as the worker does (the tests run
    /// side by side on one Zabbix); panics if it failed.
    pub async fn run(&self, name: JobName, device: &Device, data: Option<&Value>) -> HostAction {
        let mut attempt = 0;
        let (record, action) = loop {
            let origin = JobOrigin { trigger: Trigger::Webhook, user: "tests".into(), object: None };
            let desired = Ok(self.desired(data).await);
            let netbox = data.map(|d| NetboxObject::from_rest(ObjectKind::Device, d).unwrap());
            let (record, action) =
                self.jobs.run_from(name, device.object, netbox, desired, &self.settings, origin).await.unwrap();
            match &action {
                Err(f) if f.is_transient() && attempt < 5 => attempt += 1,
                _ => break (record, action),
            }
        };
        let action = action.unwrap_or_else(|f| panic!("{name} failed: {f}"));
        assert_eq!(record.status, JobStatus::Completed);
        assert_eq!(record.object.as_deref(), Some(device.object.to_string().as_str()));
        action
    }

    /// In sync: a further UpdateHost changes nothing, and the host config says so.
    pub async fn assert_in_sync(&self, device: &Device, data: Option<&Value>) {
        let action = self.run(JobName::UpdateHost, device, data).await;
        let config = self.env.store.get_host_config(device.object).await.unwrap().unwrap();
        let job = self.env.store.get_job(config.last_job.as_ref().unwrap()).await.unwrap().unwrap();
        assert_eq!(
            action,
            if data.is_some() { HostAction::Unchanged } else { HostAction::AlreadyGone },
            "{:?}",
            job.result
        );
        assert_eq!(config.in_sync, Some(true));
        assert!(config.difference.is_empty());
    }

    /// The Zabbix host of `device` by its managed tag.
    pub async fn zabbix_host(&self, device: &Device) -> Option<Value> {
        let zbx = &self.jobs.converger().zabbix();
        let (select, key) = zbx.version().await.unwrap().select_host_groups();
        let found = zbx
            .call(
                "host.get",
                json!({"output": "extend", select: ["name"], "selectParentTemplates": ["host"], "selectInterfaces": ["interfaceid", "ip", "dns", "port", "type", "main", "useip", "details"], "selectTags": ["tag", "value"],
                       "tags": [{"tag": "netbox:object", "value": device.object.to_string(), "operator": 1}]}),
            )
            .await
            .unwrap();
        found.as_array().unwrap().first().cloned().map(|mut h| {
            h["groups_normalised"] = h[key].clone();
            h
        })
    }
}

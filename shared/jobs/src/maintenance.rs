//! Maintenance windows in Zabbix and in the store, and MaintenanceCleanup.
//!
//! A window's targets are names (hosts, host groups) and NetBox sites; they are resolved to Zabbix
//! ids when the window is written, in one call per kind of target. The store keeps what the
//! operator asked for; Zabbix gets the resolved window (`nzj_zabbix::MaintenanceWrite`).

use crate::hosts::HostConverger;
use crate::{store_failure, zabbix_failure};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nzj_core::maintenance::{Maintenance, MaintenanceRequest, MaintenanceTargets, SITE_TAG};
use nzj_core::{Clock, LogLevel};
use nzj_runtime::{JobContext, JobFailure, SystemJobHandler};
use nzj_store::{JobStore, StoreError, Write};
use nzj_zabbix::{MaintenanceWrite, ZabbixClient, ZabbixError};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// The request breaks a rule or names something Zabbix does not have (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    #[error("no maintenance window with id {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Zabbix(#[from] ZabbixError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct MaintenanceService {
    zabbix: Arc<ZabbixClient>,
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
}

/// Names asked for that Zabbix did not return.
fn missing(asked: &[String], found: &[(String, String)]) -> Vec<String> {
    let found: BTreeSet<&str> = found.iter().map(|(_, name)| name.as_str()).collect();
    asked.iter().filter(|a| !found.contains(a.as_str())).cloned().collect()
}

/// What a lookup found: the ids, and the problem with the names it did not find.
fn found(found: Vec<(String, String)>, names: &[String], what: &str) -> (Vec<String>, Option<String>) {
    let unknown = missing(names, &found);
    let problem = (!unknown.is_empty()).then(|| format!("unknown {what}: {}", unknown.join(", ")));
    (found.into_iter().map(|(id, _)| id).collect(), problem)
}

impl MaintenanceService {
    pub fn new(zabbix: Arc<ZabbixClient>, store: Arc<dyn JobStore>, clock: Arc<dyn Clock>) -> MaintenanceService {
        MaintenanceService { zabbix, store, clock }
    }

    pub fn zabbix(&self) -> &Arc<ZabbixClient> {
        &self.zabbix
    }

    /// Host ids and host group ids for the targets: one call per kind of target used.
    async fn resolve(&self, targets: &MaintenanceTargets) -> Result<(Vec<String>, Vec<String>), MaintenanceError> {
        let mut host_ids = BTreeSet::new();
        let mut group_ids = BTreeSet::new();
        let mut problems = Vec::new();
        if !targets.hosts.is_empty() {
            let (ids, problem) = found(self.zabbix.hosts_named(&targets.hosts).await?, &targets.hosts, "hosts");
            host_ids.extend(ids);
            problems.extend(problem);
        }
        if !targets.host_groups.is_empty() {
            let groups = self.zabbix.host_groups_named(&targets.host_groups).await?;
            let (ids, problem) = found(groups, &targets.host_groups, "host groups");
            group_ids.extend(ids);
            problems.extend(problem);
        }
        if !targets.sites.is_empty() {
            // Every host tagged with one of the sites.
            let mut sites_seen = BTreeSet::new();
            for (hostid, sites) in self.zabbix.hosts_tagged(SITE_TAG, &targets.sites).await? {
                host_ids.insert(hostid);
                sites_seen.extend(sites);
            }
            let empty: Vec<_> = targets.sites.iter().filter(|s| !sites_seen.contains(*s)).cloned().collect();
            if !empty.is_empty() {
                problems.push(format!("no Zabbix host is tagged {SITE_TAG} with site {}", empty.join(", ")));
            }
        }
        if !problems.is_empty() {
            return Err(MaintenanceError::Invalid(problems.join("; ")));
        }
        Ok((host_ids.into_iter().collect(), group_ids.into_iter().collect()))
    }

    /// The window as Zabbix gets it (create and update take the same).
    async fn zabbix_window(&self, window: &Maintenance) -> Result<MaintenanceWrite, MaintenanceError> {
        let (host_ids, group_ids) = self.resolve(&window.targets).await?;
        Ok(MaintenanceWrite {
            name: window.name.clone(),
            description: window.description.clone(),
            active_since: window.active_since.timestamp(),
            active_till: window.active_till.timestamp(),
            host_ids,
            group_ids,
        })
    }

    pub async fn create(&self, request: MaintenanceRequest) -> Result<Maintenance, MaintenanceError> {
        request.validate().map_err(MaintenanceError::Invalid)?;
        let mut window = Maintenance::new(request, self.clock.now());
        let zabbix_window = self.zabbix_window(&window).await?;
        let zabbix_id = self.zabbix.create_maintenance(&zabbix_window).await?;
        window.zabbix_id = Some(zabbix_id.clone());
        if let Err(e) = self.store.commit(vec![Write::maintenance(window.clone())]).await {
            // Never leave a window in Zabbix that the store does not know: it would never be cleaned up.
            let _ = self.zabbix.delete_maintenances(&[zabbix_id]).await;
            return Err(e.into());
        }
        window.version += 1;
        Ok(window)
    }

    pub async fn get(&self, id: &str) -> Result<Maintenance, MaintenanceError> {
        self.store.get_maintenance(id).await?.ok_or_else(|| MaintenanceError::NotFound(id.to_string()))
    }

    pub async fn list(&self) -> Result<Vec<Maintenance>, MaintenanceError> {
        Ok(self.store.list_maintenances().await?)
    }

    pub async fn update(&self, id: &str, request: MaintenanceRequest) -> Result<Maintenance, MaintenanceError> {
        request.validate().map_err(MaintenanceError::Invalid)?;
        let mut window = self.get(id).await?;
        window.replace(request, self.clock.now());
        let zabbix_window = self.zabbix_window(&window).await?;
        let exists = match &window.zabbix_id {
            Some(zid) => self.zabbix.existing_maintenances(&[zid.as_str()]).await?.contains(zid),
            None => false,
        };
        match &window.zabbix_id {
            Some(zid) if exists => self.zabbix.update_maintenance(zid, &zabbix_window).await?,
            // Gone from Zabbix (deleted by hand): the desired window is created again.
            _ => window.zabbix_id = Some(self.zabbix.create_maintenance(&zabbix_window).await?),
        }
        self.store.commit(vec![Write::maintenance(window.clone())]).await?;
        window.version += 1;
        Ok(window)
    }

    /// Deletes the window from Zabbix (already gone counts as deleted) and from the store.
    pub async fn delete(&self, id: &str) -> Result<(), MaintenanceError> {
        let window = self.get(id).await?;
        self.delete_in_zabbix(std::slice::from_ref(&window)).await?;
        self.store.commit(vec![Write::DeleteMaintenance { id: window.id, expected_version: window.version }]).await?;
        Ok(())
    }

    /// Deletes the windows' Zabbix maintenances in two calls whatever their number; returns the
    /// windows whose maintenance was already gone from Zabbix.
    async fn delete_in_zabbix<'a>(&self, windows: &'a [Maintenance]) -> Result<Vec<&'a Maintenance>, ZabbixError> {
        let zabbix_ids: Vec<&str> = windows.iter().filter_map(|w| w.zabbix_id.as_deref()).collect();
        if zabbix_ids.is_empty() {
            return Ok(windows.iter().collect());
        }
        // maintenance.delete refuses the whole call if one id is gone: ask first what still exists.
        let existing = self.zabbix.existing_maintenances(&zabbix_ids).await?;
        if !existing.is_empty() {
            self.zabbix.delete_maintenances(&existing.iter().cloned().collect::<Vec<_>>()).await?;
        }
        Ok(windows.iter().filter(|w| w.zabbix_id.as_ref().is_none_or(|z| !existing.contains(z))).collect())
    }
}

/// MaintenanceCleanup: deletes windows whose end has passed, from Zabbix and from the store.
pub struct MaintenanceCleanup {
    service: Arc<MaintenanceService>,
    /// Purges the graveyard when `graveyard_purge_days` is set.
    converger: Option<HostConverger>,
}

impl MaintenanceCleanup {
    pub fn new(service: Arc<MaintenanceService>) -> MaintenanceCleanup {
        MaintenanceCleanup { service, converger: None }
    }

    /// Also purges graveyard hosts older than the settings' `graveyard_purge_days`.
    pub fn with_graveyard_purge(mut self, converger: HostConverger) -> MaintenanceCleanup {
        self.converger = Some(converger);
        self
    }
}

#[async_trait]
impl SystemJobHandler for MaintenanceCleanup {
    async fn run(&self, ctx: &JobContext) -> Result<Value, JobFailure> {
        let now: DateTime<Utc> = ctx.now();
        let windows = self.service.store.list_maintenances().await.map_err(store_failure)?;
        let expired: Vec<Maintenance> = windows.iter().filter(|w| w.is_expired(now)).cloned().collect();
        let already_gone = self.service.delete_in_zabbix(&expired).await.map_err(zabbix_failure)?;
        for window in &already_gone {
            ctx.log(
                LogLevel::Warning,
                format!("window {:?} ({}) was already gone from Zabbix; removed locally", window.name, window.id),
            );
        }
        let gone_count = already_gone.len();
        let deletes = expired
            .iter()
            .map(|w| Write::DeleteMaintenance { id: w.id.clone(), expected_version: w.version })
            .collect::<Vec<_>>();
        for window in &expired {
            ctx.log(LogLevel::Info, format!("deleted expired window {:?} (ended {})", window.name, window.active_till));
        }
        if !deletes.is_empty() {
            self.service.store.commit(deletes).await.map_err(store_failure)?;
        }
        let mut result = json!({
            "deleted": expired.len(),
            "checked": windows.len(),
            "timestamp": now,
            "already_gone": gone_count,
        });
        let settings = self.service.store.get_settings().await.map_err(store_failure)?;
        if let (Some(converger), Some(days)) = (&self.converger, settings.graveyard_purge_days) {
            let purged = converger.purge_graveyard(&settings, days, now).await?;
            ctx.log(
                LogLevel::Info,
                format!(
                    "graveyard: {} hosts soft-deleted over {days} days ago, {} hard-deleted, {} wait for room in the deletion window",
                    purged.due, purged.deleted, purged.waiting
                ),
            );
            for failure in &purged.failed {
                ctx.log(LogLevel::Warning, format!("graveyard host not purged: {failure}"));
            }
            result["graveyard_purged"] = json!(purged.deleted);
            result["graveyard_waiting"] = json!(purged.waiting);
        }
        Ok(result)
    }
}

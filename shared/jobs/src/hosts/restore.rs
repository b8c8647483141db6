//! History survives: a soft-deleted host keeps a tag naming its object (`netbox:deleted =
//! dcim.device/123`). When that object is wanted again (its status is back in scope, it was
//! created again in NetBox with the same id, a NetBox delete was undone), its graveyard host is
//! brought back with one `host.update` (name, groups, templates, enabled state, the managed tag)
//! instead of a new host being created: same host id, same items, same history.

use super::groups::ids_of;
use super::{HostAction, HostConverger, HostOutcome};
use crate::zabbix_failure;
use nzj_core::credentials::SecretValues;
use nzj_core::desired::DesiredHost;
use nzj_core::netbox::ObjectRef;
use nzj_core::settings::Settings;
use nzj_runtime::JobFailure;
use nzj_zabbix::{HostWrite, ZabbixError, ZabbixHost};
use std::collections::BTreeMap;

impl HostConverger {
    /// The graveyard host of each of `objects` that has one (one `host.get` for all of them by
    /// the exact deleted tag); of several, the oldest (the longest history).
    pub(super) async fn find_graveyard(
        &self,
        settings: &Settings,
        objects: &[ObjectRef],
    ) -> Result<BTreeMap<ObjectRef, ZabbixHost>, ZabbixError> {
        if objects.is_empty() {
            return Ok(BTreeMap::new());
        }
        let found = self.zabbix.find_managed(&settings.tag_name("deleted"), objects, objects.len()).await?;
        Ok(found.hosts)
    }

    /// Brings graveyard hosts back as their desired hosts, `batch` per `host.update`; the
    /// graveyard tag goes (it has the product's prefix), other people's tags stay.
    pub(super) async fn restore_many(
        &self,
        settings: &Settings,
        hosts: &[(&DesiredHost, &ZabbixHost)],
        groups: &BTreeMap<String, String>,
        secrets: &SecretValues,
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        if hosts.is_empty() {
            return Vec::new();
        }
        let writes: Vec<HostWrite> = hosts
            .iter()
            .map(|(desired, grave)| {
                HostWrite::update(desired, ids_of(&desired.host_groups, groups), grave).with_secrets(secrets)
            })
            .collect();
        let answers = self.zabbix.update_hosts(&writes, &settings.tag_prefix, batch).await;
        hosts
            .iter()
            .zip(answers)
            .map(|((_, grave), answer)| {
                let written = answer.map_err(zabbix_failure)?;
                tracing::info!(hostid = %grave.hostid, from = %grave.host, "graveyard host restored");
                Ok(HostOutcome::new(HostAction::Restored, Some(grave.hostid.clone())).before(grave).sent(written.sent))
            })
            .collect()
    }
}

//! Objects that have no desired host but are not gone (no primary IP, no usable name): their
//! host is never deleted for that. It is kept as it is, or disabled when the
//! `without_primary_ip` setting says so; an object with no host gets none, and its host config
//! says why.

use super::{HostAction, HostConverger, HostOutcome};
use crate::zabbix_failure;
use nzj_core::settings::HostStatus;
use nzj_runtime::JobFailure;
use nzj_zabbix::ZabbixHost;

impl HostConverger {
    /// Keeps each host (`None`: the object has none) for `reason`; with `disable`, the enabled
    /// ones are disabled, `batch` per `host.update`.
    pub async fn keep_many(
        &self,
        hosts: &[(Option<&ZabbixHost>, &str, bool)],
        batch: usize,
    ) -> Vec<Result<HostOutcome, JobFailure>> {
        let to_disable: Vec<String> = hosts
            .iter()
            .filter_map(|(host, _, disable)| host.filter(|h| *disable && h.status == HostStatus::Enabled))
            .map(|h| h.hostid.clone())
            .collect();
        let mut answers = self.zabbix.disable_hosts(&to_disable, batch).await.into_iter();
        hosts
            .iter()
            .map(|(host, reason, disable)| {
                let reason = reason.to_string();
                match host {
                    None => Ok(HostOutcome::new(HostAction::Skipped { reason }, None)),
                    Some(h) if *disable && h.status == HostStatus::Enabled => {
                        let written = answers.next().expect("one answer per disabled host").map_err(zabbix_failure)?;
                        let action = HostAction::Disabled { reason };
                        Ok(HostOutcome::new(action, Some(h.hostid.clone())).before(h).sent(written.sent))
                    }
                    Some(h) => Ok(HostOutcome::new(HostAction::Kept { reason }, Some(h.hostid.clone())).before(h)),
                }
            })
            .collect()
    }
}

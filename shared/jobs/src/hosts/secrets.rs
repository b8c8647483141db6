//! The secrets a batch of hosts names (secret macros, PSKs), looked up in the product's secret
//! store once per batch, just before they are written. A host whose secret the store lacks
//! fails alone, naming the secret; a store that cannot be asked fails the batch as transient (a
//! retry may help). What a host gets written is remembered as a hash in its host config
//! (`secrets_hash`): Zabbix never returns these values, so a changed value in the store shows as
//! drift only by that hash (docs/product.md §3.2).

use super::{HostConverger, HostOutcome};
use nzj_core::credentials::{SecretValues, secret_names, written_hash};
use nzj_core::desired::{DesiredHost, Difference};
use nzj_runtime::JobFailure;
use nzj_secrets::Lookup;
use std::collections::BTreeSet;
use std::future::Future;

/// The secrets of a batch of hosts, as the store answered.
#[derive(Debug, Clone, Default)]
pub struct HostSecrets {
    lookup: Lookup,
}

impl HostConverger {
    /// Looks up every secret `hosts` name, in one call to the secret store (none when they name
    /// none).
    pub async fn secrets_of(&self, hosts: &[&DesiredHost]) -> Result<HostSecrets, JobFailure> {
        let names: BTreeSet<String> =
            hosts.iter().flat_map(|d| secret_names(&d.macros, d.tls.as_ref())).map(str::to_string).collect();
        if names.is_empty() {
            return Ok(HostSecrets::default());
        }
        let lookup = self.secrets.lookup(&names).await.map_err(|e| JobFailure::transient(e.to_string()))?;
        Ok(HostSecrets { lookup })
    }

    /// Runs `write` on the hosts whose secrets were all found, with a failure naming the
    /// missing secret in the others' places; each written outcome carries its hash.
    pub(super) async fn with_found_secrets<'h, T, Fut>(
        secrets: &HostSecrets,
        hosts: &'h [T],
        desired: impl Fn(&T) -> &DesiredHost,
        write: impl FnOnce(Vec<&'h T>) -> Fut,
    ) -> Vec<Result<HostOutcome, JobFailure>>
    where
        Fut: Future<Output = Vec<Result<HostOutcome, JobFailure>>>,
    {
        let checked: Vec<Result<Option<String>, JobFailure>> = hosts.iter().map(|h| secrets.hash(desired(h))).collect();
        let found: Vec<&T> = hosts.iter().zip(&checked).filter(|(_, c)| c.is_ok()).map(|(h, _)| h).collect();
        let mut written = if found.is_empty() { Vec::new() } else { write(found).await }.into_iter();
        checked
            .into_iter()
            .map(|checked| {
                let hash = checked?;
                written.next().expect("one outcome per written host").map(|mut outcome| {
                    outcome.secrets_hash = hash;
                    outcome
                })
            })
            .collect()
    }
}

impl HostSecrets {
    pub fn values(&self) -> &SecretValues {
        &self.lookup.values
    }

    /// The hash of what `desired` gets written (`None`: no secret), or why it cannot be written.
    pub fn hash(&self, desired: &DesiredHost) -> Result<Option<String>, JobFailure> {
        let names = secret_names(&desired.macros, desired.tls.as_ref());
        if let Some((name, why)) = names.iter().find_map(|n| self.lookup.missing.get_key_value(*n)) {
            return Err(JobFailure::permanent(format!(
                "secret {name:?} (named in NetBox) is not in the secret store: {why}"
            )));
        }
        Ok(written_hash(desired.object, &desired.macros, desired.tls.as_ref(), &self.lookup.values))
    }
}

/// The difference of write-only values: what would be written now (`now`) against what was
/// last written (`written`); never shows a value.
pub fn secrets_drift(written: Option<&str>, now: Option<&str>) -> Option<Difference> {
    let now = now?;
    (written != Some(now)).then(|| Difference {
        field: "secrets".into(),
        desired: "the secret store's values".into(),
        actual: if written.is_some() { "other values (changed since written)" } else { "not written by the product" }
            .into(),
    })
}

//! Every `NZJ_*` variable the product reads, so `nzj serve` can warn at start about one it does
//! not know: `NZJ_ZABIX_URL` set by a tired colleague would otherwise be ignored in silence and
//! Zabbix never configured. The names are documented in docs/product.md §6 and the README.

/// The variables `nzj serve`, the Lambda functions and the CLI read.
pub const KNOWN: &[&str] = &[
    "NZJ_API_TOKEN",
    "NZJ_API_TOKENS_FILE",
    "NZJ_BULK_DLQ_URL",
    "NZJ_BULK_QUEUE_URL",
    "NZJ_CONFIG",
    "NZJ_DATA_DIR",
    "NZJ_DYNAMODB_TABLE",
    "NZJ_ENDPOINT",
    "NZJ_HOST_DLQ_URL",
    "NZJ_HOST_JOB_ATTEMPTS",
    "NZJ_HOST_JOB_BACKOFF_SECONDS",
    "NZJ_HOST_QUEUE_URL",
    "NZJ_HTTP_BODY_TIMEOUT_SECONDS",
    "NZJ_HTTP_HEADER_TIMEOUT_SECONDS",
    "NZJ_HTTP_MAX_CONNECTIONS",
    "NZJ_IMPORT_SETTINGS_FUNCTION",
    "NZJ_JOB_LEASE_SECONDS",
    "NZJ_JOB_RETENTION_DAYS",
    "NZJ_JOB_TIMEOUT_SECONDS",
    "NZJ_LISTEN",
    "NZJ_LOG",
    "NZJ_LOG_FORMAT",
    "NZJ_MAINTENANCE_CLEANUP_FUNCTION",
    "NZJ_MAX_DELETIONS",
    "NZJ_NETBOX_CONNECT_TIMEOUT_SECONDS",
    "NZJ_NETBOX_TIMEOUT_SECONDS",
    "NZJ_NETBOX_TOKEN",
    "NZJ_NETBOX_URL",
    "NZJ_SCHEDULER_TICK_SECONDS",
    "NZJ_SECRETS_DIR",
    "NZJ_SECRETS_SSM_PREFIX",
    "NZJ_SIGV4",
    "NZJ_STORE",
    "NZJ_SYNC_REFRESH_FUNCTION",
    "NZJ_WEBHOOK_SECRET",
    "NZJ_ZABBIX_ARRAY_CONCURRENCY",
    "NZJ_ZABBIX_CONNECT_TIMEOUT_SECONDS",
    "NZJ_ZABBIX_PASSWORD",
    "NZJ_ZABBIX_TIMEOUT_SECONDS",
    "NZJ_ZABBIX_TOKEN",
    "NZJ_ZABBIX_URL",
    "NZJ_ZABBIX_USER",
];

/// Families of names: secrets by name (`NZJ_SECRET_SNMP_RO`), a secret's SSM parameter on AWS
/// (`NZJ_ZABBIX_TOKEN_PARAMETER`), and the project's own test and benchmark knobs.
const FAMILIES: &[&str] = &["NZJ_SECRET_", "NZJ_BENCH_", "NZJ_PEERS_", "NZJ_E2E_"];

/// The `NZJ_*` names among `names` that the product does not read, each with the known name it
/// most likely means, if one is close.
pub fn unknown<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<(String, Option<&'static str>)> {
    let mut unknown: Vec<(String, Option<&'static str>)> = names
        .into_iter()
        .filter(|n| n.starts_with("NZJ_") && !KNOWN.contains(n) && !FAMILIES.iter().any(|f| n.starts_with(f)))
        .filter(|n| !n.strip_suffix("_PARAMETER").is_some_and(|base| KNOWN.contains(&base)))
        .map(|n| (n.to_string(), closest(n)))
        .collect();
    unknown.sort();
    unknown.dedup();
    unknown
}

/// The known name within two edits of `name`, if any.
fn closest(name: &str) -> Option<&'static str> {
    KNOWN.iter().copied().map(|k| (strsim::levenshtein(name, k), k)).filter(|(d, _)| *d <= 2).min().map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_variable_is_named_with_what_it_likely_means() {
        let env = [
            "NZJ_ZABIX_URL",
            "NZJ_ZABBIX_URL",
            "NZJ_SECRET_SNMP_RO",
            "NZJ_ZABBIX_TOKEN_PARAMETER",
            "PATH",
            "NZJ_COLOUR",
        ];
        assert_eq!(
            unknown(env),
            vec![("NZJ_COLOUR".to_string(), None), ("NZJ_ZABIX_URL".to_string(), Some("NZJ_ZABBIX_URL"))]
        );
    }
}

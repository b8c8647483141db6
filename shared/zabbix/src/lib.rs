//! A Zabbix JSON-RPC client for Zabbix 6.0 to 7.4, speaking Zabbix objects.
//!
//! One [`ZabbixClient`] per process: one HTTP client (keep-alive), the version detected once with
//! `apiinfo.version` (sent without auth), one login or token. Every call is counted, so tests can
//! pin how many round trips a scenario costs. Errors keep Zabbix's `code`, `message` and `data`
//! and say whether retrying can help ([`ZabbixError::is_transient`]).
//!
//! Every difference between Zabbix versions lives in this crate: `version.rs` says what differs,
//! `host.rs` encodes and decodes hosts with it, and the typed calls (`hosts.rs`, `host_groups.rs`,
//! `maintenance.rs`, `import.rs`) send it. `batch.rs` is the array-call policy (retry an outage,
//! split a refused array).

mod batch;
mod changed;
mod client;
mod host;
mod host_groups;
mod hosts;
mod import;
mod maintenance;
mod version;

pub use batch::is_ambiguous;
pub use batch::splits;
pub use client::{CallCounts, ZabbixAuth, ZabbixClient, ZabbixClientConfig, ZabbixError};
pub use host::{HostWrite, SoftDelete, ZabbixHost, ZabbixInterface, host_get_params, redact};
pub use hosts::{Managed, Written, is_already_exists, is_gone};
pub use maintenance::{MaintenanceWindow, MaintenanceWrite};
pub use version::ZabbixVersion;

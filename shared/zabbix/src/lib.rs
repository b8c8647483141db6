//! A Zabbix JSON-RPC client for Zabbix 6.0 to 7.4.
//!
//! One [`ZabbixClient`] per process: one HTTP client (keep-alive), the version detected once with
//! `apiinfo.version` (sent without auth), one login or token. Every call is counted, so tests can
//! pin how many round trips a scenario costs. Errors keep Zabbix's `code`, `message` and `data`
//! and say whether retrying can help ([`ZabbixError::is_transient`]).

mod client;
mod version;

pub use client::{CallCounts, ZabbixAuth, ZabbixClient, ZabbixClientConfig, ZabbixError};
pub use version::ZabbixVersion;

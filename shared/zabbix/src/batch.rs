//! The array-call policy: how a write of many objects is sent. Zabbix applies an array call
//! atomically, so a refused array is split in halves until the refused entries are isolated and
//! the rest go through; an outage is no entry's fault, so it is retried (at the delays of
//! `nzj_core::retry`) and then fails the whole array, never split.

use crate::client::{ZabbixClient, ZabbixError};
use crate::host::{items, text};
use futures_util::StreamExt;
use nzj_core::retry::CALL_RETRY_DELAYS;
use serde_json::Value;
use std::ops::Range;

/// Whether an array call's failure may be the fault of some of its entries: Zabbix refused it
/// (validation), or PHP died on its size (an empty HTTP 500). An outage is no entry's fault.
pub fn splits(e: &ZabbixError) -> bool {
    match e {
        ZabbixError::Api { .. } => !e.is_transient(),
        ZabbixError::Http { status: 500, body, .. } => body.trim().is_empty(),
        _ => false,
    }
}

/// Whether a failed call may have been done all the same: a transient failure that is not a
/// refusal (a timeout, a cut connection, an empty or truncated answer, a 5xx). A call that is not
/// idempotent is read back after one, never resent blindly.
pub fn is_ambiguous(e: &ZabbixError) -> bool {
    e.is_transient() && !splits(e)
}

/// The ranges of `len` entries in arrays of at most `batch`, in order.
fn chunks(len: usize, batch: usize) -> Vec<Range<usize>> {
    let batch = batch.max(1);
    (0..len).step_by(batch).map(|start| start..(start + batch).min(len)).collect()
}

impl ZabbixClient {
    /// Calls `method`, trying again twice when Zabbix fails transiently (a timeout, a 5xx, its
    /// database failing under concurrent writes) and the failure is not one to split on. A write
    /// that timed out but was done shows up on the next try as "already exists".
    pub async fn call_retrying(&self, method: &str, params: Value) -> Result<Value, ZabbixError> {
        let mut delays = CALL_RETRY_DELAYS.into_iter();
        loop {
            match self.call(method, params.clone()).await {
                Err(e) if is_ambiguous(&e) => match delays.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(e),
                },
                answer => return answer,
            }
        }
    }

    /// Calls `method` with `params` in arrays of at most `batch`, split on refusal. One result
    /// per entry, in order: the id Zabbix answered under `ids_key` (e.g. `hostids`), or why that
    /// entry failed.
    pub async fn call_split(
        &self,
        method: &str,
        params: &[Value],
        batch: usize,
        ids_key: &str,
    ) -> Vec<Result<String, ZabbixError>> {
        self.split(method, params, batch, ids_key, true).await
    }

    /// [`ZabbixClient::call_split`] for a call that is not idempotent: each array is sent once;
    /// an ambiguous failure is the caller's to resolve (see `create_hosts`).
    pub async fn call_split_once(
        &self,
        method: &str,
        params: &[Value],
        batch: usize,
        ids_key: &str,
    ) -> Vec<Result<String, ZabbixError>> {
        self.split(method, params, batch, ids_key, false).await
    }

    /// The arrays of `params` sent [`ZabbixClient::array_concurrency`] at a time (each array's
    /// own splits in turn): arrays hold different objects, so their order does not matter, and
    /// a write Zabbix's database refuses under the concurrency is an ambiguous failure the caller
    /// resolves as after a timeout (retried, or read back before a create is sent again).
    async fn split(
        &self,
        method: &str,
        params: &[Value],
        batch: usize,
        ids_key: &str,
        retry: bool,
    ) -> Vec<Result<String, ZabbixError>> {
        let arrays = chunks(params.len(), batch);
        futures_util::stream::iter(arrays)
            .map(|range| self.split_array(method, params, range, ids_key, retry))
            .buffered(self.array_concurrency())
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// One array (`range` of `params`), split in halves on refusal; one result per entry, in order.
    async fn split_array(
        &self,
        method: &str,
        params: &[Value],
        range: Range<usize>,
        ids_key: &str,
        retry: bool,
    ) -> Vec<Result<String, ZabbixError>> {
        let offset = range.start;
        let mut results: Vec<Option<Result<String, ZabbixError>>> = vec![None; range.len()];
        let mut work = vec![range];
        while let Some(range) = work.pop() {
            let call = Value::Array(params[range.clone()].to_vec());
            let answer = if retry { self.call_retrying(method, call).await } else { self.call(method, call).await };
            match answer {
                Ok(answer) => {
                    let ids = items(&answer[ids_key]);
                    for (k, i) in range.enumerate() {
                        results[i - offset] = Some(Ok(ids.get(k).map(text).unwrap_or_default()));
                    }
                }
                Err(e) if range.len() > 1 && splits(&e) => {
                    let middle = range.start + range.len() / 2;
                    work.push(middle..range.end);
                    work.push(range.start..middle);
                }
                Err(e) => {
                    for i in range {
                        results[i - offset] = Some(Err(e.clone()));
                    }
                }
            }
        }
        results.into_iter().map(|r| r.expect("every entry is answered")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_cut_in_order_with_a_short_last_one() {
        assert_eq!(chunks(5, 2), vec![0..2, 2..4, 4..5]);
        assert_eq!(chunks(3, 0), vec![0..1, 1..2, 2..3]);
        assert!(chunks(0, 10).is_empty());
    }

    #[test]
    fn a_refusal_or_an_empty_500_splits_an_outage_does_not() {
        let api = |data: &str| ZabbixError::Api {
            method: "host.create".into(),
            code: -32602,
            message: "Invalid params.".into(),
            data: data.into(),
        };
        assert!(splits(&api("Host with the same name \"a\" already exists.")));
        assert!(!splits(&api("Database error occurred.")));
        assert!(splits(&ZabbixError::Http { method: "m".into(), status: 500, body: " ".into() }));
        assert!(!splits(&ZabbixError::Http { method: "m".into(), status: 502, body: String::new() }));
        assert!(!splits(&ZabbixError::Transport { method: "m".into(), message: "timed out".into() }));
    }
}

//! The outcome of an adapter's last write, for readiness: a store or queue whose writes fail (a
//! full disk, read-only files) must not report ready because a small probe still fits.

use std::sync::Mutex;

/// Why the last write failed, until a later one succeeds.
#[derive(Debug, Default)]
pub struct LastWrite(Mutex<Option<String>>);

impl LastWrite {
    /// Records how a write ended, and hands the result back.
    pub fn record<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> Result<T, E> {
        self.set(result.as_ref().err().map(ToString::to_string));
        result
    }

    /// Records the last write's failure (`None`: it succeeded).
    pub fn set(&self, failure: Option<String>) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = failure;
    }

    /// `Err(reason)` if the last write failed.
    pub fn check(&self) -> Result<(), String> {
        match self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone() {
            None => Ok(()),
            Some(reason) => Err(format!("its last write failed: {reason}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_stands_until_a_write_succeeds() {
        let last = LastWrite::default();
        assert!(last.check().is_ok());
        let _ = last.record::<(), _>(Err("disk I/O error"));
        assert!(last.check().unwrap_err().contains("disk I/O error"));
        let _ = last.record::<(), &str>(Ok(()));
        assert!(last.check().is_ok());
    }
}

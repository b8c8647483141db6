//! The deletion breaker (docs/product.md §4): at most `max_deletions` host deletions (soft or
//! hard) in any window of `deletion_window_minutes`, counted across every path that deletes
//! (host jobs from webhooks, SyncHostsNow). The window is one stored document; taking room in it
//! is a conditional write, so concurrent workers never admit more than the limit between them.
//! A deletion that finds no room is held, never run and never dropped.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// When each deletion admitted in the current window was admitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionWindow {
    pub admitted: Vec<DateTime<Utc>>,
    /// Optimistic-concurrency version, set by the store on every write.
    #[serde(default)]
    pub version: u64,
}

impl DeletionWindow {
    /// Admits up to `wanted` deletions at `now` within `limit` per `window`, forgetting those
    /// older than the window; returns how many were admitted (the caller holds the rest).
    pub fn admit(&mut self, wanted: usize, limit: usize, window: Duration, now: DateTime<Utc>) -> usize {
        // A time ahead of `now` (another worker's clock) still counts: never undercount.
        self.admitted.retain(|t| *t > now - window);
        let admitted = wanted.min(limit.saturating_sub(self.admitted.len()));
        self.admitted.extend(std::iter::repeat_n(now, admitted));
        admitted
    }

    /// Deletions admitted in the window ending at `now`.
    pub fn used(&self, window: Duration, now: DateTime<Utc>) -> usize {
        self.admitted.iter().filter(|t| **t > now - window).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_admits_up_to_the_limit_then_none_until_old_deletions_leave_it() {
        let start = Utc::now();
        let window = Duration::minutes(10);
        let mut w = DeletionWindow::default();
        assert_eq!(w.admit(30, 50, window, start), 30);
        assert_eq!(w.admit(30, 50, window, start + Duration::minutes(5)), 20, "only the room left");
        assert_eq!(w.admit(1, 50, window, start + Duration::minutes(9)), 0);
        // The first 30 are older than the window now; the 20 are not.
        assert_eq!(w.admit(40, 50, window, start + Duration::minutes(11)), 30);
        assert_eq!(w.used(window, start + Duration::minutes(11)), 50);
        assert_eq!(w.admitted.len(), 50, "nothing older than the window is kept");
    }
}

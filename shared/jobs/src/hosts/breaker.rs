//! The deletion breaker on the deleting paths (docs/product.md §4): before a host job or a sync
//! deletes, it takes room in the stored deletion window with a conditional write (a conflict
//! with another worker re-reads and tries again), so between them they never delete more than
//! `max_deletions` per `deletion_window_minutes`. What finds no room is held.

use super::HostConverger;
use chrono::{DateTime, Utc};
use nzj_core::settings::Settings;
use nzj_store::{JobStore, StoreError, Write};

/// Tries before a commit that keeps conflicting is reported (each conflict is another worker's
/// success, so this many in a row means hundreds of deletions at the same moment).
const ADMIT_TRIES: usize = 64;

/// How many of `wanted` deletions may run now, at most `max_deletions` per
/// `deletion_window_minutes` between every caller on `store`; the caller holds the rest.
pub async fn admit_deletions(
    store: &dyn JobStore,
    settings: &Settings,
    wanted: usize,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if wanted == 0 {
        return Ok(0);
    }
    let window = chrono::Duration::minutes(settings.deletion_window_minutes as i64);
    for _ in 0..ADMIT_TRIES {
        let mut current = store.get_deletion_window().await?;
        let admitted = current.admit(wanted, settings.max_deletions, window, now);
        if admitted == 0 {
            return Ok(0);
        }
        match store.commit(vec![Write::deletion_window(current)]).await {
            Ok(()) => return Ok(admitted),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable("the deletion window kept changing while it was read".into()))
}

impl HostConverger {
    /// [`admit_deletions`] on this converger's store.
    pub async fn admit_deletions(
        &self,
        settings: &Settings,
        wanted: usize,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        admit_deletions(self.store.as_ref(), settings, wanted, now).await
    }

    /// Why a deletion is held: the limit, the window, and what to do.
    pub fn held_reason(settings: &Settings) -> String {
        format!(
            "deletion held by the breaker: {} hosts were deleted in the last {} minutes (max_deletions); \
             release it with `nzj deletions release`, or discard it to keep the host",
            settings.max_deletions, settings.deletion_window_minutes
        )
    }
}

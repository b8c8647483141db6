//! The one retry and settlement policy. Every consumer of a queue (the host worker, the sync
//! worker, in `nzj serve` and on Lambda) and every array call to Zabbix asks this module what to
//! do after a failure, instead of deciding on its own:
//!
//! - within a call: an outage is tried again at once, after [`CALL_RETRY_DELAYS`];
//! - across deliveries: a [`FailureKind::Transient`] failure leaves the job pending and its message
//!   comes back after a backoff, until the last attempt, when the job fails and the message goes
//!   to the dead-letter queue; a [`FailureKind::Permanent`] failure fails the job at once and the
//!   message is gone; work that could not even be recorded counts as transient (nothing is lost).
//!
//! Pure: (outcome, receive count, policy) -> [`Settlement`]. See `docs/guarantees.md`.

use std::time::Duration;

/// Whether retrying may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// A later try may succeed: a peer was unreachable, timed out, answered 5xx, or the store was
    /// away or lost a race.
    Transient,
    /// Retrying will not fix it: validation, a breaker, refused credentials, a malformed object.
    Permanent,
}

/// How a delivered message is to be settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Gone from the queue: the job is completed or failed for good (or was settled already).
    Done,
    /// Back in the queue, visible again after the delay.
    RetryAfter(Duration),
    /// The last attempt failed: the job is failed, the message goes to the dead-letter queue.
    DeadLetter,
    /// Not an attempt: another worker holds the job with a live lease. Back in the queue after
    /// the delay (when the lease is over), without counting toward the dead-letter queue.
    Postpone(Duration),
}

/// The delays between the tries of one call that failed transiently (so three tries in all).
pub const CALL_RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];

/// The most a message waits between two deliveries, however many attempts it had.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Attempts and backoff of one queue: the same numbers as the queue's redrive setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Receives of a message before it goes to the dead-letter queue.
    pub max_attempts: u32,
    /// Backoff of the first retry; doubled for each further one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32, backoff: Duration) -> RetryPolicy {
        RetryPolicy { max_attempts, backoff, max_backoff: MAX_BACKOFF }
    }

    /// The delay before retry number `attempt` (1 for the first).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }

    /// Whether a transient failure on this receive may wait for another one.
    pub fn has_attempts_left(&self, receive_count: u32) -> bool {
        receive_count < self.max_attempts
    }

    /// How to settle a message on its `receive_count`th receive, given how its work ended:
    /// `Ok` settled (completed or failed for good), `Err(kind)` failed with that kind and not
    /// settled. Work that was not recorded at all is `Err(Transient)`.
    pub fn settle(&self, outcome: Result<(), FailureKind>, receive_count: u32) -> Settlement {
        match outcome {
            Ok(()) | Err(FailureKind::Permanent) => Settlement::Done,
            Err(FailureKind::Transient) if self.has_attempts_left(receive_count) => {
                Settlement::RetryAfter(self.backoff(receive_count))
            }
            Err(FailureKind::Transient) => Settlement::DeadLetter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy =
        RetryPolicy { max_attempts: 3, backoff: Duration::from_secs(10), max_backoff: Duration::from_secs(25) };

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(POLICY.backoff(1), Duration::from_secs(10));
        assert_eq!(POLICY.backoff(2), Duration::from_secs(20));
        assert_eq!(POLICY.backoff(3), Duration::from_secs(25));
        assert_eq!(POLICY.backoff(u32::MAX), Duration::from_secs(25));
    }

    #[test]
    fn a_transient_failure_comes_back_until_the_last_attempt_then_dead_letters() {
        let transient = Err(FailureKind::Transient);
        assert_eq!(POLICY.settle(transient, 1), Settlement::RetryAfter(Duration::from_secs(10)));
        assert_eq!(POLICY.settle(transient, 2), Settlement::RetryAfter(Duration::from_secs(20)));
        assert_eq!(POLICY.settle(transient, 3), Settlement::DeadLetter);
        assert_eq!(POLICY.settle(transient, 9), Settlement::DeadLetter);
    }

    #[test]
    fn settled_work_and_permanent_failures_are_done_on_any_attempt() {
        for receive in [1, 3, 7] {
            assert_eq!(POLICY.settle(Ok(()), receive), Settlement::Done);
            assert_eq!(POLICY.settle(Err(FailureKind::Permanent), receive), Settlement::Done);
        }
    }
}

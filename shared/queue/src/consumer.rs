//! What every consumer of a queue shares, on `nzj serve`'s poll loop and in a Lambda's SQS batch:
//! the handler of one message, settling it the way the retry policy said, and running a batch as
//! FIFO groups (groups side by side, each group's messages in order, the rest of a group held back
//! once one of its messages is not done, so they come back in order).

use crate::{Delivery, JobQueue, Message, QueueError};
use async_trait::async_trait;
use nzj_core::retry::Settlement;
use std::future::Future;
use std::time::Duration;

/// What a queue consumer does with one message: run it and say how to settle it. The host worker
/// and the sync worker both are one.
#[async_trait]
pub trait MessageHandler<M: Message>: Send + Sync {
    async fn handle(&self, delivery: &Delivery<M>) -> Settlement;
    fn queue(&self) -> &dyn JobQueue<M>;
}

/// Settles a message on `queue` the way its handler said.
pub async fn settle<M: Message>(
    queue: &dyn JobQueue<M>,
    delivery: &Delivery<M>,
    settlement: &Settlement,
) -> Result<(), QueueError> {
    match settlement {
        Settlement::Done => queue.delete(&delivery.receipt).await,
        Settlement::RetryAfter(delay) => queue.release(delivery, *delay).await,
        Settlement::DeadLetter => queue.release(delivery, Duration::ZERO).await,
        Settlement::Postpone(delay) => queue.postpone(delivery, *delay).await,
    }
}

/// Runs `items` as FIFO groups (by `group_of`): groups side by side, each group's items in order
/// with `run` (which hands its item back with its settlement); once an item of a group is not
/// `Done`, the rest of that group is not run. Returns every item with its settlement, `None` for
/// an item held back.
pub async fn run_fifo_groups<T, K, Fut>(
    items: Vec<T>,
    group_of: impl Fn(&T) -> K,
    run: impl Fn(T) -> Fut,
) -> Vec<(T, Option<Settlement>)>
where
    K: PartialEq,
    Fut: Future<Output = (T, Settlement)>,
{
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    for item in items {
        let key = group_of(&item);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(item),
            None => groups.push((key, vec![item])),
        }
    }
    let run = &run;
    let runs = groups.into_iter().map(|(_, group)| async move {
        let mut out = Vec::with_capacity(group.len());
        let mut blocked = false;
        for item in group {
            if blocked {
                out.push((item, None));
                continue;
            }
            let (item, settlement) = run(item).await;
            blocked = settlement != Settlement::Done;
            out.push((item, Some(settlement)));
        }
        out
    });
    futures_util::future::join_all(runs).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_group_stops_at_its_first_unfinished_item_and_other_groups_go_on() {
        let ran = Mutex::new(Vec::new());
        let items = vec![("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2)];
        let out = run_fifo_groups(
            items,
            |(group, _)| *group,
            |item| {
                ran.lock().unwrap().push(item);
                let settlement =
                    if item == ("a", 2) { Settlement::RetryAfter(Duration::ZERO) } else { Settlement::Done };
                async move { (item, settlement) }
            },
        )
        .await;
        let held: Vec<_> = out.iter().filter(|(_, s)| s.is_none()).map(|(i, _)| *i).collect();
        assert_eq!(held, vec![("a", 3)]);
        assert!(!ran.lock().unwrap().contains(&("a", 3)));
        assert!(ran.lock().unwrap().contains(&("b", 2)));
    }
}

//! What every consumer of a queue shares, on `nzj serve`'s poll loop and in a Lambda's SQS batch:
//! the handler of one message (or of a round of them), settling it the way the retry policy said,
//! and running a batch as FIFO groups in rounds (one message of each group per round, each group's
//! messages in order, the rest of a group held back once one of its messages is not done, so they
//! come back in order).

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

    /// A round of messages of different groups (see [`run_fifo_rounds`]), one settlement each, in
    /// order. Run side by side unless the handler batches them (the host worker does).
    async fn handle_round(&self, deliveries: &[&Delivery<M>]) -> Vec<Settlement> {
        futures_util::future::join_all(deliveries.iter().map(|d| self.handle(d))).await
    }

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

/// Runs `items` as FIFO groups (by `group_of`) in rounds: each round hands `run` the next item of
/// every group still going, all at once (so a consumer can batch them), and gets each back with
/// its settlement, in order; once an item of a group is not `Done`, the rest of that group is not
/// run. Returns every item with its settlement, `None` for an item held back.
pub async fn run_fifo_rounds<T, K, Fut>(
    items: Vec<T>,
    group_of: impl Fn(&T) -> K,
    run: impl Fn(Vec<T>) -> Fut,
) -> Vec<(T, Option<Settlement>)>
where
    K: PartialEq,
    Fut: Future<Output = Vec<(T, Settlement)>>,
{
    let mut groups: Vec<(K, std::collections::VecDeque<T>)> = Vec::new();
    for item in items {
        let key = group_of(&item);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push_back(item),
            None => groups.push((key, std::collections::VecDeque::from([item]))),
        }
    }
    let mut queues: Vec<std::collections::VecDeque<T>> = groups.into_iter().map(|(_, group)| group).collect();
    let mut out = Vec::new();
    loop {
        let (round, going): (Vec<T>, Vec<usize>) =
            queues.iter_mut().enumerate().filter_map(|(i, q)| Some((q.pop_front()?, i))).unzip();
        if round.is_empty() {
            return out;
        }
        for ((item, settlement), group) in run(round).await.into_iter().zip(going) {
            if settlement != Settlement::Done {
                out.extend(queues[group].drain(..).map(|held| (held, None)));
            }
            out.push((item, Some(settlement)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_round_takes_one_item_per_group_and_a_group_stops_at_its_first_unfinished_item() {
        let rounds = Mutex::new(Vec::new());
        let items = vec![("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2), ("b", 3)];
        let out = run_fifo_rounds(
            items,
            |(group, _)| *group,
            |round| {
                rounds.lock().unwrap().push(round.clone());
                let settled = round
                    .into_iter()
                    .map(|item| {
                        let settlement =
                            if item == ("a", 2) { Settlement::RetryAfter(Duration::ZERO) } else { Settlement::Done };
                        (item, settlement)
                    })
                    .collect();
                async move { settled }
            },
        )
        .await;
        let held: Vec<_> = out.iter().filter(|(_, s)| s.is_none()).map(|(i, _)| *i).collect();
        assert_eq!(held, vec![("a", 3)]);
        assert_eq!(out.len(), 6, "every item comes back once");
        // Each round holds one item per group, in each group's order.
        assert_eq!(*rounds.lock().unwrap(), vec![vec![("a", 1), ("b", 1)], vec![("a", 2), ("b", 2)], vec![("b", 3)]]);
    }
}

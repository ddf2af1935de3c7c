//! The in-process message bus: room events fanned out to every subscriber of this
//! process through a bounded `tokio::sync::broadcast` channel.
//!
//! Bounded on purpose: a subscriber that falls more than the capacity behind loses the
//! oldest events it has not read and is told so ([`SubscriptionError::Lagged`]); it then
//! catches up from the store, which holds everything. Nothing a slow subscriber does can
//! make the bus grow. Serves one instance: several instances need a bus between them
//! (PostgreSQL `LISTEN/NOTIFY`) behind the same port.

use async_trait::async_trait;
use domain::ports::{AdapterError, BusSubscription, MessageBus, RoomEvent, SubscriptionError};
use tokio::sync::broadcast::{self, error::RecvError};

/// The events held for the slowest subscriber before it lags: 1024. An event is small
/// (a room name and a number, for a message), so this is at most a few hundred KiB;
/// a subscriber 1024 events behind is better served by one read of the store than by
/// 1024 more events.
pub const DEFAULT_BUS_CAPACITY: usize = 1024;

/// The largest capacity accepted; larger requests are lowered to it. A subscriber this
/// far behind should be reading the store.
pub const MAX_BUS_CAPACITY: usize = 1 << 16;

/// The [`MessageBus`] port within one process.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    sender: broadcast::Sender<RoomEvent>,
}

impl InProcessBus {
    /// A bus that holds up to `capacity` events for its slowest subscriber (at least
    /// one, at most [`MAX_BUS_CAPACITY`]).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        // `broadcast::channel` refuses a capacity of zero (and absurd ones) by panicking.
        let (sender, _) = broadcast::channel(capacity.clamp(1, MAX_BUS_CAPACITY));
        Self { sender }
    }
}

impl Default for InProcessBus {
    /// A bus of [`DEFAULT_BUS_CAPACITY`].
    fn default() -> Self {
        Self::with_capacity(DEFAULT_BUS_CAPACITY)
    }
}

#[async_trait]
impl MessageBus for InProcessBus {
    async fn publish(&self, event: RoomEvent) -> Result<(), AdapterError> {
        // `send` fails only when nobody subscribes: no one to tell is not a failure.
        let _receivers = self.sender.send(event);
        Ok(())
    }

    fn subscribe(&self) -> Box<dyn BusSubscription> {
        Box::new(InProcessSubscription(self.sender.subscribe()))
    }
}

/// One subscriber's end of an [`InProcessBus`].
struct InProcessSubscription(broadcast::Receiver<RoomEvent>);

#[async_trait]
impl BusSubscription for InProcessSubscription {
    async fn next(&mut self) -> Result<RoomEvent, SubscriptionError> {
        // `recv` is cancel-safe, as the port promises.
        self.0.recv().await.map_err(|error| match error {
            RecvError::Lagged(missed) => SubscriptionError::Lagged { missed },
            RecvError::Closed => SubscriptionError::Closed,
        })
    }
}

#[cfg(test)]
mod tests {
    use domain::{RoomName, Seq};

    use super::*;

    fn published(seq: u64) -> RoomEvent {
        RoomEvent::Published {
            room: RoomName::parse("general").unwrap(),
            seq: Seq::new(seq),
            message: None,
        }
    }

    #[tokio::test]
    async fn honours_the_message_bus_contract() {
        test_support::contracts::bus::run(|| async {
            Box::new(InProcessBus::default()) as Box<dyn MessageBus>
        })
        .await;
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_how_much_it_missed_then_gets_newer_events() {
        let bus = InProcessBus::with_capacity(2);
        let mut slow = bus.subscribe();
        for seq in 1..=5 {
            bus.publish(published(seq)).await.unwrap();
        }

        assert_eq!(
            slow.next().await,
            Err(SubscriptionError::Lagged { missed: 3 })
        );
        assert_eq!(slow.next().await, Ok(published(4)));
        assert_eq!(slow.next().await, Ok(published(5)));
    }

    #[tokio::test]
    async fn a_subscription_outliving_its_bus_is_told_it_is_closed_every_time() {
        let bus = InProcessBus::default();
        let mut subscription = bus.subscribe();
        bus.publish(published(1)).await.unwrap();
        drop(bus);

        assert_eq!(
            subscription.next().await,
            Ok(published(1)),
            "what was sent stays"
        );
        assert_eq!(subscription.next().await, Err(SubscriptionError::Closed));
        assert_eq!(subscription.next().await, Err(SubscriptionError::Closed));
    }

    #[tokio::test]
    async fn a_capacity_of_zero_is_taken_as_one_rather_than_a_panic() {
        let bus = InProcessBus::with_capacity(0);
        let mut subscription = bus.subscribe();
        bus.publish(published(1)).await.unwrap();
        bus.publish(published(2)).await.unwrap();

        assert_eq!(
            subscription.next().await,
            Err(SubscriptionError::Lagged { missed: 1 })
        );
        assert_eq!(subscription.next().await, Ok(published(2)));
        let huge = InProcessBus::with_capacity(usize::MAX);
        huge.publish(published(1)).await.unwrap();
    }
}

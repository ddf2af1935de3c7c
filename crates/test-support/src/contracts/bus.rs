//! The contract of [`MessageBus`] and its [`BusSubscription`]s.
//!
//! What depends on an adapter's bounds (when a subscriber lags, when the bus closes) is
//! tested beside each adapter; these cases hold for every bus. A bus that never delivers
//! an event makes its case wait for ever: the case is named on standard error first.

use std::future::Future;
use std::sync::Arc;

use domain::ports::{MessageBus, RoomEvent};
use domain::{Message, MessageBody, MessageId, RoomName, Sender, Seq, UserId};
use uuid::Uuid;

/// Runs every case of the contract against buses made by `fresh`.
///
/// # Panics
/// When the adapter breaks the contract.
pub async fn run<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Box<dyn MessageBus>>,
{
    eprintln!("MessageBus contract: every subscriber gets every event in publish order");
    every_subscriber_gets_every_event_in_publish_order(fresh().await.as_ref()).await;
    eprintln!("MessageBus contract: a subscription gets only what is published after it");
    a_subscription_gets_only_what_is_published_after_it(fresh().await.as_ref()).await;
    eprintln!("MessageBus contract: publishing with no subscriber is not an error");
    publishing_with_no_subscriber_is_not_an_error(fresh().await.as_ref()).await;
    eprintln!("MessageBus contract: this process's subscribers get the message an event carries");
    this_processs_subscribers_get_the_message_an_event_carries(fresh().await.as_ref()).await;
}

/// Message `seq` was published in "general".
fn published(seq: u64) -> RoomEvent {
    RoomEvent::Published {
        room: RoomName::parse("general").unwrap(),
        seq: Seq::new(seq),
        message: None,
    }
}

/// Someone joined "general".
fn joined() -> RoomEvent {
    RoomEvent::MembershipChanged {
        user: UserId::from_uuid(Uuid::from_u128(0xada)),
        room: RoomName::parse("general").unwrap(),
        joined: true,
    }
}

async fn every_subscriber_gets_every_event_in_publish_order(bus: &dyn MessageBus) {
    let mut first = bus.subscribe();
    let mut second = bus.subscribe();
    let events = [published(1), joined(), published(2)];
    for event in events.clone() {
        bus.publish(event).await.unwrap();
    }
    for subscription in [&mut first, &mut second] {
        for expected in &events {
            assert_eq!(subscription.next().await.as_ref(), Ok(expected));
        }
    }
}

async fn a_subscription_gets_only_what_is_published_after_it(bus: &dyn MessageBus) {
    let mut early = bus.subscribe();
    bus.publish(published(1)).await.unwrap();
    let mut late = bus.subscribe();
    bus.publish(published(2)).await.unwrap();

    assert_eq!(early.next().await, Ok(published(1)));
    assert_eq!(early.next().await, Ok(published(2)));
    assert_eq!(
        late.next().await,
        Ok(published(2)),
        "what came before the subscription is read from the store, not the bus"
    );
}

async fn publishing_with_no_subscriber_is_not_an_error(bus: &dyn MessageBus) {
    bus.publish(published(1)).await.unwrap();
    let mut subscription = bus.subscribe();
    bus.publish(published(2)).await.unwrap();
    assert_eq!(subscription.next().await, Ok(published(2)));
}

/// Subscribers in the publishing process read no store for a message they are owed
/// next: the message must reach them with its event, the same allocation for all.
async fn this_processs_subscribers_get_the_message_an_event_carries(bus: &dyn MessageBus) {
    let mut first = bus.subscribe();
    let mut second = bus.subscribe();
    let message = Arc::new(Message {
        room: RoomName::parse("general").unwrap(),
        seq: Seq::new(1),
        id: MessageId::parse("m-1").unwrap(),
        sender: Sender {
            id: UserId::from_uuid(Uuid::from_u128(0xada)),
            first_name: crate::fixtures::name("Ada"),
            last_name: crate::fixtures::name("Lovelace"),
        },
        body: MessageBody::parse("hello", 100).unwrap(),
        created_at: crate::fixtures::now(),
    });
    bus.publish(RoomEvent::Published {
        room: message.room.clone(),
        seq: message.seq,
        message: Some(Arc::clone(&message)),
    })
    .await
    .unwrap();

    for subscription in [&mut first, &mut second] {
        let event = subscription.next().await;
        // The published message itself, shared, not copied.
        let carried = matches!(
            &event,
            Ok(RoomEvent::Published { message: Some(carried), .. }) if Arc::ptr_eq(carried, &message)
        );
        assert!(
            carried,
            "expected the message itself with its event, got {event:?}"
        );
    }
}

//! The message bus: how every connection, on this instance or another, learns that
//! something happened in a room.
//!
//! The bus is a doorbell, not a mailbox. The store ([`super::RoomStore`]) is the source
//! of truth; an event says where to look (`Published { room, seq }`), and whoever hears
//! it reads the messages from the store. So the bus may be bounded, may drop events for
//! a subscriber that falls behind (it is told: [`SubscriptionError::Lagged`]) and may
//! lose events while a broker is unreachable: a subscriber catches up from the store,
//! and a member who missed everything still gets it on their next connection, from
//! their cursor.
//!
//! Within the publishing process an event may also carry the stored message itself
//! (`Published { message: Some(..) }`), so that a subscriber owed exactly that message
//! sends it without a store read: one read per published message per process instead
//! of one per member connection. It is a shortcut, never the only way: an event that
//! crosses processes (PostgreSQL `LISTEN/NOTIFY`) rings only (`message: None`), and a
//! subscriber owed more than that one message reads the store as before.

use std::sync::Arc;

use async_trait::async_trait;

use super::AdapterError;
use crate::{Message, RoomName, Sender, Seq, SessionId, UserId};

/// Something that happened that connections must act on: in rooms, or to the session a
/// connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// A message was stored in `room` under `seq`. A connection following the room that
    /// has sent less than `seq` there reads what it has not sent from the store (see
    /// `application::DeliveryTracker` for the rule), so lost, merged or reordered
    /// events do no harm. Never sent for a duplicate publish: nothing new was stored.
    Published {
        /// Where.
        room: RoomName,
        /// The message's position: the room's `last_seq` when it was stored.
        seq: Seq,
        /// The message as stored, when the event has not left the publishing process:
        /// shared by every subscriber (one allocation, whatever their number). A
        /// connection that has sent everything up to `seq - 1` sends it as is
        /// (`application::DeliveryTracker::admit_announced`); any other reads the store.
        /// `None` when the event came through a broker, which carries only `room` and
        /// `seq`.
        message: Option<Arc<Message>>,
    },
    /// `user` became a member of `room` (`joined: true`) or stopped being one. Every
    /// open connection of the user starts or stops following the room: membership is
    /// the user's, not one connection's.
    MembershipChanged {
        /// Whose membership.
        user: UserId,
        /// Of which room.
        room: RoomName,
        /// Joined (`true`) or left (`false`).
        joined: bool,
    },
    /// `user`'s first connection opened (`present: true`) or their last one closed.
    /// Connections that follow any of `rooms` tell their client (`presence_join` or
    /// `presence_leave` in each room they share), with no store read: the event names
    /// the rooms and the user as members see them.
    PresenceChanged {
        /// Who, as members see them.
        user: Sender,
        /// The rooms the user was a member of at that moment.
        rooms: Vec<RoomName>,
        /// Came (`true`) or went (`false`).
        present: bool,
    },
    /// `session` ended (logout, deletion, reuse detection, password change): every
    /// connection authorised by one of its access tokens closes with 1008. Its tokens
    /// are refused by the store from the same moment, so an event lost on the way
    /// leaves a connection open at most until it next checks its session (an `auth`
    /// renewal, a lag) or its token expires.
    SessionEnded {
        /// Which session.
        session: SessionId,
    },
}

/// Why a subscription has no event to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// The subscriber fell behind and `missed` events were dropped for it (or events
    /// were lost while a broker was unreachable; `missed` is then a lower bound). The
    /// subscription goes on with newer events; the subscriber catches up from the store:
    /// it reads its user's rooms again and, in each room it follows, what lies above
    /// what it has sent.
    #[error("the subscriber fell behind; {missed} events were dropped")]
    Lagged {
        /// How many events were dropped, at least.
        missed: u64,
    },
    /// The bus is closed for good (the service is stopping): no event will come.
    #[error("the message bus is closed")]
    Closed,
}

/// Publishes room events to every subscriber.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MessageBus: Send + Sync {
    /// Hands `event` to every subscription open now, on every instance. Returns once
    /// the bus has taken the event, not once subscribers have handled it. Publishing
    /// with no subscriber at all is not an error.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the event could not be handed over (a broker
    /// that cannot be reached); the event is then lost, which costs latency, not
    /// messages: the store holds them, and the next event or connection catches up.
    async fn publish(&self, event: RoomEvent) -> Result<(), AdapterError>;

    /// A new subscription, receiving every event published from now on, in the order
    /// the bus took them (events published before it are not replayed: a subscriber
    /// subscribes first, then reads the store, so nothing falls between the two).
    fn subscribe(&self) -> Box<dyn BusSubscription>;
}

/// One subscriber's stream of events.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BusSubscription: Send {
    /// The next event, waiting for one as long as it takes. Cancel-safe: dropping the
    /// future loses no event, so a connection can `select!` on it.
    ///
    /// # Errors
    /// MUST return [`SubscriptionError::Lagged`] (once, then newer events) when events
    /// were dropped for this subscriber, and [`SubscriptionError::Closed`] once the bus
    /// is closed, then every time after.
    async fn next(&mut self) -> Result<RoomEvent, SubscriptionError>;
}

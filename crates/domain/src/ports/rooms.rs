//! Where rooms, their members' cursors and their messages live.
//!
//! The store is the source of truth for everything a member is owed: a message exists once
//! [`RoomStore::publish`] has returned it, and what a member has not acknowledged is read
//! back from here after a disconnect, a restart or a lost notification. Two consequences
//! shape the rest of the design:
//!
//! - **Sequence numbers are assigned by the store**, inside the transaction that stores
//!   the message, so publishers on several instances sharing one database get gap-free,
//!   increasing `seq`s without coordinating in memory.
//! - **A message-bus event needs only the room and the `seq`.** An instance that hears
//!   `(room, seq)` reads [`RoomStore::messages_after`] from the last `seq` it fanned out
//!   in that room, so a lost, merged or reordered notification heals itself at the next
//!   one, and a body of up to `MESSAGE_MAX_BYTES` never has to fit in a notification
//!   (PostgreSQL's NOTIFY payload stops at 8000 bytes). Membership changes travel as
//!   `(user, room, joined | left)` for the same reason: the user's connections on every
//!   instance subscribe or unsubscribe, and read the rest from here.

use std::num::NonZeroU32;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::AdapterError;
use crate::{
    HistoryPage, HistoryRequest, Joined, NewMessage, PageLimit, Published, Replay, Retention,
    RoomName, RoomSummary, Seq, UserId,
};

/// Why an operation that needs a member of an existing room was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoomAccessError {
    /// No room has this name (rooms come into being at their first join).
    #[error("no such room")]
    RoomNotFound,
    /// The room exists, but the user is not one of its members.
    #[error("not a member of the room")]
    NotMember,
    /// The store failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Where rooms, memberships with their delivery cursors, and messages live.
///
/// Every method is one atomic step: each answer is read from one consistent state, and
/// a write either happens whole or not at all (nothing is kept when an error is
/// returned). Member-only operations check membership inside that same step, so a
/// `leave` racing a `publish` cannot let a former member's message through.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Makes `user` a member of `room`, creating the room (with `last_seq` 0) at its
    /// first join. A new member's cursor starts at the room's `last_seq`: they are owed
    /// what is published from now on, and read older history on request. Joining again
    /// changes nothing (the cursor is kept) and answers `newly_joined: false`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or `user` is not a stored user; nothing is
    /// stored then.
    async fn join(
        &self,
        room: &RoomName,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Joined, AdapterError>;

    /// Ends `user`'s membership of `room` and forgets their cursor. The room, its
    /// `last_seq` and its messages stay; joining again starts a new member's cursor.
    ///
    /// # Errors
    /// MUST return [`RoomAccessError::RoomNotFound`] for an unknown room,
    /// [`RoomAccessError::NotMember`] when `user` is not a member, and
    /// [`RoomAccessError::Adapter`] when the store fails; nothing changes then.
    async fn leave(&self, room: &RoomName, user: UserId) -> Result<(), RoomAccessError>;

    /// The rooms `user` belongs to, each with its `last_seq` and the user's cursor
    /// (hence `unread`), ordered by room name. Empty for a user in no room.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomSummary>, AdapterError>;

    /// `user`'s view of `room` when they are a member.
    ///
    /// # Errors
    /// MUST return [`RoomAccessError::RoomNotFound`] for an unknown room,
    /// [`RoomAccessError::NotMember`] when `user` is not a member, and
    /// [`RoomAccessError::Adapter`] when the store fails.
    async fn membership(
        &self,
        room: &RoomName,
        user: UserId,
    ) -> Result<RoomSummary, RoomAccessError>;

    /// The members of `room`, ordered by id, for fan-out and presence. Empty for an
    /// unknown room.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn members(&self, room: &RoomName) -> Result<Vec<UserId>, AdapterError>;

    /// Stores a message from a member with the room's next `seq` (`last_seq` + 1, which
    /// becomes the room's `last_seq`) and returns it as stored, sender's names included.
    ///
    /// The `seq` MUST be assigned inside the transaction that stores the message, never
    /// from memory: concurrent publishers, on one instance or several, get distinct,
    /// gap-free, increasing `seq`s, and a publish that fails leaves no gap.
    ///
    /// Idempotent per (sender, id): when the sender already published a message with
    /// this id (in this room or another, with this body or another; two concurrent
    /// publishes of one id included), nothing is stored, `last_seq` does not move, and
    /// the answer is the message stored first, with `duplicate: true`. A unique
    /// constraint on (sender, id) MUST enforce this, not a read before the write. The
    /// guarantee lasts as long as the original is retained.
    ///
    /// # Errors
    /// MUST return [`RoomAccessError::RoomNotFound`] for an unknown room and
    /// [`RoomAccessError::NotMember`] when the sender is not a member (checked before
    /// the id), and [`RoomAccessError::Adapter`] when the store fails; nothing is
    /// stored and `last_seq` does not move then.
    async fn publish(&self, message: NewMessage) -> Result<Published, RoomAccessError>;

    /// A page of `room`'s history as `reader` may read it, in ascending `seq`:
    /// [`Latest`](crate::HistoryWindow::Latest) → the newest `limit` messages,
    /// [`Before(s)`](crate::HistoryWindow::Before) → the newest `limit` below `s`,
    /// [`After(s)`](crate::HistoryWindow::After) → the oldest `limit` above `s`; with
    /// `has_more` saying whether more lie beyond the page in that direction.
    ///
    /// # Errors
    /// MUST return [`RoomAccessError::RoomNotFound`] for an unknown room,
    /// [`RoomAccessError::NotMember`] when `reader` is not a member, and
    /// [`RoomAccessError::Adapter`] when the store fails or holds a value that no
    /// longer parses.
    async fn history(
        &self,
        room: &RoomName,
        reader: UserId,
        request: HistoryRequest,
    ) -> Result<HistoryPage, RoomAccessError>;

    /// What is owed above `after` in `room`: the oldest `limit` messages with a `seq`
    /// above it, ascending, read together with the room's `last_seq` (so that
    /// [`Replay::recovered`] and [`Replay::has_more`] are true of one state). For replay
    /// on join and reconnection and for fan-out after a bus event, whose callers have
    /// already settled membership, so no reader is checked. An unknown room reads as an
    /// empty one (`last_seq` 0).
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn messages_after(
        &self,
        room: &RoomName,
        after: Seq,
        limit: PageLimit,
    ) -> Result<Replay, AdapterError>;

    /// Moves `user`'s cursor in `room` forward to `seq`: never backwards (an older `seq`
    /// changes nothing) and never beyond the room's `last_seq` (a larger `seq` moves it
    /// to `last_seq`). Returns the cursor as it now stands.
    ///
    /// # Errors
    /// MUST return [`RoomAccessError::RoomNotFound`] for an unknown room,
    /// [`RoomAccessError::NotMember`] when `user` is not a member, and
    /// [`RoomAccessError::Adapter`] when the store fails; the cursor does not move then.
    async fn acknowledge(
        &self,
        room: &RoomName,
        user: UserId,
        seq: Seq,
    ) -> Result<Seq, RoomAccessError>;

    /// Removes up to `limit` messages that `retention` no longer keeps at `now`, the
    /// oldest of each room first, and answers how many it removed (fewer than `limit`:
    /// nothing more to remove now). Per room, a message goes when more than
    /// `max_messages` newer ones exist, or when it and every message before it were
    /// published before `now - max_age`; what remains is every message from some `seq`
    /// to `last_seq`, and `last_seq` never moves. Rooms, members and cursors stay.
    ///
    /// Bounded so that a first pass over a large backlog cannot hold the store's write
    /// lock for long: callers call again while a pass removes `limit`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails; what was removed in earlier calls stays
    /// removed, and nothing of this call is kept.
    async fn prune(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
        limit: NonZeroU32,
    ) -> Result<u64, AdapterError>;
}

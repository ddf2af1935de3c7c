//! Presence: who has a real-time connection open, and in which state.
//!
//! The registry counts connections, not users: a user is present while any of their
//! connections is open, so the first to open and the last to close are what members are
//! told about (`presence_join`, `presence_leave`). The in-process adapter serves one
//! instance; the PostgreSQL adapter counts connections on every instance, and those of an
//! instance that died without a goodbye stop counting within its heartbeat timeout, then
//! are swept ([`PresenceRegistry::sweep_departed`]) so that members hear who left.

use std::time::Duration;

use async_trait::async_trait;

use super::AdapterError;
use crate::{ConnectionId, PresenceState, UserId};

/// A user who is present, and their state (active when any of their connections is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentUser {
    /// Who.
    pub user: UserId,
    /// Active or idle.
    pub state: PresenceState,
}

/// Who is connected, counted by connection.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PresenceRegistry: Send + Sync {
    /// Records that `connection` of `user` is open, in state
    /// [`PresenceState::Active`]. Returns whether it is the user's first open
    /// connection: they were absent, and are present now. Registering a connection
    /// already registered changes nothing and answers `false`.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the registry cannot be written; nothing is
    /// recorded then.
    async fn register(&self, user: UserId, connection: ConnectionId) -> Result<bool, AdapterError>;

    /// Records that `connection` of `user` closed. Returns whether it was the user's
    /// last open connection: they are absent now. Unregistering a connection that is
    /// not registered changes nothing and answers `false`.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the registry cannot be written.
    async fn unregister(
        &self,
        user: UserId,
        connection: ConnectionId,
    ) -> Result<bool, AdapterError>;

    /// Sets the state of one connection of `user`. Setting the state of a connection
    /// that is not registered changes nothing (it closed meanwhile).
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the registry cannot be written.
    async fn set_state(
        &self,
        user: UserId,
        connection: ConnectionId,
        state: PresenceState,
    ) -> Result<(), AdapterError>;

    /// Of `users`, those who are present, each with their state, in the order of
    /// `users` (a user given twice is answered once). The work MUST be proportional to
    /// `users.len()`, whatever the number of connections elsewhere: it is how a room's
    /// presence is answered, once per query, not once per member.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the registry cannot be read.
    async fn present_among(&self, users: &[UserId]) -> Result<Vec<PresentUser>, AdapterError>;

    /// How often [`PresenceRegistry::sweep_departed`] is worth calling, or `None` when
    /// this registry never holds connections that outlive their process (one process's
    /// registry dies with its connections and with everyone it would tell).
    fn sweep_interval(&self) -> Option<Duration>;

    /// Forgets the connections of instances that stopped without a goodbye (their
    /// connections stopped counting when their heartbeat lapsed), and returns the users
    /// who are absent because of it: no live connection of theirs remains anywhere.
    /// Each such user is returned by one call only, whichever instances sweep at once,
    /// so their rooms are told once; a user who reconnected elsewhere meanwhile is not
    /// returned. A registry with nothing to sweep returns nothing.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the registry cannot be written; what was swept
    /// before the failure is not returned again.
    async fn sweep_departed(&self) -> Result<Vec<UserId>, AdapterError>;
}

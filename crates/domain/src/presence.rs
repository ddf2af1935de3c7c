//! Presence: which users have a connection open, and whether they are active or idle.

use std::fmt;

crate::uuid_id! {
    /// One open real-time connection (a WebSocket) of a user. A user may hold several at
    /// once (a phone and a laptop); they are present while any of them is open.
    ConnectionId
}

/// What a present user is doing: `active` while any of their connections is active,
/// `idle` when every one of them is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PresenceState {
    /// In use: a connection that opened, or whose client said it is in use.
    #[default]
    Active,
    /// Open but unattended (the client said so, or has been quiet).
    Idle,
}

impl PresenceState {
    /// The state of a user whose connections are in `states`: active when any one is.
    /// `None` for no connection at all: the user is not present.
    #[must_use]
    pub fn of_user(states: impl IntoIterator<Item = Self>) -> Option<Self> {
        states
            .into_iter()
            .reduce(|user, connection| match (user, connection) {
                (Self::Idle, Self::Idle) => Self::Idle,
                _ => Self::Active,
            })
    }

    /// The protocol's word for it: `active` or `idle`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
        }
    }
}

impl fmt::Display for PresenceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_active_when_any_connection_is_and_idle_only_when_all_are() {
        use PresenceState::{Active, Idle};
        assert_eq!(PresenceState::of_user([]), None, "no connection: absent");
        assert_eq!(PresenceState::of_user([Idle]), Some(Idle));
        assert_eq!(PresenceState::of_user([Idle, Idle]), Some(Idle));
        assert_eq!(PresenceState::of_user([Idle, Active, Idle]), Some(Active));
        assert_eq!(PresenceState::of_user([Active]), Some(Active));
        assert_eq!(
            PresenceState::default(),
            Active,
            "a new connection is in use"
        );
    }

    #[test]
    fn states_are_written_as_the_protocol_names_them() {
        assert_eq!(PresenceState::Active.to_string(), "active");
        assert_eq!(PresenceState::Idle.as_str(), "idle");
    }
}

//! Portico's domain: the entities and value types every other layer speaks in
//! (`User`, `Email`, `Password`, sessions, tokens and trusted devices, rooms and
//! messages, presence), the errors they can raise, and the ports — traits that adapters
//! implement and use cases call.
//!
//! This crate may depend on std, `uuid`, `chrono`, `thiserror` and `async-trait` (a
//! macro that makes the ports object-safe); `mockall` only behind the `mocks` feature, for
//! other crates' tests. No framework, database, hashing or JWT crate belongs here.
//!
//! One deliberate exception to the list in SPEC §1: `unicode-normalization` and
//! `unicode-properties` (general categories only): pure-Rust Unicode data tables and
//! lookups from the unicode-rs project, with no I/O and no dependency but `tinyvec`
//! (a small stack vector). Names and addresses must be stored in
//! NFC and must refuse invisible and reordering characters (`PersonName`, `Email`); std
//! offers neither normalisation nor general categories, and a hand-copied table would go
//! stale with each Unicode version. The rule is the domain's, so the data lives here.

/// A typed identifier around a UUID: `from_uuid`, `as_uuid` and `Display`, so that a
/// user's id cannot be passed where a session's is expected.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// Wraps a UUID drawn from an id source or read back from storage.
            #[must_use]
            pub const fn from_uuid(id: uuid::Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
pub(crate) use uuid_id;

pub mod device;

pub mod email;
pub mod password;
pub mod ports;
pub mod presence;
pub mod room;
pub mod session;
pub mod user;

pub use device::{DeviceId, DeviceToken, IssuedDeviceToken};
pub use email::{Email, EmailError};
pub use password::{Password, PasswordError, PasswordHash};
pub use presence::{ConnectionId, PresenceState};
pub use room::{
    DEFAULT_MESSAGE_MAX_BYTES, HistoryPage, HistoryRequest, HistoryWindow, HistoryWindowError,
    Joined, MAX_MESSAGE_ID_CHARS, MAX_ROOM_NAME_BYTES, Message, MessageBody, MessageBodyError,
    MessageId, MessageIdError, NewMessage, PageLimit, PageLimitError, Published, Replay, Retention,
    RoomName, RoomNameError, RoomSummary, Sender, Seq,
};
pub use session::{
    AccessClaims, IssuedAccessToken, MAX_USER_AGENT_CHARS, NewRefreshToken, NewSession,
    RefreshToken, RefreshTokenRecord, SessionId, SessionSummary, TokenDigest, UserAgent,
};
pub use user::{NewUser, PersonName, PersonNameError, User, UserId};

//! Portico's domain: the entities and value types every other layer speaks in
//! (`User`, `Email`, `Password`, sessions and tokens, rooms and messages), the errors they
//! can raise, and the ports — traits that adapters implement and use cases call.
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

pub mod email;
pub mod password;
pub mod ports;
pub mod room;
pub mod session;
pub mod user;

pub use email::{Email, EmailError};
pub use password::{Password, PasswordError, PasswordHash};
pub use room::{
    DEFAULT_MESSAGE_MAX_BYTES, HistoryPage, HistoryRequest, HistoryWindow, HistoryWindowError,
    Joined, MAX_MESSAGE_ID_CHARS, MAX_ROOM_NAME_BYTES, Message, MessageBody, MessageBodyError,
    MessageId, MessageIdError, NewMessage, PageLimit, PageLimitError, Published, Replay, RoomName,
    RoomNameError, RoomSummary, Sender, Seq,
};
pub use session::{
    AccessClaims, IssuedAccessToken, NewRefreshToken, RefreshToken, RefreshTokenRecord, SessionId,
    TokenDigest,
};
pub use user::{NewUser, PersonName, PersonNameError, User, UserId};

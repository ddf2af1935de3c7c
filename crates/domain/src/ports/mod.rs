//! The ports: what the use cases need from the world, as traits the adapters implement,
//! one module per capability.
//!
//! Each method's documentation states its error contract; every adapter of a port MUST
//! honour it, so a use case can rely on it without knowing which adapter it talks to.
//! Fakes for tests come from `mockall` behind the `mocks` feature.

mod accounts;
mod bus;
mod credentials;
mod devices;
mod login_attempts;
mod presence;
mod rooms;
mod sessions;
mod system;

use std::error::Error as StdError;

pub use accounts::*;
pub use bus::*;
pub use credentials::*;
pub use devices::*;
pub use login_attempts::*;
pub use presence::*;
pub use rooms::*;
pub use sessions::*;
pub use system::*;

/// An adapter could not do its job for a reason the caller cannot act on: the database
/// is unreachable, a stored value is corrupt, the system's random source failed, or the
/// adapter is saturated and sheds load. It keeps its cause for the log and is answered as
/// an internal error (or, when [`AdapterError::is_overloaded`], as "try again shortly"),
/// never shown to a client.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct AdapterError {
    context: &'static str,
    overloaded: bool,
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl AdapterError {
    /// Wraps a cause with a short, static description of what was being attempted.
    pub fn new(context: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            context,
            overloaded: false,
            source: source.into(),
        }
    }

    /// The adapter refused work because too much is already waiting: nothing was done,
    /// and the same call may succeed in a moment.
    pub fn overloaded(context: &'static str) -> Self {
        Self {
            context,
            overloaded: true,
            source: context.into(),
        }
    }

    /// Whether this is a load-shedding refusal rather than a failure.
    #[must_use]
    pub fn is_overloaded(&self) -> bool {
        self.overloaded
    }
}

/// Every port the use cases are built from: what the binary (or a test) assembles from
/// adapters (or fakes) and hands over in one piece, so that adding a use case or a port
/// changes one place.
#[derive(Clone)]
pub struct Ports {
    /// Where users live.
    pub users: std::sync::Arc<dyn UserRepository>,
    /// Where sessions live.
    pub sessions: std::sync::Arc<dyn SessionRepository>,
    /// Failed logins per address and per trusted device.
    pub login_attempts: std::sync::Arc<dyn LoginAttempts>,
    /// Device tokens, which mark a client that logged in before as trusted.
    pub device_tokens: std::sync::Arc<dyn DeviceTokens>,
    /// Password hashing.
    pub hasher: std::sync::Arc<dyn PasswordHasher>,
    /// Access tokens.
    pub access_tokens: std::sync::Arc<dyn AccessTokens>,
    /// Refresh tokens.
    pub refresh_tokens: std::sync::Arc<dyn RefreshTokenMint>,
    /// The time.
    pub clock: std::sync::Arc<dyn Clock>,
    /// Fresh identifiers.
    pub ids: std::sync::Arc<dyn IdSource>,
    /// The storage's health.
    pub storage: std::sync::Arc<dyn StorageHealth>,
    /// Where rooms, memberships with their cursors, and messages live.
    pub rooms: std::sync::Arc<dyn RoomStore>,
    /// How connections learn that something happened in a room.
    pub bus: std::sync::Arc<dyn MessageBus>,
    /// Who has a real-time connection open.
    pub presence: std::sync::Arc<dyn PresenceRegistry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_load_shedding_refusal_counts_as_overloaded() {
        assert!(AdapterError::overloaded("hashing queue full").is_overloaded());
        let failure = AdapterError::new("query failed", std::io::Error::other("disk"));
        assert!(!failure.is_overloaded());
    }
}

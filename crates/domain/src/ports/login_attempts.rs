//! Failed logins per address and per trusted device, for the login throttle.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::AdapterError;
use crate::{DeviceId, Email};

/// Whose failed logins a record counts: either every client of an address that presents
/// no trusted device token for it (`device: None`, the anonymous clients, wherever they
/// come from), or one trusted device of that address. Locking one leaves the others
/// alone, so strangers who lock the anonymous clients out do not lock out the owner's
/// devices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttemptKey {
    /// The address the password checks are against.
    pub email: Email,
    /// The trusted device the checks come from; `None` for the anonymous clients.
    pub device: Option<DeviceId>,
}

impl AttemptKey {
    /// The clients of `email` that present no trusted device token.
    #[must_use]
    pub fn anonymous(email: Email) -> Self {
        Self {
            email,
            device: None,
        }
    }

    /// One trusted device of `email`.
    #[must_use]
    pub fn trusted(email: Email, device: DeviceId) -> Self {
        Self {
            email,
            device: Some(device),
        }
    }
}

/// Failed logins recorded against one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedLogins {
    /// How many in a row, since the last success or since they were forgotten.
    pub count: u32,
    /// When the latest happened.
    pub last_at: DateTime<Utc>,
}

/// Failed logins per [`AttemptKey`], for throttling guessers of one account whatever
/// addresses they come from. Kept for addresses with or without an account alike. Keys
/// are independent: a failure recorded for one changes no other, and forgetting one
/// forgets no other (an address's anonymous failures survive a success on one of its
/// devices). Async and fallible because a deployment of several instances keeps it in
/// shared storage, so that N instances do not give a guesser N times the attempts.
/// (Checks still in progress are counted by the throttle itself, in process: they end
/// with the process.)
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoginAttempts: Send + Sync {
    /// The failures recorded against `key`, if any.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the record cannot be read (never `Ok(None)`,
    /// which would hand a guesser free attempts).
    async fn failures(&self, key: &AttemptKey) -> Result<Option<FailedLogins>, AdapterError>;

    /// Records one failure against `key` at `at`, as one atomic step: the count goes up
    /// by one, or starts again at one when `restart` is set or nothing is recorded.
    /// Entries (of any key) whose latest failure is before `forget_before` may be
    /// dropped meanwhile, to bound the record's size.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the failure cannot be recorded.
    async fn record_failure(
        &self,
        key: &AttemptKey,
        at: DateTime<Utc>,
        restart: bool,
        forget_before: DateTime<Utc>,
    ) -> Result<(), AdapterError>;

    /// Forgets the failures of `key` and of no other key (its client just proved the
    /// password). Forgetting a key with none recorded is not an error.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] when the record cannot be written.
    async fn forget(&self, key: &AttemptKey) -> Result<(), AdapterError>;
}

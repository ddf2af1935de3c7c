//! Failed logins per address, for the login throttle.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::AdapterError;
use crate::Email;

/// Failed logins recorded against one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedLogins {
    /// How many in a row, since the last success or since they were forgotten.
    pub count: u32,
    /// When the latest happened.
    pub last_at: DateTime<Utc>,
}

/// Failed logins per address, for throttling guessers of one account whatever addresses
/// they come from. Kept for addresses with or without an account alike. Async and
/// fallible because a deployment of several instances keeps it in shared storage, so
/// that N instances do not give a guesser N times the attempts. (Checks still in
/// progress are counted by the throttle itself, in process: they end with the process.)
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoginAttempts: Send + Sync {
    /// The failures recorded against `email`, if any.
    ///
    /// # Errors
    /// [`AdapterError`] when the record cannot be read.
    async fn failures(&self, email: &Email) -> Result<Option<FailedLogins>, AdapterError>;

    /// Records one failure at `at`, as one atomic step: the count goes up by one, or
    /// starts again at one when `restart` is set or nothing is recorded. Entries whose
    /// latest failure is before `forget_before` may be dropped meanwhile, to bound the
    /// record's size.
    ///
    /// # Errors
    /// [`AdapterError`] when the failure cannot be recorded.
    async fn record_failure(
        &self,
        email: &Email,
        at: DateTime<Utc>,
        restart: bool,
        forget_before: DateTime<Utc>,
    ) -> Result<(), AdapterError>;

    /// Forgets the failures of `email` (its owner just proved the password). Forgetting
    /// an address with none recorded is not an error.
    ///
    /// # Errors
    /// [`AdapterError`] when the record cannot be written.
    async fn forget(&self, email: &Email) -> Result<(), AdapterError>;
}

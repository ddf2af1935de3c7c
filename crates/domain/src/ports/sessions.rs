//! Where sessions (refresh-token families) live.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::AdapterError;
use crate::{NewRefreshToken, RefreshTokenRecord, SessionId, TokenDigest, UserId};

/// Where sessions (refresh-token families) and their refresh tokens live.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Starts a session for `user_id` (its id is `first.session`, created at
    /// `first.issued_at`) holding one live refresh token.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails; nothing is stored then.
    async fn start(&self, user_id: UserId, first: NewRefreshToken) -> Result<(), AdapterError>;

    /// The stored token with this digest and the state of its session, or `None`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    async fn find_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshTokenRecord>, AdapterError>;

    /// Spends the token `presented` and stores `replacement` in the same session, as
    /// one atomic step, but only while `presented` is unspent, unexpired at `now` and
    /// its session unrevoked. Returns whether it did; when it did not (another request
    /// spent the token first, or it was revoked meanwhile) nothing changed. Of two
    /// concurrent calls with the same token, at most one returns `true`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails; nothing changed then.
    async fn rotate(
        &self,
        presented: &TokenDigest,
        replacement: NewRefreshToken,
        now: DateTime<Utc>,
    ) -> Result<bool, AdapterError>;

    /// Revokes a session: none of its refresh tokens refreshes anything afterwards.
    /// Revoking a revoked or unknown session is not an error.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    async fn revoke(&self, session: SessionId, at: DateTime<Utc>) -> Result<(), AdapterError>;

    /// Revokes every session of a user.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    async fn revoke_all_of_user(
        &self,
        user_id: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), AdapterError>;

    /// Deletes refresh tokens that expired before `now` and sessions that are revoked or
    /// hold no live token; returns how many rows went.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, AdapterError>;
}

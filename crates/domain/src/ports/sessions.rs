//! Where sessions (refresh-token families) live.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::AdapterError;
use crate::{
    NewRefreshToken, NewSession, RefreshTokenRecord, SessionId, SessionSummary, TokenDigest, User,
    UserId,
};

/// Where sessions (refresh-token families) and their refresh tokens live.
///
/// A session is **live** at an instant while it is not revoked and that instant is
/// before its expiry (the expiry of its newest refresh token). An ended session never
/// becomes live again.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Starts a session for `new.user_id` (its id is `new.first.session`, created and
    /// last used at `new.first.issued_at`, expiring at `new.first.expires_at`) holding
    /// one live refresh token, and keeps the client's user agent with it.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails (an unknown user included); nothing is
    /// stored then.
    async fn start(&self, new: NewSession) -> Result<(), AdapterError>;

    /// The user `user_id`, when `session` is theirs and live at `now`; `None` otherwise
    /// (an unknown, ended or expired session, another user's session, a deleted user).
    /// It is how every access token is checked, so it MUST be one lookup by the
    /// session's key together with its user, never a second round trip.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a user that no longer parses.
    async fn find_live_user(
        &self,
        session: SessionId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, AdapterError>;

    /// The sessions of `user_id` live at `now`, most recently used first (ties: the
    /// newest first). Ended and expired sessions, and other users', are not listed.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn list_live(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionSummary>, AdapterError>;

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
    /// its session unrevoked; the session is then last used at `now` and expires with
    /// `replacement`. Returns whether it did; when it did not (another request
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

    /// Revokes `session` when it is `user_id`'s and live at `at`; returns whether it
    /// did. MUST return `false`, changing nothing, for an unknown session, an ended or
    /// expired one, and another user's alike: the caller cannot tell them apart.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails; nothing changed then.
    async fn revoke_of_user(
        &self,
        user_id: UserId,
        session: SessionId,
        at: DateTime<Utc>,
    ) -> Result<bool, AdapterError>;

    /// Revokes every unrevoked session of a user but `except` (when given); returns the
    /// sessions it revoked, so that their connections can be told.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails; nothing changed then.
    async fn revoke_all_of_user(
        &self,
        user_id: UserId,
        except: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, AdapterError>;

    /// Deletes refresh tokens that expired before `now` and sessions that are revoked or
    /// hold no live token; returns how many rows went.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, AdapterError>;
}

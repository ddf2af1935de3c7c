//! Password hashing and the tokens a session is made of.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::AdapterError;
use crate::{
    AccessClaims, IssuedAccessToken, Password, PasswordHash, RefreshToken, SessionId, TokenDigest,
    User,
};

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password is not the one hashed.
    Mismatch,
    /// The password matches. `outdated` says the hash uses another algorithm or weaker
    /// parameters than the hasher is configured for and should be replaced.
    Match {
        /// Whether the stored hash should be recomputed with the current settings.
        outdated: bool,
    },
}

/// One-way password hashing. Implementations run the expensive work off the async
/// workers, on a pool bounded so that a login storm cannot starve other requests.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password with the configured algorithm and parameters.
    ///
    /// # Errors
    /// [`AdapterError`] when hashing fails (the pool is gone, the random source failed).
    async fn hash(&self, password: &Password) -> Result<PasswordHash, AdapterError>;

    /// Checks a password against a stored hash of any supported form.
    ///
    /// # Errors
    /// MUST return [`AdapterError`] (never [`PasswordCheck::Match`]) when the stored
    /// hash is malformed or of an unknown algorithm.
    async fn verify(
        &self,
        password: &Password,
        stored: &PasswordHash,
    ) -> Result<PasswordCheck, AdapterError>;

    /// A valid hash, in the configured algorithm and parameters, of a password nobody
    /// has: verifying against it costs what verifying a real user's password costs.
    fn dummy_hash(&self) -> PasswordHash;

    /// Whether a hash or a verification asked for now would be refused as overloaded.
    /// A cheap look, so that a caller can refuse before doing other work for nothing
    /// (a login, before it reads the store); [`hash`](Self::hash) and
    /// [`verify`](Self::verify) still decide, so `false` promises nothing.
    fn is_saturated(&self) -> bool;
}

/// Issues and verifies access tokens (JWTs).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait AccessTokens: Send + Sync {
    /// Issues an access token for `user` in `session` (its `sid`), valid from
    /// `issued_at` for the configured lifetime, carrying `token_id` as its `jti`.
    ///
    /// # Errors
    /// [`AdapterError`] when signing fails.
    fn issue(
        &self,
        user: &User,
        session: SessionId,
        issued_at: DateTime<Utc>,
        token_id: Uuid,
    ) -> Result<IssuedAccessToken, AdapterError>;

    /// Verifies a presented token: signature with the pinned algorithm, `typ`, no `crit`
    /// header (no extension is understood), `iss`, `aud`, and `exp` (required), `nbf` and
    /// `iat` against the [`Clock`](super::Clock), within a small leeway for clock skew;
    /// `sid` is required. Whether the session is still live is not its business: that
    /// takes the store ([`super::SessionRepository::find_live_user`]).
    ///
    /// # Errors
    /// MUST return [`TokenRejection::Expired`] for a token that is genuine but past its
    /// `exp`, and [`TokenRejection::Invalid`] for anything else it refuses.
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection>;
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Genuine, but expired.
    #[error("the access token expired")]
    Expired,
    /// Forged, tampered, malformed, of the wrong type, issuer or audience, or not yet valid.
    #[error("the access token is invalid")]
    Invalid,
}

/// Mints opaque refresh tokens and computes the digests under which they are stored.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait RefreshTokenMint: Send + Sync {
    /// A new token of at least 256 random bits.
    ///
    /// # Errors
    /// [`AdapterError`] when the system's random source fails.
    fn mint(&self) -> Result<RefreshToken, AdapterError>;

    /// The digest a token is stored and looked up under; the same token always gives
    /// the same digest.
    fn digest(&self, token: &RefreshToken) -> TokenDigest;
}

//! Sessions and the tokens that carry them: short-lived access tokens (JWTs) and
//! opaque, rotating refresh tokens grouped in families.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Email, UserId};

crate::uuid_id! {
    /// A session, also called a refresh-token family: it starts at a login, every refresh
    /// token issued by rotating within it belongs to it, and revoking it ends them all.
    SessionId
}

/// A refresh token as the client holds it: an opaque secret. Only its [`TokenDigest`]
/// is ever stored. Its `Debug` prints no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// Wraps a token minted by a generator or presented by a client.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, to hand to the client or to digest.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(..)")
    }
}

/// The one-way digest of a refresh token, the only form in which it is stored: a
/// stolen database does not hand out live sessions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenDigest(String);

impl TokenDigest {
    /// Wraps a digest computed by a token generator or read from storage.
    #[must_use]
    pub fn new(digest: String) -> Self {
        Self(digest)
    }
}

impl AsRef<str> for TokenDigest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A refresh token about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// The digest of the secret handed to the client.
    pub digest: TokenDigest,
    /// The session it belongs to.
    pub session: SessionId,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// After this instant it no longer refreshes anything.
    pub expires_at: DateTime<Utc>,
}

/// A stored refresh token and the state of its session, as a rotation needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// The session it belongs to.
    pub session: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// After this instant it no longer refreshes anything.
    pub expires_at: DateTime<Utc>,
    /// Set once the token has been exchanged for a new one.
    pub spent_at: Option<DateTime<Utc>>,
    /// Set once its session has been revoked (logout, reuse, password change).
    pub session_revoked_at: Option<DateTime<Utc>>,
}

/// An access token just issued, with the instant it stops being accepted.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedAccessToken {
    /// The encoded JWT.
    pub token: String,
    /// Its `exp` claim.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for IssuedAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedAccessToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a verified access token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The `sub` claim: whose token it is.
    pub user_id: UserId,
    /// The `email` claim at issue time.
    pub email: Email,
    /// The `jti` claim: this token's own id.
    pub token_id: Uuid,
    /// The `exp` claim.
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let token = RefreshToken::new("very-secret".into());
        assert_eq!(format!("{token:?}"), "RefreshToken(..)");
        assert_eq!(token.expose(), "very-secret");
        let issued = IssuedAccessToken {
            token: "eyJ.secret".into(),
            expires_at: DateTime::<Utc>::MIN_UTC,
        };
        assert!(!format!("{issued:?}").contains("secret"));
    }

    #[test]
    fn ids_round_trip_their_uuid() {
        let uuid = Uuid::from_u128(7);
        assert_eq!(SessionId::from_uuid(uuid).as_uuid(), uuid);
        assert_eq!(TokenDigest::new("ab".into()).as_ref(), "ab");
    }
}

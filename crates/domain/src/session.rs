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

/// The most characters of a `User-Agent` kept with a session: enough for every real
/// browser's, and a client cannot make the session list large.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// The `User-Agent` a client presented when its session started, as the session list
/// shows it: control characters dropped (nothing in it can break a log line or a
/// terminal), surrounding white space trimmed, at most [`MAX_USER_AGENT_CHARS`]
/// characters (cut on a character boundary). It is what the client claims, never proof
/// of anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent(String);

impl UserAgent {
    /// The presented header made fit to keep; `None` when nothing printable is left.
    #[must_use]
    pub fn from_presented(raw: &str) -> Option<Self> {
        let printable: String = raw.chars().filter(|c| !c.is_control()).collect();
        let kept: String = printable
            .trim()
            .chars()
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        let kept = kept.trim_end();
        (!kept.is_empty()).then(|| Self(kept.to_owned()))
    }
}

impl AsRef<str> for UserAgent {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A session about to start: its first refresh token and what the client said of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Whose session it is.
    pub user_id: UserId,
    /// Its first refresh token; its id is `first.session`, it starts at
    /// `first.issued_at` and lasts until `first.expires_at` unless refreshed.
    pub first: NewRefreshToken,
    /// The client's `User-Agent` at login, if it sent one.
    pub user_agent: Option<UserAgent>,
}

/// A live session as its owner sees it in the session list. Holds nothing of its
/// refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session.
    pub id: SessionId,
    /// When it started (the login).
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed (its start, until then).
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed before: its newest refresh token's expiry.
    pub expires_at: DateTime<Utc>,
    /// The client's `User-Agent` at login.
    pub user_agent: Option<UserAgent>,
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
    /// The `sid` claim: the session the token was issued for. The token is refused once
    /// that session has ended, even before its `exp`.
    pub session: SessionId,
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
        let printed = format!("{issued:?}");
        assert!(!printed.contains("secret"));
        assert!(
            printed.starts_with("IssuedAccessToken { expires_at: "),
            "what does print is still said: {printed}"
        );
    }

    #[test]
    fn a_user_agent_keeps_what_is_printable_up_to_its_limit() {
        let cases: [(&str, Option<&str>); 6] = [
            ("Mozilla/5.0 (X11; Linux)", Some("Mozilla/5.0 (X11; Linux)")),
            ("  curl/8.5\r\n", Some("curl/8.5")),
            ("evil\u{1b}[31m\nline", Some("evil[31mline")),
            ("", None),
            (" \t\u{7}\n ", None),
            ("\u{0}", None),
        ];
        for (raw, kept) in cases {
            let agent = UserAgent::from_presented(raw);
            assert_eq!(agent.as_ref().map(AsRef::as_ref), kept, "presented {raw:?}");
        }
    }

    #[test]
    fn a_long_user_agent_is_cut_on_a_character_boundary() {
        // Multi-byte characters: a cut by bytes would split one.
        let raw = "é".repeat(MAX_USER_AGENT_CHARS + 10);
        let agent = UserAgent::from_presented(&raw).unwrap();
        assert_eq!(agent.as_ref().chars().count(), MAX_USER_AGENT_CHARS);
        assert_eq!(agent.to_string(), "é".repeat(MAX_USER_AGENT_CHARS));
        // White space left at the cut is trimmed too.
        let raw = format!("{}  tail", "a".repeat(MAX_USER_AGENT_CHARS - 1));
        let agent = UserAgent::from_presented(&raw).unwrap();
        assert_eq!(agent.as_ref(), "a".repeat(MAX_USER_AGENT_CHARS - 1));
    }

    #[test]
    fn ids_round_trip_their_uuid() {
        let uuid = Uuid::from_u128(7);
        assert_eq!(SessionId::from_uuid(uuid).as_uuid(), uuid);
        assert_eq!(TokenDigest::new("ab".into()).as_ref(), "ab");
    }
}

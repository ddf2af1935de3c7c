//! The ports: what the use cases need from the world, as traits the adapters implement.
//!
//! Each method's documentation states its error contract; every adapter of a port MUST
//! honour it, so a use case can rely on it without knowing which adapter it talks to.
//! Fakes for tests come from `mockall` behind the `mocks` feature.

use std::error::Error as StdError;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    AccessClaims, Email, IssuedAccessToken, NewRefreshToken, NewUser, Password, PasswordHash,
    PersonName, RefreshToken, RefreshTokenRecord, SessionId, TokenDigest, User, UserId,
};

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

/// Why a user could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// Another user already has this e-mail address.
    #[error("e-mail address already registered")]
    EmailTaken,
    /// The store failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// A user together with their stored password hash, for the use cases that check or
/// change a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// The user.
    pub user: User,
    /// The hash of their current password.
    pub password_hash: PasswordHash,
}

/// Where users live.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user.
    ///
    /// # Errors
    /// MUST return [`InsertUserError::EmailTaken`] when a user with the same e-mail
    /// address exists (addresses are compared as stored, already lower-cased), and
    /// [`InsertUserError::Adapter`] for any other failure. Nothing is stored on error.
    async fn insert(&self, new_user: NewUser) -> Result<(), InsertUserError>;

    /// The user with this id, or `None`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, AdapterError>;

    /// The user with this e-mail address and their password hash, or `None`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<StoredCredentials>, AdapterError>;

    /// Replaces the user's names and moves `updated_at`; returns the updated user, or
    /// `None` when no such user exists.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    async fn update_names(
        &self,
        id: UserId,
        first_name: PersonName,
        last_name: PersonName,
        updated_at: DateTime<Utc>,
    ) -> Result<Option<User>, AdapterError>;

    /// Replaces the user's password hash, as `replacement` says; returns whether it did.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails. An [`HashReplacement::Upgrade`] whose
    /// `previous` is no longer the stored hash MUST change nothing and return `false`.
    async fn update_password_hash(
        &self,
        id: UserId,
        password_hash: PasswordHash,
        at: DateTime<Utc>,
        replacement: HashReplacement,
    ) -> Result<bool, AdapterError>;
}

/// Why a password hash is being replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashReplacement {
    /// The user chose a new password: the hash is replaced and `updated_at` moves.
    Changed,
    /// The same password rehashed with stronger settings: replaced only while the stored
    /// hash is still `previous` (a password change in between wins), `updated_at` stays.
    Upgrade {
        /// The hash the password was just verified against.
        previous: PasswordHash,
    },
}

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
}

/// Issues and verifies access tokens (JWTs).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait AccessTokens: Send + Sync {
    /// Issues an access token for `user`, valid from `issued_at` for the configured
    /// lifetime, carrying `token_id` as its `jti`.
    ///
    /// # Errors
    /// [`AdapterError`] when signing fails.
    fn issue(
        &self,
        user: &User,
        issued_at: DateTime<Utc>,
        token_id: Uuid,
    ) -> Result<IssuedAccessToken, AdapterError>;

    /// Verifies a presented token: signature with the pinned algorithm, `typ`, `iss`,
    /// `aud`, `exp` (required) and `nbf`.
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

/// The time, behind a port so that tests decide it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// Fresh identifiers, behind a port so that tests decide them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdSource: Send + Sync {
    /// A new, never-seen identifier.
    fn new_id(&self) -> Uuid;
}

/// Tells whether the storage can serve requests.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StorageHealth: Send + Sync {
    /// Runs a trivial round trip to the store.
    ///
    /// # Errors
    /// [`AdapterError`] when the store cannot be reached or does not answer.
    async fn ping(&self) -> Result<(), AdapterError>;
}

/// Failed logins recorded against one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedLogins {
    /// How many in a row, since the last success or since they were forgotten.
    pub count: u32,
    /// When the latest happened.
    pub last_at: DateTime<Utc>,
}

/// What is known of an address when a password check against it begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttemptState {
    /// Its recorded failures, if any.
    pub failures: Option<FailedLogins>,
    /// Password checks against it already in progress (not counting this one).
    pub in_flight: u32,
}

/// How a password check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The password was wrong. With `restart`, earlier failures are forgotten first and
    /// the count starts again at one.
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// Whether earlier failures are forgotten first.
        restart: bool,
    },
    /// The password was right: the failures are forgotten.
    Succeeded,
    /// No verdict (refused before checking, or an adapter failed): nothing is recorded.
    Abandoned,
}

/// Failed logins per address and the password checks in progress against it, for
/// throttling guessers of one account whatever addresses they come from. Kept for
/// addresses with or without an account alike.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LoginAttempts: Send + Sync {
    /// Registers a password check against `email` as in progress and returns the state
    /// before it, as one atomic step: of many concurrent checks, each sees the others.
    fn begin(&self, email: &Email) -> AttemptState;

    /// Ends a check begun with [`LoginAttempts::begin`], recording its outcome. Entries
    /// whose latest failure is before `forget_before` and that have no check in progress
    /// may be dropped to bound memory.
    fn finish(&self, email: &Email, outcome: AttemptOutcome, forget_before: DateTime<Utc>);
}

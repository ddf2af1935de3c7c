//! Logging in, refreshing and logging out, listing and ending sessions: the life of a
//! session.

use std::sync::Arc;

use crate::Caller;
use crate::throttle::{AdmitError, LoginThrottle};
use chrono::{DateTime, Duration, Utc};
use domain::ports::{
    AccessTokens, AdapterError, Clock, DeviceTokens, HashReplacement, IdSource, MessageBus,
    PasswordCheck, PasswordHasher, Ports, RefreshTokenMint, RoomEvent, SessionRepository,
    UserRepository,
};
use domain::{
    DeviceId, DeviceToken, Email, IssuedAccessToken, NewRefreshToken, NewSession, Password,
    PasswordHash, RefreshToken, RefreshTokenRecord, SessionId, SessionSummary, User, UserAgent,
};

/// Tells every connection, on every instance, that sessions ended, so that those they
/// authorise close at once. Shared by every path that ends sessions.
pub(crate) struct SessionEnds {
    /// Where the news goes.
    bus: Arc<dyn MessageBus>,
}

impl SessionEnds {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            bus: Arc::clone(&ports.bus),
        }
    }

    /// Announces that each of `sessions` ended. The store refuses their tokens already,
    /// so a bus that fails leaves a connection open a little longer (until it next
    /// checks its session, or its token expires), never a session alive: it is logged,
    /// and the caller's operation still succeeds.
    pub(crate) async fn announce(&self, sessions: &[SessionId]) {
        for &session in sessions {
            if let Err(error) = self.bus.publish(RoomEvent::SessionEnded { session }).await {
                tracing::warn!(
                    session_id = %session,
                    error.cause_chain = ?error,
                    "announcing an ended session failed; its connections close when they next check it"
                );
            }
        }
    }
}

/// How long the tokens of a session live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Lifetime of each refresh token, counted from its issue: a session left unused for
    /// longer ends.
    pub refresh_token_ttl: Duration,
}

/// What a successful login or refresh hands the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// The access token and its expiry.
    pub access: IssuedAccessToken,
    /// Seconds from issue until the access token expires.
    pub access_expires_in: i64,
    /// The refresh token; only its digest is stored.
    pub refresh: RefreshToken,
    /// Seconds from issue until the refresh token stops refreshing.
    pub refresh_expires_in: i64,
}

/// Mints the tokens of a session: shared by login (first pair) and refresh (each later
/// pair), so both issue them the same way.
pub struct TokenPairIssuer {
    /// Signs access tokens.
    access_tokens: Arc<dyn AccessTokens>,
    /// Mints refresh tokens.
    refresh_tokens: Arc<dyn RefreshTokenMint>,
    /// Gives every access token its `jti`.
    ids: Arc<dyn IdSource>,
    /// Token lifetimes.
    policy: SessionPolicy,
}

impl TokenPairIssuer {
    pub(crate) fn new(ports: &Ports, policy: SessionPolicy) -> Self {
        Self {
            access_tokens: Arc::clone(&ports.access_tokens),
            refresh_tokens: Arc::clone(&ports.refresh_tokens),
            ids: Arc::clone(&ports.ids),
            policy,
        }
    }

    /// Mints a refresh token for `session` and an access token for `user`, both issued
    /// at `now`; returns the pair and the refresh token's record to store.
    fn issue(
        &self,
        user: &User,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(TokenPair, NewRefreshToken), AdapterError> {
        let refresh = self.refresh_tokens.mint()?;
        let refresh_expires_at = now + self.policy.refresh_token_ttl;
        let record = NewRefreshToken {
            digest: self.refresh_tokens.digest(&refresh),
            session,
            issued_at: now,
            expires_at: refresh_expires_at,
        };
        let access = self
            .access_tokens
            .issue(user, session, now, self.ids.new_id())?;
        let pair = TokenPair {
            access_expires_in: (access.expires_at - now).num_seconds(),
            access,
            refresh,
            refresh_expires_in: self.policy.refresh_token_ttl.num_seconds(),
        };
        Ok((pair, record))
    }
}

/// A login attempt: already-parsed credentials.
#[derive(Debug, Clone)]
pub struct LogInCommand {
    /// The address the user registered with.
    pub email: Email,
    /// The password they typed.
    pub password: Password,
    /// The device token the client presented, unverified: a valid one for `email`
    /// counts the attempt against that device rather than against strangers.
    pub device_token: Option<DeviceToken>,
    /// The client's `User-Agent`, kept with the session so that its owner can tell
    /// their devices apart in the session list.
    pub user_agent: Option<UserAgent>,
}

/// What a successful login hands the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// The new session's tokens.
    pub tokens: TokenPair,
    /// A fresh device token for this client, with a new device id, to present at its
    /// next login.
    pub device_token: DeviceToken,
    /// Seconds from issue until the device token expires.
    pub device_token_expires_in: i64,
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LogInError {
    /// Unknown e-mail address or wrong password: deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failures against this address: try again after this many seconds.
    #[error("too many failed logins; retry in {0} s")]
    Throttled(u64),
    /// An adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Checks credentials and starts a session.
pub struct LogIn {
    /// Where users are found.
    users: Arc<dyn UserRepository>,
    /// Where sessions are started.
    sessions: Arc<dyn SessionRepository>,
    /// Checks (and, when outdated, recomputes) password hashes.
    hasher: Arc<dyn PasswordHasher>,
    /// Mints the tokens.
    tokens: Arc<TokenPairIssuer>,
    /// Mints the device token a successful client carries to its next login.
    device_tokens: Arc<dyn DeviceTokens>,
    /// The time.
    clock: Arc<dyn Clock>,
    /// Slows guessers of one address down.
    throttle: Arc<LoginThrottle>,
}

impl LogIn {
    pub(crate) fn new(
        ports: &Ports,
        tokens: Arc<TokenPairIssuer>,
        throttle: Arc<LoginThrottle>,
    ) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            hasher: Arc::clone(&ports.hasher),
            tokens,
            device_tokens: Arc::clone(&ports.device_tokens),
            clock: Arc::clone(&ports.clock),
            throttle,
        }
    }

    /// Verifies the password and, on success, starts a new session (a new refresh-token
    /// family) and mints a device token for the client. A stored hash weaker than the
    /// configured setting is replaced, within the same request, by a fresh one of the
    /// same password. The attempt is counted against the client's device when it
    /// presents a valid device token for the address, else against the address's
    /// anonymous clients (see [`LoginThrottle::admit`]).
    ///
    /// # Errors
    /// [`LogInError::InvalidCredentials`] for an unknown address or a wrong password,
    /// after the same amount of hashing work in both cases; [`LogInError::Adapter`] when
    /// an adapter fails (including a malformed stored hash).
    #[tracing::instrument(name = "log_in", skip_all)]
    pub async fn execute(&self, command: LogInCommand) -> Result<LoggedIn, LogInError> {
        let now = self.clock.now();
        // Refused before any lookup: the answer is the same whether or not the address
        // has an account.
        let attempt = self
            .throttle
            .admit(&command.email, command.device_token.as_ref())
            .await?;
        if self.hasher.is_saturated() {
            // The check would be shed anyway: shed the login before its store lookup, so
            // that a storm of refused logins is not also a storm of store reads. The
            // attempt is dropped unrecorded, and the answer is the same for every address.
            drop(attempt);
            return Err(AdapterError::overloaded("password hashing is saturated").into());
        }
        let outcome = self.authenticate(&command).await;
        match &outcome {
            Ok(_) => attempt.succeeded().await,
            Err(LogInError::InvalidCredentials) => attempt.failed(now).await,
            // No verdict on the password: dropping the attempt records nothing.
            Err(_) => drop(attempt),
        }
        let user = outcome?;

        let session = SessionId::from_uuid(self.tokens.ids.new_id());
        let (pair, first) = self.tokens.issue(&user, session, now)?;
        self.sessions
            .start(NewSession {
                user_id: user.id,
                first,
                user_agent: command.user_agent,
            })
            .await?;
        tracing::info!(user_id = %user.id, "session started");
        // A new device id at every login, never the presented one again: a token then
        // stands for one proof of the password, and a copy taken from this client stops
        // sharing a failure count with it once the owner logs in again.
        let device = DeviceId::from_uuid(self.tokens.ids.new_id());
        let issued = self.device_tokens.mint(&user.email, device, now);
        Ok(LoggedIn {
            tokens: pair,
            // In whole seconds of the clock, as the token's expiry is written: a lifetime
            // of whole seconds comes back whole, not one short for the fraction of `now`.
            device_token_expires_in: issued.expires_at.timestamp() - now.timestamp(),
            device_token: issued.token,
        })
    }

    /// Checks the password; the user on success.
    async fn authenticate(&self, command: &LogInCommand) -> Result<User, LogInError> {
        let Some(credentials) = self.users.find_credentials(&command.email).await? else {
            // Without this, an unknown address would answer in microseconds and a
            // known one in a bcrypt's time: the delay alone would reveal who has an
            // account. Verifying against a dummy hash makes both paths cost the same.
            let _ = self
                .hasher
                .verify(&command.password, &self.hasher.dummy_hash())
                .await?;
            return Err(LogInError::InvalidCredentials);
        };
        let check = self
            .hasher
            .verify(&command.password, &credentials.password_hash)
            .await?;
        let PasswordCheck::Match { outdated } = check else {
            return Err(LogInError::InvalidCredentials);
        };
        let user = credentials.user;
        if outdated {
            self.upgrade_hash(&user, &command.password, credentials.password_hash)
                .await;
        }
        Ok(user)
    }

    /// Replaces an outdated hash. The login succeeds whatever happens here: the user
    /// proved who they are, and the upgrade is retried at their next login.
    async fn upgrade_hash(&self, user: &User, password: &Password, previous: PasswordHash) {
        let upgraded = match self.hasher.hash(password).await {
            Ok(hash) => {
                self.users
                    .update_password_hash(
                        user.id,
                        hash,
                        self.clock.now(),
                        HashReplacement::Upgrade { previous },
                    )
                    .await
            }
            Err(error) => Err(error),
        };
        match upgraded {
            Ok(_) => tracing::info!(user_id = %user.id, "password hash upgraded"),
            Err(error) => tracing::warn!(
                user_id = %user.id,
                error.cause_chain = ?error,
                "password hash upgrade failed; will retry at next login"
            ),
        }
    }
}

/// Why a refresh token was refused (by refresh or logout).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown, expired, spent or revoked: the client must log in again.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// An adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// How a presented refresh token stands.
enum Standing {
    /// It may be exchanged.
    Live(RefreshTokenRecord),
    /// It was already exchanged: someone else holds its successor.
    Spent(RefreshTokenRecord),
    /// It refreshes nothing: unknown, expired, or its session is over.
    Dead,
}

/// Looks up a presented refresh token and judges it.
async fn judge(
    sessions: &dyn SessionRepository,
    mint: &dyn RefreshTokenMint,
    presented: &RefreshToken,
    now: DateTime<Utc>,
) -> Result<Standing, AdapterError> {
    let Some(record) = sessions.find_token(&mint.digest(presented)).await? else {
        return Ok(Standing::Dead);
    };
    Ok(if record.session_revoked_at.is_some() {
        Standing::Dead
    } else if record.spent_at.is_some() {
        Standing::Spent(record)
    } else if record.expires_at <= now {
        Standing::Dead
    } else {
        Standing::Live(record)
    })
}

/// A spent token presented again means two parties hold the session's tokens, and the
/// server cannot tell which is the thief (RFC 9700 §4.14.2): end the session for both,
/// access tokens and connections included.
async fn revoke_for_reuse(
    sessions: &dyn SessionRepository,
    ends: &SessionEnds,
    record: &RefreshTokenRecord,
    now: DateTime<Utc>,
) -> Result<SessionError, AdapterError> {
    sessions.revoke(record.session, now).await?;
    ends.announce(&[record.session]).await;
    let (user_id, session_id) = (record.user_id, record.session.as_uuid());
    tracing::warn!(%user_id, %session_id, "spent refresh token presented again; session revoked");
    Ok(SessionError::InvalidRefreshToken)
}

/// Exchanges a refresh token for a new pair.
pub struct Refresh {
    /// Where the session's user is read.
    users: Arc<dyn UserRepository>,
    /// Where tokens are judged and rotated.
    sessions: Arc<dyn SessionRepository>,
    /// Mints the new pair.
    tokens: Arc<TokenPairIssuer>,
    /// Tells the connections of a session revoked for reuse.
    ends: SessionEnds,
    /// The time.
    clock: Arc<dyn Clock>,
}

impl Refresh {
    pub(crate) fn new(ports: &Ports, tokens: Arc<TokenPairIssuer>) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            tokens,
            ends: SessionEnds::new(ports),
            clock: Arc::clone(&ports.clock),
        }
    }

    /// Spends the presented token and issues a new pair in the same session. A token
    /// presented after it was spent revokes its whole session. Of two concurrent
    /// refreshes with one token, one wins; the other is the same reuse and revokes the
    /// session — the winner's new tokens die with it (see `docs/security.md`).
    ///
    /// # Errors
    /// [`SessionError::InvalidRefreshToken`] for any token that cannot be exchanged;
    /// [`SessionError::Adapter`] when an adapter fails.
    #[tracing::instrument(name = "refresh", skip_all)]
    pub async fn execute(&self, presented: &RefreshToken) -> Result<TokenPair, SessionError> {
        let now = self.clock.now();
        let mint = self.tokens.refresh_tokens.as_ref();
        let record = match judge(self.sessions.as_ref(), mint, presented, now).await? {
            Standing::Live(record) => record,
            Standing::Spent(record) => {
                let sessions = self.sessions.as_ref();
                return Err(revoke_for_reuse(sessions, &self.ends, &record, now).await?);
            }
            Standing::Dead => return Err(SessionError::InvalidRefreshToken),
        };
        let Some(user) = self.users.find_by_id(record.user_id).await? else {
            return Err(SessionError::InvalidRefreshToken);
        };
        let (pair, replacement) = self.tokens.issue(&user, record.session, now)?;
        let presented_digest = mint.digest(presented);
        if !self
            .sessions
            .rotate(&presented_digest, replacement, now)
            .await?
        {
            // Spent (or revoked) between our read and our write: a concurrent use.
            let sessions = self.sessions.as_ref();
            return Err(revoke_for_reuse(sessions, &self.ends, &record, now).await?);
        }
        Ok(pair)
    }
}

/// Ends the session a refresh token belongs to.
pub struct LogOut {
    /// Where the session is revoked.
    sessions: Arc<dyn SessionRepository>,
    /// Computes token digests.
    refresh_tokens: Arc<dyn RefreshTokenMint>,
    /// Tells the session's connections.
    ends: SessionEnds,
    /// The time.
    clock: Arc<dyn Clock>,
}

impl LogOut {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            sessions: Arc::clone(&ports.sessions),
            refresh_tokens: Arc::clone(&ports.refresh_tokens),
            ends: SessionEnds::new(ports),
            clock: Arc::clone(&ports.clock),
        }
    }

    /// Revokes the session of a live token: its access tokens are refused from now on
    /// and its connections close.
    ///
    /// # Errors
    /// [`SessionError::InvalidRefreshToken`] for a token that is unknown, expired or of
    /// an ended session, and for a spent one (which revokes its session as a reuse);
    /// [`SessionError::Adapter`] when an adapter fails.
    #[tracing::instrument(name = "log_out", skip_all)]
    pub async fn execute(&self, presented: &RefreshToken) -> Result<(), SessionError> {
        let now = self.clock.now();
        let standing = judge(
            self.sessions.as_ref(),
            self.refresh_tokens.as_ref(),
            presented,
            now,
        )
        .await?;
        match standing {
            Standing::Live(record) => {
                self.sessions.revoke(record.session, now).await?;
                self.ends.announce(&[record.session]).await;
                tracing::info!(user_id = %record.user_id, "session ended by logout");
                Ok(())
            }
            Standing::Spent(record) => {
                let sessions = self.sessions.as_ref();
                Err(revoke_for_reuse(sessions, &self.ends, &record, now).await?)
            }
            Standing::Dead => Err(SessionError::InvalidRefreshToken),
        }
    }
}

/// A live session in its owner's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSession {
    /// The session.
    pub summary: SessionSummary,
    /// Whether it is the caller's own: the one whose access token asked.
    pub current: bool,
}

/// Lists a user's live sessions.
pub struct ListSessions {
    /// Where sessions are read.
    sessions: Arc<dyn SessionRepository>,
    /// The time: what is live.
    clock: Arc<dyn Clock>,
}

impl ListSessions {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            sessions: Arc::clone(&ports.sessions),
            clock: Arc::clone(&ports.clock),
        }
    }

    /// The caller's live sessions, most recently used first, the caller's own marked
    /// `current`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    #[tracing::instrument(name = "list_sessions", skip_all, fields(user_id = %caller.user.id))]
    pub async fn execute(&self, caller: &Caller) -> Result<Vec<ListedSession>, AdapterError> {
        let sessions = self
            .sessions
            .list_live(caller.user.id, self.clock.now())
            .await?;
        Ok(sessions
            .into_iter()
            .map(|summary| ListedSession {
                current: summary.id == caller.session,
                summary,
            })
            .collect())
    }
}

/// Why a session could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum EndSessionError {
    /// No live session of the caller has this id: unknown, ended already, or another
    /// user's (deliberately indistinguishable, so that ids cannot be probed).
    #[error("no such session")]
    SessionNotFound,
    /// An adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Ends one of the caller's sessions.
pub struct EndSession {
    /// Where the session is revoked.
    sessions: Arc<dyn SessionRepository>,
    /// Tells its connections.
    ends: SessionEnds,
    /// The time.
    clock: Arc<dyn Clock>,
}

impl EndSession {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            sessions: Arc::clone(&ports.sessions),
            ends: SessionEnds::new(ports),
            clock: Arc::clone(&ports.clock),
        }
    }

    /// Ends `target` when it is one of the caller's live sessions (their own current one
    /// included: that is a logout by access token): its refresh and access tokens stop
    /// working and its connections close.
    ///
    /// # Errors
    /// [`EndSessionError::SessionNotFound`] when `target` is not a live session of the
    /// caller's; [`EndSessionError::Adapter`] when the store fails.
    #[tracing::instrument(name = "end_session", skip_all, fields(user_id = %caller.user.id))]
    pub async fn execute(&self, caller: &Caller, target: SessionId) -> Result<(), EndSessionError> {
        if !self
            .sessions
            .revoke_of_user(caller.user.id, target, self.clock.now())
            .await?
        {
            return Err(EndSessionError::SessionNotFound);
        }
        self.ends.announce(&[target]).await;
        tracing::info!(session_id = %target, "session ended by its owner");
        Ok(())
    }
}

/// Ends every session of the caller's but the one they call from.
pub struct EndOtherSessions {
    /// Where the sessions are revoked.
    sessions: Arc<dyn SessionRepository>,
    /// Tells their connections.
    ends: SessionEnds,
    /// The time.
    clock: Arc<dyn Clock>,
}

impl EndOtherSessions {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            sessions: Arc::clone(&ports.sessions),
            ends: SessionEnds::new(ports),
            clock: Arc::clone(&ports.clock),
        }
    }

    /// Revokes every session of the caller's except their current one, and closes the
    /// connections of each.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    #[tracing::instrument(name = "end_other_sessions", skip_all, fields(user_id = %caller.user.id))]
    pub async fn execute(&self, caller: &Caller) -> Result<(), AdapterError> {
        let ended = self
            .sessions
            .revoke_all_of_user(caller.user.id, Some(caller.session), self.clock.now())
            .await?;
        self.ends.announce(&ended).await;
        tracing::info!(ended = ended.len(), "other sessions ended by their owner");
        Ok(())
    }
}

impl From<AdmitError> for LogInError {
    fn from(error: AdmitError) -> Self {
        match error {
            AdmitError::Throttled(seconds) => Self::Throttled(seconds),
            AdmitError::Adapter(error) => Self::Adapter(error),
        }
    }
}

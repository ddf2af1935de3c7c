//! Use-case tests against mockall fakes of every port.
//!
//! Each test starts from [`Mocks::new`] (a clock stopped at [`now`], no other
//! expectation), states what the world does and which calls must or must not happen,
//! then turns the mocks into the use case under test. A call that no expectation allows
//! fails the test, so a story only lists the calls that matter to it; explicit `never()`s
//! are there for the reader. A test that cares what is logged reads it through
//! [`Logs::capture`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authenticate;
mod change_password;
mod log_in;
mod log_out;
mod refresh;
mod register;
mod throttle;
mod update_profile;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Once};

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::ports::{
    AdapterError, AttemptState, MockAccessTokens, MockClock, MockIdSource, MockLoginAttempts,
    MockPasswordHasher, MockRefreshTokenMint, MockSessionRepository, MockUserRepository,
    PasswordCheck, StoredCredentials,
};
use domain::{
    Email, IssuedAccessToken, Password, PasswordHash, PersonName, RefreshToken, RefreshTokenRecord,
    SessionId, TokenDigest, User, UserId,
};
use uuid::Uuid;

use crate::{
    Authenticate, ChangePassword, LogIn, LogOut, LoginThrottle, LoginThrottlePolicy, Refresh,
    Register, SessionPolicy, TokenPairIssuer, UpdateProfile,
};

/// Ada, the registered user of every story.
const ADA: UserId = UserId::from_uuid(Uuid::from_u128(0xada));
/// Another user, who is not Ada.
const SOMEONE_ELSE: UserId = UserId::from_uuid(Uuid::from_u128(0xb0b));
/// The session Ada's stored refresh tokens belong to.
const SESSION: SessionId = SessionId::from_uuid(Uuid::from_u128(0x5e55));
/// The `jti` the id source hands to the next access token.
const JTI: Uuid = Uuid::from_u128(0x171);

/// The instant the clock is stopped at.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 15, 9, 26).unwrap()
}

/// How long a refresh token lives in these tests.
fn refresh_ttl() -> Duration {
    Duration::days(30)
}

/// How long the fake signer makes an access token live.
fn access_ttl() -> Duration {
    Duration::minutes(15)
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn password(raw: &str) -> Password {
    Password::parse(raw).unwrap()
}

fn name(raw: &str) -> PersonName {
    PersonName::parse(raw).unwrap()
}

/// Ada as the store holds her, registered a while before [`now`].
fn ada() -> User {
    let registered = now() - Duration::days(90);
    User {
        id: ADA,
        email: email("ada@example.com"),
        first_name: name("Ada"),
        last_name: name("Lovelace"),
        created_at: registered,
        updated_at: registered,
    }
}

/// The password Ada chose.
const ADAS_PASSWORD: &str = "analytical engine";

/// The hash the store holds for Ada's password.
fn stored_hash() -> PasswordHash {
    PasswordHash::new("$2b$12$stored".into())
}

/// A hash the hasher computes now.
fn fresh_hash() -> PasswordHash {
    PasswordHash::new("$2b$12$fresh".into())
}

/// The hasher's hash of a password nobody has.
fn dummy_hash() -> PasswordHash {
    PasswordHash::new("$2b$12$dummy".into())
}

/// An adapter failure; `context` says which, for the failure messages.
fn boom(context: &'static str) -> AdapterError {
    AdapterError::new(context, std::io::Error::other("boom"))
}

/// `value`, or an adapter failure when `fails`: for tables where one step of a use
/// case fails at a time.
fn unless_failing<T>(fails: bool, value: T) -> Result<T, AdapterError> {
    if fails {
        Err(boom("failed on purpose"))
    } else {
        Ok(value)
    }
}

/// The refresh token the client presents.
fn presented() -> RefreshToken {
    RefreshToken::new("presented-secret".into())
}

/// The refresh token the mint hands out next.
fn minted() -> RefreshToken {
    RefreshToken::new("minted-secret".into())
}

/// The fake mint's digest: deterministic and different for different tokens.
fn digest_of(token: &RefreshToken) -> TokenDigest {
    TokenDigest::new(format!("sha256({})", token.expose()))
}

/// The fake signer's access token.
fn signed(user: &User, issued_at: DateTime<Utc>, jti: Uuid) -> IssuedAccessToken {
    IssuedAccessToken {
        token: format!("jwt(sub={}, jti={jti})", user.id),
        expires_at: issued_at + access_ttl(),
    }
}

/// The stored record of [`presented`]: unspent, unexpired, its session live.
fn live_record() -> RefreshTokenRecord {
    RefreshTokenRecord {
        session: SESSION,
        user_id: ADA,
        expires_at: now() + Duration::days(1),
        spent_at: None,
        session_revoked_at: None,
    }
}

/// The record of [`presented`] after it was exchanged once already.
fn spent_record() -> RefreshTokenRecord {
    RefreshTokenRecord {
        spent_at: Some(now() - Duration::hours(1)),
        ..live_record()
    }
}

/// What the store may answer for a presented token that refreshes nothing, and is no
/// reuse either: each case named for the failure messages.
fn dead_tokens() -> Vec<(&'static str, Option<RefreshTokenRecord>)> {
    let revoked = Some(now() - Duration::hours(1));
    vec![
        ("an unknown token", None),
        (
            "a token of a revoked session",
            Some(RefreshTokenRecord {
                session_revoked_at: revoked,
                ..live_record()
            }),
        ),
        (
            // The session is over already: nothing left to revoke for the reuse.
            "a spent token of a revoked session",
            Some(RefreshTokenRecord {
                session_revoked_at: revoked,
                ..spent_record()
            }),
        ),
        (
            "an expired token",
            Some(RefreshTokenRecord {
                expires_at: now() - Duration::seconds(1),
                ..live_record()
            }),
        ),
        (
            "a token expiring this very instant",
            Some(RefreshTokenRecord {
                expires_at: now(),
                ..live_record()
            }),
        ),
    ]
}

/// Every event and span field a use case logs on this thread while a capture is on, one
/// line each: `LEVEL field=value ...`.
#[derive(Clone, Default)]
struct Logs(Rc<RefCell<Vec<String>>>);

thread_local! {
    /// Where [`LogCapture`] writes on this thread, if anywhere.
    static CAPTURING: RefCell<Option<Logs>> = const { RefCell::new(None) };
}

/// Stops a capture when dropped.
struct StopCapture;

impl Drop for StopCapture {
    fn drop(&mut self) {
        CAPTURING.with(|capturing| capturing.borrow_mut().take());
    }
}

impl Logs {
    /// Records what is logged on this thread until the guard drops. Tokio's test runtime
    /// polls the use case on the test's own thread, so its logs land here.
    fn capture() -> (Self, StopCapture) {
        install_log_capture();
        let logs = Self::default();
        CAPTURING.with(|capturing| *capturing.borrow_mut() = Some(logs.clone()));
        (logs, StopCapture)
    }

    fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Installs [`LogCapture`] as the global subscriber, once, before any use case runs (every
/// test goes through [`Mocks::new`]). A per-test scoped subscriber would race: `tracing`
/// caches whether a call site is wanted, and a test on another thread may register a call
/// site as unwanted while this one's subscriber is being set up.
fn install_log_capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(LogCapture)
            .expect("nothing else in this test binary sets a global subscriber");
    });
}

/// A `tracing` subscriber that keeps every field as text for the thread's capture, if
/// one is on, so a test can check what a use case logs and that no secret is among it.
/// (`tracing-subscriber` is not a dependency of this crate; this is all the tests need.)
struct LogCapture;

/// A line being written: the fields visited after its level or span name.
struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        use fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

fn keep(line: Line) {
    CAPTURING.with(|capturing| {
        if let Some(logs) = capturing.borrow().as_ref() {
            logs.0.borrow_mut().push(line.0);
        }
    });
}

impl tracing::Subscriber for LogCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = Line(format!("SPAN {}", span.metadata().name()));
        span.record(&mut line);
        keep(line);
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = Line("SPAN FIELDS".into());
        values.record(&mut line);
        keep(line);
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        keep(line);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// A fake of every port, to be turned into any use case.
struct Mocks {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    hasher: MockPasswordHasher,
    access_tokens: MockAccessTokens,
    refresh_tokens: MockRefreshTokenMint,
    clock: MockClock,
    ids: MockIdSource,
    attempts: MockLoginAttempts,
}

/// The throttle the login tests run under: three free failures, then 30 s doubling up
/// to 10 min.
fn throttle() -> LoginThrottlePolicy {
    LoginThrottlePolicy {
        max_failures: 3,
        lockout: Duration::seconds(30),
        max_lockout: Duration::minutes(10),
    }
}

impl Mocks {
    /// Fakes with no expectation but a clock stopped at [`now`]; logs go to [`LogCapture`].
    fn new() -> Self {
        install_log_capture();
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        Self {
            users: MockUserRepository::new(),
            sessions: MockSessionRepository::new(),
            hasher: MockPasswordHasher::new(),
            access_tokens: MockAccessTokens::new(),
            refresh_tokens: MockRefreshTokenMint::new(),
            clock,
            ids: MockIdSource::new(),
            attempts: MockLoginAttempts::new(),
        }
    }

    /// No failures recorded; recording and clearing allowed.
    fn attempts_are_unremarkable(&mut self) {
        self.attempts
            .expect_begin()
            .returning(|_| AttemptState::default());
        self.attempts.expect_finish().returning(|_, _, _| ());
    }

    /// The throttle over these fakes' attempts, with its own clock stopped at [`now`].
    fn login_throttle(attempts: MockLoginAttempts) -> Arc<LoginThrottle> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        Arc::new(LoginThrottle {
            attempts: Arc::new(attempts),
            policy: throttle(),
            clock: Arc::new(clock),
        })
    }

    /// The store knows Ada's address, with [`stored_hash`] as her hash.
    fn ada_is_registered(&mut self) {
        self.users
            .expect_find_credentials()
            .withf(|email| email.as_ref() == "ada@example.com")
            .times(1)
            .returning(|_| {
                Ok(Some(StoredCredentials {
                    user: ada(),
                    password_hash: stored_hash(),
                }))
            });
    }

    /// Checking `typed` against [`stored_hash`] gives `check`, once.
    fn password_check_gives(&mut self, typed: &'static str, check: PasswordCheck) {
        self.hasher
            .expect_verify()
            .withf(move |password, stored| password.expose() == typed && *stored == stored_hash())
            .times(1)
            .returning(move |_, _| Ok(check));
    }

    /// The mint digests any token as [`digest_of`] does, as often as asked.
    fn digests_tokens(&mut self) {
        self.refresh_tokens.expect_digest().returning(digest_of);
    }

    /// The store holds `record` for [`presented`].
    fn presented_token_is(&mut self, record: Option<RefreshTokenRecord>) {
        self.sessions
            .expect_find_token()
            .withf(|digest| *digest == digest_of(&presented()))
            .times(1)
            .returning(move |_| Ok(record.clone()));
    }

    /// One pair is issued: the mint hands out [`minted`] and the signer signs with
    /// [`signed`], whatever the user, time and `jti`.
    fn issues_one_pair(&mut self) {
        self.refresh_tokens
            .expect_mint()
            .times(1)
            .returning(|| Ok(minted()));
        self.access_tokens
            .expect_issue()
            .times(1)
            .returning(|user, at, jti| Ok(signed(user, at, jti)));
    }

    /// Nothing is minted, signed or stored for a session.
    fn issues_nothing(&mut self) {
        self.refresh_tokens.expect_mint().never();
        self.access_tokens.expect_issue().never();
        self.sessions.expect_start().never();
        self.sessions.expect_rotate().never();
    }

    fn issuer(
        access_tokens: MockAccessTokens,
        refresh_tokens: MockRefreshTokenMint,
        ids: MockIdSource,
    ) -> Arc<TokenPairIssuer> {
        Arc::new(TokenPairIssuer {
            access_tokens: Arc::new(access_tokens),
            refresh_tokens: Arc::new(refresh_tokens),
            ids: Arc::new(ids),
            policy: SessionPolicy {
                refresh_token_ttl: refresh_ttl(),
            },
        })
    }

    fn register(self) -> Register {
        Register {
            users: Arc::new(self.users),
            hasher: Arc::new(self.hasher),
            clock: Arc::new(self.clock),
            ids: Arc::new(self.ids),
        }
    }

    fn log_in(self) -> LogIn {
        LogIn {
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            hasher: Arc::new(self.hasher),
            tokens: Self::issuer(self.access_tokens, self.refresh_tokens, self.ids),
            clock: Arc::new(self.clock),
            throttle: Self::login_throttle(self.attempts),
        }
    }

    fn refresh(self) -> Refresh {
        Refresh {
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            tokens: Self::issuer(self.access_tokens, self.refresh_tokens, self.ids),
            clock: Arc::new(self.clock),
        }
    }

    fn log_out(self) -> LogOut {
        LogOut {
            sessions: Arc::new(self.sessions),
            refresh_tokens: Arc::new(self.refresh_tokens),
            clock: Arc::new(self.clock),
        }
    }

    fn authenticate(self) -> Authenticate {
        Authenticate {
            access_tokens: Arc::new(self.access_tokens),
            users: Arc::new(self.users),
        }
    }

    fn update_profile(self) -> UpdateProfile {
        UpdateProfile {
            users: Arc::new(self.users),
            clock: Arc::new(self.clock),
        }
    }

    fn change_password(self) -> ChangePassword {
        ChangePassword {
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            hasher: Arc::new(self.hasher),
            clock: Arc::new(self.clock),
            throttle: Self::login_throttle(self.attempts),
        }
    }
}

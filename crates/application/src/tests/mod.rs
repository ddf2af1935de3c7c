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
mod delivery;
mod join_and_leave;
mod log_in;
mod log_out;
mod presence;
mod publish;
mod reading;
mod refresh;
mod register;
mod retention;
mod sessions;
mod throttle;
mod trusted_devices;
mod update_profile;

use std::cell::RefCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::Once;

use chrono::Duration;
pub(crate) use test_support::{
    ADA, ADAS_LAPTOP, ADAS_PASSWORD, ADAS_PHONE, Fakes, GRACE, JTI, SESSION, SOMEONE_ELSE, ada,
    adas_message, boom, dead_tokens, device_token, device_ttl, digest_of, dummy_hash, email,
    fresh_hash, general, grace, live_record, minted, minted_device_token, name, now, password,
    presented, refresh_ttl, replay_of, room, seqs_of, signed, spent_record, standing, stored_hash,
    unless_failing,
};

use domain::ports::RoomAccessError;

use crate::{
    Authenticate, ChangePassword, EndOtherSessions, EndSession, ListSessions, LogIn, LogOut,
    LoginThrottlePolicy, Policies, PublishError, Refresh, Register, RoomError, RoomPolicy,
    SessionPolicy, UpdateProfile, UseCases,
};

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

/// A fake of every port ([`Fakes`]), to be turned into the use case under test through
/// the one wiring the binary uses ([`UseCases::new`]).
struct Mocks(Fakes);

impl Deref for Mocks {
    type Target = Fakes;

    fn deref(&self) -> &Fakes {
        &self.0
    }
}

impl DerefMut for Mocks {
    fn deref_mut(&mut self) -> &mut Fakes {
        &mut self.0
    }
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

/// The policies every story runs under.
fn policies() -> Policies {
    Policies {
        session: SessionPolicy {
            refresh_token_ttl: refresh_ttl(),
        },
        login_throttle: throttle(),
        rooms: room_policy(),
    }
}

/// The room rules the stories run under: bodies up to 16 bytes (so a story can break
/// the limit with a short text), replay pages of two (so a story can show paging), a
/// hundred messages kept per room for at most thirty days.
fn room_policy() -> RoomPolicy {
    RoomPolicy {
        message_max_bytes: 16,
        replay_page: domain::PageLimit::new(2).unwrap(),
        retention: domain::Retention {
            max_messages: std::num::NonZeroU64::new(100),
            max_age: Some(Duration::days(30)),
        },
    }
}

impl Mocks {
    /// Fakes with no expectation but a clock stopped at [`now`]; logs go to [`LogCapture`].
    fn new() -> Self {
        install_log_capture();
        Self(Fakes::new())
    }

    /// Every use case, wired as the binary wires them, over these fakes.
    fn use_cases(self) -> UseCases {
        UseCases::new(&self.0.into_ports(), policies())
    }

    fn register(self) -> Register {
        self.use_cases().register
    }

    fn log_in(self) -> LogIn {
        self.use_cases().log_in
    }

    fn refresh(self) -> Refresh {
        self.use_cases().refresh
    }

    fn log_out(self) -> LogOut {
        self.use_cases().log_out
    }

    fn authenticate(self) -> Authenticate {
        self.use_cases().authenticate
    }

    fn list_sessions(self) -> ListSessions {
        self.use_cases().list_sessions
    }

    fn end_session(self) -> EndSession {
        self.use_cases().end_session
    }

    fn end_other_sessions(self) -> EndOtherSessions {
        self.use_cases().end_other_sessions
    }

    fn update_profile(self) -> UpdateProfile {
        self.use_cases().update_profile
    }

    fn change_password(self) -> ChangePassword {
        self.use_cases().change_password
    }
}

/// One way the store refuses a member-only operation, and how the use case must answer
/// it (a use case's error of type `E`).
struct Refusal<E> {
    /// What the story is, for failure messages.
    what: &'static str,
    /// What the store says.
    store_says: fn() -> RoomAccessError,
    /// Whether the use case's error is the right answer.
    answered: fn(&E) -> bool,
}

/// Every way the store refuses a member-only operation, answered as a [`RoomError`].
fn room_refusals() -> [Refusal<RoomError>; 3] {
    [
        Refusal {
            what: "an unknown room",
            store_says: || RoomAccessError::RoomNotFound,
            answered: |error| matches!(error, RoomError::RoomNotFound),
        },
        Refusal {
            what: "a room she is not in",
            store_says: || RoomAccessError::NotMember,
            answered: |error| matches!(error, RoomError::NotMember),
        },
        Refusal {
            what: "a failing store",
            store_says: || RoomAccessError::Adapter(boom("store")),
            answered: |error| matches!(error, RoomError::Adapter(_)),
        },
    ]
}

/// Every way the store refuses a publish, answered as a [`PublishError`].
fn publish_refusals() -> [Refusal<PublishError>; 3] {
    [
        Refusal {
            what: "an unknown room",
            store_says: || RoomAccessError::RoomNotFound,
            answered: |error| matches!(error, PublishError::RoomNotFound),
        },
        Refusal {
            what: "a room she is not in",
            store_says: || RoomAccessError::NotMember,
            answered: |error| matches!(error, PublishError::NotMember),
        },
        Refusal {
            what: "a failing store",
            store_says: || RoomAccessError::Adapter(boom("publish")),
            answered: |error| matches!(error, PublishError::Adapter(_)),
        },
    ]
}

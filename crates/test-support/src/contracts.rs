//! The contract suites: the error contracts written in the port traits' documentation,
//! as tests that every adapter of a port runs unchanged against a fresh store of its own
//! (see "How to add an adapter" in `docs/architecture.md`).
//!
//! A backend's test makes a [`Store`] per case; [`users::run`], [`sessions::run`] and
//! [`rooms::run`] run every case, each on a store of its own, and name the case that
//! failed. The ports kept outside the database ([`login_attempts::run`],
//! [`presence::run`], [`bus::run`]) take a closure that makes a fresh adapter.

pub mod bus;
pub mod login_attempts;
pub mod presence;
pub mod rooms;
pub mod sessions;
pub mod users;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeZone as _, Utc};
use domain::ports::{RoomStore, SessionRepository, UserRepository};
use domain::{Email, NewUser, PasswordHash, PersonName, User, UserId};
use uuid::Uuid;

/// A fresh, empty, migrated store of one backend, seen through its ports.
pub struct Store {
    /// Its users.
    pub users: Arc<dyn UserRepository>,
    /// Its sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Its rooms, memberships and messages.
    pub rooms: Arc<dyn RoomStore>,
    /// Makes the store's writes fail at commit, or work again.
    pub faults: Arc<dyn WriteFaults>,
    /// Whatever must live as long as the store (a temporary folder, a test database).
    pub keep_alive: Box<dyn Any + Send>,
}

/// A backend's switch for the write-failure cases: while on, every write fails as a
/// failed COMMIT would (after its statements ran), so the cases can check that the
/// adapter reports the failure and that nothing was kept.
pub trait WriteFaults: Send + Sync {
    /// Turns the failure on or off.
    fn fail_commits(&self, failing: bool);
}

/// An instant of the contract stories' day: `at(m)` is `m` minutes past noon.
#[must_use]
pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, minute, 0).unwrap()
}

/// A new user at `email`, created at [`at`]`(0)`, with a fresh id.
#[must_use]
pub fn new_user(email: &str) -> NewUser {
    NewUser {
        user: User {
            id: UserId::from_uuid(Uuid::new_v4()),
            email: Email::parse(email).unwrap(),
            first_name: PersonName::parse("Ada").unwrap(),
            last_name: PersonName::parse("Lovelace").unwrap(),
            created_at: at(0),
            updated_at: at(0),
        },
        password_hash: PasswordHash::new("$2b$04$hash".into()),
    }
}

/// Runs each named case on a store of its own, saying which case is running so that a
/// failure names it.
async fn run_cases<F, Fut>(suite: &str, fresh: &F, cases: Vec<(&str, Case)>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Store>,
{
    for (name, case) in cases {
        eprintln!("{suite} contract: {}", name.replace('_', " "));
        let store = fresh().await;
        case(store).await;
    }
}

/// The cases of a suite, each named after its function (`a_thing_holds` reads "a thing
/// holds" in a failure).
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        vec![$((
            stringify!($case),
            (|store| Box::pin($case(store))) as $crate::contracts::Case,
        )),*]
    };
}
pub(crate) use cases;

/// One case of a suite: a story told against a fresh store.
type Case = fn(Store) -> std::pin::Pin<Box<dyn Future<Output = ()>>>;

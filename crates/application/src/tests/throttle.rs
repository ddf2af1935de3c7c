//! Throttling password checks per address: failures in a row lock the address for a
//! while, doubling; checks running at once share one allowance; the same rule guards
//! logins and password changes, for addresses with and without an account alike.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use domain::ports::{AttemptOutcome, AttemptState, FailedLogins, MockLoginAttempts, PasswordCheck};

use super::{ADAS_PASSWORD, Mocks, email, now, password};
use crate::{ChangePasswordError, LogInCommand, LogInError, TokenPair};

async fn log_in(mocks: Mocks, address: &str, typed: &str) -> Result<TokenPair, LogInError> {
    mocks
        .log_in()
        .execute(LogInCommand {
            email: email(address),
            password: password(typed),
        })
        .await
}

fn state(count: u32, seconds_ago: i64, in_flight: u32) -> AttemptState {
    AttemptState {
        failures: (count > 0).then(|| FailedLogins {
            count,
            last_at: now() - Duration::seconds(seconds_ago),
        }),
        in_flight,
    }
}

/// Attempts that begin in `state` and remember how they finished.
fn attempts_in(state: AttemptState) -> (MockLoginAttempts, Arc<Mutex<Vec<AttemptOutcome>>>) {
    let finished = Arc::new(Mutex::new(Vec::new()));
    let mut attempts = MockLoginAttempts::new();
    attempts.expect_begin().returning(move |_| state);
    let log = Arc::clone(&finished);
    attempts
        .expect_finish()
        .returning(move |_, outcome, _| log.lock().unwrap().push(outcome));
    (attempts, finished)
}

#[tokio::test]
async fn a_locked_address_is_refused_before_any_lookup_with_the_time_left() {
    // Three free failures, then 30 s doubling up to 10 min.
    for (count, seconds_ago, retry) in [(3, 10, 20), (4, 10, 50), (5, 100, 20), (30, 1, 599)] {
        let mut mocks = Mocks::new();
        let (attempts, finished) = attempts_in(state(count, seconds_ago, 0));
        mocks.attempts = attempts;
        mocks.users.expect_find_credentials().never();
        mocks.hasher.expect_verify().never();
        let outcome = log_in(mocks, "ada@example.com", ADAS_PASSWORD).await;
        assert!(
            matches!(outcome, Err(LogInError::Throttled(seconds)) if seconds == retry),
            "{count} failures {seconds_ago} s ago: {outcome:?}"
        );
        assert_eq!(*finished.lock().unwrap(), [AttemptOutcome::Abandoned]);
    }
}

#[tokio::test]
async fn checks_in_flight_use_up_the_allowance_so_a_burst_gets_no_more_than_a_sequence() {
    // (failures so far, checks in flight, admitted?)
    for (count, in_flight, admitted) in [(0, 2, true), (0, 3, false), (2, 0, true), (2, 1, false)] {
        let mut mocks = Mocks::new();
        let (attempts, _) = attempts_in(state(count, 0, in_flight));
        mocks.attempts = attempts;
        if admitted {
            mocks
                .users
                .expect_find_credentials()
                .returning(|_| Ok(None));
            mocks
                .hasher
                .expect_dummy_hash()
                .returning(super::dummy_hash);
            mocks
                .hasher
                .expect_verify()
                .returning(|_, _| Ok(PasswordCheck::Mismatch));
        } else {
            mocks.users.expect_find_credentials().never();
        }
        let outcome = log_in(mocks, "nobody@example.com", "guess-guess").await;
        let refused = matches!(outcome, Err(LogInError::Throttled(30)));
        assert_eq!(
            !refused, admitted,
            "{count} failures, {in_flight} in flight: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn after_a_lockout_one_check_goes_through_and_long_after_the_count_restarts() {
    // (failures, seconds since the latest, restart expected)
    for (count, seconds_ago, restart) in [(3, 30, false), (4, 60, false), (4, 60 + 600, true)] {
        let mut mocks = Mocks::new();
        let (attempts, finished) = attempts_in(state(count, seconds_ago, 0));
        mocks.attempts = attempts;
        mocks
            .users
            .expect_find_credentials()
            .times(1)
            .returning(|_| Ok(None));
        mocks
            .hasher
            .expect_dummy_hash()
            .returning(super::dummy_hash);
        mocks
            .hasher
            .expect_verify()
            .returning(|_, _| Ok(PasswordCheck::Mismatch));
        let outcome = log_in(mocks, "nobody@example.com", "guess-guess").await;
        assert!(
            matches!(outcome, Err(LogInError::InvalidCredentials)),
            "{outcome:?}"
        );
        assert_eq!(
            *finished.lock().unwrap(),
            [AttemptOutcome::Failed { at: now(), restart }],
            "{count} failures {seconds_ago} s ago"
        );
    }
}

#[tokio::test]
async fn a_success_is_recorded_and_an_adapter_failure_is_not_a_guess() {
    let mut mocks = Mocks::new();
    let (attempts, finished) = attempts_in(AttemptState::default());
    mocks.attempts = attempts;
    mocks
        .users
        .expect_find_credentials()
        .returning(|_| Err(super::boom("store down")));
    let outcome = log_in(mocks, "ada@example.com", ADAS_PASSWORD).await;
    assert!(matches!(outcome, Err(LogInError::Adapter(_))));
    assert_eq!(*finished.lock().unwrap(), [AttemptOutcome::Abandoned]);
}

#[tokio::test]
async fn a_wrong_current_password_counts_as_a_guess_and_a_locked_address_cannot_change_it() {
    let mut mocks = Mocks::new();
    let (attempts, finished) = attempts_in(AttemptState::default());
    mocks.attempts = attempts;
    mocks.ada_is_registered();
    mocks.password_check_gives("not the password", PasswordCheck::Mismatch);
    let outcome = mocks
        .change_password()
        .execute(
            &super::ada(),
            &password("not the password"),
            &password("difference engine"),
        )
        .await;
    assert!(matches!(
        outcome,
        Err(ChangePasswordError::InvalidCredentials)
    ));
    assert_eq!(
        *finished.lock().unwrap(),
        [AttemptOutcome::Failed {
            at: now(),
            restart: false
        }]
    );

    let mut mocks = Mocks::new();
    let (attempts, _) = attempts_in(state(3, 0, 0));
    mocks.attempts = attempts;
    mocks.ada_is_registered();
    mocks.hasher.expect_verify().never();
    let outcome = mocks
        .change_password()
        .execute(
            &super::ada(),
            &password(ADAS_PASSWORD),
            &password("difference engine"),
        )
        .await;
    assert!(
        matches!(outcome, Err(ChangePasswordError::Throttled(30))),
        "{outcome:?}"
    );
}

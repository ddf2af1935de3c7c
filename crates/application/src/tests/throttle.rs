//! Login throttling: failures against one address lock it for a while, doubling, for
//! addresses with and without an account alike.

use chrono::Duration;
use domain::ports::{FailedLogins, PasswordCheck};

use super::{ADAS_PASSWORD, Mocks, email, now, password};
use crate::{LogInCommand, LogInError, TokenPair};

async fn log_in(mocks: Mocks, address: &str, typed: &str) -> Result<TokenPair, LogInError> {
    mocks
        .log_in()
        .execute(LogInCommand {
            email: email(address),
            password: password(typed),
        })
        .await
}

fn failures(count: u32, seconds_ago: i64) -> Option<FailedLogins> {
    Some(FailedLogins {
        count,
        last_at: now() - Duration::seconds(seconds_ago),
    })
}

#[tokio::test]
async fn a_locked_address_is_refused_before_any_lookup_with_the_time_left() {
    // Three free failures, then 30 s: with 3 failures 10 s ago, 20 s remain.
    for (count, seconds_ago, retry) in [(3, 10, 20), (4, 10, 50), (5, 100, 20), (30, 1, 599)] {
        let mut mocks = Mocks::new();
        mocks
            .attempts
            .expect_failures()
            .returning(move |_| failures(count, seconds_ago));
        mocks.users.expect_find_credentials().never();
        mocks.hasher.expect_verify().never();
        mocks.attempts.expect_record_failure().never();
        let outcome = log_in(mocks, "ada@example.com", ADAS_PASSWORD).await;
        assert!(
            matches!(outcome, Err(LogInError::Throttled(seconds)) if seconds == retry),
            "{count} failures {seconds_ago} s ago: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_lockout_that_has_passed_lets_the_next_attempt_through() {
    for (count, seconds_ago) in [(2, 0), (3, 30), (4, 60)] {
        let mut mocks = Mocks::new();
        mocks
            .attempts
            .expect_failures()
            .returning(move |_| failures(count, seconds_ago));
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
        mocks
            .attempts
            .expect_record_failure()
            .times(1)
            .returning(|_, _, _| ());
        let outcome = log_in(mocks, "nobody@example.com", "guess-guess").await;
        assert!(
            matches!(outcome, Err(LogInError::InvalidCredentials)),
            "{count} failures {seconds_ago} s ago: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn every_invalid_credential_is_recorded_with_the_horizon_of_forgetting() {
    let mut mocks = Mocks::new();
    mocks.attempts.expect_failures().returning(|_| None);
    mocks.ada_is_registered();
    mocks.password_check_gives("wrong-password", PasswordCheck::Mismatch);
    mocks
        .attempts
        .expect_record_failure()
        .withf(|address, at, forget_before| {
            address.as_ref() == "ada@example.com"
                && *at == now()
                && *forget_before == now() - Duration::minutes(10)
        })
        .times(1)
        .returning(|_, _, _| ());
    mocks.attempts.expect_clear().never();
    let outcome = log_in(mocks, "ada@example.com", "wrong-password").await;
    assert!(matches!(outcome, Err(LogInError::InvalidCredentials)));
}

#[tokio::test]
async fn an_adapter_failure_is_not_counted_as_a_guess() {
    let mut mocks = Mocks::new();
    mocks.attempts.expect_failures().returning(|_| None);
    mocks
        .users
        .expect_find_credentials()
        .returning(|_| Err(super::boom("store down")));
    mocks.attempts.expect_record_failure().never();
    mocks.attempts.expect_clear().never();
    let outcome = log_in(mocks, "ada@example.com", ADAS_PASSWORD).await;
    assert!(matches!(outcome, Err(LogInError::Adapter(_))));
}

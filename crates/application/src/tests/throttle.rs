//! Throttling password checks per address: failures in a row lock the address for a
//! while, doubling; checks running at once share one allowance; the same rule guards
//! logins and password changes, for addresses with and without an account alike; a
//! record of failures that cannot be read refuses the check (fails closed).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use domain::ports::{FailedLogins, MockLoginAttempts, PasswordCheck};

use super::{ADAS_PASSWORD, Mocks, boom, email, now, password, throttle};
use crate::{AdmitError, ChangePasswordError, LogInCommand, LogInError, LoginThrottle, TokenPair};

async fn log_in(mocks: Mocks, address: &str, typed: &str) -> Result<TokenPair, LogInError> {
    mocks
        .log_in()
        .execute(LogInCommand {
            email: email(address),
            password: password(typed),
            device_token: None,
            user_agent: None,
        })
        .await
        .map(|logged_in| logged_in.tokens)
}

fn failures(count: u32, seconds_ago: i64) -> Option<FailedLogins> {
    (count > 0).then(|| FailedLogins {
        count,
        last_at: now() - Duration::seconds(seconds_ago),
    })
}

/// What a check recorded when it was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Failure {
        at: DateTime<Utc>,
        restart: bool,
        forget_before: DateTime<Utc>,
    },
    Forgotten,
}

/// What every failure asks the record to forget: failures older than twice the longest
/// lockout can no longer lengthen one.
fn forgotten_before() -> DateTime<Utc> {
    now() - Duration::minutes(20)
}

/// A record holding `failures` that remembers what the checks recorded.
fn attempts_with(failures: Option<FailedLogins>) -> (MockLoginAttempts, Arc<Mutex<Vec<Recorded>>>) {
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let mut attempts = MockLoginAttempts::new();
    attempts.expect_failures().returning(move |_| Ok(failures));
    let log = Arc::clone(&recorded);
    attempts
        .expect_record_failure()
        .returning(move |_, at, restart, forget_before| {
            log.lock().unwrap().push(Recorded::Failure {
                at,
                restart,
                forget_before,
            });
            Ok(())
        });
    let log = Arc::clone(&recorded);
    attempts.expect_forget().returning(move |_| {
        log.lock().unwrap().push(Recorded::Forgotten);
        Ok(())
    });
    (attempts, recorded)
}

/// A throttle over `attempts` with its own clock stopped at [`now`]; no client in these
/// stories presents a device token.
fn throttle_over(attempts: MockLoginAttempts) -> LoginThrottle {
    let mut clock = domain::ports::MockClock::new();
    clock.expect_now().returning(now);
    let mut device_tokens = domain::ports::MockDeviceTokens::new();
    device_tokens.expect_verify().never();
    LoginThrottle::new(
        Arc::new(attempts),
        Arc::new(device_tokens),
        throttle(),
        Arc::new(clock),
    )
}

#[tokio::test]
async fn a_locked_address_is_refused_before_any_lookup_with_the_time_left() {
    // Three free failures, then 30 s doubling up to 10 min.
    for (count, seconds_ago, retry) in [(3, 10, 20), (4, 10, 50), (5, 100, 20), (30, 1, 599)] {
        let mut mocks = Mocks::new();
        let (attempts, recorded) = attempts_with(failures(count, seconds_ago));
        mocks.login_attempts = attempts;
        mocks.users.expect_find_credentials().never();
        mocks.hasher.expect_verify().never();
        let outcome = log_in(mocks, "ada@example.com", ADAS_PASSWORD).await;
        assert!(
            matches!(outcome, Err(LogInError::Throttled(seconds)) if seconds == retry),
            "{count} failures {seconds_ago} s ago: {outcome:?}"
        );
        assert!(
            recorded.lock().unwrap().is_empty(),
            "a refusal records nothing"
        );
    }
}

#[tokio::test]
async fn checks_in_flight_use_up_the_allowance_so_a_burst_gets_no_more_than_a_sequence() {
    // (failures so far, checks left in flight, admitted?)
    for (count, in_flight, admitted) in [(0, 2, true), (0, 3, false), (2, 0, true), (2, 1, false)] {
        let (attempts, _) = attempts_with(failures(count, 0));
        let throttle = throttle_over(attempts);
        let ada = email("ada@example.com");
        let mut running = Vec::new();
        for _ in 0..in_flight {
            running.push(throttle.admit(&ada, None).await.unwrap());
        }
        let outcome = throttle.admit(&ada, None).await;
        assert_eq!(
            outcome.is_ok(),
            admitted,
            "{count} failures, {in_flight} in flight"
        );
        if !admitted {
            assert!(matches!(outcome, Err(AdmitError::Throttled(30))));
        }
        // Checks that end (settled or dropped) give their place back.
        drop(running);
        drop(outcome);
        if count == 0 {
            assert!(
                throttle.admit(&ada, None).await.is_ok(),
                "the allowance came back"
            );
        }
    }
}

#[tokio::test]
async fn another_address_has_its_own_allowance() {
    let (attempts, _) = attempts_with(None);
    let throttle = throttle_over(attempts);
    let ada = email("ada@example.com");
    let _running: Vec<_> = [
        throttle.admit(&ada, None).await.unwrap(),
        throttle.admit(&ada, None).await.unwrap(),
        throttle.admit(&ada, None).await.unwrap(),
    ]
    .into();
    assert!(throttle.admit(&ada, None).await.is_err());
    assert!(
        throttle
            .admit(&email("grace@example.com"), None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_unreadable_record_refuses_the_check() {
    let mut mocks = Mocks::new();
    mocks
        .login_attempts
        .expect_failures()
        .returning(|_| Err(boom("attempts store down")));
    mocks.users.expect_find_credentials().never();
    mocks.hasher.expect_verify().never();
    let outcome = log_in(mocks, "ada@example.com", ADAS_PASSWORD).await;
    assert!(
        matches!(outcome, Err(LogInError::Adapter(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_record_that_cannot_be_written_does_not_change_the_answer() {
    let mut mocks = Mocks::new();
    mocks
        .login_attempts
        .expect_failures()
        .returning(|_| Ok(None));
    mocks
        .login_attempts
        .expect_record_failure()
        .times(1)
        .returning(|_, _, _, _| Err(boom("attempts store down")));
    mocks.ada_is_registered();
    mocks.password_check_gives("not the password", PasswordCheck::Mismatch);
    let outcome = log_in(mocks, "ada@example.com", "not the password").await;
    assert!(
        matches!(outcome, Err(LogInError::InvalidCredentials)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn after_a_lockout_one_check_goes_through_and_long_after_the_count_restarts() {
    // (failures, seconds since the latest, restart expected)
    for (count, seconds_ago, restart) in [(3, 30, false), (4, 60, false), (4, 60 + 600, true)] {
        let mut mocks = Mocks::new();
        let (attempts, recorded) = attempts_with(failures(count, seconds_ago));
        mocks.login_attempts = attempts;
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
            *recorded.lock().unwrap(),
            [Recorded::Failure {
                at: now(),
                restart,
                forget_before: forgotten_before(),
            }],
            "{count} failures {seconds_ago} s ago"
        );
    }
}

#[tokio::test]
async fn a_success_is_recorded_and_an_adapter_failure_is_not_a_guess() {
    let mut mocks = Mocks::new();
    let (attempts, recorded) = attempts_with(None);
    mocks.login_attempts = attempts;
    mocks
        .users
        .expect_find_credentials()
        .returning(|_| Err(boom("store down")));
    let outcome = log_in(mocks, "ada@example.com", ADAS_PASSWORD).await;
    assert!(matches!(outcome, Err(LogInError::Adapter(_))));
    assert!(
        recorded.lock().unwrap().is_empty(),
        "no verdict, nothing recorded"
    );
}

#[tokio::test]
async fn a_wrong_current_password_counts_as_a_guess_and_a_locked_address_cannot_change_it() {
    let mut mocks = Mocks::new();
    let (attempts, recorded) = attempts_with(None);
    mocks.login_attempts = attempts;
    mocks.ada_is_registered();
    mocks.password_check_gives("not the password", PasswordCheck::Mismatch);
    let outcome = mocks
        .change_password()
        .execute(
            &super::ada(),
            &password("not the password"),
            &password("difference engine"),
            None,
        )
        .await;
    assert!(matches!(
        outcome,
        Err(ChangePasswordError::InvalidCredentials)
    ));
    assert_eq!(
        *recorded.lock().unwrap(),
        [Recorded::Failure {
            at: now(),
            restart: false,
            forget_before: forgotten_before(),
        }]
    );

    let mut mocks = Mocks::new();
    let (attempts, _) = attempts_with(failures(3, 0));
    mocks.login_attempts = attempts;
    mocks.ada_is_registered();
    mocks.hasher.expect_verify().never();
    let outcome = mocks
        .change_password()
        .execute(
            &super::ada(),
            &password(ADAS_PASSWORD),
            &password("difference engine"),
            None,
        )
        .await;
    assert!(
        matches!(outcome, Err(ChangePasswordError::Throttled(30))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_password_change_whose_record_cannot_be_read_is_refused_as_a_failure() {
    let mut mocks = Mocks::new();
    mocks
        .login_attempts
        .expect_failures()
        .returning(|_| Err(boom("attempts store down")));
    mocks.ada_is_registered();
    mocks.hasher.expect_verify().never();
    mocks.hasher.expect_hash().never();
    let outcome = mocks
        .change_password()
        .execute(
            &super::ada(),
            &password(ADAS_PASSWORD),
            &password("difference engine"),
            None,
        )
        .await;
    assert!(
        matches!(outcome, Err(ChangePasswordError::Adapter(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_success_whose_failures_cannot_be_forgotten_lets_the_owner_in_and_is_logged() {
    let (logs, _capturing) = super::Logs::capture();
    let mut mocks = Mocks::new();
    mocks
        .login_attempts
        .expect_failures()
        .returning(|_| Ok(failures(2, 0)));
    mocks
        .login_attempts
        .expect_forget()
        .times(1)
        .returning(|_| Err(boom("attempts store down")));
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: false });
    super::log_in::a_session_starts(&mut mocks);

    let outcome = log_in(mocks, "ada@example.com", ADAS_PASSWORD).await;

    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(
        logs.lines().iter().any(|line| line.starts_with("WARN")
            && line.contains("forgetting failed password checks failed")),
        "{:?}",
        logs.lines()
    );
}

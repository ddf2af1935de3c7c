//! Trusted devices (issue 18): strangers who fail at Ada's address lock out the clients
//! that present no device token, and only those. A client that logged in before presents
//! its device token and is counted on its own allowance: it gets in while strangers hold
//! the address locked, and when it keeps failing it locks itself, not the address, and
//! is counted with the strangers again until its lockout ends. A token that does not
//! verify for the address (forged, expired, another account's) earns nothing.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use domain::ports::{
    AttemptKey, DeviceTokenRejection, FailedLogins, MockClock, MockDeviceTokens, MockLoginAttempts,
    PasswordCheck,
};
use domain::{DeviceId, DeviceToken};

use super::log_in::a_session_starts;
use super::{
    ADAS_LAPTOP, ADAS_PASSWORD, ADAS_PHONE, Mocks, ada, device_token, email, now, password,
    throttle,
};
use crate::{AdmitError, ChangePasswordError, LogInCommand, LogInError, LoggedIn, LoginThrottle};

/// The clients of Ada's address that present no trusted device: strangers, and Ada on a
/// device she never logged in from.
fn strangers() -> AttemptKey {
    AttemptKey::anonymous(email("ada@example.com"))
}

/// One of Ada's trusted devices.
fn adas(device: DeviceId) -> AttemptKey {
    AttemptKey::trusted(email("ada@example.com"), device)
}

/// Failures that lock for 30 s from their latest, which was `seconds_ago` (the policy
/// of these stories allows three).
fn locked(seconds_ago: i64) -> FailedLogins {
    FailedLogins {
        count: 3,
        last_at: now() - Duration::seconds(seconds_ago),
    }
}

/// What a check recorded when it was settled, and against which key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Recorded {
    Failure(AttemptKey),
    Forgotten(AttemptKey),
}

/// A record holding `failures` per key (nothing for the others) that remembers what the
/// checks recorded.
fn record_holding(
    failures: Vec<(AttemptKey, FailedLogins)>,
) -> (MockLoginAttempts, Arc<Mutex<Vec<Recorded>>>) {
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let mut attempts = MockLoginAttempts::new();
    attempts.expect_failures().returning(move |key| {
        Ok(failures
            .iter()
            .find(|(held, _)| held == key)
            .map(|(_, failures)| *failures))
    });
    let log = Arc::clone(&recorded);
    attempts
        .expect_record_failure()
        .returning(move |key, _, _, _| {
            log.lock().unwrap().push(Recorded::Failure(key.clone()));
            Ok(())
        });
    let log = Arc::clone(&recorded);
    attempts.expect_forget().returning(move |key| {
        log.lock().unwrap().push(Recorded::Forgotten(key.clone()));
        Ok(())
    });
    (attempts, recorded)
}

/// Mocks over a record holding `failures`, whose signer trusts Ada's laptop and phone.
fn mocks_with(failures: Vec<(AttemptKey, FailedLogins)>) -> (Mocks, Arc<Mutex<Vec<Recorded>>>) {
    let mut mocks = Mocks::new();
    let (attempts, recorded) = record_holding(failures);
    mocks.login_attempts = attempts;
    mocks.trusts_adas_devices(&[ADAS_LAPTOP, ADAS_PHONE]);
    (mocks, recorded)
}

/// Ada's address, `typed`, from a client presenting `presented`.
async fn log_in_from(
    mocks: Mocks,
    presented: Option<DeviceToken>,
    typed: &str,
) -> Result<LoggedIn, LogInError> {
    mocks
        .log_in()
        .execute(LogInCommand {
            email: email("ada@example.com"),
            password: password(typed),
            device_token: presented,
            user_agent: None,
        })
        .await
}

/// Ada's password is checked once and is right; her session starts.
fn ada_gets_in(mocks: &mut Mocks) {
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: false });
    a_session_starts(mocks);
}

/// Nothing is looked up or checked: the client was refused first.
fn nothing_is_checked(mocks: &mut Mocks) {
    mocks.users.expect_find_credentials().never();
    mocks.hasher.expect_verify().never();
}

#[tokio::test]
async fn strangers_who_lock_adas_address_do_not_stop_her_laptop() {
    // Without a device token, Ada is one of the strangers: locked out (issue 18).
    let (mut mocks, _) = mocks_with(vec![(strangers(), locked(0))]);
    nothing_is_checked(&mut mocks);
    let outcome = log_in_from(mocks, None, ADAS_PASSWORD).await;
    assert!(
        matches!(outcome, Err(LogInError::Throttled(30))),
        "Ada without her laptop's token: {outcome:?}"
    );

    // With it, she gets in, and the strangers' lockout stays as it was.
    let (mut mocks, recorded) = mocks_with(vec![(strangers(), locked(0))]);
    ada_gets_in(&mut mocks);
    let logged_in = log_in_from(mocks, Some(device_token(ADAS_LAPTOP)), ADAS_PASSWORD)
        .await
        .unwrap();

    assert_eq!(
        *recorded.lock().unwrap(),
        [Recorded::Forgotten(adas(ADAS_LAPTOP))],
        "only the laptop's own count is cleared: strangers get no fresh allowance"
    );
    assert_ne!(
        logged_in.device_token,
        device_token(ADAS_LAPTOP),
        "the laptop gets a token for a new device id, not the one it presented"
    );
}

#[tokio::test]
async fn a_trusted_device_that_fails_is_counted_on_its_own_and_locks_only_itself() {
    // A wrong password from the laptop counts against the laptop, not the address.
    let (mut mocks, recorded) = mocks_with(vec![]);
    mocks.ada_is_registered();
    mocks.password_check_gives("not the password", PasswordCheck::Mismatch);
    let outcome = log_in_from(mocks, Some(device_token(ADAS_LAPTOP)), "not the password").await;
    assert!(matches!(outcome, Err(LogInError::InvalidCredentials)));
    assert_eq!(
        *recorded.lock().unwrap(),
        [Recorded::Failure(adas(ADAS_LAPTOP))]
    );

    // Once the laptop is locked, the phone and clients without a token are not.
    for (who, presented) in [
        ("the phone", Some(device_token(ADAS_PHONE))),
        ("a client without a device token", None),
    ] {
        let (mut mocks, _) = mocks_with(vec![(adas(ADAS_LAPTOP), locked(0))]);
        ada_gets_in(&mut mocks);
        let outcome = log_in_from(mocks, presented, ADAS_PASSWORD).await;
        assert!(
            outcome.is_ok(),
            "{who} while the laptop is locked: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_locked_device_is_counted_with_the_strangers_until_its_lockout_ends() {
    // The laptop is locked, the strangers are not: the laptop's checks go on, counted
    // as a stranger's (OWASP: a locked-out device is an untrusted client).
    let (mut mocks, recorded) = mocks_with(vec![(adas(ADAS_LAPTOP), locked(0))]);
    mocks.ada_is_registered();
    mocks.password_check_gives("not the password", PasswordCheck::Mismatch);
    let outcome = log_in_from(mocks, Some(device_token(ADAS_LAPTOP)), "not the password").await;
    assert!(matches!(outcome, Err(LogInError::InvalidCredentials)));
    assert_eq!(*recorded.lock().unwrap(), [Recorded::Failure(strangers())]);

    let (mut mocks, recorded) = mocks_with(vec![(adas(ADAS_LAPTOP), locked(0))]);
    ada_gets_in(&mut mocks);
    let outcome = log_in_from(mocks, Some(device_token(ADAS_LAPTOP)), ADAS_PASSWORD).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(
        *recorded.lock().unwrap(),
        [Recorded::Forgotten(strangers())]
    );

    // Both locked: refused, and told to come back when the first of them opens.
    for (laptop_seconds_ago, strangers_seconds_ago, retry) in [(10, 0, 20), (0, 25, 5)] {
        let (mut mocks, recorded) = mocks_with(vec![
            (adas(ADAS_LAPTOP), locked(laptop_seconds_ago)),
            (strangers(), locked(strangers_seconds_ago)),
        ]);
        nothing_is_checked(&mut mocks);
        let outcome = log_in_from(mocks, Some(device_token(ADAS_LAPTOP)), ADAS_PASSWORD).await;
        assert!(
            matches!(outcome, Err(LogInError::Throttled(seconds)) if seconds == retry),
            "laptop locked {laptop_seconds_ago} s ago, strangers {strangers_seconds_ago} s ago: \
             {outcome:?}"
        );
        assert!(
            recorded.lock().unwrap().is_empty(),
            "a refusal records nothing"
        );
    }
}

#[tokio::test]
async fn a_forged_expired_or_other_accounts_device_token_counts_as_a_strangers() {
    for (what, rejection) in [
        ("a forged token", DeviceTokenRejection::Invalid),
        ("an expired token", DeviceTokenRejection::Expired),
        ("Grace's token", DeviceTokenRejection::Invalid),
    ] {
        let mut mocks = Mocks::new();
        let (attempts, recorded) = record_holding(vec![(strangers(), locked(0))]);
        mocks.login_attempts = attempts;
        // The token is verified for the address being logged in to, at the time it is.
        mocks
            .device_tokens
            .expect_verify()
            .withf(|presented, email, at| {
                presented.expose() == "presented device token"
                    && email.as_ref() == "ada@example.com"
                    && *at == now()
            })
            .times(1)
            .return_const(Err(rejection));
        nothing_is_checked(&mut mocks);

        let presented = DeviceToken::new("presented device token".into());
        let outcome = log_in_from(mocks, Some(presented), ADAS_PASSWORD).await;

        assert!(
            matches!(outcome, Err(LogInError::Throttled(30))),
            "{what} while strangers are locked out: {outcome:?}"
        );
        assert!(recorded.lock().unwrap().is_empty(), "{what}");
    }
}

#[tokio::test]
async fn a_password_change_from_a_trusted_device_is_counted_on_that_device() {
    // Strangers hold the address locked; Ada, signed in on her laptop, changes her
    // password all the same.
    let (mut mocks, recorded) = mocks_with(vec![(strangers(), locked(0))]);
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: false });
    mocks.new_password_is_stored();
    let laptop = device_token(ADAS_LAPTOP);
    let outcome = mocks
        .change_password()
        .execute(
            &ada(),
            &password(ADAS_PASSWORD),
            &password("difference engine"),
            Some(&laptop),
        )
        .await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(
        *recorded.lock().unwrap(),
        [Recorded::Forgotten(adas(ADAS_LAPTOP))]
    );

    // An access token alone earns no allowance: it proves a session, not the password.
    let (mut mocks, _) = mocks_with(vec![(strangers(), locked(0))]);
    mocks.ada_is_registered();
    mocks.hasher.expect_verify().never();
    let outcome = mocks
        .change_password()
        .execute(
            &ada(),
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
async fn checks_in_flight_are_counted_per_device_and_a_burst_from_one_spills_to_the_strangers() {
    let (attempts, _) = record_holding(vec![]);
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let mut device_tokens = MockDeviceTokens::new();
    device_tokens.expect_verify().returning(|presented, _, _| {
        [ADAS_LAPTOP, ADAS_PHONE]
            .into_iter()
            .find(|device| *presented == device_token(*device))
            .ok_or(DeviceTokenRejection::Invalid)
    });
    let throttle = LoginThrottle::new(
        Arc::new(attempts),
        Arc::new(device_tokens),
        throttle(),
        Arc::new(clock),
    );
    let ada = email("ada@example.com");
    let laptop = device_token(ADAS_LAPTOP);
    let phone = device_token(ADAS_PHONE);

    // Strangers have three checks running: their whole allowance.
    let mut running = Vec::new();
    for _ in 0..3 {
        running.push(throttle.admit(&ada, None).await.unwrap());
    }
    assert!(matches!(
        throttle.admit(&ada, None).await,
        Err(AdmitError::Throttled(30))
    ));
    // The laptop's allowance is its own.
    for _ in 0..3 {
        running.push(throttle.admit(&ada, Some(&laptop)).await.unwrap());
    }
    // A fourth from the laptop would be counted with the strangers, who have none left.
    assert!(matches!(
        throttle.admit(&ada, Some(&laptop)).await,
        Err(AdmitError::Throttled(30))
    ));
    assert!(throttle.admit(&ada, Some(&phone)).await.is_ok());

    // Once the strangers' checks end, the laptop's burst spills over to their allowance.
    running.drain(..3);
    assert!(throttle.admit(&ada, Some(&laptop)).await.is_ok());
}

#[tokio::test]
async fn a_locked_device_whose_strangers_record_cannot_be_read_is_refused_as_a_failure() {
    // Fails closed: the laptop is locked, so it would be counted with the strangers, and
    // their record is down.
    let mut mocks = Mocks::new();
    mocks
        .login_attempts
        .expect_failures()
        .returning(|key| match key {
            key if *key == adas(ADAS_LAPTOP) => Ok(Some(locked(0))),
            _ => Err(super::boom("attempts store down")),
        });
    mocks.trusts_adas_devices(&[ADAS_LAPTOP]);
    nothing_is_checked(&mut mocks);

    let outcome = log_in_from(mocks, Some(device_token(ADAS_LAPTOP)), ADAS_PASSWORD).await;

    assert!(
        matches!(outcome, Err(LogInError::Adapter(_))),
        "{outcome:?}"
    );
}

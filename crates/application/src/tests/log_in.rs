//! LogIn: the right password starts a session and hands the client a fresh device token;
//! an unknown address and a wrong password cost the same hashing work and answer the
//! same; an outdated hash is replaced on the way, without ever failing the login.

use domain::ports::{AdapterError, HashReplacement, PasswordCheck, StoredCredentials};
use domain::{DeviceId, NewRefreshToken, NewSession, SessionId, UserAgent};
use mockall::Sequence;
use uuid::Uuid;

use super::{
    ADA, ADAS_PASSWORD, JTI, Logs, Mocks, ada, boom, device_token, device_ttl, digest_of,
    dummy_hash, email, fresh_hash, minted, minted_device_token, now, password, refresh_ttl, signed,
    stored_hash, unless_failing,
};
use crate::{LogInCommand, LogInError, LoggedIn, TokenPair};

/// The id the id source hands to the new session.
const NEW_SESSION: Uuid = Uuid::from_u128(0x1095);
/// The `User-Agent` of the browser Ada logs in from.
const ADAS_BROWSER: &str = "Mozilla/5.0 (Macintosh) Safari/618.1";
/// The id the id source hands to the client's new device token.
const NEW_DEVICE: Uuid = Uuid::from_u128(0xde71ce);

/// Ada logs in with `typed`, from a client that presents no device token.
async fn log_in_as_ada(mocks: Mocks, typed: &str) -> Result<LoggedIn, LogInError> {
    mocks
        .log_in()
        .execute(LogInCommand {
            email: email("ada@example.com"),
            password: password(typed),
            device_token: None,
            user_agent: UserAgent::from_presented(ADAS_BROWSER),
        })
        .await
}

/// The store knows no user at Ada's address; checking `typed` against the hasher's
/// dummy hash gives `verified`, once.
fn address_is_unknown(
    mocks: &mut Mocks,
    typed: &'static str,
    verified: fn() -> Result<PasswordCheck, AdapterError>,
) {
    mocks
        .users
        .expect_find_credentials()
        .times(1)
        .returning(|_| Ok(None));
    mocks
        .hasher
        .expect_dummy_hash()
        .times(1)
        .returning(dummy_hash);
    mocks
        .hasher
        .expect_verify()
        .withf(move |password, stored| password.expose() == typed && *stored == dummy_hash())
        .times(1)
        .returning(move |_, _| verified());
}

/// The stored hash is neither recomputed nor replaced.
fn keeps_the_stored_hash(mocks: &mut Mocks) {
    mocks.hasher.expect_hash().never();
    mocks.users.expect_update_password_hash().never();
}

/// The rest of a successful login, whatever its details: ids drawn, one pair issued,
/// one session started, one device token minted.
pub(super) fn a_session_starts(mocks: &mut Mocks) {
    let mut next = 0;
    mocks.ids.expect_new_id().times(3).returning(move || {
        next += 1;
        Uuid::from_u128(next)
    });
    mocks.digests_tokens();
    mocks.issues_one_pair();
    mocks.sessions.expect_start().times(1).returning(|_| Ok(()));
    mocks.mints_device_tokens();
}

#[tokio::test]
async fn log_in_starts_a_session_holding_the_new_refresh_tokens_digest_and_answers_the_pair() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: false });
    // The first id names the session, the second is the access token's `jti`, the
    // third the client's new device.
    let mut ids = Sequence::new();
    for id in [NEW_SESSION, JTI, NEW_DEVICE] {
        mocks
            .ids
            .expect_new_id()
            .times(1)
            .in_sequence(&mut ids)
            .return_const(id);
    }
    mocks
        .refresh_tokens
        .expect_mint()
        .times(1)
        .returning(|| Ok(minted()));
    mocks.digests_tokens();
    mocks
        .access_tokens
        .expect_issue()
        .withf(|user, session, issued_at, jti| {
            *user == ada()
                && *session == SessionId::from_uuid(NEW_SESSION)
                && *issued_at == now()
                && *jti == JTI
        })
        .times(1)
        .returning(|user, session, issued_at, jti| Ok(signed(user, session, issued_at, jti)));
    let first = NewRefreshToken {
        digest: digest_of(&minted()),
        session: SessionId::from_uuid(NEW_SESSION),
        issued_at: now(),
        expires_at: now() + refresh_ttl(),
    };
    mocks
        .sessions
        .expect_start()
        .withf(move |new| {
            *new == NewSession {
                user_id: ADA,
                first: first.clone(),
                user_agent: UserAgent::from_presented(ADAS_BROWSER),
            }
        })
        .times(1)
        .returning(|_| Ok(()));
    mocks
        .device_tokens
        .expect_mint()
        .withf(|email, device, issued_at| {
            email.as_ref() == "ada@example.com"
                && *device == DeviceId::from_uuid(NEW_DEVICE)
                && *issued_at == now()
        })
        .times(1)
        .returning(|_, device, at| minted_device_token(device, at));

    let logged_in = log_in_as_ada(mocks, ADAS_PASSWORD).await.unwrap();

    assert_eq!(
        logged_in,
        LoggedIn {
            tokens: TokenPair {
                access: signed(&ada(), SessionId::from_uuid(NEW_SESSION), now(), JTI),
                access_expires_in: 15 * 60,
                refresh: minted(),
                refresh_expires_in: refresh_ttl().num_seconds(),
            },
            device_token: device_token(DeviceId::from_uuid(NEW_DEVICE)),
            device_token_expires_in: device_ttl().num_seconds(),
        }
    );
}

#[tokio::test]
async fn log_in_checks_an_unknown_address_against_the_dummy_hash_and_starts_no_session() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    address_is_unknown(&mut mocks, ADAS_PASSWORD, || Ok(PasswordCheck::Mismatch));
    mocks.issues_nothing();

    let result = log_in_as_ada(mocks, ADAS_PASSWORD).await;

    assert!(
        matches!(result, Err(LogInError::InvalidCredentials)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn log_in_with_a_wrong_password_starts_no_session_and_keeps_the_stored_hash() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks.ada_is_registered();
    mocks.password_check_gives("not the password", PasswordCheck::Mismatch);
    keeps_the_stored_hash(&mut mocks);
    mocks.issues_nothing();

    let result = log_in_as_ada(mocks, "not the password").await;

    assert!(
        matches!(result, Err(LogInError::InvalidCredentials)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn log_in_answers_unknown_email_and_wrong_password_alike() {
    let mut answers = Vec::new();
    for known in [false, true] {
        let mut mocks = Mocks::new();
        mocks.attempts_are_unremarkable();
        // Exactly one verification either way: the same work, so the same time.
        if known {
            mocks.ada_is_registered();
            mocks.password_check_gives("not the password", PasswordCheck::Mismatch);
        } else {
            address_is_unknown(&mut mocks, "not the password", || {
                Ok(PasswordCheck::Mismatch)
            });
        }
        mocks.issues_nothing();

        let error = log_in_as_ada(mocks, "not the password").await.unwrap_err();

        assert!(
            matches!(error, LogInError::InvalidCredentials),
            "address known: {known}, got {error:?}"
        );
        answers.push(error.to_string());
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn log_in_replaces_an_outdated_hash_without_moving_updated_at() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: true });
    mocks
        .hasher
        .expect_hash()
        .withf(|password| password.expose() == ADAS_PASSWORD)
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    mocks
        .users
        .expect_update_password_hash()
        .withf(|id, hash, at, replacement| {
            *id == ADA
                && *hash == fresh_hash()
                && *at == now()
                && *replacement
                    == HashReplacement::Upgrade {
                        previous: stored_hash(),
                    }
        })
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    a_session_starts(&mut mocks);

    let result = log_in_as_ada(mocks, ADAS_PASSWORD).await;

    assert!(result.is_ok(), "got {result:?}");
}

#[tokio::test]
async fn log_in_leaves_a_current_hash_alone() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: false });
    keeps_the_stored_hash(&mut mocks);
    a_session_starts(&mut mocks);

    let result = log_in_as_ada(mocks, ADAS_PASSWORD).await;

    assert!(result.is_ok(), "got {result:?}");
}

#[tokio::test]
async fn log_in_succeeds_even_when_replacing_an_outdated_hash_fails() {
    for hashing_fails in [true, false] {
        let what_failed = if hashing_fails {
            "hashing"
        } else {
            "storing the new hash"
        };
        let mut mocks = Mocks::new();
        mocks.attempts_are_unremarkable();
        mocks.ada_is_registered();
        mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: true });
        mocks
            .hasher
            .expect_hash()
            .times(1)
            .returning(move |_| unless_failing(hashing_fails, fresh_hash()));
        mocks
            .users
            .expect_update_password_hash()
            .times(usize::from(!hashing_fails))
            .returning(|_, _, _, _| Err(boom("update password hash")));
        a_session_starts(&mut mocks);

        let result = log_in_as_ada(mocks, ADAS_PASSWORD).await;

        assert!(result.is_ok(), "{what_failed} failed, got {result:?}");
    }
}

#[tokio::test]
async fn log_in_logs_neither_the_address_nor_the_password_nor_the_tokens() {
    let (logs, _capturing) = Logs::capture();
    // A login whose rehash fails logs the most: a warning with its cause, then the start.
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: true });
    mocks
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Err(boom("hash password")));
    a_session_starts(&mut mocks);

    let logged_in = log_in_as_ada(mocks, ADAS_PASSWORD).await.unwrap();

    let pair = &logged_in.tokens;
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("WARN") && line.contains("hash password")),
        "the failed rehash was not logged with its cause: {lines:#?}"
    );
    for secret in [
        "ada@example.com",
        ADAS_PASSWORD,
        pair.refresh.expose(),
        &pair.access.token,
        logged_in.device_token.expose(),
    ] {
        assert!(
            lines.iter().all(|line| !line.contains(secret)),
            "{secret:?} was logged: {lines:#?}"
        );
    }
}

#[tokio::test]
async fn log_in_answers_an_adapter_error_for_a_malformed_stored_hash_and_starts_no_session() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks.ada_is_registered();
    mocks
        .hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Err(boom("malformed stored hash")));
    keeps_the_stored_hash(&mut mocks);
    mocks.issues_nothing();

    let result = log_in_as_ada(mocks, ADAS_PASSWORD).await;

    assert!(
        matches!(result, Err(LogInError::Adapter(_))),
        "got {result:?}"
    );
}

#[tokio::test]
async fn log_in_passes_on_a_failure_to_check_against_the_dummy_hash() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    address_is_unknown(&mut mocks, ADAS_PASSWORD, || Err(boom("verify dummy hash")));
    mocks.issues_nothing();

    let result = log_in_as_ada(mocks, ADAS_PASSWORD).await;

    assert!(
        matches!(result, Err(LogInError::Adapter(_))),
        "got {result:?}"
    );
}

/// The calls of a successful login, in order (the password check has its own test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    FindCredentials,
    MintRefreshToken,
    SignAccessToken,
    StartSession,
}

/// Every step before `failing` succeeds, `failing` fails, later steps never happen.
fn failing_at(failing: Step) -> Mocks {
    let reached = |step: Step| usize::from(step <= failing);
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks
        .users
        .expect_find_credentials()
        .times(1)
        .returning(move |_| {
            unless_failing(
                failing == Step::FindCredentials,
                Some(StoredCredentials {
                    user: ada(),
                    password_hash: stored_hash(),
                }),
            )
        });
    mocks
        .hasher
        .expect_verify()
        .times(reached(Step::MintRefreshToken))
        .returning(|_, _| Ok(PasswordCheck::Match { outdated: false }));
    // The session's id is drawn before minting, the `jti` before signing.
    mocks
        .ids
        .expect_new_id()
        .times(reached(Step::MintRefreshToken) + reached(Step::SignAccessToken))
        .return_const(JTI);
    mocks
        .refresh_tokens
        .expect_mint()
        .times(reached(Step::MintRefreshToken))
        .returning(move || unless_failing(failing == Step::MintRefreshToken, minted()));
    mocks.digests_tokens();
    mocks
        .access_tokens
        .expect_issue()
        .times(reached(Step::SignAccessToken))
        .returning(move |user, session, at, jti| {
            unless_failing(
                failing == Step::SignAccessToken,
                signed(user, session, at, jti),
            )
        });
    mocks
        .sessions
        .expect_start()
        .times(reached(Step::StartSession))
        .returning(move |_| unless_failing(failing == Step::StartSession, ()));
    // A client whose login failed carries no proof of it away.
    mocks.device_tokens.expect_mint().never();
    mocks
}

#[tokio::test]
async fn log_in_passes_on_an_adapter_failure_at_any_step_and_goes_no_further() {
    for failing in [
        Step::FindCredentials,
        Step::MintRefreshToken,
        Step::SignAccessToken,
        Step::StartSession,
    ] {
        let result = log_in_as_ada(failing_at(failing), ADAS_PASSWORD).await;

        assert!(
            matches!(result, Err(LogInError::Adapter(_))),
            "{failing:?} failed, got {result:?}"
        );
    }
}

#[tokio::test]
async fn a_login_while_hashing_is_saturated_is_shed_before_the_store_is_read() {
    let mut mocks = Mocks::new();
    mocks.hashing_is_saturated();
    mocks.users.expect_find_credentials().never();
    // The throttle reads the record; nothing is recorded or forgotten.
    mocks
        .login_attempts
        .expect_failures()
        .returning(|_| Ok(None));
    mocks.login_attempts.expect_record_failure().never();
    mocks.login_attempts.expect_forget().never();

    let result = log_in_as_ada(mocks, ADAS_PASSWORD).await;

    assert!(
        matches!(&result, Err(LogInError::Adapter(error)) if error.is_overloaded()),
        "got {result:?}"
    );
}

//! Refresh: a live token is spent for a new pair in the same session; a spent one
//! presented again, or a rotation lost to a concurrent one, is a reuse and ends the
//! session; anything else refreshes nothing.

use chrono::Duration;
use domain::{NewRefreshToken, RefreshTokenRecord, User};

use super::{
    ADA, JTI, Logs, Mocks, SESSION, ada, boom, dead_tokens, digest_of, live_record, minted, now,
    presented, refresh_ttl, signed, spent_record, unless_failing,
};
use crate::{SessionError, TokenPair};

async fn refresh_presented(mocks: Mocks) -> Result<TokenPair, SessionError> {
    mocks.refresh().execute(&presented()).await
}

/// The store answers `user` for Ada's id, once.
fn user_is(mocks: &mut Mocks, user: Option<User>) {
    mocks
        .users
        .expect_find_by_id()
        .withf(|id| *id == ADA)
        .times(1)
        .returning(move |_| Ok(user.clone()));
}

/// The store revokes [`SESSION`] at [`now`], once, and its end is announced so that
/// its connections close.
fn revokes_the_session(mocks: &mut Mocks) {
    mocks
        .sessions
        .expect_revoke()
        .withf(|session, at| *session == SESSION && *at == now())
        .times(1)
        .returning(|_, _| Ok(()));
    mocks.announces_the_end_of(&[SESSION]);
}

/// A live token's user is found and a replacement pair is issued (rotation is left to
/// the test).
fn a_replacement_is_issued(mocks: &mut Mocks) {
    mocks.presented_token_is(Some(live_record()));
    mocks.digests_tokens();
    user_is(mocks, Some(ada()));
    mocks.ids.expect_new_id().times(1).return_const(JTI);
    mocks.issues_one_pair();
}

#[tokio::test]
async fn refresh_spends_a_live_token_for_a_new_pair_in_the_same_session() {
    let mut mocks = Mocks::new();
    mocks.presented_token_is(Some(live_record()));
    mocks.digests_tokens();
    user_is(&mut mocks, Some(ada()));
    mocks.ids.expect_new_id().times(1).return_const(JTI);
    mocks
        .refresh_tokens
        .expect_mint()
        .times(1)
        .returning(|| Ok(minted()));
    mocks
        .access_tokens
        .expect_issue()
        .withf(|user, session, issued_at, jti| {
            *user == ada() && *session == SESSION && *issued_at == now() && *jti == JTI
        })
        .times(1)
        .returning(|user, session, issued_at, jti| Ok(signed(user, session, issued_at, jti)));
    let replacement = NewRefreshToken {
        digest: digest_of(&minted()),
        session: SESSION,
        issued_at: now(),
        expires_at: now() + refresh_ttl(),
    };
    mocks
        .sessions
        .expect_rotate()
        .withf(move |spent, token, at| {
            *spent == digest_of(&presented()) && *token == replacement && *at == now()
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks.sessions.expect_revoke().never();

    let pair = refresh_presented(mocks).await.unwrap();

    assert_eq!(
        pair,
        TokenPair {
            access: signed(&ada(), SESSION, now(), JTI),
            access_expires_in: 15 * 60,
            refresh: minted(),
            refresh_expires_in: refresh_ttl().num_seconds(),
        }
    );
}

#[tokio::test]
async fn refresh_refuses_a_token_that_refreshes_nothing_without_rotating_or_revoking() {
    for (label, record) in dead_tokens() {
        let mut mocks = Mocks::new();
        mocks.presented_token_is(record);
        mocks.digests_tokens();
        mocks.users.expect_find_by_id().never();
        mocks.issues_nothing();
        mocks.sessions.expect_revoke().never();

        let result = refresh_presented(mocks).await;

        assert!(
            matches!(result, Err(SessionError::InvalidRefreshToken)),
            "presented {label}, got {result:?}"
        );
    }
}

#[tokio::test]
async fn refresh_with_a_spent_token_revokes_its_session_as_a_reuse() {
    let spent_and_expired = RefreshTokenRecord {
        expires_at: now() - Duration::seconds(1),
        ..spent_record()
    };
    // Expiry does not excuse a reuse: the spent token still proves two holders.
    for (label, record) in [
        ("a spent token", spent_record()),
        ("a spent, expired token", spent_and_expired),
    ] {
        let mut mocks = Mocks::new();
        mocks.presented_token_is(Some(record));
        mocks.digests_tokens();
        revokes_the_session(&mut mocks);
        mocks.users.expect_find_by_id().never();
        mocks.issues_nothing();

        let result = refresh_presented(mocks).await;

        assert!(
            matches!(result, Err(SessionError::InvalidRefreshToken)),
            "presented {label}, got {result:?}"
        );
    }
}

#[tokio::test]
async fn refresh_that_loses_the_race_to_rotate_revokes_the_session() {
    let mut mocks = Mocks::new();
    a_replacement_is_issued(&mut mocks);
    mocks
        .sessions
        .expect_rotate()
        .times(1)
        .returning(|_, _, _| Ok(false));
    revokes_the_session(&mut mocks);

    let result = refresh_presented(mocks).await;

    assert!(
        matches!(result, Err(SessionError::InvalidRefreshToken)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn refresh_refuses_the_token_of_a_user_who_is_gone() {
    let mut mocks = Mocks::new();
    mocks.presented_token_is(Some(live_record()));
    mocks.digests_tokens();
    user_is(&mut mocks, None);
    mocks.issues_nothing();
    mocks.sessions.expect_revoke().never();

    let result = refresh_presented(mocks).await;

    assert!(
        matches!(result, Err(SessionError::InvalidRefreshToken)),
        "got {result:?}"
    );
}

/// The calls of a successful refresh, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    FindToken,
    FindUser,
    MintRefreshToken,
    SignAccessToken,
    Rotate,
}

/// Every step before `failing` succeeds, `failing` fails, later steps never happen.
fn failing_at(failing: Step) -> Mocks {
    let reached = |step: Step| usize::from(step <= failing);
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_find_token()
        .times(1)
        .returning(move |_| unless_failing(failing == Step::FindToken, Some(live_record())));
    mocks.digests_tokens();
    mocks
        .users
        .expect_find_by_id()
        .times(reached(Step::FindUser))
        .returning(move |_| unless_failing(failing == Step::FindUser, Some(ada())));
    mocks
        .refresh_tokens
        .expect_mint()
        .times(reached(Step::MintRefreshToken))
        .returning(move || unless_failing(failing == Step::MintRefreshToken, minted()));
    mocks
        .ids
        .expect_new_id()
        .times(reached(Step::SignAccessToken))
        .return_const(JTI);
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
        .expect_rotate()
        .times(reached(Step::Rotate))
        .returning(move |_, _, _| unless_failing(failing == Step::Rotate, true));
    mocks.sessions.expect_revoke().never();
    mocks
}

#[tokio::test]
async fn refresh_passes_on_an_adapter_failure_at_any_step_and_goes_no_further() {
    for failing in [
        Step::FindToken,
        Step::FindUser,
        Step::MintRefreshToken,
        Step::SignAccessToken,
        Step::Rotate,
    ] {
        let result = refresh_presented(failing_at(failing)).await;

        assert!(
            matches!(result, Err(SessionError::Adapter(_))),
            "{failing:?} failed, got {result:?}"
        );
    }
}

#[tokio::test]
async fn refresh_passes_on_a_failure_to_revoke_a_reused_session() {
    for lost_race in [false, true] {
        let mut mocks = Mocks::new();
        if lost_race {
            a_replacement_is_issued(&mut mocks);
            mocks
                .sessions
                .expect_rotate()
                .times(1)
                .returning(|_, _, _| Ok(false));
        } else {
            mocks.presented_token_is(Some(spent_record()));
            mocks.digests_tokens();
        }
        mocks
            .sessions
            .expect_revoke()
            .times(1)
            .returning(|_, _| Err(boom("revoke session")));

        let result = refresh_presented(mocks).await;

        assert!(
            matches!(result, Err(SessionError::Adapter(_))),
            "reuse seen {}, got {result:?}",
            if lost_race {
                "at rotation"
            } else {
                "on lookup"
            }
        );
    }
}

#[tokio::test]
async fn refresh_logs_a_reuse_with_the_user_and_session_but_never_the_token() {
    let (logs, _capturing) = Logs::capture();
    let mut mocks = Mocks::new();
    mocks.presented_token_is(Some(spent_record()));
    mocks.digests_tokens();
    revokes_the_session(&mut mocks);

    let _ = refresh_presented(mocks).await;

    let lines = logs.lines();
    let warning = lines
        .iter()
        .find(|line| line.starts_with("WARN"))
        .unwrap_or_else(|| panic!("no warning among {lines:#?}"));
    assert!(warning.contains(&ADA.to_string()), "{warning}");
    assert!(
        warning.contains(&SESSION.as_uuid().to_string()),
        "{warning}"
    );
    assert!(
        lines
            .iter()
            .all(|line| !line.contains(presented().expose())),
        "the token was logged: {lines:#?}"
    );
}

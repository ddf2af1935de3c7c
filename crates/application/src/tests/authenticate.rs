//! Authenticate: a genuine access token of a live session names its user; a token whose
//! session ended (or whose user is gone) names no one, even before its `exp`. The
//! session and the user are one store call.

use chrono::Duration;
use domain::AccessClaims;
use domain::ports::TokenRejection;

use super::{ADA, JTI, Mocks, SESSION, ada, boom, now};
use crate::{AuthenticateError, Caller};

/// What the signer verified in Ada's token `"ada.jwt"`.
fn adas_claims() -> AccessClaims {
    AccessClaims {
        user_id: ADA,
        email: ada().email,
        session: SESSION,
        token_id: JTI,
        expires_at: now() + Duration::minutes(5),
    }
}

/// The signer accepts `"ada.jwt"` as Ada's token.
fn token_is_genuine(mocks: &mut Mocks) {
    mocks
        .access_tokens
        .expect_verify()
        .withf(|token| token == "ada.jwt")
        .times(1)
        .returning(|_| Ok(adas_claims()));
}

#[tokio::test]
async fn authenticate_answers_the_current_user_and_the_session_a_genuine_token_names() {
    let mut mocks = Mocks::new();
    token_is_genuine(&mut mocks);
    mocks.adas_session_is_live();
    mocks.users.expect_find_by_id().never();

    let caller = mocks.authenticate().execute("ada.jwt").await.unwrap();

    assert_eq!(
        caller,
        Caller {
            user: ada(),
            session: SESSION
        }
    );
}

#[tokio::test]
async fn authenticate_passes_on_why_a_token_was_refused_and_reads_nothing() {
    for rejection in [TokenRejection::Expired, TokenRejection::Invalid] {
        let mut mocks = Mocks::new();
        mocks
            .access_tokens
            .expect_verify()
            .times(1)
            .returning(move |_| Err(rejection));
        mocks.sessions.expect_find_live_user().never();

        let result = mocks.authenticate().execute("ada.jwt").await;

        assert!(
            matches!(result, Err(AuthenticateError::Rejected(r)) if r == rejection),
            "signer said {rejection:?}, got {result:?}"
        );
    }
}

#[tokio::test]
async fn authenticate_refuses_a_genuine_token_whose_session_ended_or_whose_user_is_gone() {
    let mut mocks = Mocks::new();
    token_is_genuine(&mut mocks);
    mocks
        .sessions
        .expect_find_live_user()
        .times(1)
        .returning(|_, _, _| Ok(None));

    let result = mocks.authenticate().execute("ada.jwt").await;

    assert!(
        matches!(result, Err(AuthenticateError::SessionEnded)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn authenticate_passes_on_a_store_failure() {
    let mut mocks = Mocks::new();
    token_is_genuine(&mut mocks);
    mocks
        .sessions
        .expect_find_live_user()
        .times(1)
        .returning(|_, _, _| Err(boom("find session")));

    let result = mocks.authenticate().execute("ada.jwt").await;

    assert!(
        matches!(result, Err(AuthenticateError::Adapter(_))),
        "got {result:?}"
    );
}

//! Authenticate: a genuine access token whose user still exists names that user.

use chrono::Duration;
use domain::AccessClaims;
use domain::ports::TokenRejection;

use super::{ADA, JTI, Mocks, ada, boom, now};
use crate::AuthenticateError;

/// What the signer verified in Ada's token `"ada.jwt"`.
fn adas_claims() -> AccessClaims {
    AccessClaims {
        user_id: ADA,
        email: ada().email,
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
async fn authenticate_answers_the_current_user_a_genuine_token_names() {
    let mut mocks = Mocks::new();
    token_is_genuine(&mut mocks);
    mocks
        .users
        .expect_find_by_id()
        .withf(|id| *id == ADA)
        .times(1)
        .returning(|_| Ok(Some(ada())));

    let user = mocks.authenticate().execute("ada.jwt").await.unwrap();

    assert_eq!(user, ada());
}

#[tokio::test]
async fn authenticate_passes_on_why_a_token_was_refused_and_reads_no_user() {
    for rejection in [TokenRejection::Expired, TokenRejection::Invalid] {
        let mut mocks = Mocks::new();
        mocks
            .access_tokens
            .expect_verify()
            .times(1)
            .returning(move |_| Err(rejection));
        mocks.users.expect_find_by_id().never();

        let result = mocks.authenticate().execute("ada.jwt").await;

        assert!(
            matches!(result, Err(AuthenticateError::Rejected(r)) if r == rejection),
            "signer said {rejection:?}, got {result:?}"
        );
    }
}

#[tokio::test]
async fn authenticate_answers_user_gone_for_a_token_that_outlived_its_account() {
    let mut mocks = Mocks::new();
    token_is_genuine(&mut mocks);
    mocks
        .users
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(None));

    let result = mocks.authenticate().execute("ada.jwt").await;

    assert!(
        matches!(result, Err(AuthenticateError::UserGone)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn authenticate_passes_on_a_store_failure() {
    let mut mocks = Mocks::new();
    token_is_genuine(&mut mocks);
    mocks
        .users
        .expect_find_by_id()
        .times(1)
        .returning(|_| Err(boom("find user")));

    let result = mocks.authenticate().execute("ada.jwt").await;

    assert!(
        matches!(result, Err(AuthenticateError::Adapter(_))),
        "got {result:?}"
    );
}

//! Token answers: the pair, and headers that keep it out of every cache.

use actix_web::http::header;
use chrono::Duration;
use domain::ports::{FailedLogins, MockLoginAttempts};
use serde_json::json;

use super::{Mocks, access_ttl, ada, login_request, now, refresh_token_request};

#[actix_web::test]
async fn login_answers_the_pair_and_forbids_caching_it() {
    let mut mocks = Mocks::new();
    mocks.ada_logs_in();

    let answer = mocks.send(login_request()).await;

    answer.assert_status(200);
    assert_eq!(answer.header(header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(answer.header(header::PRAGMA), Some("no-cache"));
    assert!(
        answer.header(header::SET_COOKIE).is_none(),
        "no cookie outside cookie mode"
    );
    assert_eq!(
        answer.json(),
        json!({
            "access_token": test_support::signed(&ada(), now(), super::NEXT_ID).token,
            "refresh_token": "minted-secret",
            "token_type": "Bearer",
            "expires_in": access_ttl().num_seconds(),
        })
    );
}

#[actix_web::test]
async fn refresh_answers_the_new_pair_and_forbids_caching_it() {
    let mut mocks = Mocks::new();
    mocks.presented_token_is_live();
    mocks
        .users
        .expect_find_by_id()
        .times(1)
        .returning(|_| Ok(Some(ada())));
    mocks.issues_one_pair();
    mocks
        .sessions
        .expect_rotate()
        .times(1)
        .returning(|_, _, _| Ok(true));

    let answer = mocks.send(refresh_token_request("/refresh")).await;

    answer.assert_status(200);
    assert_eq!(answer.header(header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(answer.json()["refresh_token"], "minted-secret");
}

#[actix_web::test]
async fn a_throttled_login_is_a_429_that_says_when_to_retry_and_looks_nothing_up() {
    let mut mocks = Mocks::new();
    // Six failures, the latest ten seconds ago: locked for 2 × 30 s from then.
    mocks.login_attempts = MockLoginAttempts::new();
    mocks
        .login_attempts
        .expect_failures()
        .withf(|email| email.as_ref() == "ada@example.com")
        .times(1)
        .returning(|_| {
            Ok(Some(FailedLogins {
                count: 6,
                last_at: now() - Duration::seconds(10),
            }))
        });
    mocks.login_attempts.expect_record_failure().never();
    mocks.no_session_is_touched();
    mocks.hasher.expect_verify().never();

    let answer = mocks.send(login_request()).await;

    answer.assert_problem(429, "rate_limited");
    assert_eq!(answer.header(header::RETRY_AFTER), Some("50"));
}

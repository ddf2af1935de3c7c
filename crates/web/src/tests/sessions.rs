//! Token answers: the pair, headers that keep it out of every cache, and the device
//! cookie that lets a client that logged in before past strangers' lockouts.

use actix_web::http::header;
use chrono::Duration;
use domain::SessionId;
use domain::ports::{AttemptKey, FailedLogins, MockLoginAttempts, PasswordCheck};
use serde_json::json;

use super::{
    ADAS_LAPTOP, ADAS_PASSWORD, Mocks, access_ttl, ada, as_ada, device_token, device_ttl, email,
    login_request, now, refresh_token_request,
};
use crate::routes::sessions::DEVICE_COOKIE;

/// `Set-Cookie` values of the device cookie a login answers with: one for each route
/// that checks a password, holding the fake signer's token for the device id the id
/// source hands out.
fn device_cookies() -> Vec<String> {
    let token = device_token(domain::DeviceId::from_uuid(super::NEXT_ID));
    let max_age = device_ttl().num_seconds();
    ["/login", "/users/me/password"]
        .map(|path| {
            format!(
                "{DEVICE_COOKIE}={}; HttpOnly; SameSite=Strict; Secure; Path={path}; Max-Age={max_age}",
                token.expose()
            )
        })
        .into()
}

/// `request` carrying the device cookie of Ada's laptop.
fn from_adas_laptop(request: actix_web::test::TestRequest) -> actix_web::test::TestRequest {
    request.insert_header((
        header::COOKIE,
        format!("{DEVICE_COOKIE}={}", device_token(ADAS_LAPTOP).expose()),
    ))
}

/// A record of failed logins that expects checks counted against Ada's laptop only,
/// holding none, and the laptop's success to be forgotten.
fn attempts_counted_on_adas_laptop() -> MockLoginAttempts {
    let laptop = || AttemptKey::trusted(email("ada@example.com"), ADAS_LAPTOP);
    let mut attempts = MockLoginAttempts::new();
    attempts
        .expect_failures()
        .withf(move |key| *key == laptop())
        .times(1)
        .returning(|_| Ok(None));
    attempts
        .expect_forget()
        .withf(move |key| *key == laptop())
        .times(1)
        .returning(|_| Ok(()));
    attempts
}

#[actix_web::test]
async fn login_answers_the_pair_and_forbids_caching_it() {
    let mut mocks = Mocks::new();
    mocks.ada_logs_in();

    let answer = mocks.send(login_request()).await;

    answer.assert_status(200);
    assert_eq!(answer.header(header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(answer.header(header::PRAGMA), Some("no-cache"));
    assert_eq!(
        answer.set_cookies(),
        device_cookies(),
        "outside cookie mode, only the device cookie"
    );
    assert_eq!(
        answer.json(),
        json!({
            "access_token": test_support::signed(
                &ada(),
                SessionId::from_uuid(super::NEXT_ID),
                now(),
                super::NEXT_ID
            )
            .token,
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
        .withf(|key| *key == AttemptKey::anonymous(email("ada@example.com")))
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

#[actix_web::test]
async fn a_login_with_a_device_cookie_is_counted_on_that_device_and_gets_a_new_cookie() {
    let mut mocks = Mocks::new();
    mocks.login_attempts = attempts_counted_on_adas_laptop();
    mocks.trusts_adas_devices(&[ADAS_LAPTOP]);
    mocks.ada_logs_in();

    let answer = mocks.send(from_adas_laptop(login_request())).await;

    answer.assert_status(200);
    assert_eq!(answer.set_cookies(), device_cookies());
    let presented = device_token(ADAS_LAPTOP);
    assert!(
        answer
            .set_cookies()
            .iter()
            .all(|cookie| !cookie.contains(presented.expose())),
        "the new cookie names another device than the one presented"
    );
}

#[actix_web::test]
async fn a_form_login_sets_the_device_cookie_too() {
    let mut mocks = Mocks::new();
    mocks.ada_logs_in();

    let answer = mocks
        .send(
            actix_web::test::TestRequest::post()
                .uri("/login")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload("username=ada%40example.com&password=analytical+engine"),
        )
        .await;

    answer.assert_status(200);
    assert_eq!(answer.set_cookies(), device_cookies());
}

#[actix_web::test]
async fn an_empty_device_cookie_is_no_device_token() {
    let mut mocks = Mocks::new();
    mocks.device_tokens.expect_verify().never();
    mocks.ada_logs_in();

    let answer = mocks
        .send(login_request().insert_header((header::COOKIE, format!("{DEVICE_COOKIE}="))))
        .await;

    answer.assert_status(200);
}

#[actix_web::test]
async fn a_password_change_with_a_device_cookie_is_counted_on_that_device() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks.login_attempts = attempts_counted_on_adas_laptop();
    mocks.trusts_adas_devices(&[ADAS_LAPTOP]);
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: false });
    mocks.new_password_is_stored();

    let answer = mocks
        .send(from_adas_laptop(as_ada(
            actix_web::test::TestRequest::put()
                .uri("/users/me/password")
                .set_json(json!({
                    "current_password": ADAS_PASSWORD,
                    "new_password": "difference engine",
                })),
        )))
        .await;

    answer.assert_status(204);
    assert!(
        answer.set_cookies().is_empty(),
        "a password change leaves the device cookie as it is"
    );
}

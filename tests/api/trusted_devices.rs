//! Issue 18, end to end: strangers who guess at an address lock out the clients that
//! present no device cookie, and only those. The owner's client, which logged in before
//! and carries the device cookie that login set, still gets in; a device that keeps
//! failing locks itself, then counts as a stranger until its lockout ends.

#![allow(
    clippy::expect_used,
    reason = "clippy.toml allows expect only inside #[test] functions; these helpers are test code too"
)]

use chrono::Duration;
use reqwest::Response;
use serde_json::json;

use crate::helpers::{
    DEVICE_COOKIE, PASSWORD, Registered, TestApp, Tokens, assert_problem, device_cookie,
    set_cookies, spawn_app_with,
};

/// Two failures allowed, then a minute's lockout; the forwarding header is believed from
/// the test client, so each guess can claim an address of its own.
const THROTTLE: [(&str, &str); 3] = [
    ("LOGIN_MAX_FAILURES", "2"),
    ("LOGIN_LOCKOUT", "60s"),
    ("TRUSTED_PROXIES", "127.0.0.1"),
];

/// A login for `email` with `password` from the client at `address`, with no device
/// cookie: what a stranger's guess looks like.
async fn guess_from(app: &TestApp, address: &str, email: &str, password: &str) -> Response {
    app.client
        .post(app.url("/login"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request sent")
}

/// Strangers at two addresses each guess a wrong password for `user`: enough to lock
/// the address for every client without a device cookie.
async fn strangers_lock_out(app: &TestApp, user: &Registered) {
    for address in ["203.0.113.1", "198.51.100.2"] {
        let response = guess_from(app, address, &user.email, "not the password").await;
        assert_eq!(response.status(), 401, "a wrong guess from {address}");
    }
}

/// Logs `user` in from a client with no device cookie yet; returns the cookie it gets.
async fn first_login(app: &TestApp, user: &Registered) -> String {
    let response = app.login(&user.email, &user.password).await;
    assert_eq!(response.status(), 200, "first login of {}", user.email);
    device_cookie(&response).expect("a login sets the device cookie")
}

/// Asserts a 429 for a throttled login.
async fn assert_locked_out(response: Response, sent: &str) {
    assert!(
        response.headers().contains_key("retry-after"),
        "{sent}: no Retry-After"
    );
    let status = response.status();
    assert_eq!(status, 429, "{sent}");
    assert_problem(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn the_owner_with_a_device_cookie_logs_in_while_strangers_hold_the_address_locked() {
    let app = spawn_app_with(&THROTTLE).await;
    let owner = app.register_user().await;

    // The owner logs in once: the answer sets the device cookie, for the two routes
    // that check a password and nowhere else, out of reach of page scripts.
    let response = app.login(&owner.email, &owner.password).await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response, DEVICE_COOKIE);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for (cookie, path) in cookies.iter().zip(["/login", "/users/me/password"]) {
        for attribute in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            &format!("Path={path}"),
            "Max-Age=7776000",
        ] {
            assert!(
                cookie.split("; ").any(|part| part == attribute),
                "{cookie} lacks {attribute}"
            );
        }
    }
    let cookie = device_cookie(&response).expect("device cookie");

    // Strangers from other addresses lock the address: the right password from a client
    // without the cookie (the owner on a new device, or a lucky guesser) is refused.
    strangers_lock_out(&app, &owner).await;
    let response = guess_from(&app, "192.0.2.3", &owner.email, PASSWORD).await;
    assert_locked_out(response, "the right password without a device cookie").await;

    // The owner's client sends its cookie back and is let in, with a fresh cookie.
    let response = app
        .login_with_device(&owner.email, &owner.password, &cookie)
        .await;
    assert_eq!(response.status(), 200, "the owner's client with its cookie");
    let renewed = device_cookie(&response).expect("a renewed device cookie");
    assert_ne!(renewed, cookie, "each login hands out a new device token");
    let response = app
        .login_with_device(&owner.email, &owner.password, &renewed)
        .await;
    assert_eq!(response.status(), 200, "the renewed cookie is trusted too");

    // The owner's logins did not hand the strangers a fresh allowance.
    let response = guess_from(&app, "203.0.113.1", &owner.email, PASSWORD).await;
    assert_locked_out(response, "a stranger after the owner logged in").await;
}

#[tokio::test]
async fn a_trusted_device_that_keeps_failing_locks_itself_and_then_counts_as_a_stranger() {
    let app = spawn_app_with(&THROTTLE).await;
    let owner = app.register_user().await;
    let laptop = first_login(&app, &owner).await;
    let phone = first_login(&app, &owner).await;

    // Someone at the laptop types wrong passwords: the laptop uses up its own allowance.
    for attempt in 1..=2 {
        let response = app
            .login_with_device(&owner.email, "not the password", &laptop)
            .await;
        assert_eq!(
            response.status(),
            401,
            "wrong password #{attempt} on the laptop"
        );
    }
    // That locked the laptop, not the account: the phone and strangers are unaffected...
    let response = app
        .login_with_device(&owner.email, &owner.password, &phone)
        .await;
    assert_eq!(
        response.status(),
        200,
        "the phone while the laptop is locked"
    );

    // ...and the laptop is now one of the strangers: its further failures use up
    // their allowance, until both are locked.
    for attempt in 3..=4 {
        let response = app
            .login_with_device(&owner.email, "not the password", &laptop)
            .await;
        assert_eq!(
            response.status(),
            401,
            "wrong password #{attempt} on the laptop"
        );
    }
    let response = app
        .login_with_device(&owner.email, &owner.password, &laptop)
        .await;
    assert_locked_out(response, "the right password on the locked laptop").await;
    let response = app.login(&owner.email, &owner.password).await;
    assert_locked_out(response, "the right password without a device cookie").await;
    let response = app
        .login_with_device(&owner.email, &owner.password, &phone)
        .await;
    assert_eq!(response.status(), 200, "the phone is still trusted");

    // Once the lockout has run out, the laptop is trusted again.
    app.clock.advance(Duration::seconds(61));
    let response = app
        .login_with_device(&owner.email, &owner.password, &laptop)
        .await;
    assert_eq!(response.status(), 200, "the laptop after its lockout");
}

#[tokio::test]
async fn a_device_cookie_that_is_forged_expired_or_another_accounts_counts_as_a_stranger() {
    let app = spawn_app_with(&[
        THROTTLE[0],
        THROTTLE[1],
        THROTTLE[2],
        ("DEVICE_TOKEN_TTL", "1h"),
    ])
    .await;
    let ada = app.register_user().await;
    let grace = app.register_user().await;
    let adas_cookie = first_login(&app, &ada).await;
    let graces_cookie = first_login(&app, &grace).await;
    strangers_lock_out(&app, &ada).await;

    let mut forged = adas_cookie.clone().into_bytes();
    forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ASCII");
    for (what, cookie) in [
        ("Grace's device cookie", graces_cookie),
        ("Ada's cookie with one character changed", forged),
        (
            "a cookie that is no token at all",
            "not-a-device-token".to_owned(),
        ),
    ] {
        let response = app
            .login_with_device(&ada.email, &ada.password, &cookie)
            .await;
        assert_locked_out(response, &format!("Ada's password with {what}")).await;
    }

    // Ada's own cookie is trusted, and the one it is renewed with lasts an hour.
    let response = app
        .login_with_device(&ada.email, &ada.password, &adas_cookie)
        .await;
    assert_eq!(response.status(), 200, "Ada's own cookie");
    let renewed = device_cookie(&response).expect("renewed cookie");

    // Two hours on, strangers lock the address again; the renewed cookie has expired.
    app.clock.advance(Duration::hours(2));
    strangers_lock_out(&app, &ada).await;
    let response = app
        .login_with_device(&ada.email, &ada.password, &renewed)
        .await;
    assert_locked_out(response, "Ada's password with her expired cookie").await;
}

#[tokio::test]
async fn the_owner_changes_her_password_from_a_trusted_device_while_strangers_hold_the_address_locked()
 {
    let app = spawn_app_with(&THROTTLE).await;
    let owner = app.register_user().await;
    let response = app.login(&owner.email, &owner.password).await;
    assert_eq!(response.status(), 200);
    let cookie = device_cookie(&response).expect("device cookie");
    let tokens = Tokens::from_body(&response.json().await.expect("json"));
    strangers_lock_out(&app, &owner).await;

    // The access token alone proves a session, not the password: it earns nothing.
    let response = app
        .change_password(&tokens.access, &owner.password, "a brand new secret")
        .await;
    assert_locked_out(response, "a password change with the access token alone").await;

    // With the device cookie, the check is counted on the owner's device.
    let response = app
        .client
        .put(app.url("/users/me/password"))
        .bearer_auth(&tokens.access)
        .header("cookie", format!("{DEVICE_COOKIE}={cookie}"))
        .json(&json!({"current_password": owner.password, "new_password": "a brand new secret"}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(
        response.status(),
        204,
        "a password change from the trusted device"
    );

    let response = app
        .login_with_device(&owner.email, "a brand new secret", &cookie)
        .await;
    assert_eq!(
        response.status(),
        200,
        "the new password, from the same device"
    );
}

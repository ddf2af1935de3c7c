//! Logging in, refreshing with rotation and reuse detection, logging out, cookie mode.

use serde_json::Value;

use crate::helpers::{PASSWORD, Tokens, assert_problem, challenge, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_new_user_registers_logs_in_reads_their_profile_and_refreshes() {
    let app = spawn_app().await;
    let user = app.register_user().await;

    let response = app.login(&user.email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 800);
    let tokens = Tokens::from_body(&body);
    assert!(tokens.refresh.len() >= 43, "256 bits in base64url");

    let me: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["id"], user.id.as_str());
    assert_eq!(me["email"], user.email.as_str());

    let refreshed = app.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status(), 200);
    let fresh = Tokens::from_body(&refreshed.json().await.unwrap());
    assert_ne!(fresh.refresh, tokens.refresh);
    assert_eq!(app.me(&fresh.access).await.status(), 200);
}

#[tokio::test]
async fn login_answers_unknown_email_and_wrong_password_alike() {
    let app = spawn_app().await;
    let user = app.register_user().await;

    let wrong_password = app.login(&user.email, "not the password").await;
    let wrong_challenge = challenge(&wrong_password);
    let wrong = assert_problem(wrong_password, 401, "invalid_credentials").await;
    let unknown_email = app.login("nobody@example.com", PASSWORD).await;
    let unknown_challenge = challenge(&unknown_email);
    let unknown = assert_problem(unknown_email, 401, "invalid_credentials").await;

    assert_eq!(wrong, unknown);
    assert_eq!(wrong_challenge, unknown_challenge);
    assert!(wrong_challenge.starts_with("Bearer"));
}

#[tokio::test]
async fn login_takes_the_address_in_any_case_and_with_spaces() {
    let app = spawn_app().await;
    let user = app.register_user().await;
    let shouted = format!("  {}  ", user.email.to_uppercase());
    assert_eq!(app.login(&shouted, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn login_accepts_the_oauth2_password_form() {
    let app = spawn_app().await;
    let user = app.register_user().await;
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("grant_type", "password"),
            ("username", user.email.as_str()),
            ("password", PASSWORD),
            ("scope", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    assert_eq!(app.me(&tokens.access).await.status(), 200);

    let missing_password = app
        .client
        .post(app.url("/login"))
        .form(&[("username", user.email.as_str())])
        .send()
        .await
        .unwrap();
    let body = assert_problem(missing_password, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "password");
}

#[tokio::test]
async fn a_spent_refresh_token_presented_again_kills_the_whole_session() {
    let app = spawn_app().await;
    let (_, first) = app.signed_in_user().await;

    let second = Tokens::from_body(&app.refresh(&first.refresh).await.json().await.unwrap());
    let reuse = app.refresh(&first.refresh).await;
    assert!(challenge(&reuse).contains("error=\"invalid_token\""));
    assert_problem(reuse, 401, "invalid_refresh_token").await;

    // The legitimate holder's newer token died with the session.
    assert_problem(
        app.refresh(&second.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn sessions_are_independent_reuse_in_one_leaves_another_alive() {
    let app = spawn_app().await;
    let user = app.register_user().await;
    let laptop = app.login_tokens(&user).await;
    let phone = app.login_tokens(&user).await;

    app.refresh(&laptop.refresh).await;
    app.refresh(&laptop.refresh).await; // reuse: the laptop's session ends

    assert_eq!(app.refresh(&phone.refresh).await.status(), 200);
}

#[tokio::test]
async fn of_two_concurrent_refreshes_with_one_token_exactly_one_wins() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;

    let (first, second) = tokio::join!(app.refresh(&tokens.refresh), app.refresh(&tokens.refresh));
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);

    // The loser is treated as reuse: the winner's new token is dead too.
    let winner = if first.status() == 200 { first } else { second };
    let winner = Tokens::from_body(&winner.json().await.unwrap());
    assert_problem(
        app.refresh(&winner.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn unknown_and_empty_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    assert_problem(app.refresh("made-up").await, 401, "invalid_refresh_token").await;
    let empty = assert_problem(app.refresh("").await, 422, "validation_failed").await;
    assert_eq!(empty["errors"][0]["field"], "refresh_token");
    let no_body = app.client.post(app.url("/refresh")).send().await.unwrap();
    assert_problem(no_body, 401, "missing_token").await;
}

#[tokio::test]
async fn logout_kills_refresh_but_not_other_sessions() {
    let app = spawn_app().await;
    let user = app.register_user().await;
    let leaving = app.login_tokens(&user).await;
    let staying = app.login_tokens(&user).await;

    assert_eq!(app.logout(&leaving.refresh).await.status(), 204);

    assert_problem(
        app.refresh(&leaving.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    assert_problem(
        app.logout(&leaving.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    assert_eq!(app.refresh(&staying.refresh).await.status(), 200);
}

#[tokio::test]
async fn logout_with_a_spent_token_is_reuse_and_ends_the_session() {
    let app = spawn_app().await;
    let (_, first) = app.signed_in_user().await;
    let second = Tokens::from_body(&app.refresh(&first.refresh).await.json().await.unwrap());

    assert_problem(
        app.logout(&first.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    assert_problem(
        app.refresh(&second.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn expired_refresh_tokens_refresh_nothing() {
    let app = spawn_app_with(&[("REFRESH_TOKEN_TTL", "1s")]).await;
    let (_, tokens) = app.signed_in_user().await;
    app.clock.advance(chrono::Duration::seconds(2));
    assert_problem(
        app.refresh(&tokens.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

mod cookie_mode {
    use super::*;

    /// The refresh-token cookies a response sets (a login also sets the device cookie,
    /// in every mode: `tests/api/trusted_devices.rs`).
    fn cookies_of(response: &reqwest::Response) -> Vec<String> {
        crate::helpers::set_cookies(response, "refresh_token")
    }

    fn cookie_value(cookie: &str) -> &str {
        cookie
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value)
            .unwrap()
    }

    #[tokio::test]
    async fn without_cookie_mode_no_refresh_cookie_is_set_or_read() {
        let app = spawn_app().await;
        let user = app.register_user().await;
        let response = app.login(&user.email, PASSWORD).await;
        assert!(cookies_of(&response).is_empty());
        let tokens = Tokens::from_body(&response.json().await.unwrap());
        let by_cookie = app
            .client
            .post(app.url("/refresh"))
            .header("cookie", format!("refresh_token={}", tokens.refresh))
            .send()
            .await
            .unwrap();
        assert_problem(by_cookie, 401, "missing_token").await;
    }

    #[tokio::test]
    async fn login_sets_strict_http_only_cookies_scoped_to_refresh_and_logout() {
        let app = spawn_app_with(&[("REFRESH_COOKIE", "true")]).await;
        let user = app.register_user().await;
        let response = app.login(&user.email, PASSWORD).await;
        let cookies = cookies_of(&response);
        let tokens = Tokens::from_body(&response.json().await.unwrap());

        assert_eq!(cookies.len(), 2, "{cookies:?}");
        for (cookie, path) in cookies.iter().zip(["/refresh", "/logout"]) {
            assert_eq!(cookie_value(cookie), tokens.refresh);
            for attribute in [
                "HttpOnly",
                "Secure",
                "SameSite=Strict",
                &format!("Path={path}"),
            ] {
                assert!(
                    cookie.contains(attribute),
                    "{attribute} missing in {cookie}"
                );
            }
            assert!(cookie.contains("Max-Age=604800"), "{cookie}");
        }
    }

    #[tokio::test]
    async fn refresh_and_logout_accept_the_cookie_and_logout_clears_it() {
        let app = spawn_app_with(&[("REFRESH_COOKIE", "true")]).await;
        let (_, tokens) = app.signed_in_user().await;

        let refreshed = app
            .client
            .post(app.url("/refresh"))
            .header("cookie", format!("refresh_token={}", tokens.refresh))
            .send()
            .await
            .unwrap();
        assert_eq!(refreshed.status(), 200);
        let rotated = cookie_value(&cookies_of(&refreshed)[0]).to_owned();
        assert_ne!(rotated, tokens.refresh);

        let logged_out = app
            .client
            .post(app.url("/logout"))
            .header("cookie", format!("refresh_token={rotated}"))
            .send()
            .await
            .unwrap();
        assert_eq!(logged_out.status(), 204);
        let cleared = cookies_of(&logged_out);
        assert_eq!(cleared.len(), 2);
        assert!(cleared.iter().all(|cookie| cookie.contains("Max-Age=0")));
        assert_problem(app.refresh(&rotated).await, 401, "invalid_refresh_token").await;
    }

    #[tokio::test]
    async fn the_json_body_keeps_working_in_cookie_mode() {
        let app = spawn_app_with(&[("REFRESH_COOKIE", "true")]).await;
        let (_, tokens) = app.signed_in_user().await;
        assert_eq!(app.refresh(&tokens.refresh).await.status(), 200);
    }
}

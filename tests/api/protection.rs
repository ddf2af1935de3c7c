//! The defences around the API: rate limits per client, per session route and per user;
//! who is believed about a client's address; login throttling per account; CORS; the
//! security headers; and the bounded password-hashing lane that sheds a login storm.

#![allow(
    clippy::expect_used,
    reason = "clippy.toml allows expect only inside #[test] functions; these helpers are test code too"
)]

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app_with};

// ----------------------------------------------------------------------------------------
// Shared steps
// ----------------------------------------------------------------------------------------

/// The value of a header, when present and readable.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A header that must be a whole number (of seconds, or of requests).
fn number(headers: &HeaderMap, name: &str, sent: &str) -> u64 {
    let raw = header(headers, name).unwrap_or_else(|| panic!("{sent}: no {name} header"));
    raw.parse()
        .unwrap_or_else(|_| panic!("{sent}: {name} is {raw:?}, not a whole number"))
}

/// The names of the `access-control-*` headers of a response.
fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

/// The names of the `ratelimit-*` headers of a response.
fn rate_limit_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("ratelimit-"))
        .collect()
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request sent")
}

async fn get(app: &TestApp, path: &str) -> Response {
    send(app.client.get(app.url(path))).await
}

/// A login request for an address that has no account: served, it is a 401. Each call
/// uses a new address, so the per-account login throttle cannot be what refuses it.
fn stranger_login(app: &TestApp) -> RequestBuilder {
    let email = format!("stranger-{}@example.com", uuid::Uuid::new_v4());
    app.client
        .post(app.url("/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
}

/// Asserts that a request was served, not refused by a rate limit.
async fn assert_served(response: Response, sent: &str) {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_ne!(status, 429, "{sent} was rate limited: {body}");
    assert!(
        status.is_success() || status == 401,
        "{sent} answered {status}: {body}"
    );
}

/// Asserts a 429 problem with `Retry-After` in whole seconds, at least 1, and the
/// `RateLimit-*` headers of a spent budget of `limit` requests.
async fn assert_rate_limited(response: Response, limit: u64, sent: &str) {
    let headers = response.headers().clone();
    assert!(
        number(&headers, "retry-after", sent) >= 1,
        "{sent}: Retry-After must be at least 1"
    );
    assert_eq!(number(&headers, "ratelimit-limit", sent), limit, "{sent}");
    assert_eq!(number(&headers, "ratelimit-remaining", sent), 0, "{sent}");
    assert!(
        number(&headers, "ratelimit-reset", sent) >= 1,
        "{sent}: RateLimit-Reset of a spent budget"
    );
    let body = assert_problem(response, 429, "rate_limited").await;
    assert!(body["detail"].is_string(), "{sent}: {body}");
}

// ----------------------------------------------------------------------------------------
// Rate limits
// ----------------------------------------------------------------------------------------

#[tokio::test]
async fn the_fourth_login_within_a_3_per_minute_budget_is_a_429_with_retry_after_and_ratelimit_headers()
 {
    let app = spawn_app_with(&[("RATE_LIMIT_SESSION_ROUTES", "3/1m")]).await;

    let mut remaining = Vec::new();
    for attempt in 1..=3 {
        let sent = format!("POST /login #{attempt}");
        let response = send(stranger_login(&app)).await;
        let headers = response.headers().clone();
        assert_eq!(response.status(), 401, "{sent} is served");
        assert_eq!(number(&headers, "ratelimit-limit", &sent), 3, "{sent}");
        remaining.push(number(&headers, "ratelimit-remaining", &sent));
        number(&headers, "ratelimit-reset", &sent);
    }
    assert_eq!(remaining, [2, 1, 0], "RateLimit-Remaining counts down");

    let refused = send(stranger_login(&app)).await;
    let retry_after = number(refused.headers(), "retry-after", "POST /login #4");
    assert!(
        retry_after <= 60,
        "one request refills within the minute, not {retry_after} s"
    );
    assert_rate_limited(refused, 3, "POST /login #4").await;

    // The session routes' budget is their own: other routes still have the per-IP one.
    let live = get(&app, "/health/live").await;
    assert_eq!(
        live.status(),
        200,
        "GET /health/live after the logins are spent"
    );
}

#[tokio::test]
async fn the_per_ip_budget_limits_every_route() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_IP", "5/1m")]).await;
    for attempt in 1..=5 {
        let response = get(&app, "/health/live").await;
        assert_eq!(response.status(), 200, "GET /health/live #{attempt}");
    }
    assert_rate_limited(get(&app, "/health/live").await, 5, "GET /health/live #6").await;
    for (method, path) in [
        (Method::GET, "/openapi.json"),
        (Method::GET, "/nowhere"),
        (Method::GET, "/users/me"),
        (Method::POST, "/login"),
    ] {
        let sent = format!("{method} {path} after the per-IP budget is spent");
        let response = send(app.client.request(method, app.url(path))).await;
        assert_rate_limited(response, 5, &sent).await;
    }
}

#[tokio::test]
async fn the_per_user_budget_limits_one_user_and_leaves_another_alone() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_USER", "3/1m")]).await;
    let (_, busy) = app.signed_in_user().await;
    let (_, other) = app.signed_in_user().await;

    let mut remaining = Vec::new();
    for attempt in 1..=3 {
        let sent = format!("GET /users/me #{attempt}");
        let response = app.me(&busy.access).await;
        assert_eq!(response.status(), 200, "{sent}");
        assert_eq!(number(response.headers(), "ratelimit-limit", &sent), 3);
        remaining.push(number(response.headers(), "ratelimit-remaining", &sent));
    }
    assert_eq!(remaining, [2, 1, 0], "RateLimit-Remaining counts down");
    assert_rate_limited(app.me(&busy.access).await, 3, "GET /users/me #4").await;

    // Same client address, another user: their own budget.
    let response = app.me(&other.access).await;
    assert_eq!(response.status(), 200, "GET /users/me as another user");
}

#[tokio::test]
async fn with_rate_limiting_disabled_nothing_is_limited_and_no_ratelimit_headers_are_sent() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("RATE_LIMIT_PER_IP", "1/1m"),
        ("RATE_LIMIT_SESSION_ROUTES", "1/1m"),
        ("RATE_LIMIT_PER_USER", "1/1m"),
    ])
    .await;
    let (_, tokens) = app.signed_in_user().await;
    for attempt in 1..=4 {
        for (sent, response) in [
            ("GET /health/live", get(&app, "/health/live").await),
            ("POST /login", send(stranger_login(&app)).await),
            ("GET /users/me", app.me(&tokens.access).await),
        ] {
            let sent = format!("{sent} #{attempt}");
            assert_eq!(
                rate_limit_headers(response.headers()),
                Vec::<String>::new(),
                "{sent}"
            );
            assert_served(response, &sent).await;
        }
    }
}

// ----------------------------------------------------------------------------------------
// Who the client is
// ----------------------------------------------------------------------------------------

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_buy_no_fresh_budget() {
    for name in ["x-forwarded-for", "forwarded"] {
        let app = spawn_app_with(&[("RATE_LIMIT_SESSION_ROUTES", "3/1m")]).await;
        for attempt in 1..=4 {
            let address = format!("203.0.113.{attempt}");
            let value = if name == "forwarded" {
                format!("for={address}")
            } else {
                address
            };
            let sent = format!("POST /login #{attempt} with {name}: {value}");
            let response = send(stranger_login(&app).header(name, &value)).await;
            if attempt < 4 {
                assert_served(response, &sent).await;
            } else {
                assert_rate_limited(response, 3, &sent).await;
            }
        }
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_SESSION_ROUTES", "3/1m"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let client = "203.0.113.1";
    for attempt in 1..=3 {
        let sent = format!("POST /login #{attempt} for {client}");
        assert_served(
            send(stranger_login(&app).header("x-forwarded-for", client)).await,
            &sent,
        )
        .await;
    }
    let sent = format!("POST /login #4 for {client}");
    let response = send(stranger_login(&app).header("x-forwarded-for", client)).await;
    assert_rate_limited(response, 3, &sent).await;

    // The proxy appends the address it saw; whatever the client wrote before it is
    // not believed.
    let spoofed = format!("198.51.100.77, {client}");
    let sent = format!("POST /login with X-Forwarded-For: {spoofed}");
    let response = send(stranger_login(&app).header("x-forwarded-for", &spoofed)).await;
    assert_rate_limited(response, 3, &sent).await;

    for (name, value) in [
        ("x-forwarded-for", "203.0.113.2"),
        ("x-forwarded-for", "203.0.113.3, 127.0.0.1"),
        ("forwarded", "for=\"198.51.100.9:4711\""),
    ] {
        let sent = format!("POST /login with {name}: {value}, another client");
        assert_served(send(stranger_login(&app).header(name, value)).await, &sent).await;
    }
    // The proxy's own requests are its own client too.
    assert_served(
        send(stranger_login(&app)).await,
        "POST /login without forwarding headers",
    )
    .await;
}

// ----------------------------------------------------------------------------------------
// Login throttling per account
// ----------------------------------------------------------------------------------------

/// Two failures allowed, then a minute's lockout; the HTTP budgets stay generous.
const THROTTLE: [(&str, &str); 2] = [("LOGIN_MAX_FAILURES", "2"), ("LOGIN_LOCKOUT", "60s")];

/// Two wrong passwords for `email`, both refused as invalid credentials.
async fn fail_twice(app: &TestApp, email: &str) {
    for attempt in 1..=2 {
        let response = app.login(email, "not the password").await;
        assert_eq!(
            response.status(),
            401,
            "wrong password #{attempt} for {email}"
        );
    }
}

/// Asserts a throttled login; returns its body and `Retry-After`.
async fn assert_throttled(response: Response, sent: &str) -> (Value, u64) {
    let retry_after = number(response.headers(), "retry-after", sent);
    assert!(
        (1..=60).contains(&retry_after),
        "{sent}: Retry-After {retry_after} is not within the 60 s lockout"
    );
    (
        assert_problem(response, 429, "rate_limited").await,
        retry_after,
    )
}

#[tokio::test]
async fn after_too_many_wrong_passwords_even_the_right_one_is_refused_for_that_account_only() {
    let app = spawn_app_with(&THROTTLE).await;
    let user = app.register_user().await;
    let other = app.register_user().await;

    fail_twice(&app, &user.email).await;
    let response = app.login(&user.email, PASSWORD).await;
    assert_throttled(response, "the right password after two wrong ones").await;

    let response = app.login(&other.email, PASSWORD).await;
    assert_eq!(response.status(), 200, "another account logs in meanwhile");
}

#[tokio::test]
async fn a_locked_address_without_an_account_is_answered_exactly_like_a_locked_account() {
    let app = spawn_app_with(&THROTTLE).await;
    let user = app.register_user().await;
    let nobody = format!("nobody-{}@example.com", uuid::Uuid::new_v4());

    fail_twice(&app, &user.email).await;
    fail_twice(&app, &nobody).await;
    let (account, _) =
        assert_throttled(app.login(&user.email, PASSWORD).await, "a locked account").await;
    let (no_account, _) = assert_throttled(
        app.login(&nobody, PASSWORD).await,
        "a locked unknown address",
    )
    .await;
    assert_eq!(account, no_account);
}

#[tokio::test]
async fn a_successful_login_clears_the_failures_before_it() {
    let app = spawn_app_with(&THROTTLE).await;
    let user = app.register_user().await;

    for round in 1..=2 {
        let response = app.login(&user.email, "not the password").await;
        assert_eq!(response.status(), 401, "wrong password, round {round}");
        let response = app.login(&user.email, PASSWORD).await;
        assert_eq!(
            response.status(),
            200,
            "right password after one failure, round {round}"
        );
    }
    // Two failures in a row still lock: the count restarted, it did not stop.
    fail_twice(&app, &user.email).await;
    assert_throttled(
        app.login(&user.email, PASSWORD).await,
        "the right password after two wrong ones in a row",
    )
    .await;
}

// ----------------------------------------------------------------------------------------
// CORS
// ----------------------------------------------------------------------------------------

const ALLOWED_ORIGIN: &str = "https://app.example.com";
const OTHER_ORIGIN: &str = "https://evil.example.com";

/// A browser's preflight for a JSON `POST /login` from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> Response {
    send(
        app.client
            .request(Method::OPTIONS, app.url("/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type"),
    )
    .await
}

/// A real user's `POST /login` sent with `Origin: origin`.
async fn login_from(app: &TestApp, origin: &str) -> Response {
    let user = app.register_user().await;
    send(
        app.client
            .post(app.url("/login"))
            .header("origin", origin)
            .json(&json!({"email": user.email, "password": PASSWORD})),
    )
    .await
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_with_that_origin() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]).await;
    let response = preflight(&app, ALLOWED_ORIGIN).await;
    let status = response.status().as_u16();
    assert!(
        [200, 204].contains(&status),
        "preflight from {ALLOWED_ORIGIN} answered {status}"
    );
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin").as_deref(),
        Some(ALLOWED_ORIGIN)
    );
    let methods = header(headers, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "allowed methods: {methods:?}");
    let allowed = header(headers, "access-control-allow-headers").unwrap_or_default();
    assert!(
        allowed.to_ascii_lowercase().contains("content-type"),
        "allowed headers: {allowed:?}"
    );
}

#[tokio::test]
async fn a_preflight_from_another_origin_is_refused_with_a_problem_and_no_allow_origin() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]).await;
    let response = preflight(&app, OTHER_ORIGIN).await;
    assert_eq!(
        cors_headers(response.headers()),
        Vec::<String>::new(),
        "a preflight from {OTHER_ORIGIN}"
    );
    assert_problem(response, 403, "cors_rejected").await;

    // A request the browser sends without a preflight is answered, but without the
    // header that would let a script of that origin read the answer.
    let response = login_from(&app, OTHER_ORIGIN).await;
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None,
        "a POST /login from {OTHER_ORIGIN}"
    );
}

#[tokio::test]
async fn a_request_from_an_allowed_origin_carries_the_allow_origin_header_and_no_credentials() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]).await;
    let response = login_from(&app, ALLOWED_ORIGIN).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin").as_deref(),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(header(headers, "access-control-allow-credentials"), None);
    let exposed = header(headers, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("retry-after") && exposed.contains("ratelimit-remaining"),
        "a browser script must be able to read the limits: {exposed:?}"
    );
}

#[tokio::test]
async fn without_configured_origins_no_cors_header_is_ever_sent() {
    let app = spawn_app_with(&[]).await;
    for origin in [ALLOWED_ORIGIN, OTHER_ORIGIN] {
        for (sent, response) in [
            ("a preflight", preflight(&app, origin).await),
            ("a POST /login", login_from(&app, origin).await),
            (
                "a GET /health/live",
                send(
                    app.client
                        .get(app.url("/health/live"))
                        .header("origin", origin),
                )
                .await,
            ),
        ] {
            assert_eq!(
                cors_headers(response.headers()),
                Vec::<String>::new(),
                "{sent} from {origin}"
            );
        }
    }
}

#[tokio::test]
async fn credentials_are_allowed_cross_origin_only_when_configured() {
    let app = spawn_app_with(&[
        ("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN),
        ("CORS_ALLOW_CREDENTIALS", "true"),
    ])
    .await;
    for (sent, response) in [
        ("a preflight", preflight(&app, ALLOWED_ORIGIN).await),
        ("a POST /login", login_from(&app, ALLOWED_ORIGIN).await),
    ] {
        let headers = response.headers();
        assert_eq!(
            header(headers, "access-control-allow-credentials").as_deref(),
            Some("true"),
            "{sent}"
        );
        assert_eq!(
            header(headers, "access-control-allow-origin").as_deref(),
            Some(ALLOWED_ORIGIN),
            "{sent}: with credentials the origin is named, never *"
        );
    }
}

#[tokio::test]
async fn the_apps_own_origin_is_allowed_when_cors_names_another() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]).await;
    let own_origin = app.address.clone();

    let response = preflight(&app, &own_origin).await;
    let status = response.status().as_u16();
    assert!(
        [200, 204].contains(&status),
        "preflight from {own_origin} answered {status}"
    );
    let response = login_from(&app, &own_origin).await;
    assert_eq!(response.status(), 200, "POST /login from {own_origin}");
}

// ----------------------------------------------------------------------------------------
// Security headers
// ----------------------------------------------------------------------------------------

/// Asserts the headers every response carries; `csp` is a fragment its policy contains.
fn assert_security_headers(headers: &HeaderMap, csp: &str, sent: &str) {
    assert_eq!(
        header(headers, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{sent}"
    );
    assert!(
        header(headers, "referrer-policy").is_some_and(|policy| !policy.is_empty()),
        "{sent}: no Referrer-Policy"
    );
    assert_eq!(
        header(headers, "x-frame-options").as_deref(),
        Some("DENY"),
        "{sent}"
    );
    let policy = header(headers, "content-security-policy").unwrap_or_default();
    assert!(
        policy.contains(csp),
        "{sent}: Content-Security-Policy {policy:?} lacks {csp:?}"
    );
}

const API_CSP: &str = "default-src 'none'";
const DOCS_CSP: &str = "script-src 'self'";

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]).await;
    let cases: [(&str, u16, &str, RequestBuilder); 6] = [
        (
            "GET /health/live",
            200,
            API_CSP,
            app.client.get(app.url("/health/live")),
        ),
        ("POST /login for nobody", 401, API_CSP, stranger_login(&app)),
        (
            "POST /register with malformed JSON",
            400,
            API_CSP,
            app.client
                .post(app.url("/register"))
                .header(CONTENT_TYPE, "application/json")
                .body("{"),
        ),
        (
            "GET /nowhere",
            404,
            API_CSP,
            app.client.get(app.url("/nowhere")),
        ),
        (
            "DELETE /login",
            405,
            API_CSP,
            app.client.delete(app.url("/login")),
        ),
        (
            "GET /docs/",
            200,
            DOCS_CSP,
            app.client.get(app.url("/docs/")),
        ),
    ];
    for (sent, status, csp, request) in cases {
        let response = send(request).await;
        assert_eq!(response.status(), status, "{sent}");
        assert_security_headers(response.headers(), csp, sent);
    }
}

#[tokio::test]
async fn a_cors_refusal_carries_the_security_headers_too() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]).await;
    let response = preflight(&app, OTHER_ORIGIN).await;
    assert_eq!(response.status(), 403, "a preflight from {OTHER_ORIGIN}");
    assert_security_headers(
        response.headers(),
        API_CSP,
        "a preflight from another origin",
    );
}

#[tokio::test]
async fn token_and_profile_responses_are_never_cached() {
    let app = spawn_app_with(&[]).await;
    let user = app.register_user().await;
    let login = app.login(&user.email, PASSWORD).await;
    assert_eq!(login.status(), 200);
    let login_headers = login.headers().clone();
    let tokens = Tokens::from_body(&login.json().await.expect("json"));
    let refresh = app.refresh(&tokens.refresh).await;
    assert_eq!(refresh.status(), 200);

    let responses = [
        ("POST /login", login_headers),
        ("POST /refresh", refresh.headers().clone()),
        (
            "GET /users/me",
            app.me(&tokens.access).await.headers().clone(),
        ),
        (
            "POST /login refused",
            app.login(&user.email, "not the password")
                .await
                .headers()
                .clone(),
        ),
        (
            "POST /refresh refused",
            app.refresh("not-a-refresh-token").await.headers().clone(),
        ),
        (
            "GET /users/me refused",
            app.me("not-a-token").await.headers().clone(),
        ),
    ];
    for (sent, headers) in responses {
        assert_eq!(
            header(&headers, "cache-control").as_deref(),
            Some("no-store"),
            "{sent}"
        );
        assert_security_headers(&headers, API_CSP, sent);
    }
}

// ----------------------------------------------------------------------------------------
// Bounded hashing
// ----------------------------------------------------------------------------------------

#[tokio::test]
async fn a_login_storm_beyond_the_hashing_bound_is_shed_with_503_while_other_routes_answer() {
    let app = spawn_app_with(&[
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_QUEUE", "0"),
        // One address, many parallel checks: the per-address allowance is not the subject.
        ("LOGIN_MAX_FAILURES", "100"),
        ("BCRYPT_COST", "10"),
    ])
    .await;
    // Registration hashes too: done before the storm, alone.
    let user = app.register_user().await;

    let storm: Vec<_> = (0..8)
        .map(|_| {
            let request = app
                .client
                .post(app.url("/login"))
                .json(&json!({"email": user.email, "password": PASSWORD}));
            tokio::spawn(async move {
                let response = send(request).await;
                let status = response.status().as_u16();
                let retry_after = header(response.headers(), "retry-after");
                let body: Value = response.json().await.expect("a json body");
                (status, retry_after, body)
            })
        })
        .collect();
    let live = get(&app, "/health/live").await;
    assert_eq!(live.status(), 200, "GET /health/live during the storm");

    let mut answers = Vec::new();
    for login in storm {
        answers.push(login.await.expect("the login task"));
    }
    let served = answers.iter().filter(|(status, ..)| *status == 200).count();
    let shed: Vec<_> = answers
        .iter()
        .filter(|(status, ..)| *status == 503)
        .collect();
    assert!(served >= 1, "no login was served: {answers:?}");
    assert!(!shed.is_empty(), "no login was shed: {answers:?}");
    assert_eq!(
        served + shed.len(),
        answers.len(),
        "every login is served or shed: {answers:?}"
    );
    for (_, retry_after, body) in shed {
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
        assert_eq!(body["code"], "overloaded", "{body}");
        assert_eq!(body["status"], 503, "{body}");
    }
}

#[tokio::test]
async fn with_rate_limiting_disabled_the_login_throttle_is_off_too() {
    let app = spawn_app_with(&[("RATE_LIMIT_ENABLED", "false"), ("LOGIN_MAX_FAILURES", "1")]).await;
    let user = app.register_user().await;
    for attempt in 1..=3 {
        let response = app.login(&user.email, "wrong password!").await;
        assert_eq!(response.status(), 401, "wrong password #{attempt}");
    }
    assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
}

#[tokio::test]
async fn a_percent_encoded_session_route_is_charged_to_the_session_budget() {
    let app = spawn_app_with(&[("RATE_LIMIT_SESSION_ROUTES", "3/1m")]).await;
    for (attempt, path) in ["/login", "/log%69n", "/%6Cogin", "/log%69n"]
        .iter()
        .enumerate()
    {
        let sent = format!("POST {path} #{}", attempt + 1);
        let request = app
            .client
            .post(format!("{}{path}", app.address))
            .json(&serde_json::json!({"email": format!("nobody{attempt}@example.com"), "password": "whatever-it-is"}));
        let response = send(request).await;
        if attempt < 3 {
            assert_eq!(response.status(), 401, "{sent} reaches the login route");
        } else {
            assert_rate_limited(response, 3, &sent).await;
        }
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_only_the_configured_header_and_all_its_lines_count() {
    // The proxy appends its own X-Forwarded-For line; the client's forged line comes first.
    let app = spawn_app_with(&[
        ("RATE_LIMIT_SESSION_ROUTES", "3/1m"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    for attempt in 1..=4 {
        let sent = format!("POST /login #{attempt} with a forged first XFF line");
        let request = stranger_login(&app)
            .header("x-forwarded-for", format!("198.51.100.{attempt}"))
            .header("x-forwarded-for", "203.0.113.9");
        let response = send(request).await;
        if attempt < 4 {
            assert_served(response, &sent).await;
        } else {
            assert_rate_limited(response, 3, &sent).await;
        }
    }

    // A proxy that writes `Forwarded`: a client-written X-Forwarded-For is ignored.
    let app = spawn_app_with(&[
        ("RATE_LIMIT_SESSION_ROUTES", "3/1m"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("FORWARDED_HEADER", "forwarded"),
    ])
    .await;
    for attempt in 1..=4 {
        let sent = format!("POST /login #{attempt} with a forged XFF");
        let request = stranger_login(&app)
            .header("x-forwarded-for", format!("198.51.100.{attempt}"))
            .header("forwarded", "for=203.0.113.9");
        let response = send(request).await;
        if attempt < 4 {
            assert_served(response, &sent).await;
        } else {
            assert_rate_limited(response, 3, &sent).await;
        }
    }
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_gets_no_more_tries_than_a_sequence() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES", "2"),
        ("LOGIN_LOCKOUT", "60s"),
        ("BCRYPT_COST", "8"),
    ])
    .await;
    let user = app.register_user().await;
    let guesses = (0..8).map(|n| {
        let request = app
            .client
            .post(app.url("/login"))
            .json(&json!({"email": user.email, "password": format!("guess number {n}")}));
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    });
    let mut statuses = Vec::new();
    for guess in guesses.collect::<Vec<_>>() {
        statuses.push(guess.await.unwrap());
    }
    let checked = statuses.iter().filter(|status| **status == 401).count();
    assert!(
        checked <= 2,
        "more guesses checked than the allowance: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|status| [401, 429].contains(status)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn wrong_current_passwords_on_a_password_change_are_throttled_like_logins() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "2"), ("LOGIN_LOCKOUT", "60s")]).await;
    let (user, tokens) = app.signed_in_user().await;
    for attempt in 1..=2 {
        let response = app
            .change_password(&tokens.access, "not my password", "brand new secret")
            .await;
        assert_eq!(response.status(), 401, "wrong current password #{attempt}");
    }
    let locked = app
        .change_password(&tokens.access, &user.password, "brand new secret")
        .await;
    assert_throttled(locked, "PUT /users/me/password after two wrong guesses").await;
    let login = app.login(&user.email, &user.password).await;
    assert_throttled(login, "POST /login on the same address").await;
}

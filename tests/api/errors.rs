//! Bad input gets the right problem document, and changes nothing.

#![allow(
    clippy::expect_used,
    reason = "clippy.toml allows expect only inside #[test] functions; these helpers are test code too"
)]

use reqwest::header::{ALLOW, CONTENT_TYPE};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

/// What no problem document may contain: an internal message, SQL, a panic.
const LEAKS: [&str; 4] = ["diesel", "sqlite", "SELECT", "panicked"];

/// Asserts that `response` is a complete RFC 9457 problem document with this status and
/// code, that leaks nothing internal; `sent` (what the request was) is in every failure
/// message. Returns the body.
async fn assert_full_problem(response: Response, status: u16, code: &str, sent: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("a body");
    assert_eq!(
        actual, status,
        "sent {sent}: expected {status} {code}, got {actual} {text}"
    );
    assert_eq!(
        content_type, "application/problem+json",
        "sent {sent}: the media type of {text}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("sent {sent}: the problem is not JSON ({error}): {text}"));
    for member in ["type", "title", "detail"] {
        assert!(
            body[member].as_str().is_some_and(|value| !value.is_empty()),
            "sent {sent}: `{member}` must be a non-empty string in {body}"
        );
    }
    assert_eq!(body["status"], status, "sent {sent}: `status` of {body}");
    assert_eq!(body["code"], code, "sent {sent}: `code` of {body}");
    for leak in LEAKS {
        let found = if leak == "SELECT" {
            text.contains(leak)
        } else {
            text.to_lowercase().contains(leak)
        };
        assert!(!found, "sent {sent}: the problem leaks {leak:?}: {text}");
    }
    body
}

/// Asserts a 422 whose `errors` name exactly `fields` (in any order), each with a message.
async fn assert_invalid_fields(response: Response, fields: &[&str], sent: &str) {
    let body = assert_full_problem(response, 422, "validation_failed", sent).await;
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("sent {sent}: no `errors` array in {body}"));
    for error in errors {
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty()),
            "sent {sent}: an error without a message in {body}"
        );
    }
    let mut named: Vec<&str> = errors
        .iter()
        .map(|error| error["field"].as_str().unwrap_or_default())
        .collect();
    named.sort_unstable();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(named, expected, "sent {sent}: the fields named in {body}");
}

/// Sends `body` as it is, with this content type (none when `None`).
async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut request = app.client.post(app.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    request.send().await.expect("request sent")
}

async fn send(app: &TestApp, method: Method, path: &str) -> Response {
    app.client
        .request(method, app.url(path))
        .send()
        .await
        .expect("request sent")
}

/// Asserts that `email` is still free: nothing the refused request sent was stored.
async fn assert_still_registrable(app: &TestApp, email: &str, sent: &str) {
    let response = app
        .register(&json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(
        response.status(),
        201,
        "after refusing {sent}, {email} could not be registered: {}",
        response.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn malformed_json_is_a_400_on_register_and_login_and_stores_nothing() {
    let app = spawn_app().await;
    for path in ["/register", "/login"] {
        for raw in [
            r#"{"email":"#,
            "not json",
            r#"{"email":"trailing@example.com","password":"correct horse battery"}x"#,
            r#"{"email":"comma@example.com","password":"correct horse battery",}"#,
            "",
        ] {
            let sent = format!("{raw:?} to {path}");
            let response = post_raw(&app, path, Some("application/json"), raw).await;
            assert_full_problem(response, 400, "malformed_request", &sent).await;
        }
    }
    for email in ["trailing@example.com", "comma@example.com"] {
        assert_still_registrable(&app, email, "malformed JSON carrying it").await;
    }
}

#[tokio::test]
async fn well_formed_but_invalid_registrations_are_422s_naming_each_field_and_store_nothing() {
    let app = spawn_app().await;
    let long_name = "a".repeat(101);
    let long_accented_name = "é".repeat(101);
    // (what, body, fields named, an address the body carries that must stay free)
    let cases: Vec<(&str, Value, Vec<&str>, Option<&str>)> = vec![
        (
            "a number where the email belongs",
            json!({"email": 1, "password": PASSWORD}),
            vec!["email"],
            None,
        ),
        (
            "a number where the password belongs",
            json!({"email": "number@example.com", "password": 12_345_678}),
            vec!["password"],
            Some("number@example.com"),
        ),
        (
            "null as the password",
            json!({"email": "null@example.com", "password": null}),
            vec!["password"],
            Some("null@example.com"),
        ),
        (
            "an object as first_name",
            json!({"email": "object@example.com", "password": PASSWORD, "first_name": {}}),
            vec!["first_name"],
            Some("object@example.com"),
        ),
        (
            "no password",
            json!({"email": "nopassword@example.com"}),
            vec!["password"],
            Some("nopassword@example.com"),
        ),
        (
            "no email",
            json!({"password": PASSWORD}),
            vec!["email"],
            None,
        ),
        (
            "an address without a domain",
            json!({"email": "ada@", "password": PASSWORD}),
            vec!["email"],
            None,
        ),
        (
            "an address without an @",
            json!({"email": "ada.example.com", "password": PASSWORD}),
            vec!["email"],
            None,
        ),
        (
            "an empty address",
            json!({"email": "", "password": PASSWORD}),
            vec!["email"],
            None,
        ),
        (
            "a password of 7 bytes",
            json!({"email": "seven@example.com", "password": "1234567"}),
            vec!["password"],
            Some("seven@example.com"),
        ),
        (
            "a password of 73 bytes",
            json!({"email": "seventythree@example.com", "password": "p".repeat(73)}),
            vec!["password"],
            Some("seventythree@example.com"),
        ),
        (
            "a password of 37 two-byte characters (74 bytes)",
            json!({"email": "accented@example.com", "password": "é".repeat(37)}),
            vec!["password"],
            Some("accented@example.com"),
        ),
        (
            "a first_name of 101 characters",
            json!({"email": "longname@example.com", "password": PASSWORD, "first_name": long_name}),
            vec!["first_name"],
            Some("longname@example.com"),
        ),
        (
            "a last_name of 101 two-byte characters",
            json!({
                "email": "longlast@example.com", "password": PASSWORD,
                "last_name": long_accented_name
            }),
            vec!["last_name"],
            Some("longlast@example.com"),
        ),
        (
            "an invalid email, a short password and two long names",
            json!({
                "email": "nope", "password": "short",
                "first_name": long_name, "last_name": long_name
            }),
            vec!["email", "password", "first_name", "last_name"],
            None,
        ),
        (
            "a valid address with a short password and a long first_name",
            json!({"email": "several@example.com", "password": "short", "first_name": long_name}),
            vec!["password", "first_name"],
            Some("several@example.com"),
        ),
    ];
    for (what, body, fields, email) in cases {
        let sent = format!("{what}: {body}");
        let response = app.register(&body).await;
        assert_invalid_fields(response, &fields, &sent).await;
        if let Some(email) = email {
            assert_still_registrable(&app, email, &sent).await;
        }
    }
}

/// Serde fills a struct from a JSON array: `["x@example.com","password123","A","B"]`
/// created an account and `["x@example.com","password123"]` logged in. A body must be
/// an object; anything else is one error about the body, and changes nothing.
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_a_422_about_the_body_and_changes_nothing() {
    let app = spawn_app().await;
    let member = app
        .register(&json!({"email": "member@example.com", "password": "password123"}))
        .await;
    assert_eq!(member.status(), 201, "registering member@example.com");
    let (_, tokens) = app.signed_in_user().await;
    let cases: Vec<(&str, &str)> = vec![
        ("/register", r#"["x@example.com","password123","A","B"]"#),
        ("/register", r#"["x@example.com","password123"]"#),
        ("/register", "[]"),
        ("/login", r#"["member@example.com","password123"]"#),
        ("/login", "[]"),
        ("/refresh", &tokens.refresh),
        ("/logout", &tokens.refresh),
    ];
    let mut sent_bodies: Vec<(String, String)> = cases
        .into_iter()
        .map(|(path, body)| {
            let body = if body.starts_with('[') {
                body.to_owned()
            } else {
                // The refresh token, as an array rather than an object.
                json!([body]).to_string()
            };
            (path.to_owned(), body)
        })
        .collect();
    for path in ["/register", "/login", "/refresh", "/logout"] {
        for body in [r#""x@example.com""#, "42", "-1.5", "null", "true", "false"] {
            sent_bodies.push((path.to_owned(), body.to_owned()));
        }
    }
    for (path, raw) in &sent_bodies {
        let sent = format!("{raw} to {path}");
        let response = post_raw(&app, path, Some("application/json"), raw.clone()).await;
        let body = assert_full_problem(response, 422, "validation_failed", &sent).await;
        assert_eq!(
            body["errors"],
            json!([{"field": "body", "message": "must be a JSON object"}]),
            "sent {sent}"
        );
    }
    for (method, path, raw) in [
        (Method::PATCH, "/users/me", r#"["Augusta","King"]"#),
        (
            Method::PUT,
            "/users/me/password",
            r#"["correct horse battery","a new password"]"#,
        ),
    ] {
        let sent = format!("{raw} to {method} {path}");
        let response = app
            .client
            .request(method, app.url(path))
            .bearer_auth(&tokens.access)
            .header(CONTENT_TYPE, "application/json")
            .body(raw)
            .send()
            .await
            .expect("request sent");
        let body = assert_full_problem(response, 422, "validation_failed", &sent).await;
        assert_eq!(
            body["errors"],
            json!([{"field": "body", "message": "must be a JSON object"}]),
            "sent {sent}"
        );
    }
    assert_still_registrable(&app, "x@example.com", "a registration as an array").await;
    // The session the arrays were aimed at is still alive, and its password unchanged.
    let me = app.me(&tokens.access).await;
    assert_eq!(me.status(), 200, "the access token after the arrays");
    assert_eq!(me.json::<Value>().await.expect("json")["first_name"], "Ada");
    assert_eq!(app.refresh(&tokens.refresh).await.status(), 200);
}

/// SPEC §3: a 422 lists every invalid, missing or unknown field at once, type errors and
/// rule violations together, each in the API's words: never a Rust type or a library's
/// message (`invalid type: integer, expected a string`, `struct LoginRequest`).
#[tokio::test]
async fn a_422_lists_every_problem_at_once_in_the_apis_own_words() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let long_name = "a".repeat(101);
    let form = |body: &'static str| {
        app.client
            .post(app.url("/login"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let cases: Vec<(&str, Response, Value)> = vec![
        (
            "a bad email, a short password and a numeric first_name to /register",
            app.register(&json!({"email": "bad", "password": "short", "first_name": 5}))
                .await,
            json!([
                {"field": "email", "message": "is not a valid e-mail address"},
                {"field": "password", "message": "must be at least 8 bytes long"},
                {"field": "first_name", "message": "must be a string"},
            ]),
        ),
        (
            "no email, a numeric password, a long last_name and an unknown field to /register",
            app.register(&json!({"admin": true, "last_name": long_name, "password": 12_345_678}))
                .await,
            json!([
                {"field": "email", "message": "is required"},
                {"field": "password", "message": "must be a string"},
                {"field": "last_name", "message": "must be at most 100 characters"},
                {"field": "admin", "message": "is not allowed"},
            ]),
        ),
        (
            "a numeric email and no password to /login",
            app.post_json("/login", &json!({"email": 1})).await,
            json!([
                {"field": "email", "message": "must be a string"},
                {"field": "password", "message": "is required"},
            ]),
        ),
        (
            "a bad username and a short password in the login form",
            form("grant_type=password&username=ada&password=short")
                .await
                .expect("request sent"),
            json!([
                {"field": "username", "message": "is not a valid e-mail address"},
                {"field": "password", "message": "must be at least 8 bytes long"},
            ]),
        ),
        (
            "a numeric refresh_token and an unknown field to /refresh",
            app.post_json("/refresh", &json!({"refresh_token": 5, "extra": 1}))
                .await,
            json!([
                {"field": "refresh_token", "message": "must be a string"},
                {"field": "extra", "message": "is not allowed"},
            ]),
        ),
        (
            "a numeric first_name, a long last_name and an email to PATCH /users/me",
            app.update_me(
                &tokens.access,
                &json!({"email": "new@example.com", "first_name": 1, "last_name": long_name}),
            )
            .await,
            json!([
                {"field": "first_name", "message": "must be a string"},
                {"field": "last_name", "message": "must be at most 100 characters"},
                {"field": "email", "message": "is not allowed"},
            ]),
        ),
        (
            "a numeric current_password and no new_password to PUT /users/me/password",
            app.client
                .put(app.url("/users/me/password"))
                .bearer_auth(&tokens.access)
                .json(&json!({"current_password": 1}))
                .send()
                .await
                .expect("request sent"),
            json!([
                {"field": "current_password", "message": "must be a string"},
                {"field": "new_password", "message": "is required"},
            ]),
        ),
    ];
    for (sent, response, expected) in cases {
        let body = assert_full_problem(response, 422, "validation_failed", sent).await;
        assert_eq!(body["errors"], expected, "sent {sent}");
        let text = body.to_string();
        for internal in [
            "Request",
            "LoginForm",
            "struct",
            "invalid type",
            "expected",
            "`",
            "String",
            "sequence",
        ] {
            assert!(
                !text.contains(internal),
                "sent {sent}: the problem names {internal:?}: {text}"
            );
        }
    }
    assert_still_registrable(&app, "new@example.com", "a profile update carrying it").await;
    assert_eq!(app.me(&tokens.access).await.status(), 200, "the session");
}

#[tokio::test]
async fn well_formed_but_invalid_logins_are_422s_naming_the_field() {
    let app = spawn_app().await;
    for (what, body, field) in [
        (
            "a number where the email belongs",
            json!({"email": 1, "password": PASSWORD}),
            "email",
        ),
        (
            "no password",
            json!({"email": "ada@example.com"}),
            "password",
        ),
    ] {
        let sent = format!("{what} to /login: {body}");
        let response = app.post_json("/login", &body).await;
        assert_invalid_fields(response, &[field], &sent).await;
    }
}

#[tokio::test]
async fn trailing_garbage_after_json_is_a_400_even_when_the_object_lacks_fields() {
    // `{}x` is not JSON at all, so it is malformed (400), not JSON of the wrong shape (422).
    let app = spawn_app().await;
    for path in ["/register", "/login"] {
        for raw in ["{}x", r#"{"email":"x@example.com"} trailing"#] {
            let sent = format!("{raw:?} to {path}");
            let response = post_raw(&app, path, Some("application/json"), raw).await;
            assert_full_problem(response, 400, "malformed_request", &sent).await;
        }
    }
}

#[tokio::test]
async fn an_unknown_field_is_a_422_naming_that_field() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let cases = [
        (
            "/register with admin",
            app.register(&json!({
                "email": "admin@example.com", "password": PASSWORD, "admin": true
            }))
            .await,
            "admin",
        ),
        (
            "/login with admin",
            app.post_json(
                "/login",
                &json!({"email": "admin@example.com", "password": PASSWORD, "admin": true}),
            )
            .await,
            "admin",
        ),
        (
            "PATCH /users/me with email",
            app.update_me(&tokens.access, &json!({"email": "new@example.com"}))
                .await,
            "email",
        ),
    ];
    // Every case is tried before failing, so that the message shows each endpoint's answer.
    let mut answers = Vec::new();
    for (sent, response, field) in cases {
        let body = assert_full_problem(response, 422, "validation_failed", sent).await;
        let named: Vec<Value> = body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|error| error["field"].clone()).collect())
            .unwrap_or_default();
        answers.push((sent, json!([field]), Value::from(named)));
    }
    let wrong: Vec<String> = answers
        .iter()
        .filter(|(_, expected, named)| expected != named)
        .map(|(sent, expected, named)| format!("sent {sent}: expected {expected}, named {named}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_still_registrable(&app, "admin@example.com", "a registration with admin").await;
}

/// Registers `body`, asserting a 201; `what` says what was sent.
async fn assert_registers(app: &TestApp, what: &str, body: &Value) {
    let response = app.register(body).await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 201, "sent {what}: {body}; got {text}");
}

#[tokio::test]
async fn the_shortest_password_and_the_longest_names_are_accepted() {
    let app = spawn_app().await;
    for (what, body) in [
        (
            "a password of 8 bytes",
            json!({"email": "eight@example.com", "password": "12345678"}),
        ),
        (
            "names of 100 two-byte characters",
            json!({
                "email": "names@example.com", "password": PASSWORD,
                "first_name": "é".repeat(100), "last_name": "é".repeat(100)
            }),
        ),
    ] {
        assert_registers(&app, what, &body).await;
    }
}

#[tokio::test]
async fn a_password_of_exactly_72_bytes_is_accepted_and_logs_in() {
    let app = spawn_app().await;
    for (what, email, password) in [
        (
            "a password of 72 bytes",
            "seventytwo@example.com",
            "p".repeat(72),
        ),
        (
            "a password of 36 two-byte characters (72 bytes)",
            "accented@example.com",
            "é".repeat(36),
        ),
    ] {
        assert_registers(&app, what, &json!({"email": email, "password": password})).await;
        let response = app.login(email, &password).await;
        assert_eq!(response.status(), 200, "logging in with {what}");
    }
}

#[tokio::test]
async fn a_taken_address_is_a_409_whatever_its_case_or_surrounding_spaces() {
    let app = spawn_app().await;
    let response = app
        .register(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(response.status(), 201);

    for email in ["ada@example.com", " ADA@Example.com ", "Ada@EXAMPLE.COM"] {
        let sent = format!("a second registration of {email:?}");
        let response = app
            .register(&json!({
                "email": email, "password": "another password entirely", "first_name": "Eve"
            }))
            .await;
        assert_full_problem(response, 409, "email_taken", &sent).await;
    }

    // The first account is untouched: its password still works, the intruder's does not.
    let original = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(original.status(), 200, "the original password");
    let intruder = app
        .login("ada@example.com", "another password entirely")
        .await;
    assert_eq!(intruder.status(), 401, "the second registration's password");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app().await;
    let valid = r#"{"email":"plain@example.com","password":"correct horse battery"}"#;
    for (path, content_type) in [
        ("/register", Some("text/plain")),
        ("/register", None),
        ("/register", Some("application/x-www-form-urlencoded")),
        ("/login", Some("text/plain")),
    ] {
        let sent = format!("a JSON body as {content_type:?} to {path}");
        let response = post_raw(&app, path, content_type, valid).await;
        assert_full_problem(response, 415, "unsupported_media_type", &sent).await;
    }
    assert_still_registrable(&app, "plain@example.com", "JSON sent as text/plain").await;
}

/// A valid registration of `email`, padded with insignificant whitespace to `size` bytes:
/// only its size can be wrong with it.
fn padded_registration(email: &str, size: usize) -> String {
    let mut body = format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#);
    let padding = size.saturating_sub(body.len());
    body.push_str(&" ".repeat(padding));
    body
}

#[tokio::test]
async fn a_body_over_the_default_limit_of_16_kib_is_a_413_and_stores_nothing() {
    let app = spawn_app().await;
    let body = padded_registration("big@example.com", 17 * 1024);
    for path in ["/register", "/login"] {
        let sent = format!("a 17 KiB body to {path}");
        let response = post_raw(&app, path, Some("application/json"), body.clone()).await;
        assert_full_problem(response, 413, "payload_too_large", &sent).await;
    }
    assert_still_registrable(&app, "big@example.com", "a 17 KiB body").await;
}

#[tokio::test]
async fn the_body_limit_follows_http_body_limit() {
    let app = spawn_app_with(&[("HTTP_BODY_LIMIT", "1024")]).await;
    let sent = "a 2 KiB body to /register with HTTP_BODY_LIMIT=1024";
    let body = padded_registration("limit@example.com", 2 * 1024);
    let response = post_raw(&app, "/register", Some("application/json"), body).await;
    assert_full_problem(response, 413, "payload_too_large", sent).await;

    // A body under the limit still goes through.
    let small = padded_registration("limit@example.com", 1000);
    let response = post_raw(&app, "/register", Some("application/json"), small).await;
    assert_eq!(
        response.status(),
        201,
        "a 1000-byte registration after {sent}"
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_404_problem() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/no/such/path"),
        (Method::POST, "/registers"),
        (Method::GET, "/users/me/friends"),
        (Method::GET, "/users"),
    ] {
        let sent = format!("{method} {path}");
        let response = send(&app, method, path).await;
        assert_full_problem(response, 404, "not_found", &sent).await;
    }
}

#[tokio::test]
async fn a_known_path_with_another_method_is_a_405_with_an_allow_header() {
    let app = spawn_app().await;
    for (method, path, allowed) in [
        (Method::GET, "/register", vec!["POST"]),
        (Method::PUT, "/login", vec!["POST"]),
        (Method::DELETE, "/users/me", vec!["GET", "PATCH"]),
        (Method::GET, "/users/me/password", vec!["PUT"]),
        (Method::POST, "/health/live", vec!["GET"]),
    ] {
        let sent = format!("{method} {path}");
        let response = send(&app, method, path).await;
        let allow = response
            .headers()
            .get(ALLOW)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_full_problem(response, 405, "method_not_allowed", &sent).await;
        let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
        methods.sort_unstable();
        assert_eq!(methods, allowed, "sent {sent}: Allow: {allow:?}");
    }
}

#[tokio::test]
async fn every_refusal_of_every_endpoint_is_a_complete_problem_document() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;

    let cases: Vec<(String, Response, u16, &str)> = vec![
        (
            "GET /users/me without a token".into(),
            send(&app, Method::GET, "/users/me").await,
            401,
            "missing_token",
        ),
        (
            "GET /users/me with a garbage token".into(),
            app.me("garbage").await,
            401,
            "invalid_token",
        ),
        (
            "a wrong password to /login".into(),
            app.login(&user.email, "not the password").await,
            401,
            "invalid_credentials",
        ),
        (
            "an unknown address to /login".into(),
            app.login("nobody@example.com", PASSWORD).await,
            401,
            "invalid_credentials",
        ),
        (
            "an unknown refresh token to /refresh".into(),
            app.refresh("not-a-refresh-token").await,
            401,
            "invalid_refresh_token",
        ),
        (
            "an unknown refresh token to /logout".into(),
            app.logout("not-a-refresh-token").await,
            401,
            "invalid_refresh_token",
        ),
        (
            "{} to /refresh".into(),
            app.post_json("/refresh", &json!({})).await,
            422,
            "validation_failed",
        ),
        (
            "a 101-character first_name to PATCH /users/me".into(),
            app.update_me(&tokens.access, &json!({"first_name": "a".repeat(101)}))
                .await,
            422,
            "validation_failed",
        ),
        (
            "a wrong current password to PUT /users/me/password".into(),
            app.change_password(&tokens.access, "not the password", "a new password")
                .await,
            401,
            "invalid_credentials",
        ),
        (
            "a short new password to PUT /users/me/password".into(),
            app.change_password(&tokens.access, PASSWORD, "short").await,
            422,
            "validation_failed",
        ),
        (
            "malformed JSON to PATCH /users/me".into(),
            app.client
                .patch(app.url("/users/me"))
                .bearer_auth(&tokens.access)
                .header(CONTENT_TYPE, "application/json")
                .body("{")
                .send()
                .await
                .expect("request sent"),
            400,
            "malformed_request",
        ),
        (
            "text/plain to /refresh".into(),
            post_raw(&app, "/refresh", Some("text/plain"), "token").await,
            415,
            "unsupported_media_type",
        ),
    ];
    for (sent, response, status, code) in cases {
        assert_full_problem(response, status, code, &sent).await;
    }
}

/// Sends `request` as raw bytes on a new connection and reads the answer: the status and
/// the body (the whole answer must have a `Content-Length`).
async fn raw_exchange(app: &TestApp, request: Vec<u8>) -> (u16, String) {
    use std::io::{Read as _, Write as _};

    let address = app.address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connected");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("read timeout set");
        stream.write_all(&request).expect("request written");
        let mut answer = Vec::new();
        let mut buffer = [0_u8; 4096];
        loop {
            let read = stream.read(&mut buffer).expect("an answer within 10 s");
            answer.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or_else(|| panic!("no Content-Length in {head}"));
                if body.len() >= length {
                    let status = head
                        .split(' ')
                        .nth(1)
                        .and_then(|code| code.parse().ok())
                        .unwrap_or_else(|| panic!("no status in {head}"));
                    return (status, body[..length].to_owned());
                }
            }
            assert!(read > 0, "the connection closed mid-answer: {text}");
        }
    })
    .await
    .expect("the exchange finished")
}

/// A chunked body whose chunk size is not hexadecimal reached clients as
/// `payload reached EOF before completing: None`: actix's words, not the API's.
#[tokio::test]
async fn a_malformed_chunked_body_is_a_plain_400_naming_no_library_internals() {
    let app = spawn_app().await;
    for (what, chunks) in [
        (
            "a chunk size that is not hexadecimal",
            "zz\r\n{}\r\n0\r\n\r\n",
        ),
        (
            "a bad chunk size after a good chunk",
            "10\r\n{\"email\":\"chunk\r\nnot-a-size\r\n@example.com\"}\r\n0\r\n\r\n",
        ),
    ] {
        let request = format!(
            "POST /register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunks}",
            app.address.trim_start_matches("http://"),
        );

        let (status, text) = raw_exchange(&app, request.into_bytes()).await;

        assert_eq!(status, 400, "sent {what}: {text}");
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("sent {what}: not JSON ({error}): {text}"));
        assert_eq!(body["code"], "malformed_request", "sent {what}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(!detail.is_empty(), "sent {what}: {body}");
        for internal in [
            "EOF",
            "None",
            "payload",
            "Payload",
            "chunk size",
            "Incomplete",
        ] {
            assert!(
                !detail.contains(internal),
                "sent {what}: the detail names {internal:?}: {detail}"
            );
        }
    }
    assert_still_registrable(&app, "chunk@example.com", "a malformed chunked body").await;
}

//! JWT hardening over HTTP: every access token that is not exactly one the service would
//! issue, for a user who exists, is refused with `invalid_token`. The forged tokens are
//! signed with the test secret, so each is refused by the one rule it breaks.

#![allow(
    clippy::expect_used,
    reason = "clippy.toml allows expect only inside #[test] functions; these helpers are test code too"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Response;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{JWT_SECRET, TestApp, challenge, spawn_app};

/// Another key, long enough to be a real one.
const OTHER_SECRET: &str = "another-secret-9876543210-zyxwvutsrqponmlkjihgfedcba";
/// The `typ` header of an access token (RFC 9068).
const ACCESS_TOKEN_TYPE: &str = "at+jwt";

fn now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    i64::try_from(seconds).expect("seconds fit in i64")
}

/// The claims the service writes for this user in session `sid`, issued now and valid
/// for 15 minutes.
fn claims(sub: &str, email: &str, sid: &str) -> Value {
    let now = now();
    json!({
        "sub": sub,
        "email": email,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": Uuid::new_v4().to_string(),
        "sid": sid,
        "iss": "portico",
        "aud": "portico",
    })
}

/// The session (`sid`) a genuine access token was issued for.
fn session_of(access_token: &str) -> String {
    let payload = access_token
        .split('.')
        .nth(1)
        .expect("a JWT has a payload segment");
    decode_segment(payload)["sid"]
        .as_str()
        .expect("an access token names its session")
        .to_owned()
}

/// A session id that names no session.
fn no_session() -> String {
    Uuid::new_v4().to_string()
}

/// `claims` with some members replaced.
fn with(mut claims: Value, changes: &Value) -> Value {
    for (key, value) in changes.as_object().expect("changes are an object") {
        claims[key] = value.clone();
    }
    claims
}

/// Signs `claims` with `alg`, `typ` and `secret`.
fn sign(alg: Algorithm, typ: Option<&str>, claims: &Value, secret: &str) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signing a test token")
}

/// A token as the service would issue it, but whose header also declares `crit`
/// extensions (RFC 7515 §4.1.11) that the service does not understand.
fn forge_with_crit(claims: &Value, extensions: &[&str]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
    header.crit = Some(extensions.iter().map(|&name| name.to_owned()).collect());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("signing a test token")
}

/// A token exactly as the service would issue it: HS256, `typ: at+jwt`, its key.
fn forge(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        Some(ACCESS_TOKEN_TYPE),
        claims,
        JWT_SECRET,
    )
}

fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn decode_segment(segment: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .expect("a base64url segment");
    serde_json::from_slice(&bytes).expect("a JSON segment")
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// What is wrong with the answer to `GET /users/me` for a token that must be refused, if
/// anything.
async fn refusal_problem(app: &TestApp, token: &str) -> Option<String> {
    let response = app.me(token).await;
    let status = response.status().as_u16();
    let challenge = challenge(&response);
    let content_type = content_type(&response);
    let body: Value = response.json().await.unwrap_or_default();
    let mut wrong = Vec::new();
    if status != 401 {
        wrong.push(format!("status {status}"));
    }
    if content_type != "application/problem+json" {
        wrong.push(format!("content type {content_type:?}"));
    }
    if body["code"] != "invalid_token" {
        wrong.push(format!("code {}", body["code"]));
    }
    if !challenge.starts_with("Bearer") || !challenge.contains(r#"error="invalid_token""#) {
        wrong.push(format!("WWW-Authenticate {challenge:?}"));
    }
    (!wrong.is_empty()).then(|| format!("{} (body {body})", wrong.join(", ")))
}

#[tokio::test]
async fn a_correctly_forged_token_for_a_real_user_is_accepted() {
    // The control case: the forging below is right, so its refusals are about what changed.
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;

    let response = app
        .me(&forge(&claims(
            &user.id,
            &user.email,
            &session_of(&tokens.access),
        )))
        .await;

    assert_eq!(response.status(), 200, "a forged but faithful token");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["id"], user.id.as_str());
    assert_eq!(body["email"], user.email.as_str());
}

#[tokio::test]
async fn forged_foreign_tampered_or_stale_tokens_are_refused_as_invalid_token() {
    let app = spawn_app().await;
    let (victim, tokens) = app.signed_in_user().await;
    let (other, others_tokens) = app.signed_in_user().await;
    let valid = claims(&victim.id, &victim.email, &session_of(&tokens.access));
    let mut without_sid = valid.clone();
    without_sid
        .as_object_mut()
        .expect("claims are an object")
        .remove("sid");
    let now = now();

    let alg_none = format!(
        "{}.{}.",
        encode_segment(&json!({"alg": "none", "typ": ACCESS_TOKEN_TYPE})),
        encode_segment(&valid)
    );
    // The victim's genuine token with the payload swapped for one naming another user.
    let [header, payload, signature]: [&str; 3] = tokens
        .access
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("a JWT has three segments");
    let other_payload = encode_segment(&with(
        decode_segment(payload),
        &json!({"sub": other.id, "email": other.email}),
    ));
    let tampered = format!("{header}.{other_payload}.{signature}");

    let cases = [
        ("alg none with valid claims", alg_none),
        (
            "HS256 under another 32+-byte key",
            sign(
                Algorithm::HS256,
                Some(ACCESS_TOKEN_TYPE),
                &valid,
                OTHER_SECRET,
            ),
        ),
        (
            "HS384 under the right key",
            sign(
                Algorithm::HS384,
                Some(ACCESS_TOKEN_TYPE),
                &valid,
                JWT_SECRET,
            ),
        ),
        ("a genuine signature over another user's payload", tampered),
        (
            "the wrong issuer",
            forge(&with(valid.clone(), &json!({"iss": "elsewhere"}))),
        ),
        (
            "the wrong audience",
            forge(&with(valid.clone(), &json!({"aud": "elsewhere"}))),
        ),
        (
            "an exp two minutes past",
            forge(&with(
                valid.clone(),
                &json!({"iat": now - 1_020, "nbf": now - 1_020, "exp": now - 120}),
            )),
        ),
        (
            "an nbf an hour ahead",
            forge(&with(
                valid.clone(),
                &json!({"nbf": now + 3_600, "exp": now + 4_500}),
            )),
        ),
        (
            "an iat an hour ahead, with a current nbf and exp",
            forge(&with(valid.clone(), &json!({"iat": now + 3_600}))),
        ),
        (
            "an iat two minutes ahead, beyond the clock-skew leeway",
            forge(&with(valid.clone(), &json!({"iat": now + 120}))),
        ),
        (
            "a crit header naming an extension",
            forge_with_crit(&valid, &["exp"]),
        ),
        (
            "a crit header naming an unknown extension",
            forge_with_crit(&valid, &["urn:example:must-understand"]),
        ),
        ("an empty crit header", forge_with_crit(&valid, &[])),
        (
            "typ JWT instead of at+jwt",
            sign(Algorithm::HS256, Some("JWT"), &valid, JWT_SECRET),
        ),
        ("no typ", sign(Algorithm::HS256, None, &valid, JWT_SECRET)),
        (
            "no sid, as tokens had before sessions could end",
            forge(&without_sid),
        ),
        (
            "a sid that names no session",
            forge(&with(valid.clone(), &json!({"sid": no_session()}))),
        ),
        (
            "another user's session as sid",
            forge(&with(
                valid.clone(),
                &json!({"sid": session_of(&others_tokens.access)}),
            )),
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    // Every case is tried before failing, so that the message lists all that slip through.
    let mut accepted = Vec::new();
    for (what, token) in &cases {
        if let Some(wrong) = refusal_problem(&app, token).await {
            accepted.push(format!("sent {what}: {wrong}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "tokens not refused as invalid_token:\n{}",
        accepted.join("\n")
    );

    // None of this touched the victim's own token.
    assert_eq!(
        app.me(&tokens.access).await.status(),
        200,
        "the genuine token"
    );
}

#[tokio::test]
async fn an_expired_token_with_a_crit_header_is_called_invalid_not_expired() {
    // "Expired" tells a client to refresh and retry; a token we would never have issued
    // must not earn that answer, whatever its age.
    let app = spawn_app().await;
    let user = app.register_user().await;
    let now = now();
    let expired = with(
        claims(&user.id, &user.email, &no_session()),
        &json!({"iat": now - 1_020, "nbf": now - 1_020, "exp": now - 120}),
    );

    let plain = app.me(&forge(&expired)).await;
    let critical = app.me(&forge_with_crit(&expired, &["exp"])).await;

    assert_eq!(
        challenge(&plain),
        r#"Bearer realm="portico", error="invalid_token", error_description="the access token expired""#,
        "the control: an expired token without crit"
    );
    assert_eq!(
        challenge(&critical),
        r#"Bearer realm="portico", error="invalid_token", error_description="the access token is invalid""#,
        "an expired token with crit [\"exp\"]"
    );
    assert_eq!(critical.status(), 401);
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;

    let wrong = refusal_problem(&app, &tokens.refresh).await;

    assert_eq!(wrong, None, "sent the refresh token as a bearer token");
}

#[tokio::test]
async fn a_valid_token_of_a_user_that_does_not_exist_is_refused() {
    let app = spawn_app().await;
    let token = forge(&claims(
        &Uuid::new_v4().to_string(),
        "nobody@example.com",
        &no_session(),
    ));

    let wrong = refusal_problem(&app, &token).await;

    assert_eq!(wrong, None, "sent a well-signed token for an unknown sub");
}

#[tokio::test]
async fn a_request_without_credentials_gets_a_challenge_without_an_error() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/users/me"))
        .send()
        .await
        .expect("request sent");

    assert_eq!(
        response.status(),
        401,
        "GET /users/me without Authorization"
    );
    assert_eq!(challenge(&response), r#"Bearer realm="portico""#);
    assert_eq!(content_type(&response), "application/problem+json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "missing_token", "body: {body}");
}

#[tokio::test]
async fn basic_credentials_are_no_credentials_for_a_bearer_route() {
    let app = spawn_app().await;
    let user = app.register_user().await;
    let basic = STANDARD.encode(format!("{}:{}", user.email, user.password));
    let response = app
        .client
        .get(app.url("/users/me"))
        .header(AUTHORIZATION, format!("Basic {basic}"))
        .send()
        .await
        .expect("request sent");

    assert_eq!(
        response.status(),
        401,
        "GET /users/me with Basic credentials"
    );
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "WWW-Authenticate: {challenge:?}"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "missing_token", "body: {body}");
}

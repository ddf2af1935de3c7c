//! Logging in, refreshing and logging out; listing and ending one's sessions.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{
    FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, delete, get, post, web,
};
use application::{ListedSession, LogInCommand, LoggedIn, TokenPair};
use chrono::{DateTime, Utc};
use domain::{DeviceToken, Email, Password, RefreshToken, SessionId, UserAgent};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthenticatedSession;
use crate::error::{ApiError, Problem, held};
use crate::extract::{
    BodyFormat, FieldErrors, RequestBody, Secret, body_format, decode_form, decode_json, read_body,
};
use crate::state::{HttpSettings, UseCases};

/// The name of the refresh-token cookie (cookie mode).
pub const REFRESH_COOKIE: &str = "refresh_token";
/// The paths the cookie is sent to: nowhere else, so no other request carries it.
const COOKIE_PATHS: [&str; 2] = ["/refresh", "/logout"];
/// The name of the device-token cookie, set by every successful login.
pub const DEVICE_COOKIE: &str = "portico_device";
/// The paths the device cookie is sent to: the two routes that check a password. A
/// password change is throttled like a login, and an access token proves a session, not
/// the password, so without the cookie there the owner could not change a password
/// while strangers hold the address locked.
const DEVICE_COOKIE_PATHS: [&str; 2] = ["/login", "/users/me/password"];

/// Credentials as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery"}))]
pub struct LoginRequest {
    /// The address registered with.
    pub email: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
}

impl RequestBody for LoginRequest {
    type Valid = LogInCommand;

    fn validate(self, errors: &mut FieldErrors) -> Option<LogInCommand> {
        credentials(errors, "email", &self.email, &self.password)
    }
}

/// Credentials as the OAuth2 password form (RFC 6749 §4.3.2), as standard clients and
/// the Swagger UI send them. Other OAuth2 fields (`grant_type`, `scope`, client
/// credentials) are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// The e-mail address.
    pub username: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
}

impl RequestBody for LoginForm {
    type Valid = LogInCommand;

    fn validate(self, errors: &mut FieldErrors) -> Option<LogInCommand> {
        credentials(errors, "username", &self.username, &self.password)
    }
}

/// Parses credentials; the address is reported under the name the client sent it by.
fn credentials(
    errors: &mut FieldErrors,
    email_field: &str,
    email: &str,
    password: &Secret,
) -> Option<LogInCommand> {
    let email = errors.check(email_field, Email::parse(email));
    let password = errors.check("password", Password::parse(password.expose()));
    Some(LogInCommand {
        email: email?,
        password: password?,
        // Not part of the body: the handler adds the device cookie and the user agent
        // the request carries.
        device_token: None,
        user_agent: None,
    })
}

/// A new pair of tokens.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.…",
    "refresh_token": "q3Jt7n2yV0bWc8gB5n4ZkqJ4o2l9wXyZ1a2b3c4d5e6",
    "token_type": "Bearer",
    "expires_in": 900
}))]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// An opaque token for `POST /refresh`; single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// A refresh token in a JSON body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "q3Jt7n2yV0bWc8gB5n4ZkqJ4o2l9wXyZ1a2b3c4d5e6"}))]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[schema(value_type = String)]
    pub refresh_token: Secret,
}

impl RequestBody for RefreshRequest {
    type Valid = RefreshToken;

    fn validate(self, errors: &mut FieldErrors) -> Option<RefreshToken> {
        let token = self.refresh_token.expose();
        let token = if token.is_empty() {
            Err("must not be empty")
        } else {
            Ok(RefreshToken::new(token.to_owned()))
        };
        errors.check("refresh_token", token)
    }
}

/// Parsed credentials from a JSON body or an OAuth2 password form.
struct Credentials(LogInCommand);

impl FromRequest for Credentials {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let format = body_format(&request).ok_or(ApiError::UnsupportedMediaType(
                "application/json or application/x-www-form-urlencoded",
            ))?;
            let body = read_body(&request, &mut payload).await?;
            match format {
                BodyFormat::Json => decode_json::<LoginRequest>(&body),
                BodyFormat::Form => decode_form::<LoginForm>(&body),
            }
            .map(Self)
        })
    }
}

/// A refresh token from a JSON body or, in cookie mode, the refresh cookie.
struct PresentedRefreshToken(RefreshToken);

impl FromRequest for PresentedRefreshToken {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if request.headers().contains_key(header::CONTENT_TYPE) {
                if body_format(&request) != Some(BodyFormat::Json) {
                    return Err(ApiError::UnsupportedMediaType("application/json"));
                }
                let body = read_body(&request, &mut payload).await?;
                return decode_json::<RefreshRequest>(&body).map(Self);
            }
            let cookie_mode = cookie_mode(&request);
            match request.cookie(REFRESH_COOKIE) {
                Some(cookie) if cookie_mode && !cookie.value().is_empty() => {
                    Ok(Self(RefreshToken::new(cookie.value().to_owned())))
                }
                _ => Err(ApiError::MissingToken),
            }
        })
    }
}

/// The device token the client's cookie carries, if any; not verified here (the use
/// case verifies it for the address being checked).
pub(crate) fn presented_device_token(request: &HttpRequest) -> Option<DeviceToken> {
    request
        .cookie(DEVICE_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| !value.is_empty())
        .map(DeviceToken::new)
}

/// The request's `User-Agent`, made fit to keep with a session; a header that is not
/// text is read as bytes, each invalid sequence replaced, rather than lost.
fn presented_user_agent(request: &HttpRequest) -> Option<UserAgent> {
    let value = request.headers().get(header::USER_AGENT)?;
    UserAgent::from_presented(&String::from_utf8_lossy(value.as_bytes()))
}

fn cookie_mode(request: &HttpRequest) -> bool {
    request
        .app_data::<HttpSettings>()
        .is_some_and(|settings| settings.refresh_cookie)
}

/// The refresh cookie for one path; an empty value and zero age clear it.
fn refresh_cookie(path: &'static str, value: &str, max_age: CookieDuration) -> Cookie<'static> {
    Cookie::build(REFRESH_COOKIE, value.to_owned())
        .path(path)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(max_age)
        .finish()
}

/// The device cookie for one path. Not cleared by logout: it marks the client as one
/// that proved the password before, which a logout does not undo.
fn device_cookie(
    path: &'static str,
    token: &DeviceToken,
    max_age: CookieDuration,
) -> Cookie<'static> {
    Cookie::build(DEVICE_COOKIE, token.expose().to_owned())
        .path(path)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(max_age)
        .finish()
}

/// A 200 with the pair; in cookie mode the refresh token also goes in the cookies, and
/// `cookies` are set besides.
fn token_response(
    request: &HttpRequest,
    pair: TokenPair,
    cookies: impl IntoIterator<Item = Cookie<'static>>,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    for cookie in cookies {
        response.cookie(cookie);
    }
    if cookie_mode(request) {
        let seconds = pair.refresh_expires_in.max(0);
        for path in COOKIE_PATHS {
            response.cookie(refresh_cookie(
                path,
                pair.refresh.expose(),
                CookieDuration::seconds(seconds),
            ));
        }
    }
    response.json(TokenResponse {
        access_token: pair.access.token,
        refresh_token: pair.refresh.expose().to_owned(),
        token_type: "Bearer",
        expires_in: pair.access_expires_in,
    })
}

/// Tokens must not be cached by browsers or proxies (RFC 6749 §5.1).
fn no_store(response: &mut HttpResponseBuilder) {
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    response.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}

/// Log in with e-mail address and password; starts a session.
///
/// Accepts JSON `{email, password}` or the OAuth2 password form `username`/`password`.
/// An unknown address and a wrong password get the same answer, after the same work.
///
/// Every successful login also sets a fresh `portico_device` cookie (HttpOnly, Secure,
/// SameSite=Strict, for `/login` and `/users/me/password`). A client that sends it back
/// has an allowance of failed logins of its own: a lockout caused by others does not
/// refuse it.
#[utoipa::path(
    tag = "sessions",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "A new session's tokens.", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many requests, or too many failed logins for this address; see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: too many logins in progress; see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/login")]
pub async fn log_in(
    request: HttpRequest,
    use_cases: web::Data<UseCases>,
    Credentials(command): Credentials,
) -> Result<HttpResponse, ApiError> {
    let command = LogInCommand {
        device_token: presented_device_token(&request),
        user_agent: presented_user_agent(&request),
        ..command
    };
    let LoggedIn {
        tokens,
        device_token,
        device_token_expires_in,
    } = held(use_cases.log_in.execute(command).await).await?;
    let max_age = CookieDuration::seconds(device_token_expires_in.max(0));
    let device_cookies =
        DEVICE_COOKIE_PATHS.map(|path| device_cookie(path, &device_token, max_age));
    Ok(token_response(&request, tokens, device_cookies))
}

/// Exchange a refresh token for a new pair; the presented token is spent.
///
/// Presenting a spent token again revokes its whole session (reuse detection). In
/// cookie mode the token may come from the `refresh_token` cookie instead of the body.
#[utoipa::path(
    tag = "sessions",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent.", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token` or `missing_token`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/refresh")]
pub async fn refresh(
    request: HttpRequest,
    use_cases: web::Data<UseCases>,
    PresentedRefreshToken(token): PresentedRefreshToken,
) -> Result<HttpResponse, ApiError> {
    let pair = use_cases.refresh.execute(&token).await?;
    Ok(token_response(&request, pair, []))
}

/// End the session a refresh token belongs to.
///
/// Its refresh tokens and its access tokens stop working at once (401 `invalid_token`,
/// even before their `exp`), and its WebSocket connections close with 1008. In cookie
/// mode the cookies are cleared.
#[utoipa::path(
    tag = "sessions",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The session has ended: its refresh and access tokens are refused, its sockets closed."),
        (status = 401, description = "`invalid_refresh_token` or `missing_token`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/logout")]
pub async fn log_out(
    request: HttpRequest,
    use_cases: web::Data<UseCases>,
    PresentedRefreshToken(token): PresentedRefreshToken,
) -> Result<HttpResponse, ApiError> {
    use_cases.log_out.execute(&token).await?;
    let mut response = HttpResponse::NoContent();
    if cookie_mode(&request) {
        for path in COOKIE_PATHS {
            response.cookie(refresh_cookie(path, "", CookieDuration::ZERO));
        }
    }
    Ok(response.finish())
}

/// One of the caller's live sessions. Holds nothing of its tokens.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0b7f3c52-8d1e-4b8a-9a57-2f7c1e0d9b41",
    "created_at": "2026-11-30T08:12:00Z",
    "last_used_at": "2026-11-30T09:40:00Z",
    "expires_at": "2026-12-07T09:40:00Z",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "current": true
}))]
pub struct SessionView {
    /// The session's id, for `DELETE /sessions/{id}`.
    pub id: Uuid,
    /// When it started: the login (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed; its start until then (RFC 3339, UTC).
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed before (RFC 3339, UTC).
    pub expires_at: DateTime<Utc>,
    /// The `User-Agent` the client sent at login (control characters dropped, at most
    /// 256 characters); `null` when it sent none. What the client claims, not proof.
    pub user_agent: Option<String>,
    /// Whether this is the session of the access token that asked.
    pub current: bool,
}

impl From<ListedSession> for SessionView {
    fn from(listed: ListedSession) -> Self {
        let summary = listed.summary;
        Self {
            id: summary.id.as_uuid(),
            created_at: summary.created_at,
            last_used_at: summary.last_used_at,
            expires_at: summary.expires_at,
            user_agent: summary.user_agent.map(|agent| agent.to_string()),
            current: listed.current,
        }
    }
}

/// The caller's live sessions.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"sessions": [
    {
        "id": "0b7f3c52-8d1e-4b8a-9a57-2f7c1e0d9b41",
        "created_at": "2026-11-30T08:12:00Z",
        "last_used_at": "2026-11-30T09:40:00Z",
        "expires_at": "2026-12-07T09:40:00Z",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
        "current": true
    },
    {
        "id": "5d0e9a8c-3f61-4c2b-8e7d-1a9b6c4f2e03",
        "created_at": "2026-11-28T19:03:00Z",
        "last_used_at": "2026-11-29T21:15:00Z",
        "expires_at": "2026-12-06T21:15:00Z",
        "user_agent": "Portico/1.4 (iPhone; iOS 19.1)",
        "current": false
    }
]}))]
pub struct SessionsResponse {
    /// Most recently used first.
    pub sessions: Vec<SessionView>,
}

/// List your live sessions (the devices logged in to your account).
///
/// Most recently used first; `current` marks the session of the access token that
/// asked. No token material is ever listed.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's live sessions.", body = SessionsResponse),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sessions")]
pub async fn list_sessions(
    AuthenticatedSession(caller): AuthenticatedSession,
    use_cases: web::Data<UseCases>,
) -> Result<HttpResponse, ApiError> {
    let sessions = use_cases.list_sessions.execute(&caller).await?;
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    Ok(response.json(SessionsResponse {
        sessions: sessions.into_iter().map(SessionView::from).collect(),
    }))
}

/// End one of your sessions (log a device out).
///
/// Its refresh and access tokens stop working at once and its WebSocket connections
/// close with 1008. Ending your own current session is a logout. An unknown id, a
/// malformed one, an ended session and another user's session all get the same 404.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "A session id from `GET /sessions`.")),
    responses(
        (status = 204, description = "The session has ended."),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`session_not_found`: you have no live session with this id.", body = Problem, content_type = "application/problem+json",
            example = json!({
                "type": "urn:portico:problem:session_not_found",
                "title": "Session not found",
                "status": 404,
                "detail": "You have no live session with this id; GET /sessions lists them.",
                "code": "session_not_found"
            })),
    )
)]
#[delete("/sessions/{id}")]
pub async fn end_session(
    AuthenticatedSession(caller): AuthenticatedSession,
    use_cases: web::Data<UseCases>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // A malformed id names no session, like an unknown one: the same 404.
    let target = Uuid::parse_str(&id).map_err(|_| ApiError::SessionNotFound)?;
    use_cases
        .end_session
        .execute(&caller, SessionId::from_uuid(target))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session but this one (log out every other device).
///
/// Their refresh and access tokens stop working at once and their WebSocket
/// connections close with 1008; the caller's session goes on.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every other session has ended."),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/sessions")]
pub async fn end_other_sessions(
    AuthenticatedSession(caller): AuthenticatedSession,
    use_cases: web::Data<UseCases>,
) -> Result<HttpResponse, ApiError> {
    use_cases.end_other_sessions.execute(&caller).await?;
    Ok(HttpResponse::NoContent().finish())
}

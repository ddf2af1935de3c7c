//! The one HTTP error type: every 4xx and 5xx answer is built here as an RFC 9457
//! problem document with a stable `code`.

use std::error::Error as StdError;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use application::{
    AuthenticateError, ChangePasswordError, EndSessionError, InvalidMessage, LogInError,
    PublishError, RegisterError, RoomError, SessionError, UpdateProfileError,
};
use domain::ports::TokenRejection;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of problem documents (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long a refusal for overload (503 `overloaded`) is held before it is answered.
///
/// Refusing costs little, but a flood's clients retry the moment they are refused: on
/// two cores, 64 of them drew 12,000 to 21,000 refusals a second through the workers
/// that answer everyone else, stretching every other request's latency
/// (`docs/benchmarks.md`, the flood). Held, each connection of theirs is refused at most
/// four times a second, and the refusals cost next to nothing. A person's client waits a
/// quarter of a second longer for an answer that asks it to come back in one. The held
/// request keeps its connection, and so its place under `HTTP_MAX_CONNECTIONS_PER_IP`;
/// a client that opens new connections instead is the rate budgets' to stop.
pub const OVERLOAD_HOLD: Duration = Duration::from_millis(250);

/// `outcome` as an [`ApiError`], a refusal for overload only after [`OVERLOAD_HOLD`]. The
/// wait holds no thread: only the refused request's own connection waits.
///
/// # Errors
///
/// `outcome`'s error.
pub async fn held<T, E: Into<ApiError>>(outcome: Result<T, E>) -> Result<T, ApiError> {
    let outcome = outcome.map_err(Into::into);
    if matches!(outcome, Err(ApiError::Overloaded)) {
        actix_web::rt::time::sleep(OVERLOAD_HOLD).await;
    }
    outcome
}

/// A field that failed validation, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name (a dotted path for nested fields).
    #[schema(example = "email")]
    pub field: String,
    /// What is wrong with it.
    #[schema(example = "is not a valid e-mail address")]
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:portico:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "One or more fields are invalid.",
    "code": "validation_failed",
    "errors": [{"field": "email", "message": "is not a valid e-mail address"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:portico:problem:{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// Per-field errors, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// Everything an HTTP request can fail with. Each variant's line names its status and
/// `code`; none carries an internal message to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `malformed_request`: the body is not well-formed JSON (or form).
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    /// 401 `missing_token`: the request carries no credentials.
    #[error("missing token")]
    MissingToken,
    /// 401 `invalid_token`: an access token was presented and refused.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// 401 `invalid_credentials`: wrong e-mail address or password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 401 `invalid_refresh_token`: the refresh token cannot be used.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// 403 `cors_rejected`: a cross-origin request from an origin not allowed.
    #[error("cors rejected")]
    CorsRejected,
    /// 403 `not_member`: the room exists, but the caller is not one of its members.
    #[error("not a member")]
    NotMember,
    /// 404 `not_found`: no such route.
    #[error("not found")]
    NotFound,
    /// 404 `room_not_found`: no room has this name.
    #[error("room not found")]
    RoomNotFound,
    /// 404 `session_not_found`: the caller has no live session with this id (unknown,
    /// malformed, ended, or another user's: one answer for all).
    #[error("session not found")]
    SessionNotFound,
    /// 405 `method_not_allowed`: the route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<Method>),
    /// 408 `request_timeout`: the body did not arrive within the deadline (given); the
    /// connection is closed.
    #[error("request timeout")]
    RequestTimeout(std::time::Duration),
    /// 409 `email_taken`: the address belongs to another account.
    #[error("email taken")]
    EmailTaken,
    /// 413 `payload_too_large`: the body exceeds the limit (bytes).
    #[error("payload too large")]
    PayloadTooLarge(usize),
    /// 415 `unsupported_media_type`: the body is not of an accepted media type.
    #[error("unsupported media type")]
    UnsupportedMediaType(&'static str),
    /// 422 `validation_failed`: well-formed but invalid input.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429 `rate_limited`: a budget is spent; `Retry-After` says for how long.
    #[error("rate limited")]
    RateLimited(u64),
    /// 503 `not_ready`: the database cannot take a write, or is no longer the one opened.
    #[error("not ready")]
    NotReady,
    /// 503 `overloaded`: the service sheds load (the password-hashing queue is full);
    /// `Retry-After` says when to try again.
    #[error("overloaded")]
    Overloaded,
    /// 500 `internal`: anything unexpected; its cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

/// The answer to a token that names a user who is gone: the token no longer proves
/// anything, whichever route it was presented to.
const USER_GONE: ApiError = ApiError::InvalidToken("the token's user no longer exists");

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::Rejected(TokenRejection::Expired) => {
                Self::InvalidToken("the access token expired")
            }
            AuthenticateError::Rejected(TokenRejection::Invalid) => {
                Self::InvalidToken("the access token is invalid")
            }
            AuthenticateError::SessionEnded => Self::InvalidToken("the token's session has ended"),
            AuthenticateError::Adapter(error) => error.into(),
        }
    }
}

impl From<EndSessionError> for ApiError {
    fn from(error: EndSessionError) -> Self {
        match error {
            EndSessionError::SessionNotFound => Self::SessionNotFound,
            EndSessionError::Adapter(error) => error.into(),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::EmailTaken => Self::EmailTaken,
            RegisterError::Adapter(error) => error.into(),
        }
    }
}

impl From<UpdateProfileError> for ApiError {
    fn from(error: UpdateProfileError) -> Self {
        match error {
            UpdateProfileError::UserGone => USER_GONE,
            UpdateProfileError::Adapter(error) => error.into(),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(error: ChangePasswordError) -> Self {
        match error {
            ChangePasswordError::InvalidCredentials => Self::InvalidCredentials,
            ChangePasswordError::Throttled(seconds) => Self::RateLimited(seconds),
            ChangePasswordError::UserGone => USER_GONE,
            ChangePasswordError::Adapter(error) => error.into(),
        }
    }
}

impl From<LogInError> for ApiError {
    fn from(error: LogInError) -> Self {
        match error {
            LogInError::InvalidCredentials => Self::InvalidCredentials,
            LogInError::Throttled(seconds) => Self::RateLimited(seconds),
            LogInError::Adapter(error) => error.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::InvalidRefreshToken => Self::InvalidRefreshToken,
            SessionError::Adapter(error) => error.into(),
        }
    }
}

impl From<RoomError> for ApiError {
    fn from(error: RoomError) -> Self {
        match error {
            RoomError::RoomNotFound => Self::RoomNotFound,
            RoomError::NotMember => Self::NotMember,
            RoomError::Adapter(error) => error.into(),
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::Invalid(invalid) => invalid.into(),
            PublishError::RoomNotFound => Self::RoomNotFound,
            PublishError::NotMember => Self::NotMember,
            PublishError::Adapter(error) => error.into(),
        }
    }
}

impl From<InvalidMessage> for ApiError {
    /// One entry per bad field, in the order the request lists them.
    fn from(invalid: InvalidMessage) -> Self {
        let body = invalid.body.map(|error| ("body", error.to_string()));
        let id = invalid.id.map(|error| ("id", error.to_string()));
        Self::Validation(
            body.into_iter()
                .chain(id)
                .map(|(field, message)| FieldError {
                    field: field.to_owned(),
                    message,
                })
                .collect(),
        )
    }
}

impl From<domain::ports::AdapterError> for ApiError {
    fn from(error: domain::ports::AdapterError) -> Self {
        if error.is_overloaded() {
            Self::Overloaded
        } else {
            Self::internal(error)
        }
    }
}

impl ApiError {
    /// Wraps an unexpected error.
    pub fn internal(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }

    /// A 422 for one field.
    pub fn invalid_field(field: &str, message: impl ToString) -> Self {
        Self::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.to_string(),
        }])
    }

    fn code(&self) -> &'static str {
        match self {
            Self::MalformedRequest(_) => "malformed_request",
            Self::MissingToken => "missing_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::CorsRejected => "cors_rejected",
            Self::NotMember => "not_member",
            Self::NotFound => "not_found",
            Self::RoomNotFound => "room_not_found",
            Self::SessionNotFound => "session_not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::RequestTimeout(_) => "request_timeout",
            Self::EmailTaken => "email_taken",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited(_) => "rate_limited",
            Self::NotReady => "not_ready",
            Self::Overloaded => "overloaded",
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::MalformedRequest(_) => "Malformed request",
            Self::MissingToken => "Authentication required",
            Self::InvalidToken(_) => "Invalid token",
            Self::InvalidCredentials => "Invalid credentials",
            Self::InvalidRefreshToken => "Invalid refresh token",
            Self::CorsRejected => "Origin not allowed",
            Self::NotMember => "Not a member",
            Self::NotFound => "Not found",
            Self::RoomNotFound => "Room not found",
            Self::SessionNotFound => "Session not found",
            Self::MethodNotAllowed(_) => "Method not allowed",
            Self::RequestTimeout(_) => "Request timeout",
            Self::EmailTaken => "E-mail address taken",
            Self::PayloadTooLarge(_) => "Payload too large",
            Self::UnsupportedMediaType(_) => "Unsupported media type",
            Self::Validation(_) => "Validation failed",
            Self::RateLimited(_) => "Too many requests",
            Self::NotReady => "Service not ready",
            Self::Overloaded => "Service overloaded",
            Self::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::MalformedRequest(detail) => format!("The request body is malformed: {detail}"),
            Self::MissingToken => {
                "This endpoint requires credentials: a bearer access token, or a refresh \
                 token for /refresh and /logout."
                    .into()
            }
            Self::InvalidToken(reason) => format!("The access token was refused: {reason}."),
            Self::InvalidCredentials => "The e-mail address or password is wrong.".into(),
            Self::InvalidRefreshToken => {
                "The refresh token is unknown, expired, revoked or already used; log in again."
                    .into()
            }
            Self::CorsRejected => {
                "This origin, method or header is not allowed to call the API cross-origin.".into()
            }
            Self::NotMember => {
                "Only the room's members may do this; join it over the WebSocket first.".into()
            }
            Self::NotFound => "No resource exists at this path.".into(),
            Self::RoomNotFound => {
                "No room has this name; a room comes into being at its first join.".into()
            }
            Self::SessionNotFound => {
                "You have no live session with this id; GET /sessions lists them.".into()
            }
            Self::MethodNotAllowed(_) => {
                "This resource does not support this method; see the Allow header.".into()
            }
            Self::RequestTimeout(deadline) => format!(
                "The request body did not arrive within {} seconds; the connection is closed.",
                deadline.as_secs_f64()
            ),
            Self::EmailTaken => "An account with this e-mail address already exists.".into(),
            Self::PayloadTooLarge(0) => "The request body is too large.".into(),
            Self::PayloadTooLarge(limit) => {
                format!("The request body exceeds the limit of {limit} bytes.")
            }
            Self::UnsupportedMediaType(expected) => {
                format!("The request body must be sent as {expected}.")
            }
            Self::Validation(_) => "One or more fields are invalid.".into(),
            Self::RateLimited(_) => {
                "Too many requests; retry after the time in Retry-After.".into()
            }
            Self::NotReady => "The service cannot write to its database.".into(),
            Self::Overloaded => "Too many logins are in progress; try again shortly.".into(),
            Self::Internal(_) => "An unexpected error occurred.".into(),
        }
    }

    /// The problem document for this error.
    #[must_use]
    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("urn:portico:problem:{}", self.code()),
            title: self.title(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code: self.code(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

/// The RFC 6750 challenge: no error without credentials (§3), `invalid_token` when a
/// presented token was refused (§3.1).
fn challenge(error: &ApiError) -> Option<String> {
    const REALM: &str = "Bearer realm=\"portico\"";
    match error {
        ApiError::MissingToken | ApiError::InvalidCredentials => Some(REALM.to_owned()),
        ApiError::InvalidToken(reason) => Some(format!(
            "{REALM}, error=\"invalid_token\", error_description=\"{reason}\""
        )),
        ApiError::InvalidRefreshToken => Some(format!(
            "{REALM}, error=\"invalid_token\", error_description=\"invalid refresh token\""
        )),
        _ => None,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedRequest(_) => StatusCode::BAD_REQUEST,
            Self::MissingToken
            | Self::InvalidToken(_)
            | Self::InvalidCredentials
            | Self::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
            Self::CorsRejected | Self::NotMember => StatusCode::FORBIDDEN,
            Self::NotFound | Self::RoomNotFound | Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotReady | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            // Logged once, here at the edge, with its chain; the client learns nothing.
            tracing::error!(error.cause_chain = ?cause, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Self::RequestTimeout(_) = self {
            // The rest of a trickled body must not be read as the next request.
            response.force_close();
        }
        if let Some(challenge) = challenge(self) {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        match self {
            Self::Overloaded => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(1)));
            }
            Self::RateLimited(seconds) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from((*seconds).max(1))));
            }
            _ => {}
        }
        if let Self::MethodNotAllowed(methods) = self
            && !methods.is_empty()
        {
            let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
            response.insert_header((header::ALLOW, allow.join(", ")));
        }
        response.json(self.problem())
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_refusal_for_overload_is_held_and_no_other_outcome_is() {
        let start = Instant::now();
        let refused = held::<(), _>(Err(ApiError::Overloaded)).await;
        assert!(matches!(refused, Err(ApiError::Overloaded)));
        assert_eq!(start.elapsed(), OVERLOAD_HOLD);

        let start = Instant::now();
        let other = held::<(), _>(Err(ApiError::MissingToken)).await;
        assert!(matches!(other, Err(ApiError::MissingToken)));
        assert_eq!(held::<_, ApiError>(Ok(7)).await.ok(), Some(7));
        assert_eq!(start.elapsed(), Duration::ZERO, "answered at once");
    }

    async fn body_of(
        error: ApiError,
    ) -> (
        StatusCode,
        serde_json::Value,
        actix_web::http::header::HeaderMap,
    ) {
        let response = error.error_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body()).await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or_default(),
            headers,
        )
    }

    #[tokio::test]
    async fn every_error_is_a_problem_document_with_its_code() {
        let cases = [
            (
                ApiError::MalformedRequest("x".into()),
                400,
                "malformed_request",
            ),
            (ApiError::MissingToken, 401, "missing_token"),
            (ApiError::InvalidToken("expired"), 401, "invalid_token"),
            (ApiError::InvalidCredentials, 401, "invalid_credentials"),
            (ApiError::InvalidRefreshToken, 401, "invalid_refresh_token"),
            (ApiError::CorsRejected, 403, "cors_rejected"),
            (ApiError::NotMember, 403, "not_member"),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::RoomNotFound, 404, "room_not_found"),
            (
                ApiError::MethodNotAllowed(vec![Method::GET]),
                405,
                "method_not_allowed",
            ),
            (
                ApiError::RequestTimeout(std::time::Duration::from_secs(10)),
                408,
                "request_timeout",
            ),
            (ApiError::EmailTaken, 409, "email_taken"),
            (ApiError::PayloadTooLarge(16), 413, "payload_too_large"),
            (
                ApiError::UnsupportedMediaType("json"),
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::invalid_field("email", "bad"),
                422,
                "validation_failed",
            ),
            (ApiError::RateLimited(3), 429, "rate_limited"),
            (ApiError::NotReady, 503, "not_ready"),
            (ApiError::Overloaded, 503, "overloaded"),
            (ApiError::internal("secret SQL"), 500, "internal"),
        ];
        let mut titles = std::collections::HashSet::new();
        let count = cases.len();
        for (error, status, code) in cases {
            let (actual, body, head) = body_of(error).await;
            titles.insert(body["title"].to_string());
            assert_eq!(actual.as_u16(), status, "{code}");
            assert_eq!(body["code"], code);
            assert_eq!(body["status"], status);
            assert_eq!(body["type"], format!("urn:portico:problem:{code}"));
            assert!(body["title"].is_string() && body["detail"].is_string());
            assert_eq!(
                head.get(header::CONTENT_TYPE).unwrap(),
                PROBLEM_JSON,
                "{code}"
            );
            assert!(!body.to_string().contains("secret SQL"));
        }
        // RFC 9457 §3.1.3: a title belongs to its problem type, so each type has its own.
        assert_eq!(titles.len(), count, "{titles:?}");
    }

    #[tokio::test]
    async fn challenges_follow_rfc_6750() {
        let (_, _, head) = body_of(ApiError::MissingToken).await;
        let value = head.get(header::WWW_AUTHENTICATE).unwrap();
        assert_eq!(value, "Bearer realm=\"portico\"");
        let (_, _, head) = body_of(ApiError::InvalidToken("expired")).await;
        let value = head.get(header::WWW_AUTHENTICATE).unwrap();
        assert!(value.to_str().unwrap().contains("error=\"invalid_token\""));
        let (_, _, head) = body_of(ApiError::InvalidRefreshToken).await;
        let value = head
            .get(header::WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(value.contains("error=\"invalid_token\""), "{value}");
        let (_, body, head) =
            body_of(ApiError::MethodNotAllowed(vec![Method::GET, Method::POST])).await;
        assert_eq!(head.get(header::ALLOW).unwrap(), "GET, POST");
        assert!(body.get("errors").is_none());
    }
}

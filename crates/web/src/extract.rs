//! Reading request bodies: media type, size limit, and decoding into request types with
//! errors that say which field is wrong.

use std::fmt;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};
use crate::state::HttpSettings;

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` or any `application/*+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// The format of a request's body according to its `Content-Type`, if it is one we read.
pub fn body_format(request: &HttpRequest) -> Option<BodyFormat> {
    let content_type = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Some(BodyFormat::Json)
    } else if essence == "application/x-www-form-urlencoded" {
        Some(BodyFormat::Form)
    } else {
        None
    }
}

/// What a 400 says of a body that could not be read in full. The transport's own
/// message ("payload reached EOF before completing: None") means nothing to a client.
pub const UNREADABLE_BODY: &str =
    "the body ended before it was complete, or its transfer encoding is invalid";

/// Reads a whole body, refusing it as soon as it exceeds the configured limit (first by
/// its `Content-Length`, then by what actually arrives). A body that breaks off or
/// whose chunked encoding is corrupt is a 400.
pub async fn read_body(request: &HttpRequest, payload: &mut Payload) -> Result<BytesMut, ApiError> {
    let limit = request
        .app_data::<HttpSettings>()
        .map_or(HttpSettings::DEFAULT_BODY_LIMIT, |settings| {
            settings.body_limit
        });
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            PayloadError::Overflow => ApiError::PayloadTooLarge(limit),
            error => {
                tracing::debug!(%error, "the request body could not be read");
                ApiError::MalformedRequest(UNREADABLE_BODY.to_owned())
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The field a serde data error is about: the path where it happened, or for a missing
/// or unknown field at that path, the field itself.
fn field_of(path: &serde_path_to_error::Path, message: &str) -> String {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let path = path.to_string();
    let at_top = path == ".";
    // An unknown field's path already ends with that field; a missing one's ends at its
    // parent object.
    if let Some(unknown) = named("unknown field `") {
        return if at_top { unknown } else { path };
    }
    match (at_top, named("missing field `")) {
        (true, Some(missing)) => missing,
        (false, Some(missing)) => format!("{path}.{missing}"),
        (true, None) => "body".to_owned(),
        (false, None) => path,
    }
}

/// Decodes JSON: malformed JSON is a 400; well-formed JSON of the wrong shape is a 422
/// naming the field.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body: `{}x` is malformed, not an object missing fields.
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map_err(|error| ApiError::MalformedRequest(error.to_string()))?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_data() {
            let message = inner.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            ApiError::Validation(vec![FieldError {
                field: field_of(error.path(), message),
                message: message.to_owned(),
            }])
        } else {
            ApiError::MalformedRequest(inner.to_string())
        }
    })
}

/// Decodes a URL-encoded form; every decoding failure names its field.
pub fn decode_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(body));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let message = error.inner().to_string();
        ApiError::Validation(vec![FieldError {
            field: field_of(error.path(), &message),
            message,
        }])
    })
}

/// A JSON request body decoded into `T` (which should deny unknown fields). Any other
/// media type is a 415; see [`decode_json`] for the rest.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if body_format(&request) != Some(BodyFormat::Json) {
                return Err(ApiError::UnsupportedMediaType("application/json"));
            }
            let body = read_body(&request, &mut payload).await?;
            decode_json(&body).map(Json)
        })
    }
}

/// Collects field errors while a request is parsed into domain types, so that one 422
/// lists every invalid field at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Keeps the value, or records the error against `field`.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        parsed
            .map_err(|error| {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    message: error.to_string(),
                });
            })
            .ok()
    }

    /// The 422 when any field failed, otherwise what `build` makes of the parsed values.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.0.is_empty() {
            return Err(ApiError::Validation(self.0));
        }
        // Every `check` succeeded, so every value `build` reads is present.
        build().ok_or_else(|| ApiError::internal("a parsed field went missing"))
    }
}

/// A secret as it arrives in a body (a password, a refresh token), before it is parsed
/// into a domain type. Its `Debug` prints no secret, so neither a log line nor a panic
/// message that formats a request can carry one.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the parser that turns it into a domain type.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

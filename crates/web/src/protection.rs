//! What wraps every response: security headers, CORS from configuration, and problem
//! documents for the errors that arise outside the handlers (CORS refusals, framework
//! rejections).

use actix_cors::Cors;
use actix_web::ResponseError as _;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{RequestHead, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;

use crate::error::{ApiError, PROBLEM_JSON};
use crate::routes::{CspProfile, RouteTable};

/// Adds the security headers to every response; `Cache-Control: no-store` to every API
/// response that does not set its own (they carry tokens or personal data).
pub async fn security_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let csp = RouteTable::route_of(&request).map_or(CspProfile::Api, |route| route.csp);
    let mut response = next.call(request).await?;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp.policy()),
    );
    if !csp.is_static() && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// The problem a framework-made error response stands for, judged by its status.
fn problem_for(status: StatusCode, cors_refusal: bool) -> ApiError {
    match status {
        _ if cors_refusal => ApiError::CorsRejected,
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(Vec::new()),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(0),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType("a supported type"),
        status if status.is_server_error() => {
            ApiError::internal(format!("framework error response {status}"))
        }
        _ => ApiError::MalformedRequest(
            status
                .canonical_reason()
                .unwrap_or("the request was refused")
                .to_owned(),
        ),
    }
}

/// Turns any error response that is not already a problem document into one, so that
/// clients see one error format whatever produced the error.
pub async fn problem_documents(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let response = next.call(request).await?;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return Ok(response.map_into_left_body());
    }
    let cors_refusal = response
        .response()
        .error()
        .is_some_and(|error| error.as_error::<actix_cors::CorsError>().is_some());
    let problem = problem_for(status, cors_refusal);
    let (request, original) = response.into_parts();
    let mut replacement = problem.error_response();
    // Keep what the framework said about the error (Allow, Retry-After, …).
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = original.headers().get(&name) {
            replacement.headers_mut().insert(name, value.clone());
        }
    }
    Ok(ServiceResponse::new(request, replacement).map_into_right_body())
}

/// Cross-origin access, from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsSettings {
    /// Origins allowed to call the API (`scheme://host[:port]`); `*` allows any, and
    /// then credentials are never allowed. Empty: cross-origin browsers get no access.
    pub allowed_origins: Vec<String>,
    /// Methods allowed in cross-origin requests.
    pub allowed_methods: Vec<Method>,
    /// Request headers allowed in cross-origin requests.
    pub allowed_headers: Vec<HeaderName>,
    /// Whether browsers may send cookies cross-origin (explicit origins only).
    pub allow_credentials: bool,
}

impl CorsSettings {
    /// Whether any origin is configured: without one no CORS middleware is installed.
    #[must_use]
    pub fn enabled(&self) -> bool {
        !self.allowed_origins.is_empty()
    }

    /// The actix-cors middleware for these settings. Without credentials, a request from
    /// the service's own host is always allowed: browsers send `Origin` on same-origin
    /// POSTs too (the Swagger UI's), and refusing those would break the docs page. With
    /// credentials, list the service's own origin if the docs page must work.
    pub fn middleware(&self) -> Cors {
        let any = self.allowed_origins.iter().any(|origin| origin == "*");
        let origins = self.allowed_origins.clone();
        // The host alone cannot tell `http://` from `https://`: with credentials, only
        // the listed origins are trusted.
        let same_origin_allowed = !self.allow_credentials;
        let mut cors = Cors::default()
            .allowed_origin_fn(move |origin, head| {
                any || origins
                    .iter()
                    .any(|allowed| allowed.as_bytes() == origin.as_bytes())
                    || (same_origin_allowed && is_same_origin(origin, head))
            })
            .allowed_methods(self.allowed_methods.clone())
            .allowed_headers(self.allowed_headers.clone())
            .expose_headers([
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
                HeaderName::from_static("retry-after"),
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(3600);
        if self.allow_credentials && !any {
            cors = cors.supports_credentials();
        }
        cors
    }
}

/// Whether `origin` names the host the request was sent to.
fn is_same_origin(origin: &HeaderValue, head: &RequestHead) -> bool {
    let Some(host) = head
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    origin.to_str().ok().is_some_and(|origin| {
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
    })
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::test::{TestRequest, call_service, init_service, read_body};
    use actix_web::{App, HttpResponse, web};

    use super::*;

    #[actix_web::test]
    async fn a_framework_405_keeps_its_allow_header_as_a_problem_document() {
        let app = init_service(
            App::new()
                .wrap(from_fn(problem_documents))
                .route(
                    "/read-only",
                    web::get().to(|| async {
                        HttpResponse::MethodNotAllowed()
                            .insert_header((header::ALLOW, "GET, HEAD"))
                            .body("no")
                    }),
                )
                .route(
                    "/fine",
                    web::get().to(|| async { HttpResponse::Ok().body("fine") }),
                ),
        )
        .await;

        let read_only = call_service(&app, TestRequest::get().uri("/read-only").to_request()).await;
        assert_eq!(read_only.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            read_only
                .headers()
                .get(header::ALLOW)
                .map(HeaderValue::as_bytes),
            Some(&b"GET, HEAD"[..])
        );
        assert_eq!(
            read_only
                .headers()
                .get(header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes),
            Some(PROBLEM_JSON.as_bytes())
        );
        let fine = call_service(&app, TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(read_body(fine).await, "fine", "a success is left alone");
    }

    #[test]
    fn the_same_origin_is_the_host_the_request_was_sent_to_in_any_case() {
        let head = |host: Option<&str>| {
            let request = match host {
                Some(host) => TestRequest::default().insert_header((header::HOST, host)),
                None => TestRequest::default(),
            };
            request.to_http_request().head().clone()
        };
        let origin = |value: &'static str| HeaderValue::from_static(value);
        let mut without_host = head(None);
        without_host.headers_mut().remove(header::HOST);
        for (origin, head, same) in [
            (
                origin("https://chat.example.com"),
                head(Some("chat.example.com")),
                true,
            ),
            (
                origin("http://Chat.Example.com:8080"),
                head(Some("chat.example.com:8080")),
                true,
            ),
            (
                origin("https://chat.example.com"),
                head(Some("evil.example.com")),
                false,
            ),
            (
                origin("chat.example.com"),
                head(Some("chat.example.com")),
                false,
            ),
            (origin("https://chat.example.com"), without_host, false),
        ] {
            assert_eq!(
                is_same_origin(&origin, &head),
                same,
                "{origin:?} to {head:?}"
            );
        }
    }

    #[test]
    fn a_framework_error_becomes_the_problem_its_status_stands_for() {
        for (status, cors_refusal, code) in [
            (StatusCode::BAD_REQUEST, true, "cors_rejected"),
            (StatusCode::NOT_FOUND, false, "not_found"),
            (StatusCode::METHOD_NOT_ALLOWED, false, "method_not_allowed"),
            (StatusCode::PAYLOAD_TOO_LARGE, false, "payload_too_large"),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                false,
                "unsupported_media_type",
            ),
            (StatusCode::BAD_GATEWAY, false, "internal"),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                false,
                "malformed_request",
            ),
            (
                StatusCode::from_u16(499).unwrap_or_default(),
                false,
                "malformed_request",
            ),
        ] {
            let problem = problem_for(status, cors_refusal).problem();
            assert_eq!(
                problem.code, code,
                "{status} (CORS refusal: {cors_refusal})"
            );
        }
    }
}

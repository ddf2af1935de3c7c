//! One tracing span per request, carrying a request id that is also returned to the
//! client as `X-Request-Id`, and one log line when the request completes.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;
use uuid::Uuid;

/// The response header that carries the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a request in a span. Only the path is recorded, never the query string: a
/// browser's WebSocket puts its access token there.
pub async fn request_span(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = Uuid::new_v4();
    let span = tracing::info_span!(
        "http_request",
        method = %request.method(),
        path = %request.path(),
        %request_id,
    );
    let started = Instant::now();
    span.in_scope(|| tracing::debug!("request started"));
    let mut response = next.call(request).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    span.in_scope(|| tracing::info!(status, elapsed_ms, "request completed"));
    Ok(response)
}

//! The edge: what stands between a TCP peer and the routes, so that no client can hold
//! the server's connections, memory or log by being slow, numerous or ambiguous.
//!
//! - [`server`] serves the app on a hand-built actix server, so that two answers actix-web's
//!   `HttpServer` keeps to itself are ours: the `Expect: 100-continue` check (a body over
//!   the limit is refused before `100 Continue`), and the I/O of every connection
//!   ([`connection`]), which enforces a deadline on every request head, not only the
//!   first, a deadline on stalled writes, and closes a connection right after a refusal.
//!   It also caps connections per peer address and in total.
//! - `upgraded` carries a connection whose request switched protocols (a WebSocket)
//!   once the app has answered it, without the HTTP dispatcher's buffers, which an idle
//!   socket would otherwise hold for its whole life.
//! - [`limit_requests`], a middleware of the app, gives each request body a deadline
//!   (408 `request_timeout`) and caps the requests one client has in flight.
//!
//! Every refusal here closes the connection: a client that misbehaved once is not trusted
//! with the framing of its next request.

pub mod connection;
mod peers;
pub mod server;
mod upgraded;

use std::cell::Cell;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage as _, ResponseError as _};
use futures_util::Stream;
use ipnet::IpNet;
use tokio::time::Sleep;

pub use self::peers::{PeerCounts, PeerSlot};
use crate::error::ApiError;
use crate::rate_limit::{ForwardingHeader, RateLimitSettings, client_ip};
use crate::state::HttpSettings;

/// The limits of the edge. Each default is what `docs/configuration.md` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSettings {
    /// How long a request head may take to arrive, from its first byte (on a fresh
    /// connection, from the accept). Past it the connection is closed (on a fresh
    /// connection actix first answers a bare 408).
    pub head_timeout: Duration,
    /// How long a request body may take to arrive, counted from its head. Past it the
    /// answer is 408 `request_timeout` and the connection is closed.
    pub body_read_timeout: Duration,
    /// How long an idle connection is kept open between requests.
    pub keep_alive: Duration,
    /// How long a response write may make no progress (a client that stops reading)
    /// before the connection is closed.
    pub write_timeout: Duration,
    /// Connections open at once, across every worker. The server lowers it further to
    /// stay below the process's open-file limit (see `src/startup.rs`).
    pub max_connections: usize,
    /// Connections open at once from one peer address, and requests in flight at once
    /// from one client address (behind a trusted proxy, the forwarded one).
    pub max_connections_per_ip: usize,
}

impl EdgeSettings {
    /// 5 s, actix's own default for the first request head.
    pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
    /// 10 s: a 16 KiB body takes milliseconds on any working link.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// 5 s, actix's default.
    pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5);
    /// 30 s without any byte accepted by the client's socket.
    pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
    /// 10,000 connections: 200–300 MiB in the worst case (`docs/benchmarks.md`).
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
    /// 128 per address: a browser opens 6, a NAT of a few dozen users fits.
    pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 128;
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            head_timeout: Self::DEFAULT_HEAD_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            keep_alive: Self::DEFAULT_KEEP_ALIVE,
            write_timeout: Self::DEFAULT_WRITE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: Self::DEFAULT_MAX_CONNECTIONS_PER_IP,
        }
    }
}

/// The edge's settings and shared counters, built once and shared by every worker.
#[derive(Debug)]
pub struct Edge {
    settings: EdgeSettings,
    trusted_proxies: Vec<IpNet>,
    forwarding_header: ForwardingHeader,
    in_flight: Arc<PeerCounts>,
}

impl Edge {
    /// The edge for these settings; client addresses are worked out as the rate limiter
    /// does, from `addressing`'s trusted proxies and forwarding header.
    #[must_use]
    pub fn new(settings: EdgeSettings, addressing: &RateLimitSettings) -> Self {
        Self {
            in_flight: Arc::new(PeerCounts::new(settings.max_connections_per_ip)),
            trusted_proxies: addressing.trusted_proxies.clone(),
            forwarding_header: addressing.forwarding_header,
            settings,
        }
    }

    /// The limits.
    #[must_use]
    pub fn settings(&self) -> &EdgeSettings {
        &self.settings
    }

    /// Whether `peer` is a trusted proxy: its connections carry many clients, so the
    /// per-address connection cap does not apply to it (the per-client request cap does).
    #[must_use]
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

/// Whether a request carries a body to read: one is announced by a non-zero
/// `Content-Length` or by any `Transfer-Encoding`.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// Whether a request asks to switch protocols (a WebSocket): its payload is then a
/// stream that lives as long as the session, which no body deadline may cut.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

/// The middleware: refuses a client already holding its share of requests in flight
/// (429, connection closed), and gives a request body a deadline (408, connection
/// closed) so that a client trickling bytes cannot hold a request open.
pub async fn limit_requests(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(edge) = request
        .app_data::<HttpSettings>()
        .map(|settings| Arc::clone(&settings.edge))
    else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let client = client_ip(&request, &edge.trusted_proxies, edge.forwarding_header);
    // Held until the response is ready: a slow body keeps the request, and so the slot.
    let _slot = match client {
        Some(ip) => match edge.in_flight.try_acquire(ip) {
            Some(slot) => Some(slot),
            None => {
                tracing::info!(client_ip = %ip, "refused a request: too many in flight from one client");
                let mut response = ApiError::RateLimited(1).error_response();
                response
                    .head_mut()
                    .set_connection_type(actix_web::http::ConnectionType::Close);
                let (request, _) = request.into_parts();
                return Ok(ServiceResponse::new(request, response).map_into_right_body());
            }
        },
        None => None,
    };
    let headers = request.headers();
    if !has_body(headers) || is_upgrade(headers) {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    let deadline = edge.settings.body_read_timeout;
    let expired = Rc::new(Cell::new(false));
    let body = DeadlineBody {
        inner: request.take_payload(),
        deadline: Box::pin(tokio::time::sleep(deadline)),
        expired: Rc::clone(&expired),
    };
    request.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    let response = next.call(request).await?;
    if !expired.get() {
        return Ok(response.map_into_left_body());
    }
    // Whatever the handler made of the cut-off body, the cause was the deadline.
    let deadline_s = deadline.as_secs_f64();
    tracing::info!(
        deadline_s,
        "request body not received in time; connection closed"
    );
    let (request, _) = response.into_parts();
    Ok(
        ServiceResponse::new(request, ApiError::RequestTimeout(deadline).error_response())
            .map_into_right_body(),
    )
}

/// A request body that fails once its deadline has passed.
struct DeadlineBody {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl DeadlineBody {
    fn expire(&self) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.expired.set(true);
        Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        )))))
    }
}

impl Stream for DeadlineBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        // Polled before the body: a client trickling bytes always has one ready, and
        // one that stalls is woken by the deadline.
        if self.deadline.as_mut().poll(cx).is_ready() {
            return self.expire();
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};
    use futures_util::StreamExt as _;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), header::HeaderValue::from_static(value));
        }
        headers
    }

    #[actix_web::test]
    async fn a_body_is_announced_by_a_non_zero_length_or_any_transfer_coding() {
        assert!(!has_body(&headers(&[])));
        assert!(!has_body(&headers(&[(header::CONTENT_LENGTH, "0")])));
        assert!(has_body(&headers(&[(header::CONTENT_LENGTH, "5")])));
        assert!(has_body(&headers(&[(
            header::TRANSFER_ENCODING,
            "chunked"
        )])));
        assert!(has_body(&headers(&[
            (header::CONTENT_LENGTH, "0"),
            (header::TRANSFER_ENCODING, "chunked"),
        ])));
    }

    #[actix_web::test]
    async fn a_request_with_an_upgrade_header_asks_to_switch_protocols() {
        assert!(is_upgrade(&headers(&[(header::UPGRADE, "websocket")])));
        assert!(!is_upgrade(&headers(&[(header::CONTENT_LENGTH, "5")])));
    }

    #[actix_web::test]
    async fn the_edge_keeps_the_limits_it_was_given() {
        let settings = EdgeSettings {
            body_read_timeout: Duration::from_millis(1234),
            ..EdgeSettings::default()
        };
        let edge = Edge::new(settings.clone(), &RateLimitSettings::disabled());
        assert_eq!(edge.settings(), &settings);
    }

    /// A body whose client sends nothing more, with a deadline `after` from now.
    fn stalled_body(after: Duration) -> DeadlineBody {
        DeadlineBody {
            inner: Payload::Stream {
                payload: Box::pin(futures_util::stream::pending()),
            },
            deadline: Box::pin(tokio::time::sleep(after)),
            expired: Rc::new(Cell::new(false)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_as_timed_out_at_its_deadline_and_ends_there() {
        let mut body = stalled_body(Duration::from_secs(5));

        // The paused clock moves to the deadline once nothing else can happen.
        let failed = body.next().await;
        let timed_out = matches!(&failed, Some(Err(PayloadError::Io(error))) if error.kind() == io::ErrorKind::TimedOut);
        assert!(timed_out, "the stalled body gave {failed:?}");
        assert!(body.expired.get(), "the response will say why");
        assert!(
            body.next().await.is_none(),
            "nothing is read after the deadline"
        );
    }

    #[actix_web::test]
    async fn without_edge_settings_every_request_passes_through() {
        let app = test::init_service(App::new().wrap(from_fn(limit_requests)).route(
            "/",
            web::post().to(|| async { HttpResponse::Ok().finish() }),
        ))
        .await;
        let request = test::TestRequest::post()
            .uri("/")
            .set_payload("a body")
            .to_request();

        let response = test::call_service(&app, request).await;

        assert_eq!(response.status().as_u16(), 200);
    }
}

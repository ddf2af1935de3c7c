//! What the handlers share: the use cases (built by `application::UseCases::new`) and
//! the HTTP settings.

use std::sync::Arc;

pub use application::UseCases;
use tokio_util::sync::CancellationToken;

use crate::edge::{Edge, EdgeSettings};
use crate::protection::CorsSettings;
use crate::rate_limit::{RateLimitSettings, RateLimits};
use crate::ws::WebSockets;

/// Settings of the HTTP side.
#[derive(Clone)]
pub struct HttpSettings {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The largest body of `POST /rooms/{room}/messages`, in bytes: room for a message of
    /// `MESSAGE_MAX_BYTES` however it is escaped (see
    /// [`HttpSettings::message_body_limit`]).
    pub message_body_limit: usize,
    /// Whether `/login` and `/refresh` also set the refresh token as an HttpOnly cookie,
    /// and `/refresh` and `/logout` accept it from there.
    pub refresh_cookie: bool,
    /// Cross-origin access.
    pub cors: CorsSettings,
    /// The rate limiters, shared by every worker.
    pub rate_limits: Arc<RateLimits>,
    /// Cancelled when the service starts to stop: long-lived work (WebSocket sessions,
    /// background tasks) observes it and ends, so a drain need not wait out the grace
    /// period for connections that never end on their own.
    pub shutdown: CancellationToken,
    /// The edge's limits (deadlines, connection and in-flight caps) and counters, shared
    /// by every worker.
    pub edge: Arc<Edge>,
    /// The WebSocket limits and the count of open connections per user, shared by
    /// every worker.
    pub websockets: Arc<WebSockets>,
}

impl HttpSettings {
    /// 16 KiB: far above any legitimate body of this API but a message.
    pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;
    /// What a message's JSON holds besides its body: the `id` (128 characters, each up
    /// to 12 bytes escaped), the keys and punctuation.
    const MESSAGE_ENVELOPE_BYTES: usize = 4 * 1024;

    /// The body limit of the route that publishes messages: never below `body_limit`,
    /// and large enough for a body of `message_max_bytes` bytes written as JSON however
    /// it is escaped. JSON may spell each byte as `\u00XX` (six bytes), and a client
    /// must not find a message the service accepts over WebSocket refused over HTTP for
    /// the way its encoder escapes.
    #[must_use]
    pub fn message_body_limit(message_max_bytes: usize, body_limit: usize) -> usize {
        message_max_bytes
            .saturating_mul(6)
            .saturating_add(Self::MESSAGE_ENVELOPE_BYTES)
            .max(body_limit)
    }
}

impl HttpSettings {
    /// The defaults with rate limiting off: for tests of other concerns.
    #[must_use]
    pub fn unlimited() -> Self {
        Self {
            body_limit: Self::DEFAULT_BODY_LIMIT,
            message_body_limit: Self::message_body_limit(
                domain::DEFAULT_MESSAGE_MAX_BYTES,
                Self::DEFAULT_BODY_LIMIT,
            ),
            refresh_cookie: false,
            cors: CorsSettings::default(),
            rate_limits: Arc::new(RateLimits::new(RateLimitSettings::disabled())),
            shutdown: CancellationToken::new(),
            edge: Arc::new(Edge::new(
                EdgeSettings::default(),
                &RateLimitSettings::disabled(),
            )),
            websockets: Arc::new(WebSockets::new(crate::ws::WsSettings {
                limits_enabled: false,
                ..crate::ws::WsSettings::default()
            })),
        }
    }
}

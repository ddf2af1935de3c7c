//! `GET /ws`: the upgrade. The client is authenticated **before** the protocol switches
//! (by `Authorization: Bearer` or, for browsers, which cannot set headers on a
//! WebSocket, the `access_token` query parameter), so a refused client gets a problem
//! document and never a socket.

use actix_web::{HttpRequest, HttpResponse, get, web};
use application::AuthenticateError;

use super::connection::{self, Setup};
use super::socket;
use crate::auth::bearer_token;
use crate::error::{ApiError, Problem};
use crate::state::{HttpSettings, UseCases};

/// The query parameter a browser's WebSocket carries its access token in. The request
/// span records the path only, so the token is never logged.
pub const ACCESS_TOKEN_PARAMETER: &str = "access_token";

/// The access token of an upgrade request: the bearer header first, else the query
/// parameter.
fn presented_token(request: &HttpRequest) -> Option<String> {
    if let Some(token) = bearer_token(request) {
        return Some(token.to_owned());
    }
    form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, value)| name == ACCESS_TOKEN_PARAMETER && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

/// Opens a WebSocket speaking the protocol of `docs/websocket.md`.
#[utoipa::path(
    tag = "rooms",
    security(("bearer" = [])),
    params(
        ("access_token" = Option<String>, Query, description = "The access token, for clients that cannot send `Authorization` (browsers). Never logged."),
    ),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol of `docs/websocket.md`."),
        (status = 400, description = "`malformed_request`: not a WebSocket handshake.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`: no socket is opened.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many upgrades from this address, or the user holds `WS_MAX_CONNECTIONS_PER_USER` connections already.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/ws")]
pub async fn upgrade(
    request: HttpRequest,
    body: web::Payload,
    use_cases: web::Data<UseCases>,
) -> Result<HttpResponse, ApiError> {
    let token = presented_token(&request).ok_or(ApiError::MissingToken)?;
    let claims = use_cases
        .authenticate
        .verify(&token)
        .map_err(AuthenticateError::Rejected)?;
    let user = use_cases.authenticate.user_of(&claims).await?.user;
    let settings = request
        .app_data::<HttpSettings>()
        .cloned()
        .ok_or_else(|| ApiError::internal("HTTP settings are not configured"))?;
    let slot = settings
        .websockets
        .admit(user.id)
        .ok_or(ApiError::RateLimited(1))?;
    let limits = settings.websockets.settings().clone();
    // The codec's own ceiling sits well above the frame limit, so that a frame a little
    // over it is read and refused with an `error` frame (the connection stays usable);
    // only a message far over it breaks the framing and closes the connection with 1009.
    let socket_limits = socket::Limits {
        send_queue: limits.send_queue,
        max_message_bytes: limits.max_frame_bytes.saturating_mul(4),
    };
    let (response, outgoing, incoming) = socket::open(&request, body.into_inner(), socket_limits)
        .map_err(|error| {
        tracing::debug!(%error, "not a WebSocket handshake");
        ApiError::MalformedRequest("it is not a WebSocket handshake".to_owned())
    })?;
    tracing::info!(user_id = %user.id, "websocket opened");
    actix_web::rt::spawn(connection::run(
        Setup {
            use_cases: use_cases.into_inner(),
            settings: limits,
            shutdown: settings.shutdown.clone(),
            user,
            claims,
            slot,
        },
        outgoing,
        incoming,
    ));
    Ok(response)
}

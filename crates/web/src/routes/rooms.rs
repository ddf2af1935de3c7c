//! Rooms over HTTP: the caller's rooms, a room's history, publishing, and presence.
//! Joining and leaving happen over the WebSocket (SPEC §5); these endpoints read and
//! publish as a member.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use application::PublishCommand;
use domain::{HistoryRequest, HistoryWindow, PageLimit, RoomName, Seq};
use futures_util::future::{Ready, ready};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::extract::{FieldErrors, Json, RequestBody, decode_form};
use crate::room_json::{MessageJson, PresenceJson, RoomJson};
use crate::state::{HttpSettings, UseCases};

/// The room named in the path, parsed: a name that breaks the rule is a 422 naming the
/// field `room` (it could name no room, and saying why helps more than a 404).
pub struct RoomPath(pub RoomName);

impl FromRequest for RoomPath {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = request.match_info().get("room").unwrap_or_default();
        ready(
            RoomName::parse(raw)
                .map(Self)
                .map_err(|error| ApiError::invalid_field("room", error)),
        )
    }
}

/// The caller's rooms.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"rooms": [
    {"room": "general", "last_seq": 42, "unread": 3},
    {"room": "random", "last_seq": 0, "unread": 0}
]}))]
pub struct RoomsResponse {
    /// Ordered by name.
    pub rooms: Vec<RoomJson>,
}

/// The rooms the caller belongs to, with what they have not read.
///
/// `unread` is the room's `last_seq` minus the caller's delivery cursor, which moves
/// when a WebSocket client acknowledges messages (`ack`), never by reading history.
#[utoipa::path(
    tag = "rooms",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's rooms, by name.", body = RoomsResponse),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rooms")]
pub async fn list_rooms(
    use_cases: web::Data<UseCases>,
    Authenticated(user): Authenticated,
) -> Result<web::Json<RoomsResponse>, ApiError> {
    let rooms = use_cases.list_rooms.execute(user.id).await?;
    Ok(web::Json(RoomsResponse {
        rooms: rooms.into_iter().map(RoomJson::from).collect(),
    }))
}

/// Which page of history to read. Give `before` or `after`, not both.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The newest messages with a `seq` below this one (scrolling back).
    pub before: Option<u64>,
    /// The oldest messages with a `seq` above this one (catching up).
    pub after: Option<u64>,
    /// At most this many messages: 1 to 200, 50 when not given.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl RequestBody for HistoryQuery {
    type Valid = HistoryRequest;

    fn validate(self, errors: &mut FieldErrors) -> Option<HistoryRequest> {
        let limit = match self.limit {
            None => Some(PageLimit::DEFAULT),
            Some(limit) => errors.check("limit", PageLimit::new(limit)),
        };
        let window = errors.check(
            "before",
            HistoryWindow::from_bounds(self.before.map(Seq::new), self.after.map(Seq::new)),
        );
        Some(HistoryRequest {
            window: window?,
            limit: limit?,
        })
    }
}

/// The history request of the query string; a bad one is a 422 naming each field.
pub struct HistoryParams(pub HistoryRequest);

impl FromRequest for HistoryParams {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        // A query string is a form: its values are read as the numbers the fields are.
        ready(decode_form::<HistoryQuery>(request.query_string().as_bytes()).map(Self))
    }
}

/// A page of a room's history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "messages": [{
        "room": "general", "seq": 42, "id": "c0ffee-1",
        "sender": {
            "id": "9b2c4c36-1c36-4f0e-9d0f-4c1b8f6f1d2a", "first_name": "Ada",
            "last_name": "Lovelace"
        },
        "body": "Hello, engine!", "created_at": "2026-11-23T20:00:00Z"
    }],
    "has_more": true
}))]
pub struct HistoryResponse {
    /// In ascending `seq`.
    pub messages: Vec<MessageJson>,
    /// Whether more messages lie beyond the page in the direction read: older ones
    /// without `after`, newer ones with it.
    pub has_more: bool,
}

/// A page of a room's history, in ascending `seq`.
///
/// Without `before` or `after`, the newest `limit` messages; with `before`, the newest
/// below it (scroll back from the first `seq` of a page); with `after`, the oldest above
/// it (read forward from the last `seq` of a page). Reading history moves no cursor.
#[utoipa::path(
    tag = "rooms",
    security(("bearer" = [])),
    params(
        ("room" = String, Path, description = "The room: `[a-z0-9_-]{1,64}`.", example = "general"),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "A page of history.", body = HistoryResponse),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_member`: the caller is not a member of the room.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`: no room has this name.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad room name, `limit` out of range, both `before` and `after`, a value that is not a whole number.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rooms/{room}/messages")]
pub async fn history(
    use_cases: web::Data<UseCases>,
    Authenticated(user): Authenticated,
    RoomPath(room): RoomPath,
    HistoryParams(request): HistoryParams,
) -> Result<web::Json<HistoryResponse>, ApiError> {
    let page = use_cases.history.execute(user.id, &room, request).await?;
    Ok(web::Json(HistoryResponse {
        messages: page.messages.into_iter().map(MessageJson::from).collect(),
        has_more: page.has_more,
    }))
}

/// A message to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Hello, engine!", "id": "c0ffee-1"}))]
pub struct PublishRequest {
    /// The text: not blank, at most `MESSAGE_MAX_BYTES` bytes (16 KiB by default), no
    /// NUL; kept exactly as sent.
    pub body: String,
    /// The client's idempotency key (1 to 128 characters, none of them control or
    /// formatting characters), unique per sender: publishing it again stores nothing
    /// new and answers the original. A UUID is assigned when absent.
    pub id: Option<String>,
}

impl RequestBody for PublishRequest {
    /// The body and id as sent: the publish use case checks them against the
    /// configured limit, every field at once.
    type Valid = (String, Option<String>);

    fn body_limit(settings: &HttpSettings) -> usize {
        settings.message_body_limit
    }

    fn validate(self, _: &mut FieldErrors) -> Option<Self::Valid> {
        Some((self.body, self.id))
    }
}

/// Publish a message as a member.
///
/// The message is stored with the room's next `seq` before the answer is sent, then
/// delivered to the members' WebSocket connections. Publishing an `id` the caller used
/// before (in this room or another) stores nothing new and answers **201 with the
/// original message**, as the first publish did, so a client can retry a request whose
/// answer it lost without learning anything new or sending twice.
#[utoipa::path(
    tag = "rooms",
    security(("bearer" = [])),
    params(("room" = String, Path, description = "The room: `[a-z0-9_-]{1,64}`.", example = "general")),
    request_body = PublishRequest,
    responses(
        (status = 201, description = "The stored message (the original, for an `id` published before).", body = MessageJson),
        (status = 400, description = "`malformed_request`: the body is not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_member`: the caller is not a member of the room.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`: no room has this name.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad room name, a blank, oversized or NUL-bearing body, a bad `id`; every field at once.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rooms/{room}/messages")]
pub async fn publish(
    use_cases: web::Data<UseCases>,
    Authenticated(user): Authenticated,
    RoomPath(room): RoomPath,
    Json((body, id)): Json<PublishRequest>,
) -> Result<HttpResponse, ApiError> {
    let command = PublishCommand { room, body, id };
    let published = use_cases.publish.execute(user.id, command).await?;
    Ok(HttpResponse::Created().json(MessageJson::from(published.message)))
}

/// Who of a room's members has a WebSocket connection open.
///
/// Ordered by id, each with their names and `state` (`active` while any of their
/// connections is, else `idle`). Empty when nobody is connected.
#[utoipa::path(
    tag = "rooms",
    security(("bearer" = [])),
    params(("room" = String, Path, description = "The room: `[a-z0-9_-]{1,64}`.", example = "general")),
    responses(
        (status = 200, description = "The connected members.", body = PresenceJson),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_member`: the caller is not a member of the room.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`: no room has this name.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad room name.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rooms/{room}/presence")]
pub async fn presence(
    use_cases: web::Data<UseCases>,
    Authenticated(user): Authenticated,
    RoomPath(room): RoomPath,
) -> Result<web::Json<PresenceJson>, ApiError> {
    let members = use_cases.presence.execute(user.id, &room).await?;
    Ok(web::Json(PresenceJson::of(&room, members)))
}

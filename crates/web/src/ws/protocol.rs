//! The WebSocket protocol of SPEC §5, as types: one `#[serde(tag = "type")]` enum per
//! direction. A client's text frame is decoded once, here, into a [`ClientFrame`] of
//! domain values, or refused with a [`FrameError`] whose `code` and `ref` the connection
//! sends back in an `error` frame; the connection stays usable either way.

use std::cell::RefCell;
use std::sync::Arc;

use bytestring::ByteString;
use chrono::{DateTime, Utc};
use domain::{Message, MessageBody, MessageId, RoomName, Seq};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::room_json::MessageJson;

/// Close codes (RFC 6455 §7.4 and SPEC §5's application codes).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the WebSocket framing.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A frame of a kind the server does not take (binary), sent again and again.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Policy: authentication (the session ended, the token was refused).
    pub const POLICY: u16 = 1008;
    /// A frame over the size limit, sent again and again.
    pub const TOO_BIG: u16 = 1009;
    /// The server could not open the connection (its store failed).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The access token expired and was not renewed with an `auth` frame.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// Nothing heard from the client within the heartbeat timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4002;
    /// The client kept sending over its budget.
    pub const RATE_LIMITED: u16 = 4008;
    /// The client did not read fast enough: its outbound queue filled.
    pub const SLOW_CONSUMER: u16 = 4009;
}

/// What a client asks, decoded and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Join a room (creating it), replaying what came after `since` or the user's cursor.
    Join {
        /// The room.
        room: RoomName,
        /// Replay `seq > since` instead of from the cursor.
        since: Option<Seq>,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: RoomName,
    },
    /// Publish a message; `id` is the sender's idempotency key.
    Publish {
        /// The room.
        room: RoomName,
        /// What it says.
        body: MessageBody,
        /// The client's idempotency key, if it sent one.
        id: Option<MessageId>,
    },
    /// Move the user's delivery cursor forward to `seq`.
    Ack {
        /// The room.
        room: RoomName,
        /// The latest `seq` the client has shown.
        seq: Seq,
    },
    /// An application-level ping.
    Ping,
    /// Who is connected in a room.
    Presence {
        /// The room.
        room: RoomName,
    },
    /// Renew the connection's authorisation with a new access token.
    Auth {
        /// The token.
        access_token: String,
    },
}

/// Why a client's frame was refused: the `error` frame it gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// A stable code (`bad_request`, `unknown_type`, `invalid_room`, `too_large`, …).
    pub code: &'static str,
    /// What is wrong, in the protocol's words.
    pub message: String,
    /// The client's `id` from the refused frame, when it carried one.
    pub reference: Option<String>,
}

impl FrameError {
    fn new(code: &'static str, message: impl Into<String>, reference: Option<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reference,
        }
    }

    /// The `error` frame to send back.
    #[must_use]
    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::Error {
            code: self.code,
            message: self.message,
            reference: self.reference,
        }
    }
}

/// The frame types a client may send, for `unknown_type` answers.
const CLIENT_TYPES: &str = "join, leave, publish, ack, ping, presence, auth";

/// The fields of each client frame, as sent: strings and numbers, checked against the
/// domain after decoding so that every refusal can say what is wrong in protocol terms.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawFrame {
    Join {
        room: String,
        since: Option<u64>,
    },
    Leave {
        room: String,
    },
    Publish {
        room: String,
        body: String,
        id: Option<String>,
    },
    Ack {
        room: String,
        seq: u64,
    },
    Ping,
    Presence {
        room: String,
    },
    Auth {
        access_token: String,
    },
}

/// Decodes one text frame. A body over `message_max_bytes` is `too_large`; a bad room
/// name is `invalid_room`; an unknown or missing `type` is `unknown_type`; anything else
/// that is not a valid frame is `bad_request`.
///
/// # Errors
/// The [`FrameError`] to answer with.
pub fn decode(text: &str, message_max_bytes: usize) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| FrameError::new("bad_request", "a frame must be one JSON object", None))?;
    let Value::Object(object) = value else {
        return Err(FrameError::new(
            "bad_request",
            "a frame must be one JSON object",
            None,
        ));
    };
    let reference = client_id(&object);
    let known_type = match object.get("type") {
        Some(Value::String(kind)) => CLIENT_TYPES.split(", ").any(|known| known == kind),
        _ => false,
    };
    if !known_type {
        return Err(FrameError::new(
            "unknown_type",
            format!("`type` must be one of: {CLIENT_TYPES}"),
            reference,
        ));
    }
    let raw: RawFrame = serde_json::from_value(Value::Object(object)).map_err(|error| {
        FrameError::new("bad_request", fields_message(&error), reference.clone())
    })?;
    let room = |raw: &str| {
        RoomName::parse(raw).map_err(|error| {
            FrameError::new("invalid_room", format!("room {error}"), reference.clone())
        })
    };
    Ok(match raw {
        RawFrame::Join { room: name, since } => ClientFrame::Join {
            room: room(&name)?,
            since: since.map(Seq::new),
        },
        RawFrame::Leave { room: name } => ClientFrame::Leave { room: room(&name)? },
        RawFrame::Publish {
            room: name,
            body,
            id,
        } => {
            let room = room(&name)?;
            let body = MessageBody::parse(&body, message_max_bytes).map_err(|error| {
                let code = if body.len() > message_max_bytes {
                    "too_large"
                } else {
                    "bad_request"
                };
                FrameError::new(code, format!("body {error}"), reference.clone())
            })?;
            let id = id
                .map(|id| MessageId::parse(&id))
                .transpose()
                .map_err(|error| {
                    FrameError::new("bad_request", format!("id {error}"), reference.clone())
                })?;
            ClientFrame::Publish { room, body, id }
        }
        RawFrame::Ack { room: name, seq } => ClientFrame::Ack {
            room: room(&name)?,
            seq: Seq::new(seq),
        },
        RawFrame::Ping => ClientFrame::Ping,
        RawFrame::Presence { room: name } => ClientFrame::Presence { room: room(&name)? },
        RawFrame::Auth { access_token } => ClientFrame::Auth { access_token },
    })
}

/// The client's `id`, echoed as `ref` in an error about its frame.
fn client_id(object: &Map<String, Value>) -> Option<String> {
    match object.get("id") {
        Some(Value::String(id)) if id.chars().count() <= domain::MAX_MESSAGE_ID_CHARS => {
            Some(id.clone())
        }
        _ => None,
    }
}

/// What is wrong with a frame's fields, in the protocol's words: serde's messages name
/// Rust types, so only the field is taken from them.
fn fields_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let field = |prefix: &str| {
        text.split_once(prefix)
            .and_then(|(_, rest)| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(missing) = field("missing field `") {
        format!("`{missing}` is required")
    } else if let Some(unknown) = field("unknown field `") {
        format!("`{unknown}` is not allowed")
    } else {
        "a field has the wrong type: room, body, id and access_token are strings; \
         since and seq are non-negative integers"
            .to_owned()
    }
}

/// A member as presence shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    /// The user's id.
    pub id: uuid::Uuid,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

/// A connected member and their state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresentMemberView {
    /// Who.
    #[serde(flatten)]
    pub member: MemberView,
    /// `active` or `idle`.
    pub state: &'static str,
}

/// What the server sends. `M` is the message as the API shows it (the HTTP history
/// uses the same shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<M = Value> {
    /// The connection is subscribed to a room; replay follows, then live traffic.
    Joined {
        /// The room.
        room: String,
        /// Its latest `seq` when joined.
        last_seq: u64,
        /// `false` when the gap asked for is older than the retained history.
        recovered: bool,
    },
    /// The user left the room.
    Left {
        /// The room.
        room: String,
    },
    /// A publish was stored durably as `seq`.
    Ack {
        /// The room.
        room: String,
        /// The idempotency key (the client's, or the one the server assigned).
        id: String,
        /// Its position in the room.
        seq: u64,
    },
    /// A message of a room the user belongs to.
    Message(M),
    /// The answer to a `ping`.
    Pong,
    /// Who is connected in a room.
    Presence {
        /// The room.
        room: String,
        /// The connected members.
        users: Vec<PresentMemberView>,
    },
    /// A member's first connection opened.
    PresenceJoin {
        /// The room.
        room: String,
        /// Who.
        user: MemberView,
    },
    /// A member's last connection closed.
    PresenceLeave {
        /// The room.
        room: String,
        /// Who.
        user: MemberView,
    },
    /// The connection's authorisation was renewed until `expires_at`.
    Authenticated {
        /// When the new token expires.
        expires_at: DateTime<Utc>,
    },
    /// A frame was refused; the connection stays usable.
    Error {
        /// A stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// The client's `id` from the refused frame.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

impl<M: Serialize> ServerFrame<M> {
    /// The frame as the text sent on the socket.
    #[must_use]
    pub fn to_text(&self) -> String {
        // Every field is a string, number, bool or a serialisable view: this cannot fail,
        // and an empty object would still be a frame the client can ignore.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// How many `message` frames each worker thread keeps encoded: more than one, so that
/// connections following several busy rooms (each handles its events in turn) do not
/// evict one another's frames.
const SHARED_FRAMES: usize = 4;

thread_local! {
    /// The `message` frames last encoded on this thread, each with the message it
    /// encodes. Holding the `Arc` keeps the message alive, so a pointer match is the
    /// same message, never a reused address.
    static SHARED: RefCell<SharedFrames> = const { RefCell::new(SharedFrames { frames: Vec::new(), next: 0 }) };
}

struct SharedFrames {
    frames: Vec<(Arc<Message>, ByteString)>,
    next: usize,
}

/// The `message` frame of a message the bus carried with its event, for one of the
/// many connections it is delivered to. The same `Arc` reaches every connection of the
/// process, so the frame is encoded once per worker thread and the text shared (a
/// `ByteString` clone is a reference count), not serialised again per member.
#[must_use]
pub fn shared_message_frame(message: &Arc<Message>) -> ByteString {
    SHARED.with(|shared| {
        let mut shared = shared.borrow_mut();
        if let Some((_, text)) = shared
            .frames
            .iter()
            .find(|(encoded, _)| Arc::ptr_eq(encoded, message))
        {
            return text.clone();
        }
        let text =
            ByteString::from(ServerFrame::Message(MessageJson::from(message.as_ref())).to_text());
        let entry = (Arc::clone(message), text.clone());
        let slot = shared.next;
        if shared.frames.len() < SHARED_FRAMES {
            shared.frames.push(entry);
        } else {
            shared.frames[slot] = entry;
        }
        shared.next = (slot + 1) % SHARED_FRAMES;
        text
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LIMIT: usize = 16;

    fn decoded(frame: Value) -> Result<ClientFrame, FrameError> {
        decode(&frame.to_string(), LIMIT)
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn every_client_frame_decodes_into_domain_values() {
        let cases = [
            (
                json!({"type": "join", "room": "general", "since": 42}),
                ClientFrame::Join {
                    room: room("general"),
                    since: Some(Seq::new(42)),
                },
            ),
            (
                json!({"type": "join", "room": "general"}),
                ClientFrame::Join {
                    room: room("general"),
                    since: None,
                },
            ),
            (
                json!({"type": "leave", "room": "general"}),
                ClientFrame::Leave {
                    room: room("general"),
                },
            ),
            (
                json!({"type": "publish", "room": "general", "body": "hi", "id": "m-1"}),
                ClientFrame::Publish {
                    room: room("general"),
                    body: MessageBody::parse("hi", LIMIT).unwrap(),
                    id: Some(MessageId::parse("m-1").unwrap()),
                },
            ),
            (
                json!({"type": "publish", "room": "general", "body": "hi"}),
                ClientFrame::Publish {
                    room: room("general"),
                    body: MessageBody::parse("hi", LIMIT).unwrap(),
                    id: None,
                },
            ),
            (
                json!({"type": "ack", "room": "general", "seq": 7}),
                ClientFrame::Ack {
                    room: room("general"),
                    seq: Seq::new(7),
                },
            ),
            (json!({"type": "ping"}), ClientFrame::Ping),
            (
                json!({"type": "presence", "room": "general"}),
                ClientFrame::Presence {
                    room: room("general"),
                },
            ),
            (
                json!({"type": "auth", "access_token": "t"}),
                ClientFrame::Auth {
                    access_token: "t".into(),
                },
            ),
        ];
        for (frame, expected) in cases {
            assert_eq!(decoded(frame.clone()), Ok(expected), "sent {frame}");
        }
    }

    #[test]
    fn every_bad_frame_gets_its_code_and_echoes_the_clients_id() {
        let cases = [
            ("not json".to_owned(), "bad_request", None),
            ("[1, 2]".to_owned(), "bad_request", None),
            (json!({"room": "general"}).to_string(), "unknown_type", None),
            (json!({"type": "shout", "id": "m-9"}).to_string(), "unknown_type", Some("m-9")),
            (json!({"type": 5}).to_string(), "unknown_type", None),
            (json!({"type": "join"}).to_string(), "bad_request", None),
            (
                json!({"type": "join", "room": "general", "extra": 1}).to_string(),
                "bad_request",
                None,
            ),
            (
                json!({"type": "ack", "room": "general", "seq": -1}).to_string(),
                "bad_request",
                None,
            ),
            (
                json!({"type": "join", "room": "General"}).to_string(),
                "invalid_room",
                None,
            ),
            (
                json!({"type": "publish", "room": "a b", "body": "x", "id": "m-2"}).to_string(),
                "invalid_room",
                Some("m-2"),
            ),
            (
                json!({"type": "publish", "room": "general", "body": "x".repeat(LIMIT + 1), "id": "m-3"})
                    .to_string(),
                "too_large",
                Some("m-3"),
            ),
            (
                json!({"type": "publish", "room": "general", "body": "", "id": "m-4"}).to_string(),
                "bad_request",
                Some("m-4"),
            ),
            (
                json!({"type": "publish", "room": "general", "body": "x", "id": ""}).to_string(),
                "bad_request",
                Some(""),
            ),
            // Exactly at the limit, and refused for something else: not too large.
            (
                json!({"type": "publish", "room": "general", "body": format!("{}\0", "x".repeat(LIMIT - 1)), "id": "m-5"})
                    .to_string(),
                "bad_request",
                Some("m-5"),
            ),
            // An id too long to be one is not echoed back.
            (
                json!({"type": "publish", "room": "general", "body": "", "id": "i".repeat(domain::MAX_MESSAGE_ID_CHARS + 1)})
                    .to_string(),
                "bad_request",
                None,
            ),
        ];
        for (sent, code, reference) in cases {
            // On failure: what was sent, and what it decoded as.
            let error = decode(&sent, LIMIT).expect_err(&sent);
            assert_eq!(error.code, code, "sent {sent}: {error:?}");
            assert_eq!(error.reference.as_deref(), reference, "sent {sent}");
            assert!(
                !error.message.contains("RawFrame") && !error.message.contains("invalid type"),
                "sent {sent}: {error:?} speaks the protocol's words"
            );
        }
    }

    #[test]
    fn a_frame_missing_a_field_or_holding_an_unknown_one_is_told_which() {
        for (sent, named) in [
            (json!({"type": "join"}), "room"),
            (json!({"type": "ack", "room": "general"}), "seq"),
            (
                json!({"type": "join", "room": "general", "loud": true}),
                "loud",
            ),
        ] {
            let refused = decode(&sent.to_string(), LIMIT);
            let error = refused
                .err()
                .unwrap_or_else(|| panic!("sent {sent}: decoded"));
            assert!(
                error.message.contains(&format!("`{named}`")),
                "sent {sent}: {error:?} names {named}"
            );
        }
    }

    #[test]
    fn server_frames_are_tagged_as_the_spec_says() {
        let frames: Vec<(ServerFrame, Value)> = vec![
            (
                ServerFrame::Joined {
                    room: "general".into(),
                    last_seq: 3,
                    recovered: true,
                },
                json!({"type": "joined", "room": "general", "last_seq": 3, "recovered": true}),
            ),
            (
                ServerFrame::Left {
                    room: "general".into(),
                },
                json!({"type": "left", "room": "general"}),
            ),
            (
                ServerFrame::Ack {
                    room: "general".into(),
                    id: "m-1".into(),
                    seq: 4,
                },
                json!({"type": "ack", "room": "general", "id": "m-1", "seq": 4}),
            ),
            (
                ServerFrame::Message(json!({"room": "general", "seq": 4})),
                json!({"type": "message", "room": "general", "seq": 4}),
            ),
            (ServerFrame::Pong, json!({"type": "pong"})),
            (
                ServerFrame::PresenceJoin {
                    room: "general".into(),
                    user: MemberView {
                        id: uuid::Uuid::nil(),
                        first_name: "Ada".into(),
                        last_name: "Lovelace".into(),
                    },
                },
                json!({"type": "presence_join", "room": "general", "user": {
                    "id": uuid::Uuid::nil(), "first_name": "Ada", "last_name": "Lovelace"}}),
            ),
            (
                ServerFrame::Presence {
                    room: "general".into(),
                    users: vec![PresentMemberView {
                        member: MemberView {
                            id: uuid::Uuid::nil(),
                            first_name: "Ada".into(),
                            last_name: "Lovelace".into(),
                        },
                        state: "idle",
                    }],
                },
                json!({"type": "presence", "room": "general", "users": [{
                    "id": uuid::Uuid::nil(), "first_name": "Ada", "last_name": "Lovelace",
                    "state": "idle"}]}),
            ),
            (
                FrameError::new("invalid_room", "room must not be empty", Some("m".into()))
                    .into_frame(),
                json!({"type": "error", "code": "invalid_room",
                       "message": "room must not be empty", "ref": "m"}),
            ),
            (
                FrameError::new("bad_request", "no", None).into_frame(),
                json!({"type": "error", "code": "bad_request", "message": "no"}),
            ),
        ];
        for (frame, expected) in frames {
            let text = frame.to_text();
            let sent: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(sent, expected, "{frame:?}");
        }
    }

    fn adas_message(seq: u64) -> Arc<Message> {
        Arc::new(Message {
            room: room("general"),
            seq: Seq::new(seq),
            id: MessageId::parse("m-1").unwrap(),
            sender: domain::Sender {
                id: domain::UserId::from_uuid(uuid::Uuid::nil()),
                first_name: test_support::name("Ada"),
                last_name: test_support::name("Lovelace"),
            },
            body: MessageBody::parse("hello", LIMIT).unwrap(),
            created_at: test_support::now(),
        })
    }

    #[test]
    fn a_carried_message_is_encoded_once_per_thread_and_its_frame_shared() {
        let messages: Vec<Arc<Message>> =
            (1..=SHARED_FRAMES as u64 + 1).map(adas_message).collect();
        let first = shared_message_frame(&messages[0]);

        let expected = ServerFrame::Message(MessageJson::from(messages[0].as_ref())).to_text();
        assert_eq!(
            &*first, expected,
            "the frame a connection would encode itself"
        );
        let again = shared_message_frame(&messages[0]);
        assert_eq!(again.as_ptr(), first.as_ptr(), "the same text, not a copy");

        let equal_but_another = adas_message(1);
        let separate = shared_message_frame(&equal_but_another);
        assert_eq!(separate, first, "equal content encodes equally");
        assert_ne!(
            separate.as_ptr(),
            first.as_ptr(),
            "another message is encoded anew"
        );

        // As many others as the thread keeps: the oldest two go, these stay.
        let kept: Vec<ByteString> = messages[1..].iter().map(shared_message_frame).collect();
        for (message, text) in messages[1..].iter().zip(&kept) {
            let frame: Value = serde_json::from_str(text).unwrap();
            assert_eq!(frame["seq"], json!(message.seq.get()), "each its own frame");
            let (seq, shared) = (message.seq, shared_message_frame(message));
            assert_eq!(shared.as_ptr(), text.as_ptr(), "seq {seq} is still shared");
        }
        let evicted = shared_message_frame(&messages[0]);
        assert_eq!(evicted, first, "still right once evicted and encoded again");
        assert_ne!(evicted.as_ptr(), first.as_ptr(), "the oldest was evicted");
    }
}

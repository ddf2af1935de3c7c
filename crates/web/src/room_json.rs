//! The JSON shapes rooms are shown in, shared by the HTTP room endpoints and the
//! WebSocket protocol (SPEC §5), so that a message, a member or a room reads the same
//! wherever a client meets it. A WebSocket frame is one of these with a `"type"` beside
//! its fields: `{"type":"message", ..MessageJson}`, `{"type":"presence", ..PresenceJson}`.

use application::PresentMember;
use chrono::{DateTime, Utc};
use domain::{Message, PresenceState, RoomName, RoomSummary, Sender};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A user as the members of their rooms see them: never the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "9b2c4c36-1c36-4f0e-9d0f-4c1b8f6f1d2a", "first_name": "Ada", "last_name": "Lovelace"
}))]
pub struct MemberJson {
    /// The user's id.
    pub id: Uuid,
    /// Given name, possibly empty.
    pub first_name: String,
    /// Family name, possibly empty.
    pub last_name: String,
}

impl From<&Sender> for MemberJson {
    fn from(member: &Sender) -> Self {
        Self {
            id: member.id.as_uuid(),
            first_name: member.first_name.to_string(),
            last_name: member.last_name.to_string(),
        }
    }
}

/// A stored message: the WebSocket `message` frame without its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "room": "general", "seq": 42, "id": "c0ffee-1",
    "sender": {
        "id": "9b2c4c36-1c36-4f0e-9d0f-4c1b8f6f1d2a", "first_name": "Ada",
        "last_name": "Lovelace"
    },
    "body": "Hello, engine!", "created_at": "2026-11-23T20:00:00Z"
}))]
pub struct MessageJson {
    /// The room it was published in.
    pub room: String,
    /// Its position in the room: gap-free and increasing from 1. Clients order and
    /// deduplicate by it.
    pub seq: u64,
    /// The sender's idempotency key: the client's, or a UUID the server assigned.
    pub id: String,
    /// Who sent it, with their names now.
    pub sender: MemberJson,
    /// What it says, exactly as sent.
    pub body: String,
    /// When it was published (RFC 3339, UTC). Informational: a room's order is `seq`.
    pub created_at: DateTime<Utc>,
}

impl From<Message> for MessageJson {
    fn from(message: Message) -> Self {
        Self::from(&message)
    }
}

impl From<&Message> for MessageJson {
    fn from(message: &Message) -> Self {
        Self {
            room: message.room.to_string(),
            seq: message.seq.get(),
            id: message.id.to_string(),
            sender: MemberJson::from(&message.sender),
            body: message.body.to_string(),
            created_at: message.created_at,
        }
    }
}

/// One of the caller's rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"room": "general", "last_seq": 42, "unread": 3}))]
pub struct RoomJson {
    /// The room's name.
    pub room: String,
    /// The `seq` of its latest message; 0 when it has none.
    pub last_seq: u64,
    /// How many messages the caller has not acknowledged: `last_seq` minus their cursor.
    pub unread: u64,
}

impl From<RoomSummary> for RoomJson {
    fn from(summary: RoomSummary) -> Self {
        Self {
            room: summary.room.to_string(),
            last_seq: summary.last_seq.get(),
            unread: summary.unread(),
        }
    }
}

/// Whether a present member is using a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStateJson {
    /// Any of their connections is in use.
    Active,
    /// Every one of their connections is idle.
    Idle,
}

impl From<PresenceState> for PresenceStateJson {
    fn from(state: PresenceState) -> Self {
        match state {
            PresenceState::Active => Self::Active,
            PresenceState::Idle => Self::Idle,
        }
    }
}

/// A member with a connection open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "9b2c4c36-1c36-4f0e-9d0f-4c1b8f6f1d2a", "first_name": "Ada",
    "last_name": "Lovelace", "state": "active"
}))]
pub struct PresentMemberJson {
    /// The user's id.
    pub id: Uuid,
    /// Given name, possibly empty.
    pub first_name: String,
    /// Family name, possibly empty.
    pub last_name: String,
    /// `active` or `idle`.
    pub state: PresenceStateJson,
}

impl From<PresentMember> for PresentMemberJson {
    fn from(present: PresentMember) -> Self {
        let MemberJson {
            id,
            first_name,
            last_name,
        } = MemberJson::from(&present.user);
        Self {
            id,
            first_name,
            last_name,
            state: present.state.into(),
        }
    }
}

/// Who of a room's members is connected: the WebSocket `presence` frame without its
/// `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "room": "general",
    "users": [{
        "id": "9b2c4c36-1c36-4f0e-9d0f-4c1b8f6f1d2a", "first_name": "Ada",
        "last_name": "Lovelace", "state": "active"
    }]
}))]
pub struct PresenceJson {
    /// The room.
    pub room: String,
    /// Its connected members, ordered by id; empty when nobody is connected.
    pub users: Vec<PresentMemberJson>,
}

impl PresenceJson {
    /// The presence of `room`.
    #[must_use]
    pub fn of(room: &RoomName, members: Vec<PresentMember>) -> Self {
        Self {
            room: room.to_string(),
            users: members.into_iter().map(PresentMemberJson::from).collect(),
        }
    }
}

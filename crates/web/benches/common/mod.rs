//! What the rooms benches share.

use domain::{Message, MessageBody, MessageId, Sender, Seq};
use uuid::Uuid;

/// Message `seq` of "general" as a typical chat line: 64 bytes of body, sent by Ada
/// Lovelace, its id made from `seq`.
pub fn chat_line(seq: u64) -> Message {
    Message {
        room: test_support::general(),
        seq: Seq::new(seq),
        id: MessageId::from_uuid(Uuid::from_u128(u128::from(seq))),
        sender: Sender {
            id: test_support::ADA,
            first_name: test_support::name("Ada"),
            last_name: test_support::name("Lovelace"),
        },
        body: MessageBody::parse(&"x".repeat(64), 16_384).expect("a body"),
        created_at: test_support::now(),
    }
}

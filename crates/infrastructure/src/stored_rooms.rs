//! What the room stores of both backends share once a row is read: re-parsing stored
//! rooms and messages through the domain's constructors, the refusals of member-only
//! operations, a member's standing, and positions as query bounds. How rows are read and
//! locked differs per backend and stays in each backend's module.

use chrono::{DateTime, Utc};
use domain::ports::{AdapterError, RoomAccessError};
use domain::{
    HistoryWindow, Message, MessageBody, MessageId, PersonName, Retention, RoomName, RoomSummary,
    Sender, Seq, UserId,
};

/// A stored value no longer parses: the row was written by something else or corrupted.
#[derive(Debug, thiserror::Error)]
#[error("stored room row is invalid: {0}")]
struct CorruptRow(&'static str);

pub(crate) fn corrupt(what: &'static str) -> AdapterError {
    AdapterError::new("reading a room failed", CorruptRow(what))
}

/// A duplicate publish hit the unique constraint, but its original was gone by the
/// time it was read: retention pruned it in between.
#[derive(Debug, thiserror::Error)]
#[error("the message a duplicate publish refers to is no longer stored")]
pub(crate) struct OriginalGone;

pub(crate) fn seq_from(raw: i64, what: &'static str) -> Result<Seq, AdapterError> {
    u64::try_from(raw).map(Seq::new).map_err(|_| corrupt(what))
}

/// A position as a bound in a query. Stored seqs are `BIGINT`s, so a client's position
/// beyond `i64::MAX` names no stored message and compares as `i64::MAX` does.
pub(crate) fn bound(seq: Seq) -> i64 {
    i64::try_from(seq.get()).unwrap_or(i64::MAX)
}

/// A message as both backends read it (its row joined with its sender's current
/// names), once the backend has decoded its own column types.
pub(crate) struct MessageParts<'a> {
    pub(crate) room: &'a str,
    pub(crate) seq: i64,
    pub(crate) message_id: &'a str,
    pub(crate) sender: UserId,
    pub(crate) first_name: &'a str,
    pub(crate) last_name: &'a str,
    pub(crate) body: &'a str,
    pub(crate) created_at: DateTime<Utc>,
}

impl TryFrom<MessageParts<'_>> for Message {
    type Error = AdapterError;

    // Re-parse through the domain's constructors: nothing unchecked leaves the store.
    fn try_from(row: MessageParts<'_>) -> Result<Self, AdapterError> {
        Ok(Self {
            room: RoomName::parse(row.room).map_err(|_| corrupt("room"))?,
            seq: seq_from(row.seq, "seq")?,
            id: MessageId::parse(row.message_id).map_err(|_| corrupt("message id"))?,
            sender: Sender {
                id: row.sender,
                first_name: PersonName::parse(row.first_name).map_err(|_| corrupt("first_name"))?,
                last_name: PersonName::parse(row.last_name).map_err(|_| corrupt("last_name"))?,
            },
            // The byte limit is a rule for publishing: a message stored under a larger
            // MESSAGE_MAX_BYTES stays readable after the operator lowers it.
            body: MessageBody::parse(row.body, usize::MAX).map_err(|_| corrupt("body"))?,
            created_at: row.created_at,
        })
    }
}

/// Why a member-only operation was refused, as found inside a transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    RoomNotFound,
    NotMember,
}

impl From<Refusal> for RoomAccessError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::RoomNotFound => Self::RoomNotFound,
            Refusal::NotMember => Self::NotMember,
        }
    }
}

/// A member's standing in a room, as stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Standing {
    pub(crate) last_seq: i64,
    pub(crate) cursor: i64,
}

impl Standing {
    /// Where the member stands, or why they may not act there, from the room's
    /// `last_seq` (`None`: no such room) and their cursor (`None`: not a member).
    pub(crate) fn of(found: Option<(i64, Option<i64>)>) -> Result<Self, Refusal> {
        match found {
            None => Err(Refusal::RoomNotFound),
            Some((_, None)) => Err(Refusal::NotMember),
            Some((last_seq, Some(cursor))) => Ok(Self { last_seq, cursor }),
        }
    }

    pub(crate) fn summary(self, room: &RoomName) -> Result<RoomSummary, AdapterError> {
        Ok(RoomSummary {
            room: room.clone(),
            last_seq: seq_from(self.last_seq, "last_seq")?,
            cursor: seq_from(self.cursor, "cursor_seq")?,
        })
    }
}

/// A history page from the rows read for `window` (at most `limit + 1`, in the window's
/// direction): at most `limit` of them in ascending `seq`, and whether more lie beyond
/// the page in that direction (the extra row came back).
pub(crate) fn history_page<R>(
    mut rows: Vec<R>,
    limit: usize,
    window: HistoryWindow,
) -> (Vec<R>, bool) {
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    if !matches!(window, HistoryWindow::After(_)) {
        rows.reverse();
    }
    (rows, has_more)
}

/// The highest `seq` the count rule of `retention` removes from a room whose counter is
/// at `last_seq`.
pub(crate) fn removed_by_count(retention: Retention, last_seq: i64) -> i64 {
    bound(retention.removed_by_count_up_to(Seq::new(u64::try_from(last_seq).unwrap_or_default())))
}

/// The highest `seq` the age rule removes: everything before the first message young
/// enough to keep, all of the room when none is.
pub(crate) fn removed_by_age(last_seq: i64, first_young: Option<i64>) -> i64 {
    first_young.map_or(last_seq, |first| first - 1)
}

/// The last `seq` of one pruning step in a room: up to `up_to`, but no more than the
/// `allowance` oldest messages from `oldest` on, since what remains of a room is
/// contiguous.
pub(crate) fn last_doomed(up_to: i64, oldest: i64, allowance: i64) -> i64 {
    up_to.min(oldest.saturating_add(allowance - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_rule_removes_everything_before_the_first_young_message() {
        assert_eq!(removed_by_age(10, Some(4)), 3, "1 to 3 are old");
        assert_eq!(removed_by_age(10, Some(1)), 0, "nothing is old");
        assert_eq!(removed_by_age(10, None), 10, "everything is old");
    }

    #[test]
    fn a_pruning_step_takes_at_most_its_allowance_from_the_oldest_on() {
        assert_eq!(last_doomed(100, 5, 3), 7, "5, 6 and 7: three messages");
        assert_eq!(last_doomed(6, 5, 3), 6, "no further than the rules say");
        assert_eq!(last_doomed(100, 5, 1), 5, "one message");
    }

    /// A field's name, and how to corrupt it in a sound row.
    type Corruption = (&'static str, fn(&mut MessageParts<'static>));

    fn sound_row() -> MessageParts<'static> {
        MessageParts {
            room: "general",
            seq: 1,
            message_id: "m1",
            sender: UserId::from_uuid(uuid::Uuid::from_u128(0xada)),
            first_name: "Ada",
            last_name: "Lovelace",
            body: "hello",
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    /// What the error says is wrong with the row.
    fn cause(error: &AdapterError) -> String {
        std::error::Error::source(error).map_or_else(String::new, ToString::to_string)
    }

    #[test]
    fn every_field_of_a_stored_message_is_read_again_and_a_corrupt_one_is_named() {
        assert!(Message::try_from(sound_row()).is_ok(), "a sound row reads");
        let corruptions: [Corruption; 6] = [
            ("room", |row| row.room = "Not A Name"),
            ("seq", |row| row.seq = -1),
            ("message id", |row| row.message_id = ""),
            ("first_name", |row| row.first_name = "Ada\u{202e}"),
            ("last_name", |row| row.last_name = "Love\nlace"),
            ("body", |row| row.body = "   "),
        ];
        for (field, corrupt_it) in corruptions {
            let mut row = sound_row();
            corrupt_it(&mut row);
            let read = Message::try_from(row);
            assert_eq!(
                read.as_ref().err().map(cause),
                Some(format!("stored room row is invalid: {field}")),
                "a corrupt {field}"
            );
        }
    }

    #[test]
    fn a_stored_position_below_zero_is_corrupt() {
        let general = RoomName::parse("general").unwrap();
        for (standing, field) in [
            (
                Standing {
                    last_seq: -1,
                    cursor: 0,
                },
                "last_seq",
            ),
            (
                Standing {
                    last_seq: 0,
                    cursor: -1,
                },
                "cursor_seq",
            ),
        ] {
            assert_eq!(
                standing.summary(&general).err().as_ref().map(cause),
                Some(format!("stored room row is invalid: {field}")),
                "a negative {field}"
            );
        }
    }
}

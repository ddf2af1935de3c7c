//! Rooms and their messages: names, per-room sequence numbers, idempotency keys, bodies,
//! the stored message, and the small values membership, cursors and history pages are
//! made of.

use std::fmt;

use std::num::NonZeroU64;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::user::is_control_or_formatting;
use crate::{PersonName, User, UserId};

/// The most bytes (all ASCII, so also characters) a room name may have.
pub const MAX_ROOM_NAME_BYTES: usize = 64;
/// The most Unicode scalar values a client's message id may have.
pub const MAX_MESSAGE_ID_CHARS: usize = 128;
/// The body limit when `MESSAGE_MAX_BYTES` is not configured: 16 KiB.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 16 * 1024;

/// A room's name: 1 to 64 of `a-z`, `0-9`, `_` and `-`. Taken exactly as sent, never
/// trimmed or lower-cased: `General` is refused rather than silently becoming another
/// room than the one the client named.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(String);

/// Why a string is not an acceptable room name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    /// Nothing was given.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`MAX_ROOM_NAME_BYTES`].
    #[error("must be at most 64 characters")]
    TooLong,
    /// Holds something other than lower-case ASCII letters, digits, `_` and `-`.
    #[error("may contain only a-z, 0-9, _ and -")]
    InvalidCharacter,
}

impl RoomName {
    /// Checks a name against `[a-z0-9_-]{1,64}`.
    ///
    /// # Errors
    /// [`RoomNameError`] naming the rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, RoomNameError> {
        if raw.is_empty() {
            return Err(RoomNameError::Empty);
        }
        // Checked before the length so that a long name of bad characters is told what
        // is wrong with its characters, the more useful answer.
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(RoomNameError::InvalidCharacter);
        }
        if raw.len() > MAX_ROOM_NAME_BYTES {
            return Err(RoomNameError::TooLong);
        }
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for RoomName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message's position in its room: per room, gap-free and increasing from 1, assigned
/// by the store when the message is stored. [`Seq::ZERO`] is the `last_seq` of a room
/// with no message yet, and the cursor of a member who has seen nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Seq(u64);

impl Seq {
    /// Before the first message: an empty room's `last_seq`.
    pub const ZERO: Self = Self(0);

    /// The position `n` (from a client's `since`, `before`, `after` or `ack`, or from
    /// storage). Any value is a position; one beyond a room's `last_seq` simply names no
    /// message yet.
    #[must_use]
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number inside.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// How many positions lie above `earlier` up to `self`; zero when `earlier` is not
    /// below `self`.
    #[must_use]
    pub const fn since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message's id: the sender's idempotency key. Either chosen by the client (1 to
/// [`MAX_MESSAGE_ID_CHARS`] characters, no control or formatting character, taken byte
/// for byte: it is opaque, so it is neither trimmed nor normalised) or assigned by the
/// server as a UUID when the client sent none. Unique per sender, not per room: the same
/// id from the same sender is the same message, wherever it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(String);

/// Why a string is not an acceptable message id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageIdError {
    /// The empty string: a client that has no id sends none and gets one assigned.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`MAX_MESSAGE_ID_CHARS`].
    #[error("must be at most 128 characters")]
    TooLong,
    /// Contains a control or formatting character: ids are echoed to every member, and
    /// an invisible or reordering character would make two ids look alike.
    #[error("must not contain control or formatting characters")]
    ControlOrFormattingCharacter,
}

impl MessageId {
    /// Checks a client's id.
    ///
    /// # Errors
    /// [`MessageIdError`] naming the rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, MessageIdError> {
        if raw.is_empty() {
            return Err(MessageIdError::Empty);
        }
        if raw.chars().count() > MAX_MESSAGE_ID_CHARS {
            return Err(MessageIdError::TooLong);
        }
        if raw.chars().any(is_control_or_formatting) {
            return Err(MessageIdError::ControlOrFormattingCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id the server assigns to a message published without one: the UUID from an
    /// id source, hyphenated and lower-case.
    #[must_use]
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id.hyphenated().to_string())
    }
}

impl AsRef<str> for MessageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a message: not blank, at most the configured number of bytes
/// (`MESSAGE_MAX_BYTES`), without NUL. Kept exactly as sent otherwise (line breaks,
/// indentation and bidirectional marks are part of what people write). Its `Debug`
/// prints the length, not the text: what people say stays out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageBody(String);

/// Why a string is not an acceptable message body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageBodyError {
    /// Empty, or nothing but white space.
    #[error("must not be empty")]
    Empty,
    /// Longer than the configured limit, which the message states.
    #[error("must be at most {max_bytes} bytes")]
    TooLong {
        /// The limit the body broke.
        max_bytes: usize,
    },
    /// Contains NUL, which PostgreSQL text cannot hold: refused here so that every
    /// backend stores what every other one would.
    #[error("must not contain NUL characters")]
    ContainsNul,
}

impl MessageBody {
    /// Checks a body against a limit of `max_bytes` bytes of UTF-8.
    ///
    /// # Errors
    /// [`MessageBodyError`] naming the rule the input breaks.
    pub fn parse(raw: &str, max_bytes: usize) -> Result<Self, MessageBodyError> {
        if raw.trim().is_empty() {
            return Err(MessageBodyError::Empty);
        }
        if raw.len() > max_bytes {
            return Err(MessageBodyError::TooLong { max_bytes });
        }
        if raw.contains('\0') {
            return Err(MessageBodyError::ContainsNul);
        }
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for MessageBody {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageBody({} bytes)", self.0.len())
    }
}

/// Who sent a message, as members see them; also how members see one another in
/// presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The sender's identity.
    pub id: UserId,
    /// Their given name now (a renamed user's old messages show the new name).
    pub first_name: PersonName,
    /// Their family name now.
    pub last_name: PersonName,
}

impl From<&User> for Sender {
    /// The user as members see them: id and names, never the address.
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The room it was published in.
    pub room: RoomName,
    /// Its position in the room.
    pub seq: Seq,
    /// The sender's idempotency key.
    pub id: MessageId,
    /// Who sent it.
    pub sender: Sender,
    /// What it says.
    pub body: MessageBody,
    /// When it was published, by the publishing instance's clock. Informational: the
    /// order of a room is `seq`, not this instant.
    pub created_at: DateTime<Utc>,
}

/// A message about to be published: everything but the `seq`, which the store assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The room to publish in.
    pub room: RoomName,
    /// The sender's idempotency key (the client's, or one assigned from a UUID).
    pub id: MessageId,
    /// Who publishes it.
    pub sender: UserId,
    /// What it says.
    pub body: MessageBody,
    /// When it is published.
    pub created_at: DateTime<Utc>,
}

/// The outcome of a publish that the store accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The stored message: the new one, or for a duplicate the one stored first.
    pub message: Message,
    /// The sender had already published a message with this id: nothing was stored, and
    /// `message` is the original (acked again, not broadcast again).
    pub duplicate: bool,
}

/// One member's view of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    /// The room.
    pub room: RoomName,
    /// The `seq` of its latest message; [`Seq::ZERO`] when it has none.
    pub last_seq: Seq,
    /// The member's delivery cursor: everything up to it counts as delivered.
    pub cursor: Seq,
}

impl RoomSummary {
    /// How many messages the member has not acknowledged: `last_seq` minus the cursor.
    #[must_use]
    pub const fn unread(&self) -> u64 {
        self.last_seq.since(self.cursor)
    }
}

/// The outcome of a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The room as the member now sees it.
    pub summary: RoomSummary,
    /// Whether this join made the user a member (`false`: they already were, and their
    /// cursor was kept).
    pub newly_joined: bool,
}

/// How long a room keeps its messages: at most `max_messages` of them, none older than
/// `max_age` (`ROOM_RETENTION_COUNT`, `ROOM_RETENTION_AGE`; either may be off).
///
/// Retention removes a room's **oldest** messages only, so what remains is always every
/// message from some `seq` up to `last_seq`: a gap can open only before the first
/// remaining message, which is what [`Replay::recovered`] detects. `last_seq` never
/// goes down, so `seq`s are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Keep at most this many of a room's newest messages.
    pub max_messages: Option<NonZeroU64>,
    /// Remove the messages published longer ago than this (from the oldest on, up to
    /// the first one that is younger).
    pub max_age: Option<TimeDelta>,
}

impl Retention {
    /// Everything is kept for ever.
    pub const KEEP_EVERYTHING: Self = Self {
        max_messages: None,
        max_age: None,
    };

    /// Whether nothing is ever removed.
    #[must_use]
    pub const fn keeps_everything(&self) -> bool {
        self.max_messages.is_none() && self.max_age.is_none()
    }

    /// The highest `seq` the count limit removes from a room whose latest is
    /// `last_seq`: [`Seq::ZERO`] (nothing) while the room holds no more than the limit.
    #[must_use]
    pub fn removed_by_count_up_to(&self, last_seq: Seq) -> Seq {
        self.max_messages.map_or(Seq::ZERO, |max| {
            Seq::new(last_seq.get().saturating_sub(max.get()))
        })
    }

    /// The moment before which messages are too old at `now`; `None` when age is no
    /// limit (or the age reaches back beyond the calendar).
    #[must_use]
    pub fn too_old_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.max_age.and_then(|age| now.checked_sub_signed(age))
    }
}

/// How many messages one read returns: 1 to [`PageLimit::MAX`], [`PageLimit::DEFAULT`]
/// when the client does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageLimit(u16);

/// Why a number is not an acceptable page limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1 and 200")]
pub struct PageLimitError;

impl PageLimit {
    /// The most messages one page holds.
    pub const MAX: Self = Self(200);
    /// The page size when none is asked for.
    pub const DEFAULT: Self = Self(50);

    /// Checks a requested page size.
    ///
    /// # Errors
    /// [`PageLimitError`] when `n` is zero or above [`PageLimit::MAX`].
    pub fn new(n: u64) -> Result<Self, PageLimitError> {
        u16::try_from(n)
            .ok()
            .filter(|n| (1..=Self::MAX.0).contains(n))
            .map(Self)
            .ok_or(PageLimitError)
    }

    /// The number inside.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which part of a room's history a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryWindow {
    /// The newest messages.
    #[default]
    Latest,
    /// The newest messages with a `seq` below this one (scrolling back).
    Before(Seq),
    /// The oldest messages with a `seq` above this one (catching up).
    After(Seq),
}

/// A request gave both `before` and `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("give before or after, not both")]
pub struct HistoryWindowError;

impl HistoryWindow {
    /// The window named by the optional `before` and `after` of a request.
    ///
    /// # Errors
    /// [`HistoryWindowError`] when both are given: a page is read from one end.
    pub fn from_bounds(
        before: Option<Seq>,
        after: Option<Seq>,
    ) -> Result<Self, HistoryWindowError> {
        match (before, after) {
            (None, None) => Ok(Self::Latest),
            (Some(before), None) => Ok(Self::Before(before)),
            (None, Some(after)) => Ok(Self::After(after)),
            (Some(_), Some(_)) => Err(HistoryWindowError),
        }
    }
}

/// A page of history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryRequest {
    /// Which part of the history.
    pub window: HistoryWindow,
    /// At most how many messages.
    pub limit: PageLimit,
}

/// A page of history, in ascending `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// Whether more messages lie beyond the page in the direction it was read: newer
    /// ones for [`HistoryWindow::After`], older ones for [`HistoryWindow::Before`] and
    /// [`HistoryWindow::Latest`].
    pub has_more: bool,
}

/// What a member missed in one room: the oldest messages above a position, read
/// together with the room's `last_seq` so that the two agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// The position the replay starts above (a cursor, or a client's `since`).
    pub after: Seq,
    /// Messages with a `seq` above `after`, oldest first, at most the limit asked for.
    pub messages: Vec<Message>,
    /// The room's latest `seq` when the messages were read.
    pub last_seq: Seq,
}

impl Replay {
    /// Whether the replay lost nothing to retention: its first message is the one right
    /// after `after`, or there was nothing after it to lose. Retention removes a room's
    /// oldest messages, so a gap can only open at the start of a replay; `false` is the
    /// protocol's `recovered: false`, and what remains is still delivered.
    #[must_use]
    pub fn recovered(&self) -> bool {
        match self.messages.first() {
            Some(first) => first.seq.since(self.after) == 1,
            None => self.after >= self.last_seq,
        }
    }

    /// Whether messages above the last one returned remain to be read (read again from
    /// [`Replay::resume_after`]). An empty replay has nothing more: a room whose
    /// remaining messages are all gone would otherwise be read forever.
    #[must_use]
    pub fn has_more(&self) -> bool {
        self.messages
            .last()
            .is_some_and(|last| last.seq < self.last_seq)
    }

    /// Where the next read should start: the last message returned, or `after` when
    /// none was.
    #[must_use]
    pub fn resume_after(&self) -> Seq {
        self.messages.last().map_or(self.after, |last| last.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_body_may_hold_16_kib_by_default() {
        assert_eq!(DEFAULT_MESSAGE_MAX_BYTES, 16_384);
    }

    #[test]
    fn room_names_are_lower_case_ascii_digits_underscores_and_hyphens() {
        for raw in ["general", "a", "room-42", "dev_ops", "0", &"x".repeat(64)] {
            assert_eq!(
                RoomName::parse(raw).map(|name| name.to_string()),
                Ok(raw.to_owned()),
                "sent {raw:?}"
            );
        }
    }

    #[test]
    fn room_names_refuse_anything_else_saying_why() {
        assert_eq!(RoomName::parse(""), Err(RoomNameError::Empty));
        assert_eq!(
            RoomName::parse(&"x".repeat(65)),
            Err(RoomNameError::TooLong)
        );
        for raw in [
            "General",
            " general",
            "general ",
            "gen eral",
            "général",
            "room.1",
            "a/b",
            "café",
            "\u{0}",
            "ｇeneral",
        ] {
            assert_eq!(
                RoomName::parse(raw),
                Err(RoomNameError::InvalidCharacter),
                "sent {raw:?}"
            );
        }
        assert_eq!(
            RoomNameError::InvalidCharacter.to_string(),
            "may contain only a-z, 0-9, _ and -"
        );
    }

    #[test]
    fn seqs_start_at_zero_and_count_the_distance_between_them() {
        assert_eq!(Seq::ZERO, Seq::default());
        assert_eq!(Seq::ZERO.get(), 0);
        assert!(Seq::new(1) > Seq::ZERO);
        assert_eq!(Seq::new(7).since(Seq::new(3)), 4);
        assert_eq!(Seq::new(3).since(Seq::new(7)), 0, "never negative");
        assert_eq!(Seq::new(42).to_string(), "42");
    }

    #[test]
    fn client_message_ids_are_kept_byte_for_byte() {
        for raw in ["m-1", " spaced ", "Ünïcode", "01J9Z8", &"é".repeat(128)] {
            assert_eq!(
                MessageId::parse(raw).map(|id| id.to_string()),
                Ok(raw.to_owned()),
                "sent {raw:?}"
            );
        }
    }

    #[test]
    fn client_message_ids_refuse_empty_overlong_and_invisible_input() {
        assert_eq!(MessageId::parse(""), Err(MessageIdError::Empty));
        assert_eq!(
            MessageId::parse(&"é".repeat(129)),
            Err(MessageIdError::TooLong),
            "counted in characters"
        );
        for (what, raw) in [
            ("NUL", "m\u{0}1"),
            ("a line feed", "m\n1"),
            ("a right-to-left override", "m\u{202E}1"),
            ("a zero-width space", "m\u{200B}1"),
        ] {
            assert_eq!(
                MessageId::parse(raw),
                Err(MessageIdError::ControlOrFormattingCharacter),
                "sent {what}"
            );
        }
    }

    #[test]
    fn a_server_assigned_id_is_the_hyphenated_uuid() {
        let uuid = Uuid::from_u128(0x1234);
        let id = MessageId::from_uuid(uuid);
        assert_eq!(id.as_ref(), "00000000-0000-0000-0000-000000001234");
        assert_eq!(MessageId::parse(id.as_ref()), Ok(id), "and parses back");
    }

    #[test]
    fn bodies_are_kept_as_sent_up_to_the_configured_limit() {
        let body = MessageBody::parse("  two\n\tlines ", 16).unwrap();
        assert_eq!(body.as_ref(), "  two\n\tlines ");
        assert_eq!(body.to_string(), "  two\n\tlines ");
        assert!(MessageBody::parse(&"é".repeat(8), 16).is_ok(), "16 bytes");
        assert_eq!(
            MessageBody::parse(&"é".repeat(9), 16),
            Err(MessageBodyError::TooLong { max_bytes: 16 }),
            "18 bytes: the limit counts bytes, not characters"
        );
        assert_eq!(
            MessageBodyError::TooLong { max_bytes: 16384 }.to_string(),
            "must be at most 16384 bytes"
        );
    }

    #[test]
    fn bodies_refuse_blank_text_and_nul() {
        for raw in ["", " ", "\n\t "] {
            assert_eq!(
                MessageBody::parse(raw, 100),
                Err(MessageBodyError::Empty),
                "sent {raw:?}"
            );
        }
        assert_eq!(
            MessageBody::parse("a\u{0}b", 100),
            Err(MessageBodyError::ContainsNul)
        );
    }

    #[test]
    fn a_body_does_not_print_its_text_in_debug_output() {
        let body = MessageBody::parse("my secret plans", 100).unwrap();
        assert_eq!(format!("{body:?}"), "MessageBody(15 bytes)");
    }

    #[test]
    fn unread_is_last_seq_minus_the_cursor() {
        let summary = |last_seq, cursor| RoomSummary {
            room: RoomName::parse("general").unwrap(),
            last_seq: Seq::new(last_seq),
            cursor: Seq::new(cursor),
        };
        assert_eq!(summary(10, 4).unread(), 6);
        assert_eq!(summary(0, 0).unread(), 0);
        assert_eq!(summary(4, 4).unread(), 0);
    }

    #[test]
    fn page_limits_run_from_one_to_two_hundred_and_default_to_fifty() {
        assert_eq!(PageLimit::default().get(), 50);
        assert_eq!(PageLimit::new(1).map(PageLimit::get), Ok(1));
        assert_eq!(PageLimit::new(200), Ok(PageLimit::MAX));
        for n in [0, 201, u64::from(u16::MAX) + 1, u64::MAX] {
            assert_eq!(PageLimit::new(n), Err(PageLimitError), "sent {n}");
        }
    }

    #[test]
    fn a_history_window_is_read_from_one_end() {
        let (one, two) = (Some(Seq::new(1)), Some(Seq::new(2)));
        assert_eq!(
            HistoryWindow::from_bounds(None, None),
            Ok(HistoryWindow::Latest)
        );
        assert_eq!(
            HistoryWindow::from_bounds(two, None),
            Ok(HistoryWindow::Before(Seq::new(2)))
        );
        assert_eq!(
            HistoryWindow::from_bounds(None, one),
            Ok(HistoryWindow::After(Seq::new(1)))
        );
        assert_eq!(
            HistoryWindow::from_bounds(two, one),
            Err(HistoryWindowError)
        );
        assert_eq!(
            HistoryRequest::default(),
            HistoryRequest {
                window: HistoryWindow::Latest,
                limit: PageLimit::DEFAULT
            }
        );
    }

    fn message(seq: u64) -> Message {
        Message {
            room: RoomName::parse("general").unwrap(),
            seq: Seq::new(seq),
            id: MessageId::parse(&format!("m{seq}")).unwrap(),
            sender: Sender {
                id: UserId::from_uuid(Uuid::nil()),
                first_name: PersonName::parse("Ada").unwrap(),
                last_name: PersonName::default(),
            },
            body: MessageBody::parse("hello", 100).unwrap(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn replay(after: u64, seqs: &[u64], last_seq: u64) -> Replay {
        Replay {
            after: Seq::new(after),
            messages: seqs.iter().copied().map(message).collect(),
            last_seq: Seq::new(last_seq),
        }
    }

    #[test]
    fn a_replay_that_starts_right_after_its_position_recovered_everything() {
        let whole = replay(3, &[4, 5], 5);
        assert!(whole.recovered());
        assert!(!whole.has_more());
        assert_eq!(whole.resume_after(), Seq::new(5));

        let first_of_two_pages = replay(3, &[4, 5], 9);
        assert!(first_of_two_pages.recovered());
        assert!(first_of_two_pages.has_more());
        assert_eq!(first_of_two_pages.resume_after(), Seq::new(5));
    }

    #[test]
    fn a_replay_with_nothing_to_deliver_recovered_everything() {
        for (after, last_seq) in [(5, 5), (0, 0), (9, 5)] {
            let nothing = replay(after, &[], last_seq);
            assert!(nothing.recovered(), "after {after}, last_seq {last_seq}");
            assert!(!nothing.has_more());
            assert_eq!(nothing.resume_after(), Seq::new(after));
        }
    }

    #[test]
    fn the_count_limit_removes_all_but_the_newest_messages() {
        let keep_three = Retention {
            max_messages: NonZeroU64::new(3),
            max_age: None,
        };
        assert_eq!(keep_three.removed_by_count_up_to(Seq::new(10)), Seq::new(7));
        assert_eq!(keep_three.removed_by_count_up_to(Seq::new(3)), Seq::ZERO);
        assert_eq!(keep_three.removed_by_count_up_to(Seq::ZERO), Seq::ZERO);
        assert_eq!(
            Retention::KEEP_EVERYTHING.removed_by_count_up_to(Seq::new(10)),
            Seq::ZERO
        );
        assert!(!keep_three.keeps_everything());
        assert!(Retention::KEEP_EVERYTHING.keeps_everything());
        assert_eq!(Retention::default(), Retention::KEEP_EVERYTHING);
    }

    #[test]
    fn the_age_limit_names_the_moment_before_which_messages_are_too_old() {
        let now = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(30);
        let a_week = Retention {
            max_messages: None,
            max_age: Some(TimeDelta::days(7)),
        };
        assert_eq!(
            a_week.too_old_before(now),
            Some(DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(23))
        );
        assert!(!a_week.keeps_everything());
        assert_eq!(Retention::KEEP_EVERYTHING.too_old_before(now), None);
        let beyond_the_calendar = Retention {
            max_messages: None,
            max_age: Some(TimeDelta::MAX),
        };
        assert_eq!(beyond_the_calendar.too_old_before(now), None);
    }

    #[test]
    fn a_replay_whose_start_was_pruned_did_not_recover_but_delivers_what_remains() {
        let pruned_start = replay(3, &[7, 8], 8);
        assert!(!pruned_start.recovered());
        assert_eq!(pruned_start.messages.len(), 2);

        let all_pruned = replay(3, &[], 8);
        assert!(!all_pruned.recovered());
        assert!(!all_pruned.has_more(), "nothing left to read");
    }
}

//! Rooms, memberships with their cursors, and messages in SQLite.
//!
//! Every write goes through [`Database::write`]: an IMMEDIATE transaction holds SQLite's
//! one write lock from its first statement, so a membership check, the read of
//! `last_seq` and the writes that depend on them see one state, and concurrent
//! publishers queue (at the database's writing thread) instead of interleaving. Reads of
//! more than one statement run in one read transaction, so they see one snapshot.
//!
//! Every single-row read uses `get_result`, never `first`: the rows are found by a key
//! or are an aggregate's one row, and the `LIMIT ?` that `first` binds would have SQLite
//! re-prepare the statement at every call (see the `sqlite` module's docs).

use std::num::NonZeroU32;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::ports::{AdapterError, RoomAccessError, RoomStore};
use domain::{
    HistoryPage, HistoryRequest, HistoryWindow, Joined, Message, NewMessage, PageLimit, Published,
    Replay, Retention, RoomName, RoomSummary, Seq, UserId,
};
use uuid::Uuid;

use super::schema::{messages, room_members, rooms, users};
use super::{Database, DbError, MESSAGES_SENDER_MESSAGE_ID_UNIQUE, violated_constraint};
use crate::stored_rooms::{
    MessageParts, OriginalGone, Refusal, Standing, bound, corrupt, history_page, last_doomed,
    removed_by_age, removed_by_count, seq_from,
};

/// The [`RoomStore`] port on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteRoomStore {
    database: Database,
}

impl SqliteRoomStore {
    /// A store on `database`.
    #[must_use]
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

/// A message as read: its row joined with its sender's current names.
#[derive(Queryable)]
struct MessageRow {
    room: String,
    seq: i64,
    message_id: String,
    sender_id: String,
    first_name: String,
    last_name: String,
    body: String,
    created_at: NaiveDateTime,
}

/// The columns of a [`MessageRow`], in its order, from `messages` joined with `users`.
type MessageColumns = (
    messages::room,
    messages::seq,
    messages::message_id,
    messages::sender_id,
    users::first_name,
    users::last_name,
    messages::body,
    messages::created_at,
);

const MESSAGE_COLUMNS: MessageColumns = (
    messages::room,
    messages::seq,
    messages::message_id,
    messages::sender_id,
    users::first_name,
    users::last_name,
    messages::body,
    messages::created_at,
);

fn user_from(raw: &str) -> Result<UserId, AdapterError> {
    Uuid::parse_str(raw)
        .map(UserId::from_uuid)
        .map_err(|_| corrupt("user id"))
}

impl TryFrom<MessageRow> for Message {
    type Error = AdapterError;

    fn try_from(row: MessageRow) -> Result<Self, AdapterError> {
        Self::try_from(MessageParts {
            room: &row.room,
            seq: row.seq,
            message_id: &row.message_id,
            sender: user_from(&row.sender_id)?,
            first_name: &row.first_name,
            last_name: &row.last_name,
            body: &row.body,
            created_at: row.created_at.and_utc(),
        })
    }
}

fn messages_from(rows: Vec<MessageRow>) -> Result<Vec<Message>, AdapterError> {
    rows.into_iter().map(Message::try_from).collect()
}

/// Where `user` stands in `room`, or why they may not act there: one query, so that
/// "no such room" and "not a member" are told apart from the same state.
fn standing(
    connection: &mut SqliteConnection,
    room: &str,
    user: &str,
) -> QueryResult<Result<Standing, Refusal>> {
    let found: Option<(i64, Option<i64>)> = rooms::table
        .left_join(
            room_members::table.on(room_members::room
                .eq(rooms::name)
                .and(room_members::user_id.eq(user))),
        )
        .filter(rooms::name.eq(room))
        .select((rooms::last_seq, room_members::cursor_seq.nullable()))
        .get_result(connection)
        .optional()?;
    Ok(Standing::of(found))
}

/// The messages of `room` above `after`, oldest first, at most `limit`.
fn oldest_above(
    connection: &mut SqliteConnection,
    room: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<MessageRow>> {
    messages::table
        .inner_join(users::table)
        .filter(messages::room.eq(room))
        .filter(messages::seq.gt(after))
        .order(messages::seq.asc())
        .select(MESSAGE_COLUMNS)
        // Stepped `limit` times rather than bound as `LIMIT ?`: a bound LIMIT has SQLite
        // re-prepare the cached statement at every call (the module's docs in `mod.rs`),
        // and this is the catch-up read every member connection makes for every
        // published message (38.8 µs with the LIMIT, 12.7 µs without, criterion
        // `store/messages_after`). The primary key `(room, seq)` gives the order, so
        // SQLite walks the index and stops where the iterator stops: the same rows as
        // `LIMIT`, no more read.
        .load_iter::<MessageRow, diesel::connection::DefaultLoadingMode>(connection)?
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
}

/// The messages of `room` below `before` (all of them when `None`), newest first, at
/// most `limit`.
fn newest_below(
    connection: &mut SqliteConnection,
    room: &str,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<MessageRow>> {
    messages::table
        .inner_join(users::table)
        .filter(messages::room.eq(room))
        .filter(messages::seq.lt(before.unwrap_or(i64::MAX)))
        .order(messages::seq.desc())
        .limit(limit)
        .select(MESSAGE_COLUMNS)
        .load(connection)
}

/// Stores `message` under its room's next seq, in the caller's write transaction, when
/// its sender is a member.
fn store_with_next_seq(
    connection: &mut SqliteConnection,
    message: &NewMessage,
) -> QueryResult<Result<MessageRow, Refusal>> {
    let room = message.room.as_ref();
    let sender = message.sender.to_string();
    if let Err(refusal) = standing(connection, room, &sender)? {
        return Ok(Err(refusal));
    }
    // The seq is the room's counter, incremented in this transaction: a concurrent
    // publisher waits for the write lock and then reads the new value, and a failure
    // below rolls the increment back (no gap).
    let seq: i64 = diesel::update(rooms::table.find(room))
        .set(rooms::last_seq.eq(rooms::last_seq + 1_i64))
        .returning(rooms::last_seq)
        .get_result(connection)?;
    // A repeated (sender, id) fails here, on the unique constraint, and the whole
    // transaction — the increment included — is undone.
    diesel::insert_into(messages::table)
        .values((
            messages::room.eq(room),
            messages::seq.eq(seq),
            messages::message_id.eq(message.id.as_ref()),
            messages::sender_id.eq(&sender),
            messages::body.eq(message.body.as_ref()),
            messages::created_at.eq(message.created_at.naive_utc()),
        ))
        .execute(connection)?;
    let stored = messages::table
        .inner_join(users::table)
        .filter(messages::room.eq(room))
        .filter(messages::seq.eq(seq))
        .select(MESSAGE_COLUMNS)
        .get_result(connection)?;
    Ok(Ok(stored))
}

impl SqliteRoomStore {
    /// The message `sender` stored first under `id`, after a publish of the same id hit
    /// the unique constraint. The constraint saw a committed original (writers are
    /// serialised), so it is found unless retention removed it in between.
    async fn original(&self, sender: String, id: String) -> Result<Message, AdapterError> {
        let original: Option<MessageRow> = self
            .database
            .run(move |connection| {
                messages::table
                    .inner_join(users::table)
                    .filter(messages::sender_id.eq(sender))
                    .filter(messages::message_id.eq(id))
                    .select(MESSAGE_COLUMNS)
                    .get_result(connection)
                    .optional()
            })
            .await?;
        let original = original
            .ok_or_else(|| AdapterError::new("a duplicate publish failed", OriginalGone))?;
        Message::try_from(original)
    }
}

#[async_trait]
impl RoomStore for SqliteRoomStore {
    async fn join(
        &self,
        room: &RoomName,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Joined, AdapterError> {
        let name = room.as_ref().to_owned();
        let user = user.to_string();
        let at = at.naive_utc();
        let (standing, newly_joined) = self
            .database
            .write(move |connection| {
                diesel::insert_into(rooms::table)
                    .values((
                        rooms::name.eq(&name),
                        rooms::last_seq.eq(0_i64),
                        rooms::created_at.eq(at),
                    ))
                    .on_conflict_do_nothing()
                    .execute(connection)?;
                // The transaction holds the write lock: no publish moves last_seq between
                // this read and the new member's row that starts its cursor there.
                let last_seq: i64 = rooms::table
                    .find(&name)
                    .select(rooms::last_seq)
                    .get_result(connection)?;
                let inserted = diesel::insert_into(room_members::table)
                    .values((
                        room_members::room.eq(&name),
                        room_members::user_id.eq(&user),
                        room_members::cursor_seq.eq(last_seq),
                        room_members::joined_at.eq(at),
                    ))
                    .on_conflict_do_nothing()
                    .execute(connection)?;
                let cursor: i64 = room_members::table
                    .find((&name, &user))
                    .select(room_members::cursor_seq)
                    .get_result(connection)?;
                Ok((Standing { last_seq, cursor }, inserted == 1))
            })
            .await?;
        Ok(Joined {
            summary: standing.summary(room)?,
            newly_joined,
        })
    }

    async fn leave(&self, room: &RoomName, user: UserId) -> Result<(), RoomAccessError> {
        let name = room.as_ref().to_owned();
        let user = user.to_string();
        self.database
            .write(move |connection| {
                if let Err(refusal) = standing(connection, &name, &user)? {
                    return Ok(Err(refusal));
                }
                diesel::delete(room_members::table.find((&name, &user))).execute(connection)?;
                Ok(Ok(()))
            })
            .await
            .map_err(AdapterError::from)?
            .map_err(RoomAccessError::from)
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomSummary>, AdapterError> {
        let user = user.to_string();
        let rows: Vec<(String, i64, i64)> = self
            .database
            .run(move |connection| {
                room_members::table
                    .inner_join(rooms::table)
                    .filter(room_members::user_id.eq(user))
                    .order(rooms::name.asc())
                    .select((rooms::name, rooms::last_seq, room_members::cursor_seq))
                    .load(connection)
            })
            .await?;
        rows.into_iter()
            .map(|(room, last_seq, cursor)| {
                let room = RoomName::parse(&room).map_err(|_| corrupt("room"))?;
                Standing { last_seq, cursor }.summary(&room)
            })
            .collect()
    }

    async fn membership(
        &self,
        room: &RoomName,
        user: UserId,
    ) -> Result<RoomSummary, RoomAccessError> {
        let name = room.as_ref().to_owned();
        let user = user.to_string();
        let found = self
            .database
            .run(move |connection| standing(connection, &name, &user))
            .await
            .map_err(AdapterError::from)?;
        Ok(found?.summary(room)?)
    }

    async fn members(&self, room: &RoomName) -> Result<Vec<UserId>, AdapterError> {
        let name = room.as_ref().to_owned();
        let ids: Vec<String> = self
            .database
            .run(move |connection| {
                room_members::table
                    .filter(room_members::room.eq(name))
                    // Lower-case hyphenated UUIDs sort as their bytes do, which is how
                    // `UserId` orders.
                    .order(room_members::user_id.asc())
                    .select(room_members::user_id)
                    .load(connection)
            })
            .await?;
        ids.iter().map(|id| user_from(id)).collect()
    }

    async fn publish(&self, message: NewMessage) -> Result<Published, RoomAccessError> {
        let sender = message.sender.to_string();
        let id = message.id.as_ref().to_owned();
        let outcome = self
            .database
            .write(move |connection| store_with_next_seq(connection, &message))
            .await;
        match outcome {
            Ok(Ok(stored)) => Ok(Published {
                message: Message::try_from(stored)?,
                duplicate: false,
            }),
            Ok(Err(refusal)) => Err(refusal.into()),
            Err(DbError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                info,
            ))) if violated_constraint(info.as_ref())
                == Some(MESSAGES_SENDER_MESSAGE_ID_UNIQUE) =>
            {
                Ok(Published {
                    message: self.original(sender, id).await?,
                    duplicate: true,
                })
            }
            Err(error) => Err(AdapterError::from(error).into()),
        }
    }

    async fn history(
        &self,
        room: &RoomName,
        reader: UserId,
        request: HistoryRequest,
    ) -> Result<HistoryPage, RoomAccessError> {
        let name = room.as_ref().to_owned();
        let reader = reader.to_string();
        let limit = usize::from(request.limit.get());
        // One more than asked for: whether it comes back says whether there is more.
        let fetch = i64::from(request.limit.get()) + 1;
        let outcome = self
            .database
            .run(move |connection| {
                connection.transaction(|connection| {
                    if let Err(refusal) = standing(connection, &name, &reader)? {
                        return Ok(Err(refusal));
                    }
                    let rows = match request.window {
                        HistoryWindow::After(after) => {
                            oldest_above(connection, &name, bound(after), fetch)?
                        }
                        HistoryWindow::Before(before) => {
                            newest_below(connection, &name, Some(bound(before)), fetch)?
                        }
                        HistoryWindow::Latest => newest_below(connection, &name, None, fetch)?,
                    };
                    Ok(Ok(rows))
                })
            })
            .await
            .map_err(AdapterError::from)?;
        let (rows, has_more) = history_page(outcome?, limit, request.window);
        Ok(HistoryPage {
            messages: messages_from(rows)?,
            has_more,
        })
    }

    async fn messages_after(
        &self,
        room: &RoomName,
        after: Seq,
        limit: PageLimit,
    ) -> Result<Replay, AdapterError> {
        let name = room.as_ref().to_owned();
        let (last_seq, rows) = self
            .database
            .run(move |connection| {
                connection.transaction(|connection| {
                    let last_seq: Option<i64> = rooms::table
                        .find(&name)
                        .select(rooms::last_seq)
                        .get_result(connection)
                        .optional()?;
                    let rows =
                        oldest_above(connection, &name, bound(after), i64::from(limit.get()))?;
                    Ok((last_seq.unwrap_or(0), rows))
                })
            })
            .await?;
        Ok(Replay {
            after,
            messages: messages_from(rows)?,
            last_seq: seq_from(last_seq, "last_seq")?,
        })
    }

    async fn acknowledge(
        &self,
        room: &RoomName,
        user: UserId,
        seq: Seq,
    ) -> Result<Seq, RoomAccessError> {
        let name = room.as_ref().to_owned();
        let user = user.to_string();
        let cursor = self
            .database
            .write(move |connection| {
                let standing = match standing(connection, &name, &user)? {
                    Ok(standing) => standing,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let target = bound(seq).min(standing.last_seq);
                if target <= standing.cursor {
                    return Ok(Ok(standing.cursor));
                }
                diesel::update(room_members::table.find((&name, &user)))
                    .set(room_members::cursor_seq.eq(target))
                    .execute(connection)?;
                Ok(Ok(target))
            })
            .await
            .map_err(AdapterError::from)??;
        Ok(seq_from(cursor, "cursor_seq")?)
    }

    async fn prune(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
        limit: NonZeroU32,
    ) -> Result<u64, AdapterError> {
        if retention.keeps_everything() {
            return Ok(0);
        }
        let too_old_before = retention
            .too_old_before(now)
            .map(|moment| moment.naive_utc());
        let limit = i64::from(limit.get());
        let removed = self
            .database
            .write(move |connection| {
                let rooms: Vec<(String, i64)> = rooms::table
                    .select((rooms::name, rooms::last_seq))
                    .load(connection)?;
                let mut removed = 0_i64;
                for (room, last_seq) in rooms {
                    let allowance = limit - removed;
                    if allowance <= 0 {
                        break;
                    }
                    let up_to =
                        prunable_up_to(connection, &room, last_seq, retention, too_old_before)?;
                    if up_to <= 0 {
                        continue;
                    }
                    let oldest: Option<i64> = messages::table
                        .filter(messages::room.eq(&room))
                        .select(diesel::dsl::min(messages::seq))
                        .get_result(connection)?;
                    let Some(oldest) = oldest.filter(|oldest| *oldest <= up_to) else {
                        continue;
                    };
                    let deleted = diesel::delete(
                        messages::table
                            .filter(messages::room.eq(&room))
                            .filter(messages::seq.le(last_doomed(up_to, oldest, allowance))),
                    )
                    .execute(connection)?;
                    removed += i64::try_from(deleted).unwrap_or(i64::MAX);
                }
                Ok(removed)
            })
            .await?;
        Ok(u64::try_from(removed).unwrap_or_default())
    }
}

/// The highest `seq` of `room` that `retention` removes: the count limit's floor, or,
/// when age is a limit, everything before the first message young enough to keep (all
/// of the room when none is). Ages are read in `seq` order through the primary key, so
/// the read stops at the first young message and a clock that stepped back between two
/// publishes cannot punch a hole in the middle of a room's history.
fn prunable_up_to(
    connection: &mut SqliteConnection,
    room: &str,
    last_seq: i64,
    retention: Retention,
    too_old_before: Option<NaiveDateTime>,
) -> QueryResult<i64> {
    let by_count = removed_by_count(retention, last_seq);
    let Some(too_old_before) = too_old_before else {
        return Ok(by_count);
    };
    let first_young: Option<i64> = messages::table
        .filter(messages::room.eq(room))
        .filter(messages::created_at.ge(too_old_before))
        .select(diesel::dsl::min(messages::seq))
        .get_result(connection)?;
    Ok(by_count.max(removed_by_age(last_seq, first_young)))
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection as _;

    use super::*;
    use crate::sqlite::test_database;

    #[tokio::test]
    async fn honours_the_room_store_contract() {
        ::test_support::contracts::rooms::run(|| async { test_database::fresh().store() }).await;
    }

    #[tokio::test]
    async fn a_duplicate_whose_original_was_pruned_meanwhile_is_an_error() {
        // The unique constraint refused the id, then retention removed the original
        // before it was read back: there is nothing to answer the retry with.
        let test = test_database::fresh();
        let store = SqliteRoomStore::new(test.database.clone());
        let ada = test.user("ada@example.com").await;

        let original = store.original(ada.to_string(), "m-pruned".to_owned()).await;

        let cause = original
            .err()
            .and_then(|error| std::error::Error::source(&error).map(ToString::to_string));
        assert_eq!(cause, Some(OriginalGone.to_string()));
    }

    #[tokio::test]
    async fn a_corrupt_stored_message_is_an_error_not_a_panic() {
        let test = test_database::fresh();
        let store = SqliteRoomStore::new(test.database.clone());
        let ada_id = test.user("ada@example.com").await;
        let general = RoomName::parse("general").unwrap();
        store
            .join(&general, ada_id, ::test_support::contracts::at(0))
            .await
            .unwrap();
        test.database
            .run(move |connection| {
                // A body that no longer parses (blank), as something other than Portico
                // might have written it.
                connection.batch_execute(&format!(
                    "INSERT INTO messages VALUES ('general', 1, 'm1', '{ada_id}', '   ', \
                     '2026-11-23 12:00:00'); \
                     UPDATE rooms SET last_seq = 1 WHERE name = 'general';"
                ))
            })
            .await
            .unwrap();

        let replay = store
            .messages_after(&general, Seq::ZERO, PageLimit::DEFAULT)
            .await;
        assert!(replay.is_err(), "gave {replay:?}");
        let history = store
            .history(&general, ada_id, HistoryRequest::default())
            .await;
        assert!(
            matches!(history, Err(RoomAccessError::Adapter(_))),
            "gave {history:?}"
        );
    }

    #[tokio::test]
    async fn a_corrupt_room_name_or_member_id_is_an_error_not_a_panic() {
        let test = test_database::fresh();
        let store = SqliteRoomStore::new(test.database.clone());
        let ada_id = test.user("ada@example.com").await;
        test.database
            .run(move |connection| {
                // A room whose name breaks the naming rule, with Ada in it; and a member
                // whose id is not a UUID (foreign keys off to plant it).
                connection.batch_execute(&format!(
                    "INSERT INTO rooms VALUES ('Not A Name', 0, '2026-11-23 12:00:00'); \
                     INSERT INTO room_members VALUES ('Not A Name', '{ada_id}', 0, \
                     '2026-11-23 12:00:00'); \
                     INSERT INTO rooms VALUES ('general', 0, '2026-11-23 12:00:00'); \
                     PRAGMA foreign_keys = OFF; \
                     INSERT INTO room_members VALUES ('general', 'not-a-uuid', 0, \
                     '2026-11-23 12:00:00'); \
                     PRAGMA foreign_keys = ON;"
                ))
            })
            .await
            .unwrap();

        let rooms = store.rooms_of(ada_id).await;
        assert!(rooms.is_err(), "gave {rooms:?}");
        let members = store.members(&RoomName::parse("general").unwrap()).await;
        assert!(members.is_err(), "gave {members:?}");
    }
}

//! Rooms, memberships with their cursors, and messages in PostgreSQL.
//!
//! PostgreSQL runs many writers at once, so what SQLite's single write lock gives for
//! free is asked for explicitly, with row locks that hold across instances:
//! - a publish holds the sender's membership row `FOR SHARE` (a concurrent `leave`
//!   waits until the message is stored) and takes the room row's lock with
//!   `UPDATE rooms SET last_seq = last_seq + 1 … RETURNING`, so publishers to one room
//!   queue there and get distinct, gap-free seqs while other rooms are not held up;
//! - an acknowledgement holds the member's row `FOR UPDATE`, so two concurrent acks
//!   cannot move a cursor back;
//! - a join starts the cursor with one `INSERT … SELECT last_seq … ON CONFLICT DO
//!   NOTHING`.
//!
//! Reads of more than one statement run in one REPEATABLE READ snapshot
//! ([`PgDatabase::read`]).

use std::num::NonZeroU32;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::upsert::on_constraint;
use domain::ports::{AdapterError, RoomAccessError, RoomStore};
use domain::{
    HistoryPage, HistoryRequest, HistoryWindow, Joined, Message, NewMessage, PageLimit, Published,
    Replay, Retention, RoomName, RoomSummary, Seq, UserId,
};
use uuid::Uuid;

use super::schema::{messages, room_members, rooms, users};
use super::{MESSAGES_SENDER_MESSAGE_ID_UNIQUE, PgDatabase};
use crate::stored_rooms::{
    MessageParts, OriginalGone, Refusal, Standing, bound, corrupt, history_page, last_doomed,
    removed_by_age, removed_by_count, seq_from,
};

/// The [`RoomStore`] port on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgRoomStore {
    database: PgDatabase,
}

impl PgRoomStore {
    /// A store on `database`.
    #[must_use]
    pub fn new(database: PgDatabase) -> Self {
        Self { database }
    }
}

/// A message as read: its row joined with its sender's current names.
#[derive(Queryable)]
struct MessageRow {
    room: String,
    seq: i64,
    message_id: String,
    sender_id: Uuid,
    first_name: String,
    last_name: String,
    body: String,
    created_at: DateTime<Utc>,
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

impl TryFrom<MessageRow> for Message {
    type Error = AdapterError;

    fn try_from(row: MessageRow) -> Result<Self, AdapterError> {
        Self::try_from(MessageParts {
            room: &row.room,
            seq: row.seq,
            message_id: &row.message_id,
            sender: UserId::from_uuid(row.sender_id),
            first_name: &row.first_name,
            last_name: &row.last_name,
            body: &row.body,
            created_at: row.created_at,
        })
    }
}

fn messages_from(rows: Vec<MessageRow>) -> Result<Vec<Message>, AdapterError> {
    rows.into_iter().map(Message::try_from).collect()
}

/// Where `user` stands in `room`, or why they may not act there: one query, so that
/// "no such room" and "not a member" are told apart from the same state. Takes no lock.
fn standing(
    connection: &mut PgConnection,
    room: &str,
    user: Uuid,
) -> QueryResult<Result<Standing, Refusal>> {
    let found: Option<(i64, Option<i64>)> = rooms::table
        .left_join(
            room_members::table.on(room_members::room
                .eq(rooms::name)
                .and(room_members::user_id.eq(user))),
        )
        .filter(rooms::name.eq(room))
        .select((rooms::last_seq, room_members::cursor_seq.nullable()))
        .first(connection)
        .optional()?;
    Ok(Standing::of(found))
}

/// Why `room` refuses someone who holds no membership row in it.
fn refusal(connection: &mut PgConnection, room: &str) -> QueryResult<Refusal> {
    let exists: bool =
        diesel::select(diesel::dsl::exists(rooms::table.find(room))).get_result(connection)?;
    Ok(if exists {
        Refusal::NotMember
    } else {
        Refusal::RoomNotFound
    })
}

/// The messages of `room` above `after`, oldest first, at most `limit`.
fn oldest_above(
    connection: &mut PgConnection,
    room: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<MessageRow>> {
    messages::table
        .inner_join(users::table)
        .filter(messages::room.eq(room))
        .filter(messages::seq.gt(after))
        .order(messages::seq.asc())
        .limit(limit)
        .select(MESSAGE_COLUMNS)
        .load(connection)
}

/// The messages of `room` below `before` (all of them when `None`), newest first, at
/// most `limit`.
fn newest_below(
    connection: &mut PgConnection,
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

/// What a publish found, inside its transaction.
enum Publishing {
    /// Stored under a new seq, or found stored first under the same (sender, id).
    Stored { row: MessageRow, duplicate: bool },
    /// Not a member, or no such room.
    Refused(Refusal),
    /// The id was taken, but its original is gone (pruned in between).
    OriginalGone,
}

/// Stores `message` under its room's next seq, in the caller's write transaction, when
/// its sender is a member; or finds the message its sender stored first under its id.
fn publish_in(connection: &mut PgConnection, message: &NewMessage) -> QueryResult<Publishing> {
    let room = message.room.as_ref();
    let sender = message.sender.as_uuid();
    // Held until commit: a concurrent leave waits, so no message is stored from someone
    // who had already left. Membership is checked before the id, as the contract says.
    let member: Option<i64> = room_members::table
        .find((room, sender))
        .select(room_members::cursor_seq)
        .for_share()
        .first(connection)
        .optional()?;
    if member.is_none() {
        return Ok(Publishing::Refused(refusal(connection, room)?));
    }
    // A savepoint: a taken id must undo the increment (no gap) and leave the outer
    // transaction usable for reading the original. The id's conflict is absorbed by
    // ON CONFLICT DO NOTHING rather than raised, since a failed statement would abort
    // the whole transaction.
    let stored = connection.transaction(|connection| {
        let seq: i64 = diesel::update(rooms::table.find(room))
            .set(rooms::last_seq.eq(rooms::last_seq + 1_i64))
            .returning(rooms::last_seq)
            .get_result(connection)?;
        let inserted = diesel::insert_into(messages::table)
            .values((
                messages::room.eq(room),
                messages::seq.eq(seq),
                messages::message_id.eq(message.id.as_ref()),
                messages::sender_id.eq(sender),
                messages::body.eq(message.body.as_ref()),
                messages::created_at.eq(message.created_at),
            ))
            .on_conflict(on_constraint(MESSAGES_SENDER_MESSAGE_ID_UNIQUE))
            .do_nothing()
            .execute(connection)?;
        if inserted == 0 {
            return Err(DieselError::RollbackTransaction);
        }
        Ok(seq)
    });
    match stored {
        Ok(seq) => Ok(Publishing::Stored {
            row: messages::table
                .inner_join(users::table)
                .filter(messages::room.eq(room))
                .filter(messages::seq.eq(seq))
                .select(MESSAGE_COLUMNS)
                .first(connection)?,
            duplicate: false,
        }),
        // ON CONFLICT waited for the original's transaction to commit, and this
        // statement sees what is committed now.
        Err(DieselError::RollbackTransaction) => Ok(messages::table
            .inner_join(users::table)
            .filter(messages::sender_id.eq(sender))
            .filter(messages::message_id.eq(message.id.as_ref()))
            .select(MESSAGE_COLUMNS)
            .first(connection)
            .optional()?
            .map_or(Publishing::OriginalGone, |row| Publishing::Stored {
                row,
                duplicate: true,
            })),
        Err(error) => Err(error),
    }
}

#[async_trait]
impl RoomStore for PgRoomStore {
    async fn join(
        &self,
        room: &RoomName,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Joined, AdapterError> {
        let name = room.as_ref().to_owned();
        let user = user.as_uuid();
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
                // The cursor starts at last_seq as one statement reads it: a publish still
                // in flight is above it and owed to the new member.
                let inserted = diesel::sql_query(
                    "INSERT INTO room_members (room, user_id, cursor_seq, joined_at) \
                     SELECT name, $2, last_seq, $3 FROM rooms WHERE name = $1 \
                     ON CONFLICT DO NOTHING",
                )
                .bind::<diesel::sql_types::Text, _>(&name)
                .bind::<diesel::sql_types::Uuid, _>(user)
                .bind::<diesel::sql_types::Timestamptz, _>(at)
                .execute(connection)?;
                let found: (i64, i64) = rooms::table
                    .inner_join(room_members::table)
                    .filter(rooms::name.eq(&name))
                    .filter(room_members::user_id.eq(user))
                    .select((rooms::last_seq, room_members::cursor_seq))
                    .first(connection)?;
                Ok((
                    Standing {
                        last_seq: found.0,
                        cursor: found.1,
                    },
                    inserted == 1,
                ))
            })
            .await?;
        Ok(Joined {
            summary: standing.summary(room)?,
            newly_joined,
        })
    }

    async fn leave(&self, room: &RoomName, user: UserId) -> Result<(), RoomAccessError> {
        let name = room.as_ref().to_owned();
        let user = user.as_uuid();
        self.database
            .write(move |connection| {
                let left =
                    diesel::delete(room_members::table.find((&name, user))).execute(connection)?;
                if left == 1 {
                    Ok(Ok(()))
                } else {
                    Ok(Err(refusal(connection, &name)?))
                }
            })
            .await
            .map_err(AdapterError::from)?
            .map_err(RoomAccessError::from)
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomSummary>, AdapterError> {
        let user = user.as_uuid();
        let rows: Vec<(String, i64, i64)> = self
            .database
            .run(move |connection| {
                room_members::table
                    .inner_join(rooms::table)
                    .filter(room_members::user_id.eq(user))
                    // Byte order (the column's collation is "C"), as on SQLite.
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
        let user = user.as_uuid();
        let found = self
            .database
            .run(move |connection| standing(connection, &name, user))
            .await
            .map_err(AdapterError::from)?;
        Ok(found?.summary(room)?)
    }

    async fn members(&self, room: &RoomName) -> Result<Vec<UserId>, AdapterError> {
        let name = room.as_ref().to_owned();
        let ids: Vec<Uuid> = self
            .database
            .run(move |connection| {
                room_members::table
                    .filter(room_members::room.eq(name))
                    // uuid compares as its bytes, which is how `UserId` orders.
                    .order(room_members::user_id.asc())
                    .select(room_members::user_id)
                    .load(connection)
            })
            .await?;
        Ok(ids.into_iter().map(UserId::from_uuid).collect())
    }

    async fn publish(&self, message: NewMessage) -> Result<Published, RoomAccessError> {
        let outcome = self
            .database
            .write(move |connection| publish_in(connection, &message))
            .await
            .map_err(AdapterError::from)?;
        match outcome {
            Publishing::Stored { row, duplicate } => Ok(Published {
                message: Message::try_from(row)?,
                duplicate,
            }),
            Publishing::Refused(refusal) => Err(refusal.into()),
            Publishing::OriginalGone => {
                Err(AdapterError::new("a duplicate publish failed", OriginalGone).into())
            }
        }
    }

    async fn history(
        &self,
        room: &RoomName,
        reader: UserId,
        request: HistoryRequest,
    ) -> Result<HistoryPage, RoomAccessError> {
        let name = room.as_ref().to_owned();
        let reader = reader.as_uuid();
        let limit = usize::from(request.limit.get());
        // One more than asked for: whether it comes back says whether there is more.
        let fetch = i64::from(request.limit.get()) + 1;
        let outcome = self
            .database
            .read(move |connection| {
                if let Err(refusal) = standing(connection, &name, reader)? {
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
            .read(move |connection| {
                let last_seq: Option<i64> = rooms::table
                    .find(&name)
                    .select(rooms::last_seq)
                    .first(connection)
                    .optional()?;
                let rows = oldest_above(connection, &name, bound(after), i64::from(limit.get()))?;
                Ok((last_seq.unwrap_or(0), rows))
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
        let user = user.as_uuid();
        let cursor = self
            .database
            .write(move |connection| {
                // Locked until commit: a concurrent ack of the same member waits and then
                // reads the cursor this one wrote, so the cursor never moves back.
                let Some(cursor) = room_members::table
                    .find((&name, user))
                    .select(room_members::cursor_seq)
                    .for_update()
                    .first::<i64>(connection)
                    .optional()?
                else {
                    return Ok(Err(refusal(connection, &name)?));
                };
                let last_seq: i64 = rooms::table
                    .find(&name)
                    .select(rooms::last_seq)
                    .first(connection)?;
                let target = bound(seq).min(last_seq);
                if target <= cursor {
                    return Ok(Ok(cursor));
                }
                diesel::update(room_members::table.find((&name, user)))
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
        let too_old_before = retention.too_old_before(now);
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
                        .first(connection)?;
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
    connection: &mut PgConnection,
    room: &str,
    last_seq: i64,
    retention: Retention,
    too_old_before: Option<DateTime<Utc>>,
) -> QueryResult<i64> {
    let by_count = removed_by_count(retention, last_seq);
    let Some(too_old_before) = too_old_before else {
        return Ok(by_count);
    };
    let first_young: Option<i64> = messages::table
        .filter(messages::room.eq(room))
        .filter(messages::created_at.ge(too_old_before))
        .select(diesel::dsl::min(messages::seq))
        .first(connection)?;
    Ok(by_count.max(removed_by_age(last_seq, first_young)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::test_database;

    #[tokio::test]
    async fn honours_the_room_store_contract() {
        let cluster = test_database::cluster_or_skip!("the room store contract");
        ::test_support::contracts::rooms::run(|| {
            let store = test_database::fresh(&cluster).store();
            async move { store }
        })
        .await;
    }

    #[tokio::test]
    async fn a_message_the_database_refuses_is_an_error_and_takes_no_seq() {
        let cluster = test_database::cluster_or_skip!("the refused message case");
        let test = test_database::fresh(&cluster);
        let store = PgRoomStore::new(test.database.clone());
        let ada = test.user("ada@example.com").await;
        let general = RoomName::parse("general").unwrap();
        store
            .join(&general, ada, ::test_support::contracts::at(0))
            .await
            .unwrap();
        // A rule of the database's own, as an operator's constraint or a trigger would
        // add one: the insert fails after the room's seq was taken.
        test.database
            .run(|connection| {
                diesel::sql_query(
                    "ALTER TABLE messages ADD CONSTRAINT no_secrets CHECK (body <> 'secret')",
                )
                .execute(connection)
            })
            .await
            .unwrap();
        let message = |id: &str, body: &str| NewMessage {
            room: general.clone(),
            id: domain::MessageId::parse(id).unwrap(),
            sender: ada,
            body: domain::MessageBody::parse(body, 1024).unwrap(),
            created_at: ::test_support::contracts::at(1),
        };

        let refused = store.publish(message("m1", "secret")).await;

        assert!(
            matches!(refused, Err(RoomAccessError::Adapter(_))),
            "gave {refused:?}"
        );
        let stored = store.publish(message("m2", "hello")).await.unwrap();
        assert_eq!(stored.message.seq, Seq::new(1), "no gap where it failed");
    }

    #[tokio::test]
    async fn a_corrupt_stored_message_or_room_is_an_error_not_a_panic() {
        let cluster = test_database::cluster_or_skip!("the corrupt room row case");
        let test = test_database::fresh(&cluster);
        let store = PgRoomStore::new(test.database.clone());
        let ada = test.user("ada@example.com").await;
        let general = RoomName::parse("general").unwrap();
        store
            .join(&general, ada, ::test_support::contracts::at(0))
            .await
            .unwrap();
        test.database
            .run(move |connection| {
                // A body that no longer parses (blank), and a room whose name breaks the
                // naming rule with Ada in it, as something other than Portico might have
                // written them.
                diesel::sql_query(
                    "INSERT INTO messages VALUES ('general', 1, 'm1', $1, '   ', now())",
                )
                .bind::<diesel::sql_types::Uuid, _>(ada.as_uuid())
                .execute(connection)?;
                diesel::sql_query("UPDATE rooms SET last_seq = 1 WHERE name = 'general'")
                    .execute(connection)?;
                diesel::sql_query("INSERT INTO rooms VALUES ('Not A Name', 0, now())")
                    .execute(connection)?;
                diesel::sql_query("INSERT INTO room_members VALUES ('Not A Name', $1, 0, now())")
                    .bind::<diesel::sql_types::Uuid, _>(ada.as_uuid())
                    .execute(connection)
            })
            .await
            .unwrap();

        let replay = store
            .messages_after(&general, Seq::ZERO, PageLimit::DEFAULT)
            .await;
        assert!(replay.is_err(), "gave {replay:?}");
        let history = store
            .history(&general, ada, HistoryRequest::default())
            .await;
        assert!(
            matches!(history, Err(RoomAccessError::Adapter(_))),
            "gave {history:?}"
        );
        let rooms = store.rooms_of(ada).await;
        assert!(rooms.is_err(), "gave {rooms:?}");
    }
}

//! Presence across instances on PostgreSQL (SPEC §8): every instance records the
//! WebSocket connections it holds in one table, and beats a heartbeat; a connection
//! counts only while its instance's heartbeat is fresh.
//!
//! - A member connected to any instance is present everywhere (`present_among` reads
//!   the table), and "first to open" and "last to close" are decided over every
//!   instance's connections, under a per-user advisory lock, so two instances that
//!   register the same user at once do not both announce them.
//! - An instance that dies without saying goodbye stops beating: within
//!   [`HEARTBEAT_TIMEOUT`] its connections no longer count, and rows of instances
//!   silent for [`FORGET_AFTER`] are deleted by whichever instance beats next. Every
//!   [`HEARTBEAT_INTERVAL`] each instance sweeps the lapsed connections
//!   ([`PresenceRegistry::sweep_departed`]): the users left with no live connection are
//!   returned to exactly one sweeper, whose service tells their rooms (`presence_leave`).
//! - Freshness is judged by the database's clock, never an instance's, so instances
//!   whose clocks disagree still agree on who is alive.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Uuid as SqlUuid};
use domain::ports::{AdapterError, PresenceRegistry, PresentUser};
use domain::{ConnectionId, PresenceState, UserId};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::PgDatabase;
use super::bus::NoRuntime;
use super::schema::{instances, presence_connections};
use crate::presence::in_order_asked;

/// How often an instance beats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// How long after its last beat an instance's connections stop counting: three missed
/// beats and some slack for a slow database.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long after its last beat an instance's rows are deleted.
const FORGET_AFTER: Duration = Duration::from_secs(3_600);

/// The condition, on `instances i`, for a live instance.
fn live() -> String {
    format!(
        "i.heartbeat_at > now() - interval '{} seconds'",
        HEARTBEAT_TIMEOUT.as_secs()
    )
}

/// The [`PresenceRegistry`] port across the instances sharing one PostgreSQL database.
#[derive(Clone)]
pub struct PgPresence {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPresence")
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

struct Inner {
    database: PgDatabase,
    /// This instance, as its connections' rows name it.
    instance: Uuid,
    /// Dropped with the last handle, which stops the heartbeat (a dropped sender
    /// completes its receiver); it then says goodbye.
    _stop: oneshot::Sender<()>,
}

impl PgPresence {
    /// A registry for a new instance on `database`, its heartbeat started on the current
    /// tokio runtime.
    ///
    /// # Errors
    /// [`NoRuntime`] when called outside a tokio runtime.
    pub fn start(database: PgDatabase) -> Result<Self, NoRuntime> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NoRuntime)?;
        let instance = Uuid::new_v4();
        let (stop, stopped) = oneshot::channel();
        runtime.spawn(beat(database.clone(), instance, stopped));
        Ok(Self {
            inner: Arc::new(Inner {
                database,
                instance,
                _stop: stop,
            }),
        })
    }
}

/// Beats every [`HEARTBEAT_INTERVAL`] until stopped, then says goodbye: the instance's
/// row goes, and its connections' rows with it.
async fn beat(database: PgDatabase, instance: Uuid, mut stop: oneshot::Receiver<()>) {
    let mut ticks = tokio::time::interval(HEARTBEAT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Stopping first: an instance that is stopping does not beat once more.
            biased;
            _ = &mut stop => break,
            _ = ticks.tick() => {}
        }
        let beaten = database
            .write(move |connection| {
                diesel::sql_query(
                    "INSERT INTO instances (id, heartbeat_at) VALUES ($1, now()) \
                     ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                )
                .bind::<SqlUuid, _>(instance)
                .execute(connection)?;
                diesel::sql_query(format!(
                    "DELETE FROM instances WHERE heartbeat_at < now() - interval '{} seconds'",
                    FORGET_AFTER.as_secs()
                ))
                .execute(connection)
            })
            .await;
        if let Err(error) = beaten {
            // Converted before the event: its fields are evaluated only when something
            // subscribes to the log, which no test of this crate does.
            let error = AdapterError::from(error);
            tracing::warn!(
                error.cause_chain = ?error,
                "the presence heartbeat failed; this instance's members drop out elsewhere if it goes on"
            );
        }
    }
    let goodbye = database
        .write(move |connection| {
            diesel::sql_query("DELETE FROM instances WHERE id = $1")
                .bind::<SqlUuid, _>(instance)
                .execute(connection)
        })
        .await;
    if let Err(error) = goodbye {
        tracing::warn!(error.cause_chain = ?AdapterError::from(error), "the presence goodbye failed");
    }
}

#[derive(QueryableByName)] // coverage: excluded: llvm-cov maps a build() of diesel's that never runs here
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)] // coverage: excluded: llvm-cov maps a build() of diesel's that never runs here
struct Present {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Bool)]
    active: bool,
}

/// Serialises, until the transaction ends, every registry change of `user` on every
/// instance: "first" and "last" are then decided on a settled count.
fn lock_user(connection: &mut PgConnection, user: Uuid) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind::<SqlUuid, _>(user)
        .execute(connection)
        .map(drop)
}

/// How many of `user`'s connections other than `except` live instances hold.
fn others_live(connection: &mut PgConnection, user: Uuid, except: Uuid) -> QueryResult<i64> {
    diesel::sql_query(format!(
        "SELECT count(*) AS count FROM presence_connections c \
         JOIN instances i ON i.id = c.instance_id \
         WHERE c.user_id = $1 AND c.connection_id <> $2 AND {}",
        live()
    ))
    .bind::<SqlUuid, _>(user)
    .bind::<SqlUuid, _>(except)
    .get_result::<Count>(connection)
    .map(|found| found.count)
}

/// How many users one sweep transaction takes: each costs an advisory lock, and the
/// shared lock table is sized for about 64 per connection (`max_locks_per_transaction`).
const SWEEP_BATCH: i64 = 50;

#[derive(QueryableByName)] // coverage: excluded: llvm-cov maps a build() of diesel's that never runs here
struct UserRow {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
}

/// One batch of the sweep: deletes the lapsed connections of at most [`SWEEP_BATCH`]
/// users and returns `(users swept, users now absent)`.
///
/// The users are locked first, in one order on every instance, as `register` and
/// `unregister` lock them: so a user who reconnects meanwhile is either counted live
/// here or registers after the sweep (and is announced by that registration), and two
/// sweepers never deadlock. Of the locked users, only those whose rows this transaction
/// deleted are its own; another sweeper took the rest.
fn sweep_batch(db: &mut PgConnection) -> QueryResult<(usize, Vec<Uuid>)> {
    let mut lapsed: Vec<Uuid> = diesel::sql_query(format!(
        "SELECT DISTINCT c.user_id FROM presence_connections c \
         JOIN instances i ON i.id = c.instance_id WHERE NOT ({}) LIMIT $1",
        live()
    ))
    .bind::<BigInt, _>(SWEEP_BATCH)
    .load::<UserRow>(db)?
    .into_iter()
    .map(|row| row.user_id)
    .collect();
    lapsed.sort_unstable();
    for user in &lapsed {
        lock_user(db, *user)?;
    }
    let mut swept: Vec<Uuid> = diesel::sql_query(format!(
        "DELETE FROM presence_connections c USING instances i \
         WHERE i.id = c.instance_id AND c.user_id = ANY($1) AND NOT ({}) \
         RETURNING c.user_id",
        live()
    ))
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(lapsed.clone())
    .load::<UserRow>(db)?
    .into_iter()
    .map(|row| row.user_id)
    .collect();
    swept.sort_unstable();
    swept.dedup();
    let still_here: std::collections::HashSet<Uuid> = diesel::sql_query(format!(
        "SELECT DISTINCT c.user_id FROM presence_connections c \
         JOIN instances i ON i.id = c.instance_id WHERE c.user_id = ANY($1) AND {}",
        live()
    ))
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(swept.clone())
    .load::<UserRow>(db)?
    .into_iter()
    .map(|row| row.user_id)
    .collect();
    let absent = swept
        .into_iter()
        .filter(|user| !still_here.contains(user))
        .collect();
    Ok((lapsed.len(), absent))
}

#[async_trait]
impl PresenceRegistry for PgPresence {
    async fn register(&self, user: UserId, connection: ConnectionId) -> Result<bool, AdapterError> {
        let (user, connection, instance) =
            (user.as_uuid(), connection.as_uuid(), self.inner.instance);
        let first = self
            .inner
            .database
            .write(move |db| {
                lock_user(db, user)?;
                // The instance's row exists before its first beat lands; an existing row
                // is left alone, so registrations do not queue on it.
                diesel::insert_into(instances::table)
                    .values((
                        instances::id.eq(instance),
                        instances::heartbeat_at.eq(diesel::dsl::now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(db)?;
                let inserted = diesel::insert_into(presence_connections::table)
                    .values((
                        presence_connections::connection_id.eq(connection),
                        presence_connections::user_id.eq(user),
                        presence_connections::instance_id.eq(instance),
                        presence_connections::active.eq(true),
                    ))
                    .on_conflict_do_nothing()
                    .execute(db)?;
                if inserted == 0 {
                    return Ok(false);
                }
                Ok(others_live(db, user, connection)? == 0)
            })
            .await?;
        Ok(first)
    }

    async fn unregister(
        &self,
        user: UserId,
        connection: ConnectionId,
    ) -> Result<bool, AdapterError> {
        let (user, connection) = (user.as_uuid(), connection.as_uuid());
        let last = self
            .inner
            .database
            .write(move |db| {
                lock_user(db, user)?;
                let deleted = diesel::sql_query(
                    "DELETE FROM presence_connections WHERE connection_id = $1 AND user_id = $2",
                )
                .bind::<SqlUuid, _>(connection)
                .bind::<SqlUuid, _>(user)
                .execute(db)?;
                if deleted == 0 {
                    return Ok(false);
                }
                Ok(others_live(db, user, connection)? == 0)
            })
            .await?;
        Ok(last)
    }

    async fn set_state(
        &self,
        user: UserId,
        connection: ConnectionId,
        state: PresenceState,
    ) -> Result<(), AdapterError> {
        let (user, connection) = (user.as_uuid(), connection.as_uuid());
        self.inner
            .database
            .write(move |db| {
                diesel::sql_query(
                    "UPDATE presence_connections SET active = $3 \
                     WHERE connection_id = $1 AND user_id = $2",
                )
                .bind::<SqlUuid, _>(connection)
                .bind::<SqlUuid, _>(user)
                .bind::<Bool, _>(state == PresenceState::Active)
                .execute(db)
            })
            .await?;
        Ok(())
    }

    async fn present_among(&self, users: &[UserId]) -> Result<Vec<PresentUser>, AdapterError> {
        let asked: Vec<Uuid> = users.iter().map(|user| user.as_uuid()).collect();
        let found: Vec<Present> = self
            .inner
            .database
            // Through the index on user_id: proportional to the users asked about.
            .run(move |db| {
                diesel::sql_query(format!(
                    "SELECT c.user_id, bool_or(c.active) AS active FROM presence_connections c \
                     JOIN instances i ON i.id = c.instance_id \
                     WHERE c.user_id = ANY($1) AND {} GROUP BY c.user_id",
                    live()
                ))
                .bind::<diesel::sql_types::Array<SqlUuid>, _>(asked)
                .load(db)
            })
            .await?;
        let active: std::collections::HashMap<Uuid, bool> = found
            .into_iter()
            .map(|row| (row.user_id, row.active))
            .collect();
        Ok(in_order_asked(users, |user| {
            Some(if *active.get(&user.as_uuid())? {
                PresenceState::Active
            } else {
                PresenceState::Idle
            })
        }))
    }

    fn sweep_interval(&self) -> Option<Duration> {
        Some(HEARTBEAT_INTERVAL)
    }

    async fn sweep_departed(&self) -> Result<Vec<UserId>, AdapterError> {
        let mut departed = Vec::new();
        loop {
            let (lapsed, absent) = match self.inner.database.write(sweep_batch).await {
                Ok(batch) => batch,
                Err(error) if departed.is_empty() => return Err(error.into()),
                // The batches before committed: their users are told now, and the failure
                // meets the next sweep.
                Err(error) => {
                    tracing::warn!(error.cause_chain = ?AdapterError::from(error), "a presence sweep stopped halfway");
                    return Ok(departed);
                }
            };
            departed.extend(absent.into_iter().map(UserId::from_uuid));
            // A short batch took every lapsed user there was.
            if i64::try_from(lapsed).map_or(true, |lapsed| lapsed < SWEEP_BATCH) {
                return Ok(departed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::test_database;

    #[tokio::test]
    async fn honours_the_presence_registry_contract() {
        let cluster = test_database::cluster_or_skip!("the presence registry contract");
        let test = test_database::fresh(&cluster);
        // The contract's users must exist: connections reference them.
        for n in [0xada_u128, 0x6ace] {
            insert_user(&test, Uuid::from_u128(n)).await;
        }
        test_support::contracts::presence::run(|| {
            // A fresh registry on an emptied table: one database for every case, since
            // the contract's users are fixed.
            let registry = PgPresence::start(test.database.clone()).unwrap();
            let database = test.database.clone();
            async move {
                database
                    .run(|db| diesel::sql_query("DELETE FROM presence_connections").execute(db))
                    .await
                    .unwrap();
                Box::new(registry) as Box<dyn PresenceRegistry>
            }
        })
        .await;
    }

    async fn insert_user(test: &test_database::TestDatabase, id: Uuid) {
        test.database
            .run(move |db| {
                diesel::sql_query(
                    "INSERT INTO users VALUES ($1, $1::text || '@example.com', 'h', 'A', 'B', \
                     now(), now())",
                )
                .bind::<SqlUuid, _>(id)
                .execute(db)
            })
            .await
            .unwrap();
    }

    // On tokio's paused clock: a wait in the test ends once everything else is idle
    // and no tick of the heartbeat is due before it (a database call in flight holds
    // the clock), so the test knows exactly which beats have happened.
    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_that_cannot_be_written_is_tried_again_at_the_next_tick() {
        use test_support::contracts::WriteFaults as _;

        let cluster = test_database::cluster_or_skip!("the failed heartbeat case");
        let test = test_database::fresh(&cluster);
        let instance = Uuid::new_v4();
        let rows = || {
            test.database.run(move |db| {
                instances::table
                    .filter(instances::id.eq(instance))
                    .count()
                    .get_result::<i64>(db)
            })
        };
        test.database.fail_commits(true);
        let (stop, stopped) = oneshot::channel::<()>();
        let mut beating = Box::pin(beat(test.database.clone(), instance, stopped));

        // The first beat, at once, fails; the next is a tick away.
        let early = tokio::time::timeout(HEARTBEAT_INTERVAL / 2, &mut beating).await;
        assert!(early.is_err(), "the heartbeat goes on");
        assert_eq!(rows().await.unwrap(), 0, "the failed beat wrote nothing");
        test.database.fail_commits(false);
        let later = tokio::time::timeout(HEARTBEAT_INTERVAL, &mut beating).await;
        assert!(later.is_err(), "the heartbeat goes on");
        assert_eq!(rows().await.unwrap(), 1, "the next beat wrote the row");

        drop(stop);
        beating.await;
        assert_eq!(rows().await.unwrap(), 0, "and the goodbye removed it");
    }

    #[tokio::test]
    async fn a_goodbye_that_cannot_be_written_is_not_retried_and_the_row_lapses_instead() {
        use test_support::contracts::WriteFaults as _;

        let cluster = test_database::cluster_or_skip!("the presence goodbye case");
        let test = test_database::fresh(&cluster);
        let instance = Uuid::new_v4();
        // The instance's row, as its first beat wrote it.
        test.database
            .write(move |db| {
                diesel::insert_into(instances::table)
                    .values((
                        instances::id.eq(instance),
                        instances::heartbeat_at.eq(diesel::dsl::now),
                    ))
                    .execute(db)
            })
            .await
            .unwrap();
        test.database.fail_commits(true);
        let (stop, stopped) = oneshot::channel::<()>();
        drop(stop);

        // Stopped before its next beat: it says goodbye, which fails, and ends.
        tokio::time::timeout(
            Duration::from_secs(10),
            beat(test.database.clone(), instance, stopped),
        )
        .await
        .expect("the heartbeat ended");

        test.database.fail_commits(false);
        let rows = test
            .database
            .run(move |db| {
                instances::table
                    .filter(instances::id.eq(instance))
                    .count()
                    .get_result::<i64>(db)
            })
            .await
            .unwrap();
        assert_eq!(rows, 1, "the row stays until it lapses");
    }

    #[tokio::test]
    async fn presence_is_cluster_wide_and_a_silent_instance_drops_out() {
        let cluster = test_database::cluster_or_skip!("the presence across instances case");
        let test = test_database::fresh(&cluster);
        let ada = test.user("ada@example.com").await;
        let (a, b) = (
            PgPresence::start(test.database.clone()).unwrap(),
            PgPresence::start(test.database.clone()).unwrap(),
        );
        let (on_a, on_b) = (
            ConnectionId::from_uuid(Uuid::new_v4()),
            ConnectionId::from_uuid(Uuid::new_v4()),
        );

        assert!(a.register(ada, on_a).await.unwrap(), "first, on A");
        assert!(
            format!("{a:?}").starts_with("PgPresence { instance: "),
            "names its instance: {a:?}"
        );
        assert!(
            !b.register(ada, on_b).await.unwrap(),
            "not first: she is on A"
        );
        assert_eq!(
            b.present_among(&[ada]).await.unwrap().len(),
            1,
            "seen from B"
        );
        assert!(
            !a.unregister(ada, on_a).await.unwrap(),
            "not last: she is on B"
        );
        assert!(b.unregister(ada, on_b).await.unwrap(), "last, on B");

        // Another instance died without a goodbye a minute ago, Ada's connection still
        // in its rows: nobody cleaned up.
        test.database
            .run(move |db| {
                diesel::sql_query("INSERT INTO instances VALUES ($1, now() - interval '1 minute')")
                    .bind::<SqlUuid, _>(Uuid::new_v4())
                    .execute(db)?;
                diesel::sql_query(
                    "INSERT INTO presence_connections \
                     SELECT gen_random_uuid(), $1, id, true FROM instances \
                     WHERE heartbeat_at < now() - interval '30 seconds'",
                )
                .bind::<SqlUuid, _>(ada.as_uuid())
                .execute(db)
            })
            .await
            .unwrap();
        assert_eq!(
            b.present_among(&[ada]).await.unwrap(),
            [],
            "the dead instance's connection does not count"
        );
        assert!(b.register(ada, on_b).await.unwrap(), "first again, on B");
    }

    /// Records that an instance died a minute ago holding one connection of each of
    /// `users`; returns it.
    async fn dead_instance_holding(test: &test_database::TestDatabase, users: &[UserId]) -> Uuid {
        let dead = Uuid::new_v4();
        let users: Vec<Uuid> = users.iter().map(|user| user.as_uuid()).collect();
        test.database
            .run(move |db| {
                diesel::sql_query("INSERT INTO instances VALUES ($1, now() - interval '1 minute')")
                    .bind::<SqlUuid, _>(dead)
                    .execute(db)?;
                diesel::sql_query(
                    "INSERT INTO presence_connections \
                     SELECT gen_random_uuid(), user_id, $1, true FROM unnest($2) AS user_id",
                )
                .bind::<SqlUuid, _>(dead)
                .bind::<diesel::sql_types::Array<SqlUuid>, _>(users)
                .execute(db)
            })
            .await
            .unwrap();
        dead
    }

    #[tokio::test]
    async fn a_dead_instances_users_are_swept_once_and_only_when_absent_everywhere() {
        let cluster = test_database::cluster_or_skip!("the presence sweep case");
        let test = test_database::fresh(&cluster);
        let (ada, grace) = (
            test.user("ada@example.com").await,
            test.user("grace@example.com").await,
        );
        let (a, b) = (
            PgPresence::start(test.database.clone()).unwrap(),
            PgPresence::start(test.database.clone()).unwrap(),
        );
        assert_eq!(a.sweep_interval(), Some(HEARTBEAT_INTERVAL));
        // Ada has a live connection on A besides the dead instance's; Grace has two on
        // the dead instance only.
        assert!(
            a.register(ada, ConnectionId::from_uuid(Uuid::new_v4()))
                .await
                .unwrap()
        );
        let dead = dead_instance_holding(&test, &[ada, grace, grace]).await;

        // A and B sweep at once: Grace is told by one of them, Ada by neither.
        let (on_a, on_b) = tokio::join!(a.sweep_departed(), b.sweep_departed());
        let mut swept = on_a.unwrap();
        swept.extend(on_b.unwrap());
        assert_eq!(swept, [grace]);
        assert_eq!(
            a.sweep_departed().await.unwrap(),
            [],
            "nothing left to sweep"
        );
        let left: i64 = test
            .database
            .run(move |db| {
                diesel::sql_query(
                    "SELECT count(*) AS count FROM presence_connections WHERE instance_id = $1",
                )
                .bind::<SqlUuid, _>(dead)
                .get_result::<Count>(db)
            })
            .await
            .unwrap()
            .count;
        assert_eq!(left, 0, "the dead instance's connections are gone");
        assert_eq!(
            b.present_among(&[ada, grace]).await.unwrap(),
            [PresentUser {
                user: ada,
                state: PresenceState::Active
            }]
        );
    }

    #[tokio::test]
    async fn a_sweep_larger_than_a_batch_takes_every_user() {
        let cluster = test_database::cluster_or_skip!("the batched presence sweep case");
        let test = test_database::fresh(&cluster);
        let mut users = Vec::new();
        for n in 0..(2 * SWEEP_BATCH + 7) {
            users.push(test.user(&format!("user{n}@example.com")).await);
        }
        dead_instance_holding(&test, &users).await;
        let registry = PgPresence::start(test.database.clone()).unwrap();

        let mut swept = registry.sweep_departed().await.unwrap();

        swept.sort_unstable_by_key(|user| user.as_uuid());
        users.sort_unstable_by_key(|user| user.as_uuid());
        assert_eq!(swept, users);
    }
}

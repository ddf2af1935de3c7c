//! Sessions (refresh-token families) and refresh tokens in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::{AdapterError, SessionRepository, StoredCredentials};
use domain::{
    NewRefreshToken, NewSession, RefreshTokenRecord, SessionId, SessionSummary, TokenDigest, User,
    UserAgent, UserId,
};
use uuid::Uuid;

use super::Database;
use super::schema::{refresh_tokens, sessions, users};
use super::users::UserRow;

/// The [`SessionRepository`] port on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteSessionRepository {
    database: Database,
}

impl SqliteSessionRepository {
    /// A repository on `database`.
    #[must_use]
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
struct NewRefreshTokenRow {
    digest: String,
    session_id: String,
    issued_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

impl From<NewRefreshToken> for NewRefreshTokenRow {
    fn from(token: NewRefreshToken) -> Self {
        Self {
            digest: token.digest.as_ref().to_owned(),
            session_id: token.session.as_uuid().to_string(),
            issued_at: token.issued_at.naive_utc(),
            expires_at: token.expires_at.naive_utc(),
        }
    }
}

type TokenRow = (
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// A session as the session list reads it: id, created, last used, expires, user agent.
type SummaryRow = (
    String,
    NaiveDateTime,
    NaiveDateTime,
    NaiveDateTime,
    Option<String>,
);

fn parse_uuid(raw: &str) -> Result<Uuid, AdapterError> {
    Uuid::parse_str(raw).map_err(|error| AdapterError::new("stored id is not a UUID", error))
}

fn parse_session(raw: &str) -> Result<SessionId, AdapterError> {
    parse_uuid(raw).map(SessionId::from_uuid)
}

/// A session of the list, re-parsed like every stored value.
fn summary(
    (id, created_at, last_used_at, expires_at, user_agent): SummaryRow,
) -> Result<SessionSummary, AdapterError> {
    Ok(SessionSummary {
        id: parse_session(&id)?,
        created_at: created_at.and_utc(),
        last_used_at: last_used_at.and_utc(),
        expires_at: expires_at.and_utc(),
        // Re-parsed like every stored value: what was written through the domain type
        // comes back unchanged.
        user_agent: user_agent.as_deref().and_then(UserAgent::from_presented),
    })
}

#[async_trait]
impl SessionRepository for SqliteSessionRepository {
    async fn start(&self, new: NewSession) -> Result<(), AdapterError> {
        let NewSession {
            user_id,
            first,
            user_agent,
        } = new;
        self.database
            .write(move |connection| {
                diesel::insert_into(sessions::table)
                    .values((
                        sessions::id.eq(first.session.as_uuid().to_string()),
                        sessions::user_id.eq(user_id.to_string()),
                        sessions::created_at.eq(first.issued_at.naive_utc()),
                        sessions::last_used_at.eq(first.issued_at.naive_utc()),
                        sessions::expires_at.eq(first.expires_at.naive_utc()),
                        sessions::user_agent.eq(user_agent.as_ref().map(AsRef::as_ref)),
                    ))
                    .execute(connection)?;
                diesel::insert_into(refresh_tokens::table)
                    .values(NewRefreshTokenRow::from(first))
                    .execute(connection)
            })
            .await?;
        Ok(())
    }

    async fn find_live_user(
        &self,
        session: SessionId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, AdapterError> {
        let session = session.as_uuid().to_string();
        let user_id = user_id.to_string();
        let now = now.naive_utc();
        let row: Option<UserRow> = self
            .database
            // One statement: the session by its primary key, its user by theirs.
            .run(move |connection| {
                sessions::table
                    .inner_join(users::table)
                    .filter(sessions::id.eq(session))
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::expires_at.gt(now))
                    .select(UserRow::as_select())
                    // `get_result`, not `first`: a bound `LIMIT ?` makes SQLite re-prepare the
                    // statement at every call (see the `sqlite` module's docs). At most one row matches.
                    .get_result(connection)
                    .optional()
            })
            .await?;
        row.map(|row| StoredCredentials::try_from(row).map(|credentials| credentials.user))
            .transpose()
    }

    async fn list_live(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionSummary>, AdapterError> {
        let user_id = user_id.to_string();
        let now = now.naive_utc();
        let rows: Vec<SummaryRow> = self
            .database
            .run(move |connection| {
                sessions::table
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::expires_at.gt(now))
                    .order((sessions::last_used_at.desc(), sessions::created_at.desc()))
                    .select((
                        sessions::id,
                        sessions::created_at,
                        sessions::last_used_at,
                        sessions::expires_at,
                        sessions::user_agent,
                    ))
                    .load(connection)
            })
            .await?;
        rows.into_iter().map(summary).collect()
    }

    async fn find_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshTokenRecord>, AdapterError> {
        let digest = digest.as_ref().to_owned();
        let row: Option<TokenRow> = self
            .database
            .run(move |connection| {
                refresh_tokens::table
                    .inner_join(sessions::table)
                    .filter(refresh_tokens::digest.eq(digest))
                    .select((
                        refresh_tokens::session_id,
                        sessions::user_id,
                        refresh_tokens::expires_at,
                        refresh_tokens::spent_at,
                        sessions::revoked_at,
                    ))
                    // `get_result`, not `first`: a bound `LIMIT ?` makes SQLite re-prepare the
                    // statement at every call (see the `sqlite` module's docs). At most one row matches.
                    .get_result(connection)
                    .optional()
            })
            .await?;
        row.map(|(session, user, expires_at, spent_at, revoked_at)| {
            Ok(RefreshTokenRecord {
                session: parse_session(&session)?,
                user_id: UserId::from_uuid(parse_uuid(&user)?),
                expires_at: expires_at.and_utc(),
                spent_at: spent_at.map(|at| at.and_utc()),
                session_revoked_at: revoked_at.map(|at| at.and_utc()),
            })
        })
        .transpose()
    }

    async fn rotate(
        &self,
        presented: &TokenDigest,
        replacement: NewRefreshToken,
        now: DateTime<Utc>,
    ) -> Result<bool, AdapterError> {
        let presented = presented.as_ref().to_owned();
        let now = now.naive_utc();
        let rotated = self
            .database
            // The door's IMMEDIATE transaction takes the write lock up front, so two
            // rotations of one token run one after the other; the conditional update then
            // lets exactly one of them spend it.
            .write(move |connection| {
                let live_sessions = sessions::table
                    .filter(sessions::revoked_at.is_null())
                    .select(sessions::id);
                let spent = diesel::update(
                    refresh_tokens::table
                        .filter(refresh_tokens::digest.eq(&presented))
                        .filter(refresh_tokens::spent_at.is_null())
                        .filter(refresh_tokens::expires_at.gt(now))
                        .filter(refresh_tokens::session_id.eq_any(live_sessions)),
                )
                .set(refresh_tokens::spent_at.eq(now))
                .execute(connection)?;
                if spent != 1 {
                    return Ok(false);
                }
                diesel::update(sessions::table.find(replacement.session.as_uuid().to_string()))
                    .set((
                        sessions::last_used_at.eq(now),
                        sessions::expires_at.eq(replacement.expires_at.naive_utc()),
                    ))
                    .execute(connection)?;
                diesel::insert_into(refresh_tokens::table)
                    .values(NewRefreshTokenRow::from(replacement))
                    .execute(connection)?;
                Ok(true)
            })
            .await?;
        Ok(rotated)
    }

    async fn revoke(&self, session: SessionId, at: DateTime<Utc>) -> Result<(), AdapterError> {
        let session = session.as_uuid().to_string();
        self.database
            .write(move |connection| {
                diesel::update(
                    sessions::table
                        .find(session)
                        .filter(sessions::revoked_at.is_null()),
                )
                .set(sessions::revoked_at.eq(at.naive_utc()))
                .execute(connection)
            })
            .await?;
        Ok(())
    }

    async fn revoke_of_user(
        &self,
        user_id: UserId,
        session: SessionId,
        at: DateTime<Utc>,
    ) -> Result<bool, AdapterError> {
        let session = session.as_uuid().to_string();
        let user_id = user_id.to_string();
        let revoked = self
            .database
            .write(move |connection| {
                // Owner, liveness and the revocation in one conditional update: another
                // user's session and an unknown one are the same "no row".
                diesel::update(
                    sessions::table
                        .find(session)
                        .filter(sessions::user_id.eq(user_id))
                        .filter(sessions::revoked_at.is_null())
                        .filter(sessions::expires_at.gt(at.naive_utc())),
                )
                .set(sessions::revoked_at.eq(at.naive_utc()))
                .execute(connection)
            })
            .await?;
        Ok(revoked == 1)
    }

    async fn revoke_all_of_user(
        &self,
        user_id: UserId,
        except: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, AdapterError> {
        let user_id = user_id.to_string();
        // No session has the empty string as its id: "except none" keeps nothing.
        let except = except
            .map(|session| session.as_uuid().to_string())
            .unwrap_or_default();
        let revoked: Vec<String> = self
            .database
            .write(move |connection| {
                diesel::update(
                    sessions::table
                        .filter(sessions::user_id.eq(user_id))
                        .filter(sessions::revoked_at.is_null())
                        .filter(sessions::id.ne(except)),
                )
                .set(sessions::revoked_at.eq(at.naive_utc()))
                .returning(sessions::id)
                .load(connection)
            })
            .await?;
        revoked.iter().map(|id| parse_session(id)).collect()
    }

    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, AdapterError> {
        let now = now.naive_utc();
        let pruned = self
            .database
            .write(move |connection| {
                {
                    // A spent token is kept until it expires: presenting it again must
                    // still be recognised as reuse.
                    let tokens = diesel::delete(
                        refresh_tokens::table.filter(refresh_tokens::expires_at.le(now)),
                    )
                    .execute(connection)?;
                    let live_tokens = refresh_tokens::table.select(refresh_tokens::session_id);
                    // Revoked sessions go with their tokens (ON DELETE CASCADE); so do
                    // sessions left without any token.
                    let sessions = diesel::delete(
                        sessions::table.filter(
                            sessions::revoked_at
                                .is_not_null()
                                .or(sessions::id.ne_all(live_tokens)),
                        ),
                    )
                    .execute(connection)?;
                    Ok::<_, diesel::result::Error>(tokens + sessions)
                }
            })
            .await?;
        Ok(u64::try_from(pruned).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use diesel::connection::SimpleConnection as _;
    use test_support::contracts::at;
    use test_support::contracts::sessions::{digest, new_session, session_of, token};

    use super::*;
    use crate::sqlite::test_database::{self, TestDatabase};

    /// A fresh database, a repository on it and one user, Ada.
    async fn setup() -> (TestDatabase, SqliteSessionRepository, UserId) {
        let test = test_database::fresh();
        let repository = SqliteSessionRepository::new(test.database.clone());
        let ada = test.user("ada@example.com").await;
        (test, repository, ada)
    }

    #[tokio::test]
    async fn honours_the_session_repository_contract() {
        ::test_support::contracts::sessions::run(|| async { test_database::fresh().store() }).await;
    }

    #[tokio::test]
    async fn a_session_whose_token_cannot_be_stored_is_not_stored_either() {
        let (test, repository, ada) = setup().await;
        repository
            .start(session_of(ada, token("first", new_session())))
            .await
            .unwrap();

        // Same digest, new session: the token insert fails after the session insert.
        let outcome = repository
            .start(session_of(ada, token("first", new_session())))
            .await;

        assert!(outcome.is_err());
        let sessions_left: i64 = test
            .database
            .run(|connection| sessions::table.count().get_result(connection))
            .await
            .unwrap();
        assert_eq!(sessions_left, 1);
    }

    #[tokio::test]
    async fn a_corrupt_stored_id_is_an_error_not_a_panic() {
        let (test, repository, ada) = setup().await;
        let ada_id = ada.to_string();
        test.database
            .run(move |connection| {
                // A session whose id is not a UUID, of a real user; and a session of a user
                // whose id is not a UUID (foreign keys off to plant it).
                connection.batch_execute(&format!(
                    "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at) \
                     VALUES ('not-a-uuid', '{ada_id}', '2026-11-23 12:00:00', \
                     '2026-11-23 12:00:00', '2026-11-23 12:30:00'); \
                     INSERT INTO refresh_tokens VALUES ('corrupt-session', 'not-a-uuid', \
                     '2026-11-23 12:00:00', '2026-11-23 12:30:00', NULL); \
                     PRAGMA foreign_keys = OFF; \
                     INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at) \
                     VALUES ('{session}', 'not-a-user-uuid', '2026-11-23 12:00:00', \
                     '2026-11-23 12:00:00', '2026-11-23 12:30:00'); \
                     INSERT INTO refresh_tokens VALUES ('corrupt-user', '{session}', \
                     '2026-11-23 12:00:00', '2026-11-23 12:30:00', NULL); \
                     PRAGMA foreign_keys = ON;",
                    session = Uuid::new_v4(),
                ))
            })
            .await
            .unwrap();

        for raw in ["corrupt-session", "corrupt-user"] {
            let outcome = repository.find_token(&digest(raw)).await;
            assert!(outcome.is_err(), "{raw} gave {outcome:?}");
        }
        let listed = repository.list_live(ada, at(1)).await;
        assert!(listed.is_err(), "the list gave {listed:?}");
    }

    #[tokio::test]
    async fn a_corrupt_user_behind_a_live_session_is_an_error_not_a_panic() {
        let (test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(session_of(ada, token("first", session)))
            .await
            .unwrap();
        let ada_id = ada.to_string();
        test.database
            .run(move |connection| {
                connection.batch_execute(&format!(
                    "UPDATE users SET email = 'not an address' WHERE id = '{ada_id}'"
                ))
            })
            .await
            .unwrap();

        let outcome = repository.find_live_user(session, ada, at(1)).await;

        assert!(outcome.is_err(), "gave {outcome:?}");
    }

    #[tokio::test]
    async fn the_migration_dates_existing_sessions_from_their_tokens() {
        let test = test_database::fresh();
        let ada = test.user("ada@example.com").await;
        let ada_id = ada.to_string();
        let (rotated, untouched) = (new_session(), new_session());
        let rotated_id = rotated.as_uuid().to_string();
        let untouched_id = untouched.as_uuid().to_string();
        // Sessions as the previous schema stored them, then the migration's backfill.
        test.database
            .run(move |connection| {
                connection.batch_execute(&format!(
                    "INSERT INTO sessions (id, user_id, created_at) VALUES \
                     ('{rotated_id}', '{ada_id}', '2026-11-23 12:00:00'), \
                     ('{untouched_id}', '{ada_id}', '2026-11-23 12:01:00'); \
                     INSERT INTO refresh_tokens VALUES \
                     ('a', '{rotated_id}', '2026-11-23 12:00:00', '2026-11-23 12:30:00', \
                      '2026-11-23 12:10:00'), \
                     ('b', '{rotated_id}', '2026-11-23 12:10:00', '2026-11-23 12:40:00', NULL); \
                     {backfill}",
                    backfill = backfill(),
                ))
            })
            .await
            .unwrap();
        let repository = SqliteSessionRepository::new(test.database.clone());

        let sessions = repository.list_live(ada, at(5)).await.unwrap();

        assert_eq!(sessions.len(), 1, "a session without tokens is not live");
        assert_eq!(sessions[0].id, rotated);
        assert_eq!(sessions[0].last_used_at, at(10));
        assert_eq!(sessions[0].expires_at, at(40));
        assert_eq!(sessions[0].user_agent, None);
    }

    /// The backfill statement of the session-details migration, as it ran on the rows
    /// stored before it (a fresh test database has none to run it on).
    fn backfill() -> &'static str {
        const MIGRATION: &str =
            include_str!("../../../../migrations/sqlite/2026-12-02-000000_session_details/up.sql");
        let start = MIGRATION.find("UPDATE sessions SET").unwrap();
        let length = MIGRATION[start..].find(';').unwrap() + 1;
        &MIGRATION[start..start + length]
    }
}

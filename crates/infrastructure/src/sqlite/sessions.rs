//! Sessions (refresh-token families) and refresh tokens in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::{AdapterError, SessionRepository};
use domain::{NewRefreshToken, RefreshTokenRecord, SessionId, TokenDigest, UserId};
use uuid::Uuid;

use super::Database;
use super::schema::{refresh_tokens, sessions};

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

fn parse_uuid(raw: &str) -> Result<Uuid, AdapterError> {
    Uuid::parse_str(raw).map_err(|error| AdapterError::new("stored id is not a UUID", error))
}

#[async_trait]
impl SessionRepository for SqliteSessionRepository {
    async fn start(&self, user_id: UserId, first: NewRefreshToken) -> Result<(), AdapterError> {
        self.database
            .write(move |connection| {
                diesel::insert_into(sessions::table)
                    .values((
                        sessions::id.eq(first.session.as_uuid().to_string()),
                        sessions::user_id.eq(user_id.to_string()),
                        sessions::created_at.eq(first.issued_at.naive_utc()),
                    ))
                    .execute(connection)?;
                diesel::insert_into(refresh_tokens::table)
                    .values(NewRefreshTokenRow::from(first))
                    .execute(connection)
            })
            .await?;
        Ok(())
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
                    .first(connection)
                    .optional()
            })
            .await?;
        row.map(|(session, user, expires_at, spent_at, revoked_at)| {
            Ok(RefreshTokenRecord {
                session: SessionId::from_uuid(parse_uuid(&session)?),
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

    async fn revoke_all_of_user(
        &self,
        user_id: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), AdapterError> {
        let user_id = user_id.to_string();
        self.database
            .write(move |connection| {
                diesel::update(
                    sessions::table
                        .filter(sessions::user_id.eq(user_id))
                        .filter(sessions::revoked_at.is_null()),
                )
                .set(sessions::revoked_at.eq(at.naive_utc()))
                .execute(connection)
            })
            .await?;
        Ok(())
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
    use test_support::contracts::sessions::{digest, new_session, token};

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
            .start(ada, token("first", new_session()))
            .await
            .unwrap();

        // Same digest, new session: the token insert fails after the session insert.
        let outcome = repository.start(ada, token("first", new_session())).await;

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
        let ada = ada.to_string();
        test.database
            .run(move |connection| {
                // A session whose id is not a UUID, of a real user; and a session of a user
                // whose id is not a UUID (foreign keys off to plant it).
                connection.batch_execute(&format!(
                    "INSERT INTO sessions VALUES ('not-a-uuid', '{ada}', \
                     '2026-11-23 12:00:00', NULL); \
                     INSERT INTO refresh_tokens VALUES ('corrupt-session', 'not-a-uuid', \
                     '2026-11-23 12:00:00', '2026-11-23 12:30:00', NULL); \
                     PRAGMA foreign_keys = OFF; \
                     INSERT INTO sessions VALUES ('{session}', 'not-a-user-uuid', \
                     '2026-11-23 12:00:00', NULL); \
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
    }
}

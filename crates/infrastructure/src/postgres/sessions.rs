//! Sessions (refresh-token families) and refresh tokens in PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::ports::{AdapterError, SessionRepository, StoredCredentials};
use domain::{
    NewRefreshToken, NewSession, RefreshTokenRecord, SessionId, SessionSummary, TokenDigest, User,
    UserAgent, UserId,
};
use uuid::Uuid;

use super::PgDatabase;
use super::schema::{refresh_tokens, sessions, users};
use super::users::UserRow;

/// The [`SessionRepository`] port on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSessionRepository {
    database: PgDatabase,
}

impl PgSessionRepository {
    /// A repository on `database`.
    #[must_use]
    pub fn new(database: PgDatabase) -> Self {
        Self { database }
    }
}

#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
struct NewRefreshTokenRow {
    digest: String,
    session_id: Uuid,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<NewRefreshToken> for NewRefreshTokenRow {
    fn from(token: NewRefreshToken) -> Self {
        Self {
            digest: token.digest.as_ref().to_owned(),
            session_id: token.session.as_uuid(),
            issued_at: token.issued_at,
            expires_at: token.expires_at,
        }
    }
}

type TokenRow = (
    Uuid,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// A session as the session list reads it: id, created, last used, expires, user agent.
type SummaryRow = (
    Uuid,
    DateTime<Utc>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<String>,
);

fn summary((id, created_at, last_used_at, expires_at, user_agent): SummaryRow) -> SessionSummary {
    SessionSummary {
        id: SessionId::from_uuid(id),
        created_at,
        last_used_at,
        expires_at,
        // Re-parsed like every stored value: what was written through the domain type
        // comes back unchanged.
        user_agent: user_agent.as_deref().and_then(UserAgent::from_presented),
    }
}

#[async_trait]
impl SessionRepository for PgSessionRepository {
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
                        sessions::id.eq(first.session.as_uuid()),
                        sessions::user_id.eq(user_id.as_uuid()),
                        sessions::created_at.eq(first.issued_at),
                        sessions::last_used_at.eq(first.issued_at),
                        sessions::expires_at.eq(first.expires_at),
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
        let row: Option<UserRow> = self
            .database
            // One statement: the session by its primary key, its user by theirs.
            .run(move |connection| {
                sessions::table
                    .inner_join(users::table)
                    .filter(sessions::id.eq(session.as_uuid()))
                    .filter(sessions::user_id.eq(user_id.as_uuid()))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::expires_at.gt(now))
                    .select(UserRow::as_select())
                    .first(connection)
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
        let rows: Vec<SummaryRow> = self
            .database
            .run(move |connection| {
                sessions::table
                    .filter(sessions::user_id.eq(user_id.as_uuid()))
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
        Ok(rows.into_iter().map(summary).collect())
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
        Ok(row.map(
            |(session, user, expires_at, spent_at, revoked_at)| RefreshTokenRecord {
                session: SessionId::from_uuid(session),
                user_id: UserId::from_uuid(user),
                expires_at,
                spent_at,
                session_revoked_at: revoked_at,
            },
        ))
    }

    async fn rotate(
        &self,
        presented: &TokenDigest,
        replacement: NewRefreshToken,
        now: DateTime<Utc>,
    ) -> Result<bool, AdapterError> {
        let presented = presented.as_ref().to_owned();
        let rotated = self
            .database
            // The conditional UPDATE takes the token row's lock: a concurrent rotation of
            // the same token (on any instance) waits for this transaction, then re-checks
            // `spent_at IS NULL` against the committed row and updates nothing.
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
                diesel::update(sessions::table.find(replacement.session.as_uuid()))
                    .set((
                        sessions::last_used_at.eq(now),
                        sessions::expires_at.eq(replacement.expires_at),
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
        self.database
            .write(move |connection| {
                diesel::update(
                    sessions::table
                        .find(session.as_uuid())
                        .filter(sessions::revoked_at.is_null()),
                )
                .set(sessions::revoked_at.eq(at))
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
        let revoked = self
            .database
            .write(move |connection| {
                // Owner, liveness and the revocation in one conditional update: another
                // user's session and an unknown one are the same "no row".
                diesel::update(
                    sessions::table
                        .find(session.as_uuid())
                        .filter(sessions::user_id.eq(user_id.as_uuid()))
                        .filter(sessions::revoked_at.is_null())
                        .filter(sessions::expires_at.gt(at)),
                )
                .set(sessions::revoked_at.eq(at))
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
        let revoked: Vec<Uuid> = self
            .database
            .write(move |connection| {
                let mut live = sessions::table
                    .filter(sessions::user_id.eq(user_id.as_uuid()))
                    .filter(sessions::revoked_at.is_null())
                    .into_boxed();
                if let Some(except) = except {
                    live = live.filter(sessions::id.ne(except.as_uuid()));
                }
                diesel::update(sessions::table)
                    .filter(sessions::id.eq_any(live.select(sessions::id)))
                    .set(sessions::revoked_at.eq(at))
                    .returning(sessions::id)
                    .load(connection)
            })
            .await?;
        Ok(revoked.into_iter().map(SessionId::from_uuid).collect())
    }

    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, AdapterError> {
        let pruned = self
            .database
            .write(move |connection| {
                // A spent token is kept until it expires: presenting it again must still
                // be recognised as reuse.
                let tokens = diesel::delete(
                    refresh_tokens::table.filter(refresh_tokens::expires_at.le(now)),
                )
                .execute(connection)?;
                let live_tokens = refresh_tokens::table.select(refresh_tokens::session_id);
                // Revoked sessions go with their tokens (ON DELETE CASCADE); so do sessions
                // left without any token.
                let sessions = diesel::delete(
                    sessions::table.filter(
                        sessions::revoked_at
                            .is_not_null()
                            .or(sessions::id.ne_all(live_tokens)),
                    ),
                )
                .execute(connection)?;
                Ok(tokens + sessions)
            })
            .await?;
        Ok(u64::try_from(pruned).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use test_support::contracts::at;
    use test_support::contracts::sessions::{new_session, session_of, token};

    use super::*;
    use crate::postgres::test_database;

    #[tokio::test]
    async fn honours_the_session_repository_contract() {
        let cluster = test_database::cluster_or_skip!("the session repository contract");
        ::test_support::contracts::sessions::run(|| {
            let store = test_database::fresh(&cluster).store();
            async move { store }
        })
        .await;
    }

    #[tokio::test]
    async fn a_corrupt_user_behind_a_live_session_is_an_error_not_a_panic() {
        let cluster = test_database::cluster_or_skip!("the corrupt session user case");
        let test = test_database::fresh(&cluster);
        let repository = PgSessionRepository::new(test.database.clone());
        let ada = test.user("ada@example.com").await;
        let session = new_session();
        repository
            .start(session_of(ada, token("first", session)))
            .await
            .unwrap();
        test.database
            .run(move |connection| {
                diesel::sql_query("UPDATE users SET email = 'not an address' WHERE id = $1")
                    .bind::<diesel::sql_types::Uuid, _>(ada.as_uuid())
                    .execute(connection)
            })
            .await
            .unwrap();

        let outcome = repository.find_live_user(session, ada, at(1)).await;

        assert!(outcome.is_err(), "gave {outcome:?}");
    }
}

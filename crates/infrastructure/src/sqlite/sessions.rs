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
            .run(move |connection| {
                connection.transaction(|connection| {
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
            .run(move |connection| {
                // IMMEDIATE takes the write lock up front, so two rotations of one token
                // run one after the other; the conditional update then lets exactly one
                // of them spend it.
                connection.immediate_transaction(|connection| {
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
            })
            .await?;
        Ok(rotated)
    }

    async fn revoke(&self, session: SessionId, at: DateTime<Utc>) -> Result<(), AdapterError> {
        let session = session.as_uuid().to_string();
        self.database
            .run(move |connection| {
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
            .run(move |connection| {
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
            .run(move |connection| {
                connection.transaction(|connection| {
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
                })
            })
            .await?;
        Ok(u64::try_from(pruned).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::TimeZone as _;
    use diesel::connection::SimpleConnection as _;
    use domain::ports::UserRepository as _;
    use domain::{Email, NewUser, PasswordHash, PersonName, User};

    use super::*;
    use crate::sqlite::SqliteUserRepository;
    use crate::sqlite::test_support::{self, TestDatabase};

    /// Every token in these tests is issued at `at(0)` and expires at `at(30)`.
    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, minute, 0).unwrap()
    }

    fn digest(raw: &str) -> TokenDigest {
        TokenDigest::new(raw.to_owned())
    }

    fn new_session() -> SessionId {
        SessionId::from_uuid(Uuid::new_v4())
    }

    fn token(raw: &str, session: SessionId) -> NewRefreshToken {
        NewRefreshToken {
            digest: digest(raw),
            session,
            issued_at: at(0),
            expires_at: at(30),
        }
    }

    /// Stores a user, since `sessions.user_id` references `users.id`.
    async fn user(test: &TestDatabase, email: &str) -> UserId {
        let id = UserId::from_uuid(Uuid::new_v4());
        SqliteUserRepository::new(test.database.clone())
            .insert(NewUser {
                user: User {
                    id,
                    email: Email::parse(email).unwrap(),
                    first_name: PersonName::parse("Ada").unwrap(),
                    last_name: PersonName::parse("Lovelace").unwrap(),
                    created_at: at(0),
                    updated_at: at(0),
                },
                password_hash: PasswordHash::new("$2b$04$hash".into()),
            })
            .await
            .unwrap();
        id
    }

    /// A fresh database, a repository on it and one user, Ada.
    async fn setup() -> (TestDatabase, SqliteSessionRepository, UserId) {
        let test = test_support::fresh();
        let repository = SqliteSessionRepository::new(test.database.clone());
        let ada = user(&test, "ada@example.com").await;
        (test, repository, ada)
    }

    async fn find(repository: &SqliteSessionRepository, raw: &str) -> Option<RefreshTokenRecord> {
        repository.find_token(&digest(raw)).await.unwrap()
    }

    #[tokio::test]
    async fn a_started_session_finds_its_first_token_live() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();

        let record = find(&repository, "first").await;
        assert_eq!(
            record,
            Some(RefreshTokenRecord {
                session,
                user_id: ada,
                expires_at: at(30),
                spent_at: None,
                session_revoked_at: None,
            })
        );
    }

    #[tokio::test]
    async fn an_unknown_digest_is_none() {
        let (_test, repository, ada) = setup().await;
        repository
            .start(ada, token("first", new_session()))
            .await
            .unwrap();
        assert_eq!(find(&repository, "never-issued").await, None);
    }

    #[tokio::test]
    async fn starting_a_session_for_an_unknown_user_fails_and_stores_nothing() {
        let (_test, repository, _ada) = setup().await;
        let nobody = UserId::from_uuid(Uuid::new_v4());
        let outcome = repository
            .start(nobody, token("orphan", new_session()))
            .await;
        assert!(outcome.is_err());
        assert_eq!(find(&repository, "orphan").await, None);
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
    async fn rotating_spends_the_presented_token_and_stores_a_live_replacement() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();

        let rotated = repository
            .rotate(&digest("first"), token("second", session), at(10))
            .await
            .unwrap();

        assert!(rotated);
        let presented = find(&repository, "first").await.unwrap();
        assert_eq!(presented.spent_at, Some(at(10)));
        assert_eq!(presented.session_revoked_at, None);
        let replacement = find(&repository, "second").await.unwrap();
        assert_eq!(replacement.session, session);
        assert_eq!(replacement.user_id, ada);
        assert_eq!(replacement.expires_at, at(30));
        assert_eq!(replacement.spent_at, None);
        assert_eq!(replacement.session_revoked_at, None);
    }

    #[tokio::test]
    async fn a_spent_token_does_not_rotate_again_and_its_replacement_is_not_stored() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();
        assert!(
            repository
                .rotate(&digest("first"), token("second", session), at(10))
                .await
                .unwrap()
        );

        let again = repository
            .rotate(&digest("first"), token("third", session), at(11))
            .await
            .unwrap();

        assert!(!again);
        assert_eq!(find(&repository, "third").await, None);
        // The first spend is what stays on record.
        assert_eq!(
            find(&repository, "first").await.unwrap().spent_at,
            Some(at(10))
        );
    }

    #[tokio::test]
    async fn a_rotation_whose_replacement_cannot_be_stored_changes_nothing() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();
        repository
            .start(ada, token("taken", new_session()))
            .await
            .unwrap();

        // The replacement's digest is already stored: the insert fails after the spend.
        let outcome = repository
            .rotate(&digest("first"), token("taken", session), at(10))
            .await;

        assert!(outcome.is_err(), "gave {outcome:?}");
        assert_eq!(find(&repository, "first").await.unwrap().spent_at, None);
        assert!(
            repository
                .rotate(&digest("first"), token("second", session), at(11))
                .await
                .unwrap(),
            "the presented token is still live"
        );
    }

    #[tokio::test]
    async fn an_expired_token_does_not_rotate() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();

        // At its expiry instant a token is no longer live.
        for now in [at(30), at(31)] {
            let rotated = repository
                .rotate(&digest("first"), token("second", session), now)
                .await
                .unwrap();
            assert!(!rotated, "rotated at {now}");
        }
        assert_eq!(find(&repository, "first").await.unwrap().spent_at, None);
        assert_eq!(find(&repository, "second").await, None);
    }

    #[tokio::test]
    async fn a_token_of_a_revoked_session_does_not_rotate() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();
        repository.revoke(session, at(5)).await.unwrap();

        let rotated = repository
            .rotate(&digest("first"), token("second", session), at(10))
            .await
            .unwrap();

        assert!(!rotated);
        assert_eq!(find(&repository, "first").await.unwrap().spent_at, None);
        assert_eq!(find(&repository, "second").await, None);
    }

    #[tokio::test]
    async fn an_unknown_token_does_not_rotate() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();

        let rotated = repository
            .rotate(&digest("never-issued"), token("second", session), at(10))
            .await
            .unwrap();

        assert!(!rotated);
        assert_eq!(find(&repository, "second").await, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_two_concurrent_rotations_of_one_token_exactly_one_wins() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();

        let presented = digest("first");
        let (left, right) = tokio::join!(
            repository.rotate(&presented, token("left", session), at(10)),
            repository.rotate(&presented, token("right", session), at(10)),
        );
        let (left, right) = (left.unwrap(), right.unwrap());

        assert!(left ^ right, "left rotated: {left}, right rotated: {right}");
        let stored = [
            find(&repository, "left").await,
            find(&repository, "right").await,
        ];
        assert_eq!(
            stored.iter().filter(|record| record.is_some()).count(),
            1,
            "exactly the winner's replacement is stored: {stored:?}"
        );
        assert_eq!(stored[0].is_some(), left);
    }

    #[tokio::test]
    async fn revoking_marks_the_session_once_and_tolerates_repeats_and_unknown_sessions() {
        let (_test, repository, ada) = setup().await;
        let session = new_session();
        repository
            .start(ada, token("first", session))
            .await
            .unwrap();

        repository.revoke(session, at(5)).await.unwrap();
        let record = find(&repository, "first").await.unwrap();
        assert_eq!(record.session_revoked_at, Some(at(5)));

        repository.revoke(session, at(6)).await.unwrap();
        let record = find(&repository, "first").await.unwrap();
        assert_eq!(
            record.session_revoked_at,
            Some(at(5)),
            "a second revocation keeps the first instant"
        );

        repository.revoke(new_session(), at(7)).await.unwrap();
    }

    #[tokio::test]
    async fn revoking_all_of_a_users_sessions_leaves_other_users_alone() {
        let (test, repository, ada) = setup().await;
        let grace = user(&test, "grace@example.com").await;
        repository
            .start(ada, token("ada-laptop", new_session()))
            .await
            .unwrap();
        repository
            .start(ada, token("ada-phone", new_session()))
            .await
            .unwrap();
        repository
            .start(grace, token("grace-laptop", new_session()))
            .await
            .unwrap();

        repository.revoke_all_of_user(ada, at(5)).await.unwrap();

        for raw in ["ada-laptop", "ada-phone"] {
            let record = find(&repository, raw).await.unwrap();
            assert_eq!(record.session_revoked_at, Some(at(5)), "session of {raw}");
        }
        let record = find(&repository, "grace-laptop").await.unwrap();
        assert_eq!(record.session_revoked_at, None, "session of grace-laptop");
        // A user without sessions is not an error.
        let nobody = UserId::from_uuid(Uuid::new_v4());
        repository.revoke_all_of_user(nobody, at(6)).await.unwrap();
    }

    #[tokio::test]
    async fn pruning_deletes_what_is_dead_and_keeps_what_can_still_be_presented() {
        let (test, repository, ada) = setup().await;
        // Live: one unspent token, kept.
        repository
            .start(ada, token("live", new_session()))
            .await
            .unwrap();
        // Rotated: a spent token and its live replacement, both kept (presenting the spent
        // one again must still be recognised as reuse).
        let rotated = new_session();
        repository
            .start(ada, token("spent", rotated))
            .await
            .unwrap();
        assert!(
            repository
                .rotate(&digest("spent"), token("replacement", rotated), at(10))
                .await
                .unwrap()
        );
        // Expired: its only token expired, so the token goes and then the empty session.
        let expired = new_session();
        let mut short = token("expired", expired);
        short.expires_at = at(15);
        repository.start(ada, short).await.unwrap();
        // Revoked: the session goes, and its live token with it by cascade.
        let revoked = new_session();
        repository
            .start(ada, token("revoked", revoked))
            .await
            .unwrap();
        repository.revoke(revoked, at(12)).await.unwrap();

        let pruned = repository.prune(at(20)).await.unwrap();

        // One expired token and two sessions; the revoked session's token goes by
        // cascade, which SQLite does not count.
        assert_eq!(pruned, 3);
        for raw in ["live", "spent", "replacement"] {
            assert!(find(&repository, raw).await.is_some(), "{raw} was kept");
        }
        for raw in ["expired", "revoked"] {
            assert_eq!(find(&repository, raw).await, None, "{raw} was pruned");
        }
        assert_eq!(
            find(&repository, "spent").await.unwrap().spent_at,
            Some(at(10))
        );
        let sessions_left: i64 = test
            .database
            .run(|connection| sessions::table.count().get_result(connection))
            .await
            .unwrap();
        assert_eq!(sessions_left, 2, "the live and the rotated sessions remain");
        let tokens_left: i64 = test
            .database
            .run(|connection| refresh_tokens::table.count().get_result(connection))
            .await
            .unwrap();
        assert_eq!(tokens_left, 3);

        assert_eq!(
            repository.prune(at(20)).await.unwrap(),
            0,
            "a second prune finds nothing"
        );
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

//! Users in SQLite.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::ports::{
    AdapterError, HashReplacement, InsertUserError, StoredCredentials, UserRepository,
};
use domain::{Email, NewUser, PasswordHash, PersonName, User, UserId};
use uuid::Uuid;

use super::schema::users;
use super::{Database, DbError, USERS_EMAIL_UNIQUE, violated_constraint};
use crate::stored_users::{UserParts, corrupt};

/// A row of `users` as read (also by the session store, which reads a session's user
/// in the same query as the session).
#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    first_name: String,
    last_name: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A row of `users` as written.
#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: String,
    email: &'a str,
    password_hash: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<UserRow> for StoredCredentials {
    type Error = AdapterError;

    fn try_from(row: UserRow) -> Result<Self, AdapterError> {
        Self::try_from(UserParts {
            id: UserId::from_uuid(Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?),
            email: &row.email,
            password_hash: row.password_hash,
            first_name: &row.first_name,
            last_name: &row.last_name,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// The [`UserRepository`] port on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteUserRepository {
    database: Database,
}

impl SqliteUserRepository {
    /// A repository on `database`.
    #[must_use]
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    async fn find_one<F>(&self, filter: F) -> Result<Option<StoredCredentials>, AdapterError>
    where
        F: FnOnce(&mut SqliteConnection) -> QueryResult<Option<UserRow>> + Send + 'static,
    {
        self.database
            .run(filter)
            .await?
            .map(StoredCredentials::try_from)
            .transpose()
    }
}

/// How many ids one `IN (…)` list of [`SqliteUserRepository::find_by_ids`] holds.
const IDS_PER_QUERY: usize = 500;

fn naive(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc()
}

#[async_trait]
impl UserRepository for SqliteUserRepository {
    async fn insert(&self, new_user: NewUser) -> Result<(), InsertUserError> {
        let outcome = self
            .database
            .write(move |connection| {
                let user = &new_user.user;
                diesel::insert_into(users::table)
                    .values(NewUserRow {
                        id: user.id.to_string(),
                        email: user.email.as_ref(),
                        password_hash: new_user.password_hash.as_ref(),
                        first_name: user.first_name.as_ref(),
                        last_name: user.last_name.as_ref(),
                        created_at: naive(user.created_at),
                        updated_at: naive(user.updated_at),
                    })
                    .execute(connection)
            })
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(DbError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                info,
            ))) if violated_constraint(info.as_ref()) == Some(USERS_EMAIL_UNIQUE) => {
                Err(InsertUserError::EmailTaken)
            }
            Err(error) => Err(AdapterError::from(error).into()),
        }
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, AdapterError> {
        let id = id.to_string();
        let found = self
            .find_one(move |connection| {
                users::table
                    .find(id)
                    .select(UserRow::as_select())
                    // `get_result`, not `first`: a bound `LIMIT ?` makes SQLite re-prepare the
                    // statement at every call (see the `sqlite` module's docs). At most one row matches.
                    .get_result(connection)
                    .optional()
            })
            .await?;
        Ok(found.map(|credentials| credentials.user))
    }

    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, AdapterError> {
        // Distinct and sorted: each id is asked for once, and the chunks come back in
        // the order the answer keeps.
        let ids: Vec<String> = ids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(UserId::to_string)
            .collect();
        let rows: Vec<UserRow> = self
            .database
            .run(move |connection| {
                let mut rows = Vec::with_capacity(ids.len());
                // Well under SQLite's limit on bound parameters per statement, whatever
                // the size of the room.
                for chunk in ids.chunks(IDS_PER_QUERY) {
                    rows.extend(
                        users::table
                            .filter(users::id.eq_any(chunk))
                            .order(users::id.asc())
                            .select(UserRow::as_select())
                            .load(connection)?,
                    );
                }
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|row| StoredCredentials::try_from(row).map(|credentials| credentials.user))
            .collect()
    }

    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<StoredCredentials>, AdapterError> {
        let email = email.to_string();
        self.find_one(move |connection| {
            users::table
                .filter(users::email.eq(email))
                .select(UserRow::as_select())
                // `get_result`, not `first`: a bound `LIMIT ?` makes SQLite re-prepare the
                // statement at every call (see the `sqlite` module's docs). At most one row matches.
                .get_result(connection)
                .optional()
        })
        .await
    }

    async fn update_names(
        &self,
        id: UserId,
        first_name: PersonName,
        last_name: PersonName,
        updated_at: DateTime<Utc>,
    ) -> Result<Option<User>, AdapterError> {
        let id = id.to_string();
        let found = self
            .database
            .write(move |connection| {
                diesel::update(users::table.find(id))
                    .set((
                        users::first_name.eq(first_name.as_ref()),
                        users::last_name.eq(last_name.as_ref()),
                        users::updated_at.eq(naive(updated_at)),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(connection)
                    .optional()
            })
            .await?
            .map(StoredCredentials::try_from)
            .transpose()?;
        Ok(found.map(|credentials| credentials.user))
    }

    async fn update_password_hash(
        &self,
        id: UserId,
        password_hash: PasswordHash,
        at: DateTime<Utc>,
        replacement: HashReplacement,
    ) -> Result<bool, AdapterError> {
        let id = id.to_string();
        let updated = self
            .database
            .write(move |connection| {
                let row = users::table.find(id);
                let hash = users::password_hash.eq(password_hash.as_ref().to_owned());
                match replacement {
                    HashReplacement::Changed => diesel::update(row)
                        .set((hash, users::updated_at.eq(naive(at))))
                        .execute(connection),
                    HashReplacement::Upgrade { previous } => diesel::update(
                        row.filter(users::password_hash.eq(previous.as_ref().to_owned())),
                    )
                    .set(hash)
                    .execute(connection),
                }
            })
            .await?;
        Ok(updated == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::test_database;

    #[tokio::test]
    async fn honours_the_user_repository_contract() {
        ::test_support::contracts::users::run(|| async { test_database::fresh().store() }).await;
    }

    #[tokio::test]
    async fn a_corrupt_row_is_an_error_not_a_panic() {
        let test = test_database::fresh();
        let repository = SqliteUserRepository::new(test.database.clone());
        test.database
            .run(|connection| {
                diesel::sql_query(
                    "INSERT INTO users VALUES ('not-a-uuid', 'bad@example.com', 'h', '', '', \
                     '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                )
                .execute(connection)
            })
            .await
            .unwrap();
        let email = Email::parse("bad@example.com").unwrap();
        assert!(repository.find_credentials(&email).await.is_err());
    }
}

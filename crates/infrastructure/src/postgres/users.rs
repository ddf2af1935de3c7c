//! Users in PostgreSQL.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::ports::{
    AdapterError, HashReplacement, InsertUserError, StoredCredentials, UserRepository,
};
use domain::{Email, NewUser, PasswordHash, PersonName, User, UserId};
use uuid::Uuid;

use super::schema::users;
use super::{DbError, PgDatabase, USERS_EMAIL_UNIQUE, violated_constraint};
use crate::stored_users::UserParts;

/// A row of `users` as read (also by the session store, which reads a session's user
/// in the same query as the session).
#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    first_name: String,
    last_name: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A row of `users` as written.
#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: Uuid,
    email: &'a str,
    password_hash: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for StoredCredentials {
    type Error = AdapterError;

    fn try_from(row: UserRow) -> Result<Self, AdapterError> {
        Self::try_from(UserParts {
            id: UserId::from_uuid(row.id),
            email: &row.email,
            password_hash: row.password_hash,
            first_name: &row.first_name,
            last_name: &row.last_name,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The [`UserRepository`] port on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgUserRepository {
    database: PgDatabase,
}

impl PgUserRepository {
    /// A repository on `database`.
    #[must_use]
    pub fn new(database: PgDatabase) -> Self {
        Self { database }
    }

    async fn find_one<F>(&self, filter: F) -> Result<Option<StoredCredentials>, AdapterError>
    where
        F: FnOnce(&mut PgConnection) -> QueryResult<Option<UserRow>> + Send + 'static,
    {
        self.database
            .run(filter)
            .await?
            .map(StoredCredentials::try_from)
            .transpose()
    }
}

#[async_trait]
impl UserRepository for PgUserRepository {
    async fn insert(&self, new_user: NewUser) -> Result<(), InsertUserError> {
        let outcome = self
            .database
            .write(move |connection| {
                let user = &new_user.user;
                diesel::insert_into(users::table)
                    .values(NewUserRow {
                        id: user.id.as_uuid(),
                        email: user.email.as_ref(),
                        password_hash: new_user.password_hash.as_ref(),
                        first_name: user.first_name.as_ref(),
                        last_name: user.last_name.as_ref(),
                        created_at: user.created_at,
                        updated_at: user.updated_at,
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
        let id = id.as_uuid();
        let found = self
            .find_one(move |connection| {
                users::table
                    .find(id)
                    .select(UserRow::as_select())
                    .first(connection)
                    .optional()
            })
            .await?;
        Ok(found.map(|credentials| credentials.user))
    }

    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, AdapterError> {
        let ids: Vec<Uuid> = ids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|id| id.as_uuid())
            .collect();
        let rows: Vec<UserRow> = self
            .database
            // One statement whatever the size of the room: PostgreSQL binds the list as
            // one array (`id = ANY($1)`), so there is no limit on parameters to stay under.
            .run(move |connection| {
                users::table
                    .filter(users::id.eq_any(ids))
                    .order(users::id.asc())
                    .select(UserRow::as_select())
                    .load(connection)
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
                .first(connection)
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
        let id = id.as_uuid();
        let found = self
            .database
            .write(move |connection| {
                diesel::update(users::table.find(id))
                    .set((
                        users::first_name.eq(first_name.as_ref()),
                        users::last_name.eq(last_name.as_ref()),
                        users::updated_at.eq(updated_at),
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
        let id = id.as_uuid();
        let updated = self
            .database
            // A single conditional UPDATE: of two concurrent upgrades of one hash, the
            // second waits for the first's row lock, re-reads the row and finds the
            // previous hash gone.
            .write(move |connection| {
                let row = users::table.find(id);
                let hash = users::password_hash.eq(password_hash.as_ref().to_owned());
                match replacement {
                    HashReplacement::Changed => diesel::update(row)
                        .set((hash, users::updated_at.eq(at)))
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
    use crate::postgres::test_database;

    #[tokio::test]
    async fn honours_the_user_repository_contract() {
        let cluster = test_database::cluster_or_skip!("the user repository contract");
        ::test_support::contracts::users::run(|| {
            let store = test_database::fresh(&cluster).store();
            async move { store }
        })
        .await;
    }

    #[tokio::test]
    async fn a_corrupt_row_is_an_error_not_a_panic() {
        let cluster = test_database::cluster_or_skip!("the corrupt user row case");
        let test = test_database::fresh(&cluster);
        let repository = PgUserRepository::new(test.database.clone());
        let id = Uuid::new_v4();
        test.database
            .run(move |connection| {
                // Ids are uuids here, so the corruption is an address that is no address.
                diesel::sql_query(
                    "INSERT INTO users VALUES ($1, 'not an address', 'h', 'Ada', 'Lovelace', \
                     now(), now())",
                )
                .bind::<diesel::sql_types::Uuid, _>(id)
                .execute(connection)
            })
            .await
            .unwrap();
        assert!(repository.find_by_id(UserId::from_uuid(id)).await.is_err());
    }
}

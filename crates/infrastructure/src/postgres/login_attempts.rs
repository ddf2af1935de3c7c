//! Failed logins per address and per trusted device, in PostgreSQL: one record for every
//! instance, so the login throttle is shared (SPEC §8).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use domain::ports::{AdapterError, AttemptKey, FailedLogins, LoginAttempts};
use uuid::Uuid;

use super::PgDatabase;
use super::schema::login_attempts;

/// The [`LoginAttempts`] port on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgLoginAttempts {
    database: PgDatabase,
}

impl PgLoginAttempts {
    /// A record on `database`.
    #[must_use]
    pub fn new(database: PgDatabase) -> Self {
        Self { database }
    }
}

/// A key as stored: the address, and the device or the nil UUID for the anonymous
/// clients (see the migration for why not NULL).
fn stored_key(key: &AttemptKey) -> (String, Uuid) {
    (
        key.email.to_string(),
        key.device.map_or(Uuid::nil(), |device| device.as_uuid()),
    )
}

#[async_trait]
impl LoginAttempts for PgLoginAttempts {
    async fn failures(&self, key: &AttemptKey) -> Result<Option<FailedLogins>, AdapterError> {
        let (email, device) = stored_key(key);
        let found: Option<(i32, DateTime<Utc>)> = self
            .database
            .run(move |connection| {
                login_attempts::table
                    .find((email, device))
                    .select((login_attempts::failures, login_attempts::last_at))
                    .first(connection)
                    .optional()
            })
            .await?;
        Ok(found.map(|(count, last_at)| FailedLogins {
            // The column is checked positive.
            count: u32::try_from(count).unwrap_or(1),
            last_at,
        }))
    }

    async fn record_failure(
        &self,
        key: &AttemptKey,
        at: DateTime<Utc>,
        restart: bool,
        forget_before: DateTime<Utc>,
    ) -> Result<(), AdapterError> {
        let (email, device) = stored_key(key);
        self.database
            .write(move |connection| {
                // Through the index on last_at: the cost is what is swept.
                diesel::delete(
                    login_attempts::table.filter(login_attempts::last_at.lt(forget_before)),
                )
                .execute(connection)?;
                // One statement, so concurrent failures on several instances each count:
                // the second waits for the first's row lock and adds to what it wrote.
                // A restart counts from one; otherwise add one, saturating below the
                // column's maximum rather than overflowing.
                let counted = diesel::dsl::sql::<diesel::sql_types::Integer>("CASE WHEN ")
                    .bind::<diesel::sql_types::Bool, _>(restart)
                    .sql(" THEN 1 ELSE LEAST(login_attempts.failures, 2147483646) + 1 END");
                diesel::insert_into(login_attempts::table)
                    .values((
                        login_attempts::email.eq(&email),
                        login_attempts::device.eq(device),
                        login_attempts::failures.eq(1),
                        login_attempts::last_at.eq(at),
                    ))
                    .on_conflict((login_attempts::email, login_attempts::device))
                    .do_update()
                    .set((
                        login_attempts::failures.eq(counted),
                        login_attempts::last_at.eq(excluded(login_attempts::last_at)),
                    ))
                    .execute(connection)
            })
            .await?;
        Ok(())
    }

    async fn forget(&self, key: &AttemptKey) -> Result<(), AdapterError> {
        let (email, device) = stored_key(key);
        self.database
            .write(move |connection| {
                diesel::delete(login_attempts::table.find((email, device))).execute(connection)
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use domain::Email;

    use super::*;
    use crate::postgres::test_database;

    #[tokio::test]
    async fn honours_the_login_attempts_contract() {
        let cluster = test_database::cluster_or_skip!("the login attempts contract");
        test_support::contracts::login_attempts::run(|| {
            let test = test_database::fresh(&cluster);
            let record = KeptAlive {
                attempts: PgLoginAttempts::new(test.database.clone()),
                _database: test,
            };
            async move { Box::new(record) as Box<dyn LoginAttempts> }
        })
        .await;
    }

    #[tokio::test]
    async fn two_instances_share_one_count_and_old_entries_are_swept() {
        let cluster = test_database::cluster_or_skip!("the shared login throttle case");
        let test = test_database::fresh(&cluster);
        // Two instances: two records on the same database, as two processes would have.
        let (a, b) = (
            PgLoginAttempts::new(test.database.clone()),
            PgLoginAttempts::new(test.database.clone()),
        );
        let now = test_support::contracts::at(30);
        let ada = AttemptKey::anonymous(Email::parse("ada@example.com").unwrap());
        let grace = AttemptKey::anonymous(Email::parse("grace@example.com").unwrap());
        a.record_failure(
            &grace,
            now - Duration::hours(2),
            false,
            now - Duration::days(1),
        )
        .await
        .unwrap();
        let forget_before = now - Duration::hours(1);
        let failures = (0..10).map(|n| {
            let record = if n % 2 == 0 { &a } else { &b };
            record.record_failure(&ada, now, false, forget_before)
        });
        for outcome in futures_util::future::join_all(failures).await {
            outcome.unwrap();
        }

        let seen = b.failures(&ada).await.unwrap().unwrap();
        assert_eq!(seen.count, 10, "every failure on either instance counts");
        assert_eq!(a.failures(&grace).await.unwrap(), None, "swept: too old");
    }

    /// The record, keeping its scratch database alive as long as the contract needs it.
    struct KeptAlive {
        attempts: PgLoginAttempts,
        _database: test_database::TestDatabase,
    }

    #[async_trait]
    impl LoginAttempts for KeptAlive {
        async fn failures(&self, key: &AttemptKey) -> Result<Option<FailedLogins>, AdapterError> {
            self.attempts.failures(key).await
        }

        async fn record_failure(
            &self,
            key: &AttemptKey,
            at: DateTime<Utc>,
            restart: bool,
            forget_before: DateTime<Utc>,
        ) -> Result<(), AdapterError> {
            self.attempts
                .record_failure(key, at, restart, forget_before)
                .await
        }

        async fn forget(&self, key: &AttemptKey) -> Result<(), AdapterError> {
            self.attempts.forget(key).await
        }
    }
}

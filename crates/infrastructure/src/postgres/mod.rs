//! PostgreSQL storage through diesel, for several instances on one database (SPEC §8):
//! the URLs it accepts (and how they print without their password), the connection pool
//! and the settings every connection gets, the blocking door every query goes through
//! (writes in a transaction whose commit is checked, multi-statement reads in one
//! snapshot), embedded migrations applied under an advisory lock, readiness, the
//! repositories, the room store, the login-attempt record shared by all instances, the
//! message bus between instances (`LISTEN/NOTIFY`), and presence across instances. Nothing outside this module names PostgreSQL but the
//! storage factory.

mod bus;
mod login_attempts;
mod presence;
mod rooms;
mod schema;
mod sessions;
mod users;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};
use domain::ports::{AdapterError, StorageHealth};
use tokio::sync::Semaphore;

use crate::readiness::ReadinessLog;
use crate::storage::StorageShutdown;

pub use bus::{BusError, CHANNEL as BUS_CHANNEL, NoRuntime, PgBus};
pub use login_attempts::PgLoginAttempts;
pub use presence::{HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, PgPresence};
pub use rooms::PgRoomStore;
pub use sessions::PgSessionRepository;
pub use users::PgUserRepository;

/// The workspace's `migrations/postgres/`, compiled into the binary.
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The unique constraint on `users.email` (named in the migration).
const USERS_EMAIL_UNIQUE: &str = "users_email_unique";
/// The unique constraint on `messages (sender_id, message_id)`: a sender's idempotency
/// key (named in the migration).
const MESSAGES_SENDER_MESSAGE_ID_UNIQUE: &str = "messages_sender_message_id_unique";

/// The key of the advisory lock held while migrating, so that instances starting together
/// migrate one after the other instead of racing to create the same tables. Any constant
/// works; this one is "portico" in ASCII.
const MIGRATION_LOCK: i64 = 0x0070_6f72_7469_636f;

/// How long a statement waits for a row lock (a publisher behind another publisher of the
/// same room, a rotation behind another rotation) before failing: bounded waiting, like
/// SQLite's `busy_timeout`.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one statement may run. Portico's statements touch a handful of rows by key;
/// one that runs this long is stuck, and holding its connection would starve the pool.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request waits for a pooled connection, and start-up for the first ones.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A `postgres://` or `postgresql://` URL, passed to libpq as written. It prints with its
/// password masked, so that configuration dumps and logs never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

/// A PostgreSQL URL Portico cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostgresUrlError {
    /// Not `postgres://…` or `postgresql://…`.
    #[error("expected postgres://USER@HOST:PORT/DATABASE or postgresql://…")]
    Scheme,
    /// `sslmode` asks for TLS, which this build of libpq does not have.
    #[error(
        "sslmode={0} needs TLS, which this build does not include (libpq is bundled without OpenSSL); \
         reach the database over a private network or a local TLS tunnel, see docs/operations.md"
    )]
    TlsUnavailable(String),
}

/// The `sslmode`s that refuse a connection without TLS.
const TLS_MODES: &[&str] = &["require", "verify-ca", "verify-full"];

impl PostgresUrl {
    /// Parses a `postgres://` or `postgresql://` URL. Everything after the scheme is
    /// libpq's to interpret; only what this build cannot honour is refused here, so that
    /// it is a configuration error and not a failure at start-up.
    ///
    /// # Errors
    /// [`PostgresUrlError`] for another scheme or a TLS-only `sslmode`.
    pub fn parse(raw: &str) -> Result<Self, PostgresUrlError> {
        let rest = raw
            .strip_prefix("postgres://")
            .or_else(|| raw.strip_prefix("postgresql://"))
            .ok_or(PostgresUrlError::Scheme)?;
        if let Some((_, query)) = rest.split_once('?') {
            for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
                if key == "sslmode" && TLS_MODES.contains(&value) {
                    return Err(PostgresUrlError::TlsUnavailable(value.to_owned()));
                }
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The URL as libpq takes it, password included: for opening connections only.
    fn as_libpq(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostgresUrl {
    /// The URL with its password (in the user part or as a `password=` parameter)
    /// replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("postgres", &self.0));
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (rest, None),
        };
        let authority_end = location.find('/').unwrap_or(location.len());
        let (authority, path) = location.split_at(authority_end);
        write!(f, "{scheme}://")?;
        match authority.rsplit_once('@') {
            Some((user_info, host)) => match user_info.split_once(':') {
                Some((user, _password)) => write!(f, "{user}:***@{host}")?,
                None => write!(f, "{user_info}@{host}")?,
            },
            None => f.write_str(authority)?,
        }
        f.write_str(path)?;
        if let Some(query) = query {
            f.write_str("?")?;
            for (index, pair) in query.split('&').enumerate() {
                if index > 0 {
                    f.write_str("&")?;
                }
                match pair.split_once('=') {
                    Some(("password", _)) => f.write_str("password=***")?,
                    _ => f.write_str(pair)?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

/// Why the PostgreSQL database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The pool could not open its connections (the server is down, refuses us, or the
    /// database does not exist).
    #[error("cannot connect to PostgreSQL at {url}")]
    Pool {
        /// Where, password masked.
        url: String,
        /// The cause, as libpq reports it.
        #[source]
        source: diesel::r2d2::PoolError,
    },
    /// A connection could not be checked out to migrate.
    #[error("cannot open a connection to migrate")]
    Connection(#[source] diesel::r2d2::PoolError),
    /// The migration lock could not be taken or given back.
    #[error("cannot take the migration lock")]
    Lock(#[source] diesel::result::Error),
    /// A migration failed.
    #[error("migrating the database failed: {0}")]
    Migration(String),
    /// The message bus's listener could not be started.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The presence heartbeat could not be started.
    #[error(transparent)]
    Heartbeat(#[from] NoRuntime),
}

/// Where a failed database call went wrong. Its own, not SQLite's: the doors differ
/// (SQLite runs on threads of its own; PostgreSQL on tokio's blocking pool with r2d2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("query failed")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available")]
    Pool(#[source] diesel::r2d2::PoolError),
    #[error("database task failed")]
    Join(#[source] tokio::task::JoinError),
    #[error("database lane closed")]
    Closed(#[source] tokio::sync::AcquireError),
}

impl From<DbError> for AdapterError {
    fn from(error: DbError) -> Self {
        Self::new("database call failed", error)
    }
}

/// Sets what every connection needs once, when the pool opens it.
#[derive(Debug)]
struct SessionSettings;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, connection: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        connection
            .batch_execute(&format!(
                "SET lock_timeout = {}; SET statement_timeout = {};",
                LOCK_TIMEOUT.as_millis(),
                STATEMENT_TIMEOUT.as_millis(),
            ))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A pool of PostgreSQL connections and the one door through which queries run: on
/// tokio's blocking pool, never on an async worker, at most as many at once as the pool
/// has connections (the others wait asynchronously, holding no thread). Cheap to clone.
#[derive(Clone)]
pub struct PgDatabase {
    pool: Pool<ConnectionManager<PgConnection>>,
    lane: Arc<Semaphore>,
    readiness: Arc<ReadinessLog>,
    /// Makes every write fail at its end, as a failed COMMIT would: for the contract
    /// suites' write-failure cases.
    #[cfg(test)]
    failing_commits: Arc<std::sync::atomic::AtomicBool>,
}

impl fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDatabase")
            .field("pool", &self.pool.state())
            .finish_non_exhaustive()
    }
}

impl PgDatabase {
    /// Connects to `url` with a pool of `pool_size` connections and applies pending
    /// migrations, one instance at a time.
    ///
    /// # Errors
    /// [`OpenError`] when the server cannot be reached or a migration fails.
    pub fn open(url: &PostgresUrl, pool_size: u32) -> Result<Self, OpenError> {
        Self::open_within(url, pool_size, CHECKOUT_TIMEOUT)
    }

    /// [`PgDatabase::open`], giving up on a connection after `checkout_timeout`.
    fn open_within(
        url: &PostgresUrl,
        pool_size: u32,
        checkout_timeout: Duration,
    ) -> Result<Self, OpenError> {
        let manager = ConnectionManager::<PgConnection>::new(url.as_libpq());
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(checkout_timeout)
            .connection_customizer(Box::new(SessionSettings))
            .build(manager)
            .map_err(|source| OpenError::Pool {
                url: url.to_string(),
                source,
            })?;
        let mut connection = pool.get().map_err(OpenError::Connection)?;
        migrate(&mut connection)?;
        drop(connection);
        let connections = usize::try_from(pool.max_size()).unwrap_or(1);
        Ok(Self {
            pool,
            lane: Arc::new(Semaphore::new(connections)),
            readiness: Arc::default(),
            #[cfg(test)]
            failing_commits: Arc::default(),
        })
    }

    /// Runs `query` with a pooled connection on the blocking pool, keeping the caller's
    /// tracing span. The connection is checked out inside the blocking task, so waiting
    /// for one never holds an async worker. Each statement commits on its own.
    pub(crate) async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, diesel::result::Error> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.lane)
            .acquire_owned()
            .await
            .map_err(DbError::Closed)?;
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _entered = span.enter();
            let mut connection: PooledConnection<_> = pool.get().map_err(DbError::Pool)?;
            query(&mut connection).map_err(DbError::Query)
        })
        .await
        .map_err(DbError::Join)?
    }

    /// Runs `read` like [`PgDatabase::run`], in one read-only REPEATABLE READ
    /// transaction: its statements see one snapshot, as a SQLite read transaction does
    /// (READ COMMITTED would give each statement its own).
    pub(crate) async fn read<T, F>(&self, read: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, diesel::result::Error> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |connection| {
            connection
                .build_transaction()
                .repeatable_read()
                .read_only()
                .run(read)
        })
        .await
    }

    /// Runs `write` like [`PgDatabase::run`], inside a READ COMMITTED transaction whose
    /// COMMIT is checked, so a write the database did not make durable is an error, never
    /// a reported success. Writes that depend on what they read take row locks
    /// (`FOR SHARE`, `FOR UPDATE`, `UPDATE … RETURNING`) or are single conditional
    /// statements, which is what makes them safe across instances.
    pub(crate) async fn write<T, F>(&self, write: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, diesel::result::Error> + Send + 'static,
        T: Send + 'static,
    {
        #[cfg(test)]
        let failing = Arc::clone(&self.failing_commits);
        self.run(move |connection| {
            connection.transaction(|connection| {
                let written = write(connection)?;
                #[cfg(test)]
                if failing.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(diesel::result::Error::RollbackTransaction);
                }
                Ok(written)
            })
        })
        .await
    }
}

/// Applies pending migrations under a session-level advisory lock: instances that start
/// together wait for the first to finish, then find nothing left to do.
fn migrate(connection: &mut PgConnection) -> Result<(), OpenError> {
    connection
        .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .map_err(OpenError::Lock)?;
    let migrated = connection
        .run_pending_migrations(MIGRATIONS)
        .map(drop)
        .map_err(|error| OpenError::Migration(error.to_string()));
    // Given back even when migrating failed; the lock dies with the connection anyway.
    let unlocked = connection
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .map_err(OpenError::Lock);
    migrated.and(unlocked)
}

/// The name of the constraint a database error violated: PostgreSQL reports it as such.
fn violated_constraint(
    info: &(dyn diesel::result::DatabaseErrorInformation + Send + Sync),
) -> Option<&str> {
    info.constraint_name()
}

#[async_trait]
impl StorageShutdown for PgDatabase {
    /// Nothing to fold or flush: PostgreSQL owns durability. The pool's connections
    /// close when the last handle is dropped.
    async fn close(&self) -> Result<(), AdapterError> {
        Ok(())
    }
}

#[async_trait]
impl StorageHealth for PgDatabase {
    /// Ready when a write commits: a server that answers reads but refuses writes (a
    /// replica after a failover, a full disk) is not.
    async fn ping(&self) -> Result<(), AdapterError> {
        let outcome = self
            .write(|connection| {
                connection.batch_execute(
                    "INSERT INTO readiness_probe (id, checked_at) VALUES (1, now()) \
                     ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                )
            })
            .await
            .map_err(|error| AdapterError::new("a probe write did not commit", error));
        self.readiness.record(&outcome);
        outcome
    }
}

#[cfg(test)]
pub(crate) mod test_database {
    //! A fresh database per test in the cluster `PORTICO_TEST_POSTGRES_URL` names, or
    //! none (and a line saying which suite did not run) when it names none.

    use std::sync::Arc;

    use test_support::postgres::{TestCluster, TestDatabase as Scratch};

    use super::{PgDatabase, PgRoomStore, PgSessionRepository, PgUserRepository, PostgresUrl};

    /// A migrated database that is dropped with the value.
    pub(crate) struct TestDatabase {
        pub(crate) database: PgDatabase,
        scratch: Scratch,
    }

    impl TestDatabase {
        /// Stores a user at `email` and returns the id.
        pub(crate) async fn user(&self, email: &str) -> domain::UserId {
            use domain::ports::UserRepository as _;
            let user = test_support::contracts::new_user(email);
            let id = user.user.id;
            PgUserRepository::new(self.database.clone())
                .insert(user)
                .await
                .unwrap();
            id
        }

        /// The database as the contract suites see a store: through its ports.
        pub(crate) fn store(self) -> test_support::contracts::Store {
            test_support::contracts::Store {
                users: Arc::new(PgUserRepository::new(self.database.clone())),
                sessions: Arc::new(PgSessionRepository::new(self.database.clone())),
                rooms: Arc::new(PgRoomStore::new(self.database.clone())),
                faults: Arc::new(self.database.clone()),
                keep_alive: Box::new(self),
            }
        }
    }

    impl test_support::contracts::WriteFaults for PgDatabase {
        fn fail_commits(&self, failing: bool) {
            self.failing_commits
                .store(failing, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The test cluster, or `None` after saying that `suite` did not run.
    pub(crate) fn cluster(suite: &str) -> Option<TestCluster> {
        TestCluster::from_env(suite)
    }

    /// The test cluster; without one, says that `$suite` did not run and returns from
    /// the calling test, which passes. A macro, so that the skip stays on the line that
    /// asks for the cluster: CI always has one, and a `let … else { return; }` would
    /// leave a line in every PostgreSQL test that only a machine without PostgreSQL runs.
    macro_rules! cluster_or_skip {
        ($suite:expr) => {
            match $crate::postgres::test_database::cluster($suite) {
                Some(cluster) => cluster,
                None => return,
            }
        };
    }
    pub(crate) use cluster_or_skip;

    impl TestDatabase {
        /// Refuses new connections and ends the ones it has.
        pub(crate) fn refuse_connections(&self) {
            self.scratch.refuse_connections();
        }

        /// Its URL.
        pub(crate) fn url(&self) -> PostgresUrl {
            PostgresUrl::parse(self.scratch.url()).expect("a PostgreSQL URL")
        }
    }

    /// A fresh, migrated database in `cluster`.
    pub(crate) fn fresh(cluster: &TestCluster) -> TestDatabase {
        let scratch = cluster.create_database();
        let url = PostgresUrl::parse(scratch.url()).expect("a PostgreSQL URL");
        let database = PgDatabase::open(&url, 4).expect("open the test database");
        TestDatabase { database, scratch }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn understands_postgres_urls_and_masks_their_passwords() {
        for (raw, shown) in [
            ("postgres://db/portico", "postgres://db/portico"),
            (
                "postgresql://portico:s3cret@db:5432/portico",
                "postgresql://portico:***@db:5432/portico",
            ),
            (
                "postgres://portico@db/portico?password=s3cret&connect_timeout=5",
                "postgres://portico@db/portico?password=***&connect_timeout=5",
            ),
            ("postgres://u:p@db", "postgres://u:***@db"),
            (
                "postgres://db?sslmode=disable",
                "postgres://db?sslmode=disable",
            ),
        ] {
            let url = PostgresUrl::parse(raw).unwrap();
            assert_eq!(url.to_string(), shown, "sent {raw}");
            assert!(!format!("{url:?}").contains("s3cret"), "sent {raw}");
            assert_eq!(url.as_libpq(), raw, "libpq gets the URL as written");
        }
        for mode in ["require", "verify-ca", "verify-full"] {
            assert_eq!(
                PostgresUrl::parse(&format!("postgres://db/p?sslmode={mode}")),
                Err(PostgresUrlError::TlsUnavailable(mode.to_owned()))
            );
        }
        assert_eq!(
            PostgresUrl::parse("mysql://db/p"),
            Err(PostgresUrlError::Scheme)
        );
    }

    #[test]
    fn a_server_that_cannot_be_reached_is_an_error_that_names_it_without_the_password() {
        // A port nothing listens on: the one a listener just gave back.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let url =
            PostgresUrl::parse(&format!("postgres://portico:s3cret@127.0.0.1:{port}/p")).unwrap();

        let opened = PgDatabase::open_within(&url, 1, Duration::from_millis(50));

        let error = opened.err();
        assert!(matches!(error, Some(OpenError::Pool { .. })), "{error:?}");
        let said = error.map(|error| error.to_string()).unwrap_or_default();
        assert!(
            said.contains(&format!("127.0.0.1:{port}")) && !said.contains("s3cret"),
            "{said}"
        );
    }

    #[tokio::test]
    async fn instances_starting_together_migrate_once_and_answer_pings() {
        let cluster = test_database::cluster_or_skip!("the start-up migration case");
        let scratch = cluster.create_database();
        let url = PostgresUrl::parse(scratch.url()).unwrap();
        // Three instances opening one empty database at once: the advisory lock makes
        // them migrate one after the other, and all of them start.
        let opened: Vec<_> = (0..3)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || PgDatabase::open(&url, 1))
            })
            .collect();
        for instance in opened {
            let database = instance.join().unwrap().unwrap();
            database.ping().await.unwrap();
            database.close().await.unwrap();
        }
    }

    #[test]
    fn a_database_whose_tables_clash_with_the_migrations_is_refused_with_the_reason() {
        let cluster = test_database::cluster_or_skip!("the failed migration case");
        let scratch = cluster.create_database();
        // Something else's `users` table, where the first migration creates Portico's.
        scratch.execute("CREATE TABLE users (nickname text)");
        let url = PostgresUrl::parse(scratch.url()).unwrap();

        let opened = PgDatabase::open(&url, 1);

        let error = opened.err();
        assert!(
            matches!(&error, Some(OpenError::Migration(reason)) if reason.contains("users")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn readiness_needs_a_committed_write() {
        use test_support::contracts::WriteFaults as _;

        let cluster = test_database::cluster_or_skip!("the readiness case");
        let test = test_database::fresh(&cluster);
        test.database.ping().await.unwrap();
        test.database.fail_commits(true);
        assert!(
            test.database.ping().await.is_err(),
            "writes fail: not ready"
        );
        test.database.fail_commits(false);
        test.database.ping().await.unwrap();
        assert!(format!("{:?}", test.database).starts_with("PgDatabase"));
    }

    #[tokio::test]
    async fn a_snapshot_read_is_read_only() {
        use diesel::RunQueryDsl as _;

        let cluster = test_database::cluster_or_skip!("the read snapshot case");
        let test = test_database::fresh(&cluster);
        let outcome = test
            .database
            .read(|connection| {
                diesel::sql_query("INSERT INTO readiness_probe VALUES (1, now())")
                    .execute(connection)
            })
            .await;
        assert!(
            matches!(outcome, Err(DbError::Query(_))),
            "a read-only transaction refused the write: {outcome:?}"
        );
    }
}

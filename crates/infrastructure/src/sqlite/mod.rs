//! SQLite storage through diesel: the URL forms it accepts, the connections and their
//! pragmas, the blocking door every query goes through (writes in a transaction whose
//! commit is checked), embedded migrations, constraint names, the WAL checkpoint on stop,
//! and the repositories and the room store. Nothing outside this module names SQLite but the storage
//! factory.
//!
//! # Statements are prepared once per connection
//!
//! Preparing (parsing, planning) a statement costs SQLite more than running a cached
//! one for a lookup by key (about 20 µs against 5 µs for the session join), so the
//! queries of the hot paths are written so that they are prepared once per connection
//! and reused (`the_hot_reads_are_prepared_once_per_connection_and_reused` holds them
//! to it):
//! - diesel caches only statements it can key: no `sql_query`, no `IN` list of varying
//!   length, no boxed query on a hot path;
//! - no `.first()` on a hot path. It binds `LIMIT ?`, and the bundled SQLite (3.53) lets
//!   the planner read a bound `LIMIT` value and marks the statement to be re-prepared
//!   whenever that parameter is bound again, which diesel does at every call, so the
//!   cached statement is re-parsed at every step (`sqlite3Reprepare` in a profile). A
//!   lookup by a unique key uses `.get_result()`, which reads the first row without a
//!   `LIMIT`; a hot page read (`messages_after`, once per member per published message)
//!   steps its statement `limit` times (`load_iter(..).take(limit)`) over an index that
//!   gives the order, so SQLite stops where the iterator stops.

mod lanes;
mod readiness;
mod rooms;
mod schema;
mod sessions;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};
use domain::ports::{AdapterError, StorageHealth};

use crate::storage::StorageShutdown;
use lanes::{Lane, NoAnswer, Reconnect};
use readiness::{FileIdentity, ReadinessLog};

pub use rooms::SqliteRoomStore;
pub use sessions::SqliteSessionRepository;
pub use users::SqliteUserRepository;

/// The workspace's `migrations/sqlite/`, compiled into the binary.
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The unique constraint on `users.email` (named in the migration).
pub(crate) const USERS_EMAIL_UNIQUE: &str = "users_email_unique";
/// The unique constraint on `messages (sender_id, message_id)`: a sender's idempotency
/// key (named in the migration).
pub(crate) const MESSAGES_SENDER_MESSAGE_ID_UNIQUE: &str = "messages_sender_message_id_unique";

/// The named constraints, by the columns SQLite reports when one is violated: SQLite
/// names the columns (`UNIQUE constraint failed: users.email`), not the constraint.
const CONSTRAINTS_BY_COLUMNS: &[(&str, &str)] = &[
    ("users.email", USERS_EMAIL_UNIQUE),
    (
        "messages.sender_id, messages.message_id",
        MESSAGES_SENDER_MESSAGE_ID_UNIQUE,
    ),
];

/// The name of the constraint a database error violated, when it is one of ours.
pub(crate) fn violated_constraint(
    info: &(dyn diesel::result::DatabaseErrorInformation + Send + Sync),
) -> Option<&'static str> {
    let columns = info.message().split_once("constraint failed: ")?.1;
    CONSTRAINTS_BY_COLUMNS
        .iter()
        .find(|(reported, _)| *reported == columns)
        .map(|(_, constraint)| *constraint)
}

/// How long a connection waits on another writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The folder for the database file could not be created.
    #[error("cannot create the database folder {path}")]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A connection could not be opened and set up.
    #[error("cannot open the database")]
    Connect(#[source] ConnectError),
    /// A thread for the connections could not be started.
    #[error("cannot start the database threads")]
    Spawn(#[source] std::io::Error),
    /// The database file cannot be found once opened.
    #[error("cannot identify the database file {path}")]
    Identify {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A migration failed.
    #[error("migrating the database failed: {0}")]
    Migration(String),
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// SQLite could not open the file.
    #[error("cannot open the database file")]
    Open(#[source] diesel::ConnectionError),
    /// The connection's pragmas could not be set.
    #[error("cannot set the connection's pragmas")]
    Pragmas(#[source] diesel::result::Error),
}

/// Where a failed database call went wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("query failed")]
    Query(#[from] diesel::result::Error),
    #[error("database call failed")]
    NoAnswer(#[from] NoAnswer),
}

impl From<DbError> for AdapterError {
    fn from(error: DbError) -> Self {
        Self::new("database call failed", error)
    }
}

/// When a committed write reaches the disk: SQLite's `synchronous` in WAL mode
/// (`SQLITE_SYNCHRONOUS`; `docs/operations.md` states the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// The write-ahead log is synced at every commit: a commit that returned survives a
    /// process crash, an operating-system crash and a power cut. An `ack` sent to a
    /// client therefore means what the protocol says it means.
    #[default]
    Full,
    /// The log is synced only at checkpoints: a commit survives a process crash
    /// (SIGKILL, a panic, an OOM kill), but the last commits before an operating-system
    /// crash or a power cut may be lost, acknowledged messages and cursors included, and
    /// their `seq`s would then be given again to other messages.
    Normal,
}

impl Synchronous {
    const fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Opens a connection to `path` with the pragmas every connection needs.
fn connect(path: &Path, synchronous: Synchronous) -> Result<SqliteConnection, ConnectError> {
    let mut connection =
        SqliteConnection::establish(&path.to_string_lossy()).map_err(ConnectError::Open)?;
    // WAL lets readers go on while one writer writes; busy_timeout makes a writer
    // wait for the lock instead of failing at once; foreign keys are off by default
    // in SQLite; `synchronous` decides what a commit survives (see [`Synchronous`]).
    connection
        .batch_execute(&format!(
            // busy_timeout first: switching a new file to WAL needs the lock, which
            // another process (or a connection opened at the same time) may hold.
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
             PRAGMA foreign_keys = ON; PRAGMA synchronous = {};",
            BUSY_TIMEOUT.as_millis(),
            synchronous.pragma(),
        ))
        .map_err(ConnectError::Pragmas)?;
    Ok(connection)
}

/// SQLite connections, each owned by a thread of its own, and the one door through
/// which queries run: on those threads, never on an async worker (see [`lanes`] for
/// why not tokio's blocking pool). Reads go to any of the reading connections; writes
/// to the one writing connection, so writers queue here, in order, rather than poll
/// for SQLite's lock. Callers wait asynchronously, holding no thread. Cheap to clone;
/// the threads end when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Database {
    reads: Arc<Lane>,
    writes: Arc<Lane>,
    path: PathBuf,
    opened: FileIdentity,
    readiness: Arc<ReadinessLog>,
    /// Makes every write fail at its end, as a failed COMMIT would: for the contract
    /// suites' write-failure cases.
    #[cfg(test)]
    failing_commits: Arc<std::sync::atomic::AtomicBool>,
}

/// The file a SQLite database lives in, from a `sqlite://PATH` or `sqlite:PATH` URL or
/// a bare path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlitePath(PathBuf);

/// A URL that names no SQLite file this adapter can open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported SQLite URL {0:?}: expected sqlite://PATH (an in-memory database would be empty for every connection)"
)]
pub struct SqliteUrlError(pub String);

impl SqlitePath {
    /// Parses `sqlite://PATH`, `sqlite:PATH` or a bare `PATH`.
    ///
    /// # Errors
    /// [`SqliteUrlError`] for an empty path, another scheme or an in-memory database.
    pub fn parse(url: &str) -> Result<Self, SqliteUrlError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains("://") || path.contains(":memory:") {
            return Err(SqliteUrlError(url.to_owned()));
        }
        Ok(Self(PathBuf::from(path)))
    }

    /// `data/portico.db`, relative to the working directory: the embedded default.
    #[must_use]
    pub fn default_file() -> Self {
        Self(PathBuf::from("data/portico.db"))
    }

    /// The file's path.
    #[must_use]
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl Database {
    /// Opens (creating if needed) the database file at `path`, with `readers`
    /// connections for reads (at most one per core the process may run on: more could
    /// not run at once) and one for writes, whose commits are as durable as
    /// `synchronous` says, and applies pending migrations.
    ///
    /// # Errors
    /// [`OpenError`] when the folder, the file, a connection, a migration or a thread
    /// fails.
    pub fn open(
        path: &SqlitePath,
        readers: u32,
        synchronous: Synchronous,
    ) -> Result<Self, OpenError> {
        let path = path.as_path();
        // A bare file name's folder is the empty path, which needs no creating.
        let folder = path.parent().unwrap_or(Path::new(""));
        std::fs::create_dir_all(folder).map_err(|source| OpenError::CreateFolder {
            path: folder.to_owned(),
            source,
        })?;
        let reconnect: Reconnect = {
            let path = path.to_owned();
            Arc::new(move || connect(&path, synchronous))
        };
        let mut writer = reconnect().map_err(OpenError::Connect)?;
        writer
            .run_pending_migrations(MIGRATIONS)
            .map_err(|error| OpenError::Migration(error.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let readers = usize::try_from(readers).unwrap_or(1).clamp(1, cores);
        let reading = (0..readers)
            .map(|_| reconnect())
            .collect::<Result<Vec<_>, _>>()
            .map_err(OpenError::Connect)?;
        let opened = FileIdentity::of(path).map_err(|source| OpenError::Identify {
            // coverage: excluded-begin: another process deleting the file right after SQLite opened it
            path: path.to_owned(),
            source,
        })?; // coverage: excluded-end
        Ok(Self {
            reads: Arc::new(
                Lane::start("portico-db-read", reading, &reconnect).map_err(OpenError::Spawn)?,
            ),
            writes: Arc::new(
                Lane::start("portico-db-write", vec![writer], &reconnect)
                    .map_err(OpenError::Spawn)?,
            ),
            path: path.to_owned(),
            opened,
            readiness: Arc::default(),
            #[cfg(test)]
            failing_commits: Arc::default(),
        })
    }

    /// Runs `query` on one of the reading connections' threads, keeping the caller's
    /// tracing span.
    pub(crate) async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<T, diesel::result::Error> + Send + 'static,
        T: Send + 'static,
    {
        Self::on(&self.reads, query).await
    }

    /// Runs `query` on `lane`, inside the caller's tracing span.
    async fn on<T, F>(lane: &Lane, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<T, diesel::result::Error> + Send + 'static,
        T: Send + 'static,
    {
        let span = tracing::Span::current();
        lane.run(move |connection| {
            let _entered = span.enter();
            query(connection)
        })
        .await?
        .map_err(DbError::Query)
    }

    /// Runs `write` on the writing connection's thread (so this process's writes queue
    /// there, in order), inside an IMMEDIATE transaction: the write lock is taken up
    /// front (a writer in another process makes it wait on `busy_timeout` rather than
    /// fail at upgrade), and the COMMIT is checked, so a write the database could not
    /// make durable is an error, never a reported success. (A statement read with
    /// `get_result` alone can be reset after its first row, hiding a failed autocommit.)
    pub(crate) async fn write<T, F>(&self, write: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<T, diesel::result::Error> + Send + 'static,
        T: Send + 'static,
    {
        #[cfg(test)]
        let failing = Arc::clone(&self.failing_commits);
        Self::on(&self.writes, move |connection| {
            connection.immediate_transaction(|connection| {
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

    /// Whether the file is still the one opened and a write commits.
    async fn check_ready(&self) -> Result<(), AdapterError> {
        readiness::still_the_opened_file(&self.path, self.opened)?;
        self.write(|connection| {
            connection.batch_execute(
                "INSERT INTO readiness_probe (id, checked_at) VALUES (1, CURRENT_TIMESTAMP) \
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
            )
        })
        .await
        .map_err(|error| AdapterError::new("a probe write did not commit", error))
    }
}

#[async_trait]
impl StorageShutdown for Database {
    /// Copies every write from the write-ahead log into the main file and empties the
    /// log, so that the `.db` file alone holds the data once the process has stopped.
    async fn close(&self) -> Result<(), AdapterError> {
        // On the writing connection: a checkpoint that truncates the log waits for writers.
        Self::on(&self.writes, |connection| {
            connection.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
        })
        .await
        .map_err(AdapterError::from)
    }
}

#[async_trait]
impl StorageHealth for Database {
    async fn ping(&self) -> Result<(), AdapterError> {
        let outcome = self.check_ready().await;
        self.readiness.record(&outcome);
        outcome
    }
}

#[cfg(test)]
pub(crate) mod test_database {
    //! A fresh database per test, in its own temporary folder.

    use std::sync::Arc;

    use super::{
        Database, SqlitePath, SqliteRoomStore, SqliteSessionRepository, SqliteUserRepository,
    };

    /// A migrated database in a temporary folder that lives as long as the value.
    pub(crate) struct TestDatabase {
        pub(crate) database: Database,
        _folder: tempfile::TempDir,
    }

    impl TestDatabase {
        /// Stores a user at `email` (sessions, members and senders reference `users`)
        /// and returns the id.
        pub(crate) async fn user(&self, email: &str) -> domain::UserId {
            use domain::ports::UserRepository as _;
            let user = test_support::contracts::new_user(email);
            let id = user.user.id;
            SqliteUserRepository::new(self.database.clone())
                .insert(user)
                .await
                .unwrap();
            id
        }

        /// The database as the contract suites see a store: through its ports.
        pub(crate) fn store(self) -> test_support::contracts::Store {
            test_support::contracts::Store {
                users: Arc::new(SqliteUserRepository::new(self.database.clone())),
                sessions: Arc::new(SqliteSessionRepository::new(self.database.clone())),
                rooms: Arc::new(SqliteRoomStore::new(self.database.clone())),
                faults: Arc::new(self.database.clone()),
                keep_alive: Box::new(self),
            }
        }
    }

    impl test_support::contracts::WriteFaults for Database {
        fn fail_commits(&self, failing: bool) {
            self.failing_commits
                .store(failing, std::sync::atomic::Ordering::SeqCst);
        }
    }

    pub(crate) fn fresh() -> TestDatabase {
        with_connections(4)
    }

    /// A fresh database with `connections` connections.
    pub(crate) fn with_connections(connections: u32) -> TestDatabase {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = SqlitePath(folder.path().join("test.db"));
        let database = Database::open(&path, connections, super::Synchronous::Full)
            .expect("open test database");
        TestDatabase {
            database,
            _folder: folder,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn understands_sqlite_urls_and_refuses_others() {
        let path = |url| SqlitePath::parse(url).map(|path| path.as_path().to_owned());
        assert_eq!(path("sqlite://data/p.db"), Ok(PathBuf::from("data/p.db")));
        assert_eq!(path("sqlite:///tmp/p.db"), Ok(PathBuf::from("/tmp/p.db")));
        assert_eq!(path("sqlite:p.db"), Ok(PathBuf::from("p.db")));
        assert_eq!(path("p.db"), Ok(PathBuf::from("p.db")));
        for url in ["postgres://localhost/db", "sqlite://", "sqlite::memory:"] {
            assert_eq!(
                path(url),
                Err(SqliteUrlError(url.to_owned())),
                "sent {url:?}"
            );
        }
    }

    #[tokio::test]
    async fn opens_creates_folders_migrates_and_answers_pings() {
        let folder = tempfile::tempdir().unwrap();
        let path = SqlitePath(folder.path().join("a/b/p.db"));
        let database = Database::open(&path, 2, Synchronous::Normal).unwrap();
        database.ping().await.unwrap();
        database.close().await.unwrap();
        // Opening again finds the migrations applied and changes nothing.
        let again = Database::open(&path, 1, Synchronous::Full).unwrap();
        again.ping().await.unwrap();
    }

    #[tokio::test]
    async fn every_connection_has_the_pragmas_set() {
        use diesel::RunQueryDsl as _;
        use diesel::sql_types::{BigInt, Text};

        #[derive(diesel::QueryableByName)] // coverage: excluded: llvm-cov maps a build() of diesel's that never runs here
        struct Mode {
            #[diesel(sql_type = Text)]
            journal_mode: String,
        }
        #[derive(diesel::QueryableByName)] // coverage: excluded: llvm-cov maps a build() of diesel's that never runs here
        struct Flag {
            #[diesel(sql_type = BigInt)]
            foreign_keys: i64,
        }
        #[derive(diesel::QueryableByName)] // coverage: excluded: llvm-cov maps a build() of diesel's that never runs here
        struct Timeout {
            #[diesel(sql_type = BigInt)]
            timeout: i64,
        }
        let test = test_database::fresh();
        let (mode, keys, timeout) = test
            .database
            .run(|c| {
                let mode = diesel::sql_query("PRAGMA journal_mode").get_result::<Mode>(c)?;
                let keys = diesel::sql_query("PRAGMA foreign_keys").get_result::<Flag>(c)?;
                let timeout = diesel::sql_query("PRAGMA busy_timeout").get_result::<Timeout>(c)?;
                Ok((mode.journal_mode, keys.foreign_keys, timeout.timeout))
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(keys, 1);
        assert_eq!(timeout, 5000);
    }

    #[tokio::test]
    async fn synchronous_is_full_or_normal_as_configured() {
        use diesel::RunQueryDsl as _;
        use diesel::sql_types::BigInt;

        #[derive(diesel::QueryableByName)] // coverage: excluded: llvm-cov maps a build() of diesel's that never runs here
        struct Level {
            #[diesel(sql_type = BigInt)]
            synchronous: i64,
        }
        let folder = tempfile::tempdir().unwrap();
        // SQLite numbers the levels OFF 0, NORMAL 1, FULL 2.
        for (synchronous, level) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
            let path = SqlitePath(folder.path().join(format!("{level}.db")));
            let database = Database::open(&path, 1, synchronous).unwrap();
            let read = database
                .run(|c| diesel::sql_query("PRAGMA synchronous").get_result::<Level>(c))
                .await
                .unwrap();
            assert_eq!(read.synchronous, level, "{synchronous:?}");
        }
        assert_eq!(Synchronous::default(), Synchronous::Full);
    }

    #[tokio::test]
    async fn the_hot_reads_are_prepared_once_per_connection_and_reused() {
        use std::sync::Mutex;

        use diesel::connection::{Connection as _, InstrumentationEvent};
        use domain::ports::{RoomStore as _, SessionRepository as _, UserRepository as _};

        // Diesel prepares a statement again on every call when it cannot cache it
        // (`sql_query`, an `IN` list of variable length, a boxed query): SQLite then parses
        // and plans it per request. One connection, so every call below uses it.
        let test = test_database::with_connections(1);
        let database = test.database.clone();
        let ada = test.user("ada@example.com").await;
        let email = domain::Email::parse("ada@example.com").unwrap();
        let cached = Arc::new(Mutex::new(Vec::<String>::new()));
        let record = Arc::clone(&cached);
        database
            .run(move |connection| {
                connection.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                    if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                        record.lock().unwrap().push(sql.to_owned());
                    }
                });
                Ok(())
            })
            .await
            .unwrap();
        let users = SqliteUserRepository::new(database.clone());
        let sessions = SqliteSessionRepository::new(database.clone());
        let rooms = SqliteRoomStore::new(database.clone());
        let session = domain::SessionId::from_uuid(uuid::Uuid::new_v4());
        let room = domain::RoomName::parse("lobby").unwrap();
        let now = chrono::Utc::now();

        for round in 0..3 {
            // Every authenticated request; a login; a member's check on every publish.
            sessions.find_live_user(session, ada, now).await.unwrap();
            users.find_by_id(ada).await.unwrap();
            users.find_credentials(&email).await.unwrap();
            rooms.membership(&room, ada).await.unwrap_err();
            // The catch-up read every member connection makes per published message:
            // the room's last_seq, then the messages above a seq.
            rooms
                .messages_after(&room, domain::Seq::ZERO, domain::PageLimit::MAX)
                .await
                .unwrap();
            let prepared = std::mem::take(&mut *cached.lock().unwrap());
            let expected = if round == 0 { 6 } else { 0 };
            assert_eq!(
                prepared.len(),
                expected,
                "round {round}: statements prepared into the cache: {prepared:#?}"
            );
            // A bound LIMIT would have SQLite re-prepare the cached statement at every
            // call (see the module's docs), which diesel's cache cannot see.
            assert!(
                prepared.iter().all(|sql| !sql.contains("LIMIT")),
                "a hot statement binds LIMIT: {prepared:#?}"
            );
        }
    }

    #[tokio::test]
    async fn a_read_is_answered_while_a_write_is_in_progress() {
        use diesel::RunQueryDsl as _;

        let test = test_database::fresh();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel::<()>();
        let database = test.database.clone();
        // A write that holds the write lock until the test lets it go, as a slow
        // commit (fsync) or another process's lock would.
        let write = tokio::spawn(async move {
            database
                .write(move |connection| {
                    let inserted = connection.batch_execute(
                        "INSERT INTO readiness_probe (id, checked_at) \
                         VALUES (1, CURRENT_TIMESTAMP) ON CONFLICT (id) DO NOTHING",
                    );
                    let _ = started.send(());
                    let _ = released.recv();
                    inserted
                })
                .await
        });
        has_started.await.unwrap();

        let read = test
            .database
            .run(|c| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1"))
                    .get_result::<i32>(c)
            })
            .await;

        assert_eq!(read.unwrap(), 1, "the read waited for the write");
        release.send(()).unwrap();
        write.await.unwrap().unwrap();
    }

    #[test]
    fn an_unwritable_folder_is_reported() {
        let folder = tempfile::tempdir().unwrap();
        let blocker = folder.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        let path = SqlitePath(blocker.join("sub/p.db"));
        assert!(matches!(
            Database::open(&path, 1, Synchronous::Full),
            Err(OpenError::CreateFolder { .. })
        ));
    }

    #[test]
    fn a_file_whose_tables_clash_with_the_migrations_is_refused_with_the_reason() {
        use diesel::Connection as _;

        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("other.db");
        // Something else's database, with a `users` table of its own.
        diesel::sqlite::SqliteConnection::establish(&path.to_string_lossy())
            .unwrap()
            .batch_execute("CREATE TABLE users (nickname TEXT)")
            .unwrap();

        let opened = Database::open(&SqlitePath(path), 1, Synchronous::Full);

        let error = opened.err();
        assert!(
            matches!(&error, Some(OpenError::Migration(reason)) if reason.contains("users")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_commit_that_fails_is_an_error_and_keeps_nothing() {
        use diesel::RunQueryDsl as _;

        let test = test_database::fresh();
        // Foreign keys checked at COMMIT: the statement succeeds, the commit fails.
        let outcome = test
            .database
            .write(|connection| {
                connection.batch_execute("PRAGMA defer_foreign_keys = ON")?;
                diesel::sql_query(
                    "INSERT INTO sessions (id, user_id, created_at) \
                     VALUES ('s', 'nobody', CURRENT_TIMESTAMP)",
                )
                .execute(connection)
            })
            .await;
        assert!(
            matches!(outcome, Err(DbError::Query(_))),
            "the failed commit was reported: {outcome:?}"
        );
        #[derive(diesel::QueryableByName)] // coverage: excluded: llvm-cov maps a build() of diesel's that never runs here
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            sessions: i64,
        }
        let left = test
            .database
            .run(|c| {
                diesel::sql_query("SELECT count(*) AS sessions FROM sessions")
                    .get_result::<Count>(c)
            })
            .await
            .unwrap();
        assert_eq!(left.sessions, 0);
    }

    #[tokio::test]
    async fn readiness_needs_a_committed_write_and_the_opened_file() {
        use test_support::contracts::WriteFaults as _;

        let test = test_database::fresh();
        test.database.ping().await.unwrap();

        test.database.fail_commits(true);
        assert!(
            test.database.ping().await.is_err(),
            "writes fail: not ready"
        );
        test.database.fail_commits(false);
        test.database.ping().await.unwrap();

        // Replaced: another file now sits at the path.
        let path = test.database.path.clone();
        let aside = path.with_extension("aside");
        std::fs::rename(&path, &aside).unwrap();
        std::fs::copy(&aside, &path).unwrap();
        let replaced = test.database.ping().await;
        assert!(
            replaced.is_err_and(|error| error.to_string().contains("replaced")),
            "a replaced file is not ready"
        );

        // Gone: nothing at the path, though the open file still takes writes.
        std::fs::remove_file(&path).unwrap();
        let gone = test.database.ping().await;
        assert!(
            gone.is_err_and(|error| error.to_string().contains("gone")),
            "a deleted file is not ready"
        );
    }
}

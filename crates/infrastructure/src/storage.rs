//! Choosing the storage: a [`DatabaseUrl`] parsed once from configuration, and the
//! factory that opens the backend it names and hands back its ports, so that the binary
//! never names a backend's types.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use domain::ports::{
    AdapterError, LoginAttempts, MessageBus, PresenceRegistry, RoomStore, SessionRepository,
    StorageHealth, UserRepository,
};

use crate::bus::InProcessBus;
use crate::login_attempts::InMemoryLoginAttempts;
use crate::postgres::{
    PgBus, PgDatabase, PgLoginAttempts, PgPresence, PgRoomStore, PgSessionRepository,
    PgUserRepository, PostgresUrl, PostgresUrlError,
};
use crate::presence::InProcessPresence;
pub use crate::sqlite::Synchronous;
use crate::sqlite::{
    Database, SqlitePath, SqliteRoomStore, SqliteSessionRepository, SqliteUrlError,
    SqliteUserRepository,
};

/// Where the data lives, as configured by `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file (`sqlite://PATH`, `sqlite:PATH` or a bare path).
    Sqlite(SqlitePath),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`), which several
    /// instances can share.
    Postgres(PostgresUrl),
}

/// A `DATABASE_URL` that names no storage Portico can open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUrlError {
    /// A PostgreSQL URL this build cannot use.
    #[error(transparent)]
    Postgres(#[from] PostgresUrlError),
    /// Not a SQLite URL this adapter understands.
    #[error(transparent)]
    Sqlite(#[from] SqliteUrlError),
}

/// Why the storage could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The SQLite file could not be opened or migrated.
    #[error(transparent)]
    Sqlite(#[from] crate::sqlite::OpenError),
    /// The PostgreSQL database could not be reached or migrated.
    #[error(transparent)]
    Postgres(#[from] crate::postgres::OpenError),
}

impl DatabaseUrl {
    /// Parses a `DATABASE_URL`.
    ///
    /// # Errors
    /// [`DatabaseUrlError`] saying why the URL names nothing Portico can open.
    pub fn parse(raw: &str) -> Result<Self, DatabaseUrlError> {
        let scheme = raw.split_once("://").map(|(scheme, _)| scheme);
        if matches!(scheme, Some("postgres" | "postgresql")) {
            return Ok(Self::Postgres(PostgresUrl::parse(raw)?));
        }
        Ok(Self::Sqlite(SqlitePath::parse(raw)?))
    }
}

impl Default for DatabaseUrl {
    /// The embedded default: `sqlite://data/portico.db`, relative to the working
    /// directory, so a fresh machine runs with no database server and no configuration.
    fn default() -> Self {
        Self::Sqlite(SqlitePath::default_file())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.as_path().display()),
            // Password masked.
            Self::Postgres(url) => url.fmt(f),
        }
    }
}

/// What a backend does when the service stops (SQLite: fold the write-ahead log into the
/// main file; PostgreSQL: nothing).
#[async_trait]
pub trait StorageShutdown: Send + Sync {
    /// Finishes what must be finished before the process ends.
    ///
    /// # Errors
    /// [`AdapterError`] when the store cannot be reached.
    async fn close(&self) -> Result<(), AdapterError>;
}

/// How a storage is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSettings {
    /// Pooled connections (`DATABASE_POOL_SIZE`), per instance.
    pub pool_size: u32,
    /// When a SQLite commit reaches the disk (`SQLITE_SYNCHRONOUS`).
    pub sqlite_synchronous: Synchronous,
}

/// An open storage, seen only through its ports.
#[derive(Clone)]
pub struct Storage {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Sessions and refresh tokens.
    pub sessions: Arc<dyn SessionRepository>,
    /// Failed logins per address.
    pub login_attempts: Arc<dyn LoginAttempts>,
    /// Rooms, memberships with their cursors, and messages.
    pub rooms: Arc<dyn RoomStore>,
    /// Room and session events to every connection of every instance that shares the
    /// store: in process for SQLite (one instance), `LISTEN/NOTIFY` for PostgreSQL.
    pub bus: Arc<dyn MessageBus>,
    /// Who is connected: in process for SQLite, across instances (with heartbeats) for
    /// PostgreSQL.
    pub presence: Arc<dyn PresenceRegistry>,
    /// Whether the store can serve.
    pub health: Arc<dyn StorageHealth>,
    /// What to do on stop.
    pub shutdown: Arc<dyn StorageShutdown>,
}

impl Storage {
    /// Opens (creating and migrating if needed) the storage `url` names, as `settings`
    /// say. For PostgreSQL this starts the message bus's listener (waiting until it
    /// listens) and the presence heartbeat, so it must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`OpenError`] when the store cannot be opened or migrated.
    pub fn open(url: &DatabaseUrl, settings: StorageSettings) -> Result<Self, OpenError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                let database =
                    Database::open(path, settings.pool_size, settings.sqlite_synchronous)
                        .map_err(OpenError::Sqlite)?;
                Ok(Self {
                    users: Arc::new(SqliteUserRepository::new(database.clone())),
                    sessions: Arc::new(SqliteSessionRepository::new(database.clone())),
                    // Per instance, in memory: SQLite serves one instance.
                    login_attempts: Arc::new(InMemoryLoginAttempts::default()),
                    rooms: Arc::new(SqliteRoomStore::new(database.clone())),
                    bus: Arc::new(InProcessBus::default()),
                    presence: Arc::new(InProcessPresence::default()),
                    health: Arc::new(database.clone()),
                    shutdown: Arc::new(database),
                })
            }
            DatabaseUrl::Postgres(url) => {
                let database = PgDatabase::open(url, settings.pool_size)?;
                Ok(Self {
                    users: Arc::new(PgUserRepository::new(database.clone())),
                    sessions: Arc::new(PgSessionRepository::new(database.clone())),
                    // In the database: every instance counts against the same record, so
                    // N instances do not give a guesser N times the attempts.
                    login_attempts: Arc::new(PgLoginAttempts::new(database.clone())),
                    rooms: Arc::new(PgRoomStore::new(database.clone())),
                    bus: Arc::new(
                        PgBus::start(url, database.clone())
                            .map_err(crate::postgres::OpenError::from)?,
                    ),
                    presence: Arc::new(
                        PgPresence::start(database.clone())
                            .map_err(crate::postgres::OpenError::from)?,
                    ),
                    health: Arc::new(database.clone()),
                    shutdown: Arc::new(database),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_are_sqlite_and_postgres_urls_are_postgres() {
        let url = DatabaseUrl::parse("sqlite://data/portico.db").unwrap();
        assert_eq!(url.to_string(), "sqlite://data/portico.db");
        assert_eq!(
            DatabaseUrl::default(),
            url,
            "the default is a SQLite file under data/"
        );
        for raw in [
            "postgres://db/portico",
            "postgresql://u@db:5433/portico?connect_timeout=5",
        ] {
            let url = DatabaseUrl::parse(raw).unwrap();
            assert!(matches!(url, DatabaseUrl::Postgres(_)), "sent {raw}");
            assert_eq!(url.to_string(), raw, "nothing to mask");
        }
        assert_eq!(
            DatabaseUrl::parse("postgres://db/portico?sslmode=require"),
            Err(DatabaseUrlError::Postgres(
                PostgresUrlError::TlsUnavailable("require".into())
            ))
        );
        assert!(matches!(
            DatabaseUrl::parse("mysql://db"),
            Err(DatabaseUrlError::Sqlite(_))
        ));
    }

    #[tokio::test]
    async fn an_opened_storage_serves_its_ports_and_closes() {
        let folder = tempfile::tempdir().unwrap();
        let raw = format!("sqlite://{}", folder.path().join("p.db").display());
        let storage = Storage::open(
            &DatabaseUrl::parse(&raw).unwrap(),
            StorageSettings {
                pool_size: 2,
                sqlite_synchronous: Synchronous::Full,
            },
        )
        .unwrap();
        storage.health.ping().await.unwrap();
        let email = domain::Email::parse("nobody@example.com").unwrap();
        assert_eq!(storage.users.find_credentials(&email).await.unwrap(), None);
        let nobody = domain::UserId::from_uuid(uuid::Uuid::nil());
        assert_eq!(storage.rooms.rooms_of(nobody).await.unwrap(), []);
        storage.shutdown.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_postgres_url_opens_every_port_on_postgres() {
        let cluster = crate::postgres::test_database::cluster_or_skip!("the storage factory");
        let scratch = cluster.create_database();
        let storage = Storage::open(
            &DatabaseUrl::parse(scratch.url()).unwrap(),
            StorageSettings {
                pool_size: 2,
                sqlite_synchronous: Synchronous::Full,
            },
        )
        .unwrap();
        storage.health.ping().await.unwrap();
        let email = domain::Email::parse("nobody@example.com").unwrap();
        assert_eq!(storage.users.find_credentials(&email).await.unwrap(), None);
        let key = domain::ports::AttemptKey::anonymous(email);
        assert_eq!(storage.login_attempts.failures(&key).await.unwrap(), None);
        let mut events = storage.bus.subscribe();
        let ended = domain::ports::RoomEvent::SessionEnded {
            session: domain::SessionId::from_uuid(uuid::Uuid::nil()),
        };
        storage.bus.publish(ended.clone()).await.unwrap();
        assert_eq!(events.next().await, Ok(ended));
        storage.shutdown.close().await.unwrap();
    }
}

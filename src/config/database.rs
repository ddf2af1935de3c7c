//! The database: which storage (parsed once into a [`DatabaseUrl`]), how many
//! connections, how durable a SQLite commit is, and how often stale sessions are pruned.

use std::time::Duration;

use infrastructure::storage::{DatabaseUrl, Synchronous};

use super::reader::{Reader, parse_duration, parse_either, parse_number};

/// The database's settings, as read; [`super::Config`] documents each.
pub(super) struct Database {
    /// `DATABASE_URL`.
    pub(super) database_url: DatabaseUrl,
    /// `DATABASE_POOL_SIZE`.
    pub(super) database_pool_size: u32,
    /// `SESSION_PRUNE_INTERVAL`.
    pub(super) session_prune_interval: Duration,
    /// `SQLITE_SYNCHRONOUS`.
    pub(super) sqlite_synchronous: Synchronous,
}

impl Database {
    /// Reads the database's variables, recording bad values in `reader`.
    pub(super) fn read(reader: &mut Reader<'_>) -> Self {
        Self {
            database_url: reader.get("DATABASE_URL", DatabaseUrl::default(), |raw| {
                DatabaseUrl::parse(raw).map_err(|error| error.to_string())
            }),
            database_pool_size: reader.get("DATABASE_POOL_SIZE", 8, parse_number(1, 256)),
            session_prune_interval: reader.get(
                "SESSION_PRUNE_INTERVAL",
                Duration::from_secs(3_600),
                parse_duration,
            ),
            sqlite_synchronous: reader.get(
                "SQLITE_SYNCHRONOUS",
                Synchronous::Full,
                parse_either(("full", Synchronous::Full), ("normal", Synchronous::Normal)),
            ),
        }
    }
}

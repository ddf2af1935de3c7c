//! Time, identifiers and the health of the storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::AdapterError;

/// The time, behind a port so that tests decide it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// Fresh identifiers, behind a port so that tests decide them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdSource: Send + Sync {
    /// A new, never-seen identifier.
    fn new_id(&self) -> Uuid;
}

/// Tells whether the storage can serve requests.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StorageHealth: Send + Sync {
    /// Checks that the store can serve: that it takes a write whose commit succeeds, and
    /// that it is still the store that was opened (a file deleted or replaced under a
    /// running server is not).
    ///
    /// # Errors
    /// [`AdapterError`] when the store cannot be reached or does not answer.
    async fn ping(&self) -> Result<(), AdapterError>;
}

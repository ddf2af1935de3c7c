//! Where users and their credentials live.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::AdapterError;
use crate::{Email, NewUser, PasswordHash, PersonName, User, UserId};

/// Why a user could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// Another user already has this e-mail address.
    #[error("e-mail address already registered")]
    EmailTaken,
    /// The store failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// A user together with their stored password hash, for the use cases that check or
/// change a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// The user.
    pub user: User,
    /// The hash of their current password.
    pub password_hash: PasswordHash,
}

/// Where users live.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user.
    ///
    /// # Errors
    /// MUST return [`InsertUserError::EmailTaken`] when a user with the same e-mail
    /// address exists (addresses are compared as stored, already lower-cased), and
    /// [`InsertUserError::Adapter`] for any other failure. Nothing is stored on error.
    async fn insert(&self, new_user: NewUser) -> Result<(), InsertUserError>;

    /// The user with this id, or `None`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, AdapterError>;

    /// The users among `ids` that exist, ordered by id; an id given twice is answered
    /// once, an unknown one not at all. One read, however many ids: it is how a room's
    /// present members get their names.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, AdapterError>;

    /// The user with this e-mail address and their password hash, or `None`.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails or holds a value that no longer parses.
    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<StoredCredentials>, AdapterError>;

    /// Replaces the user's names and moves `updated_at`; returns the updated user, or
    /// `None` when no such user exists.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    async fn update_names(
        &self,
        id: UserId,
        first_name: PersonName,
        last_name: PersonName,
        updated_at: DateTime<Utc>,
    ) -> Result<Option<User>, AdapterError>;

    /// Replaces the user's password hash, as `replacement` says; returns whether it did.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails. An [`HashReplacement::Upgrade`] whose
    /// `previous` is no longer the stored hash MUST change nothing and return `false`.
    async fn update_password_hash(
        &self,
        id: UserId,
        password_hash: PasswordHash,
        at: DateTime<Utc>,
        replacement: HashReplacement,
    ) -> Result<bool, AdapterError>;
}

/// Why a password hash is being replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashReplacement {
    /// The user chose a new password: the hash is replaced and `updated_at` moves.
    Changed,
    /// The same password rehashed with stronger settings: replaced only while the stored
    /// hash is still `previous` (a password change in between wins), `updated_at` stays.
    Upgrade {
        /// The hash the password was just verified against.
        previous: PasswordHash,
    },
}

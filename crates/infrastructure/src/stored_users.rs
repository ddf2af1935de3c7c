//! What the user repositories of both backends share once a row is read: re-parsing a
//! stored user through the domain's constructors.

use chrono::{DateTime, Utc};
use domain::ports::{AdapterError, StoredCredentials};
use domain::{Email, PasswordHash, PersonName, User, UserId};

/// A stored value no longer parses: the row was written by something else or corrupted.
#[derive(Debug, thiserror::Error)]
#[error("stored user row is invalid: {0}")]
struct CorruptRow(&'static str);

pub(crate) fn corrupt(what: &'static str) -> AdapterError {
    AdapterError::new("reading a user failed", CorruptRow(what))
}

/// A row of `users` once the backend has decoded its own column types.
pub(crate) struct UserParts<'a> {
    pub(crate) id: UserId,
    pub(crate) email: &'a str,
    pub(crate) password_hash: String,
    pub(crate) first_name: &'a str,
    pub(crate) last_name: &'a str,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl TryFrom<UserParts<'_>> for StoredCredentials {
    type Error = AdapterError;

    // Re-parse through the domain's constructors: nothing unchecked leaves the store.
    fn try_from(row: UserParts<'_>) -> Result<Self, AdapterError> {
        let user = User {
            id: row.id,
            email: Email::parse(row.email).map_err(|_| corrupt("email"))?,
            first_name: PersonName::parse(row.first_name).map_err(|_| corrupt("first_name"))?,
            last_name: PersonName::parse(row.last_name).map_err(|_| corrupt("last_name"))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        };
        Ok(Self {
            user,
            password_hash: PasswordHash::new(row.password_hash),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field's name, and how to corrupt it in a sound row.
    type Corruption = (&'static str, fn(&mut UserParts<'static>));

    fn sound_row() -> UserParts<'static> {
        UserParts {
            id: UserId::from_uuid(uuid::Uuid::from_u128(0xada)),
            email: "ada@example.com",
            password_hash: "$2b$04$hash".to_owned(),
            first_name: "Ada",
            last_name: "Lovelace",
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn every_field_of_a_stored_user_is_read_again_and_a_corrupt_one_is_named() {
        assert!(
            StoredCredentials::try_from(sound_row()).is_ok(),
            "a sound row reads"
        );
        let corruptions: [Corruption; 3] = [
            ("email", |row| row.email = "not an address"),
            ("first_name", |row| row.first_name = "Ada\u{202e}"),
            ("last_name", |row| row.last_name = "Love\nlace"),
        ];
        for (field, corrupt_it) in corruptions {
            let mut row = sound_row();
            corrupt_it(&mut row);
            let read = StoredCredentials::try_from(row);
            assert_eq!(
                read.err()
                    .and_then(|error| std::error::Error::source(&error).map(ToString::to_string)),
                Some(format!("stored user row is invalid: {field}")),
                "a corrupt {field}"
            );
        }
    }
}

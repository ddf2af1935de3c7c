//! Users and the values that describe them.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Email;

/// The most Unicode scalar values a first or last name may have.
pub const MAX_NAME_CHARS: usize = 100;

/// A user's identity: a random UUID, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    /// Wraps a UUID produced by an id source or read from storage.
    #[must_use]
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The UUID inside.
    #[must_use]
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A first or last name: trimmed, at most [`MAX_NAME_CHARS`] characters, no control
/// characters. Empty is allowed (the name was not given).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonName(String);

/// Why a string is not an acceptable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    /// Longer than [`MAX_NAME_CHARS`] characters.
    #[error("must be at most 100 characters")]
    TooLong,
    /// Contains a control character (a line break, a tab, NUL, …).
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl PersonName {
    /// Trims and checks a name.
    ///
    /// # Errors
    /// [`PersonNameError`] naming the rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, PersonNameError> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > MAX_NAME_CHARS {
            return Err(PersonNameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(PersonNameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }
}

impl AsRef<str> for PersonName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered user as every layer sees it. The password hash is deliberately not
/// here: it travels only between the repository and the use cases that need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's identity.
    pub id: UserId,
    /// The login address, unique across users.
    pub email: Email,
    /// Given name, possibly empty.
    pub first_name: PersonName,
    /// Family name, possibly empty.
    pub last_name: PersonName,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account last changed (profile or password).
    pub updated_at: DateTime<Utc>,
}

/// A user about to be stored, with the hash of their password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The user as it will be read back.
    pub user: User,
    /// The hash of the password chosen at registration.
    pub password_hash: crate::PasswordHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_may_be_empty() {
        assert_eq!(PersonName::parse("  Ada ").unwrap().as_ref(), "Ada");
        assert_eq!(PersonName::parse("").unwrap(), PersonName::default());
        assert_eq!(PersonName::parse("Zoë").unwrap().to_string(), "Zoë");
    }

    #[test]
    fn names_count_characters_not_bytes() {
        assert!(PersonName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            PersonName::parse(&"é".repeat(101)),
            Err(PersonNameError::TooLong)
        );
    }

    #[test]
    fn names_refuse_control_characters() {
        for raw in ["Ada\nLovelace", "Ada\u{0}", "A\tda"] {
            assert_eq!(
                PersonName::parse(raw),
                Err(PersonNameError::ControlCharacter),
                "sent {raw:?}"
            );
        }
    }

    #[test]
    fn user_ids_display_as_their_uuid() {
        let uuid = Uuid::nil();
        let id = UserId::from_uuid(uuid);
        assert_eq!(id.as_uuid(), uuid);
        assert_eq!(id.to_string(), uuid.to_string());
    }
}

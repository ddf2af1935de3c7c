//! Users and the values that describe them.

use std::fmt;

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::Email;

/// The most Unicode scalar values a first or last name may have.
pub const MAX_NAME_CHARS: usize = 100;

crate::uuid_id! {
    /// A user's identity: a random UUID, never reused.
    UserId
}

/// A first or last name: trimmed, in Unicode Normalization Form C, at most
/// [`MAX_NAME_CHARS`] characters, and free of characters that are invisible or change how
/// the text around them is shown. Empty is allowed (the name was not given).
///
/// Names are shown to other people (room members, presence lists), so a name must look
/// like what it is: "Ada", U+202E, "ecalevoL" is displayed as "AdaLovelace", and a
/// zero-width space makes two different stored names look alike.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonName(String);

/// Why a string is not an acceptable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    /// Longer than [`MAX_NAME_CHARS`] characters once normalised.
    #[error("must be at most 100 characters")]
    TooLong,
    /// Contains a control, formatting or line-separating character (see
    /// [`is_control_or_formatting`]): a line break, a tab, NUL, a bidirectional override
    /// or isolate, a zero-width space or joiner, a byte-order mark, …
    #[error("must not contain control or formatting characters")]
    ControlOrFormattingCharacter,
    /// Contains a code point that Unicode has not assigned, or one reserved for private
    /// use.
    #[error("must not contain unassigned or private-use characters")]
    UnassignedOrPrivateUseCharacter,
}

impl PersonName {
    /// Trims, checks and normalises a name to NFC.
    ///
    /// Normalising before counting makes the limit the same for "é" typed as one code
    /// point or as "e" and a combining accent, and makes the two spellings one stored name.
    ///
    /// # Errors
    /// [`PersonNameError`] naming the rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, PersonNameError> {
        let trimmed = raw.trim();
        if trimmed.chars().any(is_control_or_formatting) {
            return Err(PersonNameError::ControlOrFormattingCharacter);
        }
        // Private-use characters look like whatever each reader's font puts there, and an
        // unassigned code point may later be assigned as a formatting character: neither
        // shows the same name to everyone.
        if trimmed.chars().any(is_unassigned_or_private_use) {
            return Err(PersonNameError::UnassignedOrPrivateUseCharacter);
        }
        let normalised: String = trimmed.nfc().collect();
        if normalised.chars().count() > MAX_NAME_CHARS {
            return Err(PersonNameError::TooLong);
        }
        Ok(Self(normalised))
    }
}

/// Whether `c` is a control character (`Cc`), a formatting character (`Cf`: bidirectional
/// overrides and isolates, zero-width spaces and joiners, the byte-order mark, soft
/// hyphen, tags, …) or a line or paragraph separator (`Zl`, `Zp`).
///
/// None of these is visible as itself; each either hides or reorders what surrounds it,
/// which lets one identity pass for another. Shared by names and e-mail addresses.
pub(crate) fn is_control_or_formatting(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Whether `c` is unassigned (`Cn`, noncharacters included) or private-use (`Co`) in the
/// Unicode version of `unicode-properties`.
fn is_unassigned_or_private_use(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Unassigned | GeneralCategory::PrivateUse
    )
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
    fn names_refuse_control_and_formatting_characters() {
        for (what, raw) in [
            ("a right-to-left override", "Ada\u{202E}ecalevoL"),
            ("a zero-width joiner", "A\u{200D}da"),
            ("a zero-width space", "A\u{200B}da"),
            ("a byte-order mark", "\u{FEFF}Ada"),
            ("a first-strong isolate", "Ada\u{2068}"),
            ("a soft hyphen", "Love\u{AD}lace"),
            ("NUL", "Ada\u{0}"),
            ("a tab", "A\tda"),
            ("a line feed", "Ada\nLovelace"),
            ("a C1 control (NEL)", "Ada\u{85}Lovelace"),
            ("a line separator", "Ada\u{2028}Lovelace"),
            ("a paragraph separator", "Ada\u{2029}Lovelace"),
        ] {
            assert_eq!(
                PersonName::parse(raw),
                Err(PersonNameError::ControlOrFormattingCharacter),
                "sent {what}: {raw:?}"
            );
        }
        assert_eq!(
            PersonNameError::ControlOrFormattingCharacter.to_string(),
            "must not contain control or formatting characters"
        );
    }

    #[test]
    fn names_refuse_unassigned_and_private_use_characters() {
        for (what, raw) in [
            ("a private-use character", "Ada\u{E000}"),
            ("a supplementary private-use character", "Ada\u{F0000}"),
            ("a noncharacter", "Ada\u{FFFF}"),
            ("an unassigned code point", "Ada\u{0378}"),
        ] {
            assert_eq!(
                PersonName::parse(raw),
                Err(PersonNameError::UnassignedOrPrivateUseCharacter),
                "sent {what}: {raw:?}"
            );
        }
    }

    #[test]
    fn names_keep_letters_of_every_script_and_marks() {
        for raw in [
            "Zoë",
            "José María",
            "O'Brien-Smith",
            "Ἀριστοτέλης",
            "محمد",
            "עדה",
            "李小龍",
            "Nguyễn",
            "देवनागरी",
        ] {
            assert_eq!(
                PersonName::parse(raw).map(|name| name.to_string()),
                Ok(raw.to_owned()),
                "sent {raw:?}"
            );
        }
    }

    #[test]
    fn names_are_stored_composed() {
        let decomposed = "Zoe\u{308}";
        let name = PersonName::parse(decomposed).unwrap();
        assert_eq!(name.as_ref(), "Zo\u{EB}");
        assert_eq!(name, PersonName::parse("Zoë").unwrap());
    }

    #[test]
    fn names_are_counted_after_composition() {
        // 100 decomposed "é" are 200 code points, but 100 characters once composed.
        let decomposed = "e\u{301}".repeat(100);
        assert_eq!(
            PersonName::parse(&decomposed)
                .unwrap()
                .as_ref()
                .chars()
                .count(),
            100
        );
        assert_eq!(
            PersonName::parse(&"e\u{301}".repeat(101)),
            Err(PersonNameError::TooLong)
        );
    }

    #[test]
    fn user_ids_display_as_their_uuid() {
        let uuid = uuid::Uuid::nil();
        let id = UserId::from_uuid(uuid);
        assert_eq!(id.as_uuid(), uuid);
        assert_eq!(id.to_string(), uuid.to_string());
    }
}

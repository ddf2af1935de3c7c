//! Plain-text passwords (briefly, in memory) and their stored hashes.

use std::fmt;

/// The fewest bytes a password may have.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// The most bytes a password may have. bcrypt reads only the first 72 bytes of its input;
/// refusing longer passwords (instead of truncating them) keeps the contract the same
/// for every hashing algorithm Portico supports.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// A password as the user typed it, within the accepted length. Never trimmed: white
/// space is part of a password. Its `Debug` prints no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// Why a string is not an acceptable password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_BYTES`] bytes.
    #[error("must be at least 8 bytes long")]
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    #[error("must be at most 72 bytes long")]
    TooLong,
    /// Contains a NUL character, which C implementations of bcrypt treat as the end of
    /// the input: refusing it means no password is ever silently shortened.
    #[error("must not contain NUL characters")]
    ContainsNul,
}

impl Password {
    /// Checks the length in bytes (UTF-8) and the absence of NUL characters.
    ///
    /// # Errors
    /// [`PasswordError`] naming the rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        if raw.len() < MIN_PASSWORD_BYTES {
            return Err(PasswordError::TooShort);
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        if raw.contains('\0') {
            return Err(PasswordError::ContainsNul);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret itself, for a hasher.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A stored password hash in a self-describing string form (bcrypt's modular crypt
/// format or a PHC string), as the hasher produced it. Opaque to every layer but the
/// hasher.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash read from storage or produced by a hasher; no check is made here,
    /// since only the hasher knows the formats and a malformed one fails verification.
    #[must_use]
    pub fn new(encoded: String) -> Self {
        Self(encoded)
    }
}

impl AsRef<str> for PasswordHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_passwords_from_8_to_72_bytes_untrimmed() {
        for raw in ["12345678", " spaced out ", &"x".repeat(72), "pässwörd"] {
            let password = Password::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(password.expose(), raw);
        }
    }

    #[test]
    fn counts_bytes_not_characters() {
        // 36 two-byte characters are 72 bytes; one more is 74.
        assert!(Password::parse(&"é".repeat(36)).is_ok());
        assert_eq!(
            Password::parse(&"é".repeat(37)),
            Err(PasswordError::TooLong)
        );
        // Four characters, eight bytes.
        assert!(Password::parse("éééé").is_ok());
    }

    #[test]
    fn refuses_short_long_and_nul_passwords() {
        assert_eq!(Password::parse("1234567"), Err(PasswordError::TooShort));
        assert_eq!(Password::parse(""), Err(PasswordError::TooShort));
        assert_eq!(
            Password::parse(&"x".repeat(73)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            Password::parse("abcd\0efgh"),
            Err(PasswordError::ContainsNul)
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert_eq!(format!("{password:?}"), "Password(..)");
        let hash = PasswordHash::new("$2b$04$abc".into());
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
        assert_eq!(hash.as_ref(), "$2b$04$abc");
    }
}

//! E-mail addresses, parsed once at the edge.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::user::is_control_or_formatting;

/// The longest address SMTP can carry (RFC 5321 §4.5.3.1.3 path limit, less the brackets).
const MAX_LEN: usize = 254;
/// The longest local part RFC 5321 §4.5.3.1.1 allows.
const MAX_LOCAL_LEN: usize = 64;
/// The longest DNS label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// A syntactically valid e-mail address, trimmed, lower-cased and in Unicode
/// Normalization Form C, so that two spellings of one address compare equal and the
/// store's uniqueness constraint sees one value. It holds no control or formatting
/// character, so the address shown is the address stored.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an acceptable e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but white space was given.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`MAX_LEN`] bytes once normalised.
    #[error("must be at most 254 bytes")]
    TooLong,
    /// Contains a control, formatting or line-separating character: a right-to-left
    /// override could show `moc.elpmaxe@ada` as another address, a zero-width space
    /// could make a second account look like the first.
    #[error("must not contain control or formatting characters")]
    ControlOrFormattingCharacter,
    /// Not of the form `local@domain.tld`.
    #[error("is not a valid e-mail address")]
    Invalid,
}

impl Email {
    /// Trims, lower-cases and normalises an address to NFC, then checks its shape: one
    /// `@`, a local part of printable characters without white space or quotes, and a
    /// dotted domain of letters, digits and inner hyphens.
    ///
    /// NFC (RFC 6532 §3.1) makes "zoë" typed as one code point or as "e" and a combining
    /// diaeresis one address, not two accounts that look the same.
    ///
    /// # Errors
    /// [`EmailError`] naming the first rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        // Checked before the shape, which would refuse these too, so that the answer
        // says what is wrong rather than only "not valid".
        if trimmed.chars().any(is_control_or_formatting) {
            return Err(EmailError::ControlOrFormattingCharacter);
        }
        let normalised: String = trimmed.to_lowercase().nfc().collect();
        if normalised.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = normalised.split_once('@').ok_or(EmailError::Invalid)?;
        if !is_valid_local_part(local) || !is_valid_domain(domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(normalised))
    }
}

fn is_valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || SPECIALS.contains(c))
}

fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        // A top-level domain is never all digits; this refuses bare IPv4 addresses.
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    // Addresses are personal data: keep them out of debug output and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_of_exactly_254_bytes_is_accepted_and_one_more_is_too_long() {
        let local = "a".repeat(64);
        let domain = format!("{}.{}.{}", "b".repeat(63), "c".repeat(63), "d".repeat(61));
        let longest = format!("{local}@{domain}");
        assert_eq!(longest.len(), MAX_LEN);
        assert_eq!(
            Email::parse(&longest).map(|email| email.0),
            Ok(longest.clone())
        );
        assert_eq!(
            Email::parse(&format!("{longest}d")),
            Err(EmailError::TooLong)
        );
    }

    #[test]
    fn accepts_ordinary_addresses_and_normalises_them() {
        for (raw, stored) in [
            ("ada@example.com", "ada@example.com"),
            ("  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
            ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
            (
                "o'brien@xn--bcher-kva.example",
                "o'brien@xn--bcher-kva.example",
            ),
            ("zoë@exämple.de", "zoë@exämple.de"),
        ] {
            let email = Email::parse(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
            assert_eq!(email.as_ref(), stored, "sent {raw:?}");
            assert_eq!(email.to_string(), stored);
        }
    }

    #[test]
    fn two_spellings_of_one_address_are_equal() {
        assert_eq!(
            Email::parse("ADA@example.com"),
            Email::parse("ada@EXAMPLE.com ")
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for raw in [
            "plainaddress",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "ada@exa mple.com",
            "ad a@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "a..da@example.com",
            "ada@-example.com",
            "ada@example-.com",
            "ada@example..com",
            "ada@127.0.0.1",
            "\"ada\"@example.com",
            "ada@exa\u{E000}mple.com",
        ] {
            assert_eq!(Email::parse(raw), Err(EmailError::Invalid), "sent {raw:?}");
        }
    }

    #[test]
    fn refuses_empty_and_overlong_addresses() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long_local), Err(EmailError::Invalid));
        let long_label = format!("a@{}.com", "b".repeat(64));
        assert_eq!(Email::parse(&long_label), Err(EmailError::Invalid));
    }

    #[test]
    fn refuses_control_and_formatting_characters_saying_so() {
        for (what, raw) in [
            ("a right-to-left override", "ada\u{202E}moc.elpmaxe@x.io"),
            (
                "a right-to-left override in the domain",
                "ada@exa\u{202E}mple.com",
            ),
            ("a zero-width joiner", "a\u{200D}da@example.com"),
            ("a zero-width space", "ada@exam\u{200B}ple.com"),
            ("a byte-order mark", "\u{FEFF}ada@example.com"),
            ("a left-to-right mark", "ada\u{200E}@example.com"),
            ("NUL", "ada\u{0}@example.com"),
            ("a tab", "ada\t@example.com"),
            ("a line feed", "ada@example.com\n@x.io"),
            ("a line separator", "ada@exam\u{2028}ple.com"),
        ] {
            assert_eq!(
                Email::parse(raw),
                Err(EmailError::ControlOrFormattingCharacter),
                "sent {what}: {raw:?}"
            );
        }
        assert_eq!(
            EmailError::ControlOrFormattingCharacter.to_string(),
            "must not contain control or formatting characters"
        );
    }

    #[test]
    fn a_decomposed_address_is_the_composed_one() {
        let decomposed = Email::parse("Zoe\u{308}@exa\u{308}mple.de").unwrap();
        assert_eq!(decomposed.as_ref(), "zo\u{EB}@ex\u{E4}mple.de");
        assert_eq!(Email::parse("zoë@exämple.de"), Ok(decomposed));
    }

    #[test]
    fn debug_output_hides_the_address() {
        let email = Email::parse("secret@example.com").unwrap();
        assert_eq!(format!("{email:?}"), "Email(..)");
    }
}

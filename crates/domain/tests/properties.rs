//! Properties of the value types: whatever a client sends, parsing gives a value or a
//! clean error, never a panic; what is accepted is exactly what the rules allow; and an
//! accepted value parses again to itself (so storing and reading it back changes
//! nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico_domain::{
    Email, MAX_MESSAGE_ID_CHARS, MAX_ROOM_NAME_BYTES, MessageBody, MessageBodyError, MessageId,
    PageLimit, Password, PasswordError, PersonName, RoomName, Seq,
};
use proptest::prelude::*;

/// Any text, weighted toward the characters that rules are about: ASCII, white space,
/// NUL and other controls, formatting characters, combining marks and astral planes.
fn any_text(max_chars: usize) -> impl Strategy<Value = String> {
    let interesting = prop_oneof![
        4 => any::<char>(),
        4 => proptest::char::range('\u{20}', '\u{7e}'),
        1 => Just('\0'),
        1 => Just(' '),
        1 => Just('\u{202e}'),
        1 => Just('\u{200b}'),
        1 => Just('\u{301}'),
        1 => Just('@'),
        1 => Just('.'),
    ];
    proptest::collection::vec(interesting, 0..=max_chars)
        .prop_map(|chars| chars.into_iter().collect())
}

fn is_room_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

proptest! {
    #[test]
    fn a_room_name_is_accepted_exactly_when_it_is_1_to_64_of_a_z_0_9_underscore_hyphen(
        raw in prop_oneof![any_text(70), "[a-z0-9_-]{0,70}"],
    ) {
        let allowed = !raw.is_empty()
            && raw.len() <= MAX_ROOM_NAME_BYTES
            && raw.chars().all(is_room_name_char);
        match RoomName::parse(&raw) {
            Ok(name) => {
                prop_assert!(allowed, "accepted {raw:?}");
                prop_assert_eq!(name.as_ref(), raw.as_str());
            }
            Err(_) => prop_assert!(!allowed, "refused {raw:?}"),
        }
    }

    #[test]
    fn an_accepted_address_is_lower_case_trimmed_bounded_and_parses_to_itself(
        raw in prop_oneof![
            any_text(40),
            " {0,2}[A-Za-z0-9._%+-]{1,20}@[A-Za-z0-9-]{1,12}\\.[A-Za-z]{2,6} {0,2}",
        ],
    ) {
        if let Ok(email) = Email::parse(&raw) {
            let stored = email.as_ref();
            prop_assert_eq!(stored, stored.trim());
            prop_assert_eq!(stored.to_lowercase(), stored);
            prop_assert!(stored.len() <= 254);
            prop_assert_eq!(stored.matches('@').count(), 1);
            prop_assert_eq!(Email::parse(stored), Ok(email.clone()));
        }
    }

    #[test]
    fn an_accepted_name_is_trimmed_bounded_and_parses_to_itself(raw in any_text(120)) {
        if let Ok(name) = PersonName::parse(&raw) {
            let stored = name.as_ref();
            prop_assert_eq!(stored, stored.trim());
            prop_assert!(stored.chars().count() <= 100);
            prop_assert!(!stored.contains('\0'));
            prop_assert_eq!(PersonName::parse(stored), Ok(name.clone()));
        }
    }

    #[test]
    fn a_password_is_accepted_exactly_when_it_is_8_to_72_bytes_without_nul(
        raw in any_text(80),
    ) {
        match Password::parse(&raw) {
            Ok(password) => {
                prop_assert!((8..=72).contains(&raw.len()) && !raw.contains('\0'));
                prop_assert_eq!(password.expose(), raw.as_str());
            }
            Err(PasswordError::TooShort) => prop_assert!(raw.len() < 8),
            Err(PasswordError::TooLong) => prop_assert!(raw.len() > 72),
            Err(PasswordError::ContainsNul) => prop_assert!(raw.contains('\0')),
        }
    }

    #[test]
    fn an_accepted_message_id_is_kept_as_sent_and_bounded(raw in any_text(140)) {
        if let Ok(id) = MessageId::parse(&raw) {
            prop_assert_eq!(id.as_ref(), raw.as_str());
            prop_assert!((1..=MAX_MESSAGE_ID_CHARS).contains(&raw.chars().count()));
            prop_assert_eq!(MessageId::parse(id.as_ref()), Ok(id.clone()));
        }
    }

    #[test]
    fn a_message_body_is_refused_only_when_blank_too_long_or_holding_nul(
        raw in any_text(64),
        max_bytes in 1_usize..96,
    ) {
        match MessageBody::parse(&raw, max_bytes) {
            Ok(body) => {
                prop_assert_eq!(body.as_ref(), raw.as_str(), "kept exactly as sent");
                prop_assert!(raw.len() <= max_bytes && !raw.contains('\0'));
                prop_assert!(!raw.trim().is_empty());
            }
            Err(MessageBodyError::Empty) => prop_assert!(raw.trim().is_empty()),
            Err(MessageBodyError::TooLong { max_bytes: limit }) => {
                prop_assert_eq!(limit, max_bytes);
                prop_assert!(raw.len() > max_bytes);
            }
            Err(MessageBodyError::ContainsNul) => prop_assert!(raw.contains('\0')),
        }
    }

    #[test]
    fn a_page_limit_is_1_to_200(n in any::<u64>()) {
        prop_assert_eq!(PageLimit::new(n).is_ok(), (1..=200).contains(&n));
    }

    #[test]
    fn seq_since_counts_the_positions_between_and_never_underflows(
        later in any::<u64>(),
        earlier in any::<u64>(),
    ) {
        let since = Seq::new(later).since(Seq::new(earlier));
        if earlier <= later {
            prop_assert_eq!(since + earlier, later);
        } else {
            prop_assert_eq!(since, 0);
        }
    }
}

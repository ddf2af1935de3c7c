//! Device tokens: a client's proof that it logged in to an account before, so that its
//! failed logins are counted apart from those of strangers guessing at the address
//! (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").

use std::fmt;

use chrono::{DateTime, Utc};

crate::uuid_id! {
    /// One client that logged in to an account: the random id a device token carries. A
    /// trusted device's failed logins are counted under this id, apart from the address's
    /// anonymous ones.
    DeviceId
}

/// A device token as the client holds it: minted by the service, or presented by a
/// client and not yet verified. It earns a client its own allowance of password checks,
/// so it is handled as a secret: its `Debug` prints none of it.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

impl DeviceToken {
    /// Wraps a token minted by a signer or presented by a client.
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token itself, to hand to the client or to verify.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken(..)")
    }
}

/// A device token just minted, with the instant it stops being trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedDeviceToken {
    /// The token to hand to the client.
    pub token: DeviceToken,
    /// From this instant on, the token is refused as expired.
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_token_does_not_print() {
        let token = DeviceToken::new("very-secret".into());
        assert_eq!(format!("{token:?}"), "DeviceToken(..)");
        assert_eq!(token.expose(), "very-secret");
        let issued = IssuedDeviceToken {
            token,
            expires_at: DateTime::<Utc>::MIN_UTC,
        };
        assert!(!format!("{issued:?}").contains("secret"));
    }

    #[test]
    fn a_device_id_round_trips_its_uuid() {
        let uuid = uuid::Uuid::from_u128(0xde71ce);
        assert_eq!(DeviceId::from_uuid(uuid).as_uuid(), uuid);
    }
}

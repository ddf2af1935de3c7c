//! Device tokens signed with HMAC-SHA256, under a key derived from the JWT secret.
//!
//! A token is `BASE64URL(payload) "." BASE64URL(tag)`, 78 characters, all of them safe
//! in a cookie value. The payload is 25 bytes: a format version (1), the 16 bytes of the
//! device id and the expiry in Unix seconds (big-endian `i64`). The tag is the
//! HMAC-SHA256 of the payload followed by the account's address: the address is bound
//! without being written into the token, so a cookie jar or a log that holds one does
//! not hold the address too, and a token presented for another address simply fails the
//! MAC. (The payload has a fixed length, so payload and address cannot be re-split into
//! another valid pair.)

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use domain::ports::{DeviceTokenRejection, DeviceTokens};
use domain::{DeviceId, DeviceToken, Email, IssuedDeviceToken};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::jwt::MIN_SECRET_BYTES;

/// What the master secret is used for here. The device-token key is HMAC-SHA256 of this
/// label under the master secret (a PRF-based derivation, as in NIST SP 800-108), so the
/// JWT secret is never used as-is for a second purpose: a tag made with one key says
/// nothing about the other, and neither kind of token can pass for the other.
pub const KEY_PURPOSE: &[u8] = b"portico/device-token/hmac-sha256/v1";
/// The format version written first in every payload.
const VERSION: u8 = 1;
/// Bytes in a payload: version, device id, expiry.
const PAYLOAD_BYTES: usize = 1 + 16 + 8;
/// Bytes in an HMAC-SHA256 tag.
const TAG_BYTES: usize = 32;
/// Characters in a token: both parts in unpadded base64 and the dot between them. Any
/// other length is refused before anything is decoded.
const TOKEN_CHARS: usize =
    unpadded_base64_chars(PAYLOAD_BYTES) + 1 + unpadded_base64_chars(TAG_BYTES);

/// Characters of `bytes` bytes in base64 without padding: four for every three, the
/// last group cut short.
const fn unpadded_base64_chars(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

/// Why [`HmacDeviceTokens`] cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceTokenSettingsError {
    /// The master secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("the device-token master secret must be at least 32 bytes")]
    WeakSecret,
    /// The lifetime is zero or negative: every token would be expired at birth.
    #[error("the device-token lifetime must be positive")]
    NonPositiveLifetime,
}

/// The [`DeviceTokens`] port over HMAC-SHA256. Stateless: any instance holding the same
/// master secret verifies the tokens of any other.
#[derive(Clone)]
pub struct HmacDeviceTokens {
    /// HMAC keyed with the derived key, cloned for each token.
    keyed: Hmac<Sha256>,
    /// How long a token is trusted after it is minted.
    ttl: Duration,
}

impl fmt::Debug for HmacDeviceTokens {
    // The key never prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacDeviceTokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl HmacDeviceTokens {
    /// Derives the signing key from `master_secret` (the JWT secret) for
    /// [`KEY_PURPOSE`]; tokens live for `ttl`.
    ///
    /// # Errors
    /// [`DeviceTokenSettingsError::WeakSecret`] for a secret under [`MIN_SECRET_BYTES`],
    /// [`DeviceTokenSettingsError::NonPositiveLifetime`] for a `ttl` that is not positive.
    pub fn derived_from(
        master_secret: &[u8],
        ttl: Duration,
    ) -> Result<Self, DeviceTokenSettingsError> {
        if master_secret.len() < MIN_SECRET_BYTES {
            return Err(DeviceTokenSettingsError::WeakSecret);
        }
        if ttl <= Duration::zero() {
            return Err(DeviceTokenSettingsError::NonPositiveLifetime);
        }
        let mut derivation = keyed_hmac(master_secret)?;
        derivation.update(KEY_PURPOSE);
        let key = derivation.finalize().into_bytes();
        Ok(Self {
            keyed: keyed_hmac(&key)?,
            ttl,
        })
    }

    /// The tag of `payload` bound to `email`.
    fn tag(&self, payload: &[u8; PAYLOAD_BYTES], email: &Email) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(payload);
        mac.update(email.as_ref().as_bytes());
        mac
    }
}

/// HMAC-SHA256 under `key`.
fn keyed_hmac(key: &[u8]) -> Result<Hmac<Sha256>, DeviceTokenSettingsError> {
    // HMAC takes keys of any length (RFC 2104 §2), so this cannot fail; the error is
    // mapped rather than unwrapped all the same.
    Hmac::<Sha256>::new_from_slice(key).map_err(|_| DeviceTokenSettingsError::WeakSecret)
}

impl DeviceTokens for HmacDeviceTokens {
    fn mint(&self, email: &Email, device: DeviceId, issued_at: DateTime<Utc>) -> IssuedDeviceToken {
        let expires = (issued_at + self.ttl).timestamp();
        let mut payload = [0_u8; PAYLOAD_BYTES];
        payload[0] = VERSION;
        payload[1..17].copy_from_slice(device.as_uuid().as_bytes());
        payload[17..].copy_from_slice(&expires.to_be_bytes());
        let tag = self.tag(&payload, email).finalize().into_bytes();
        let token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        );
        IssuedDeviceToken {
            token: DeviceToken::new(token),
            // What the token says is whole seconds.
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(issued_at + self.ttl),
        }
    }

    fn verify(
        &self,
        presented: &DeviceToken,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<DeviceId, DeviceTokenRejection> {
        let token = presented.expose();
        if token.len() != TOKEN_CHARS {
            return Err(DeviceTokenRejection::Invalid);
        }
        let (payload, tag) = token.split_once('.').ok_or(DeviceTokenRejection::Invalid)?;
        let payload: [u8; PAYLOAD_BYTES] = decode(payload)?;
        let tag: [u8; TAG_BYTES] = decode(tag)?;
        // Constant-time comparison: the time taken says nothing about how much of a
        // forged tag was right.
        self.tag(&payload, email)
            .verify_slice(&tag)
            .map_err(|_| DeviceTokenRejection::Invalid)?;
        // Genuine from here on: what follows can only fail for a token minted by a
        // version of the service that wrote another format.
        if payload[0] != VERSION {
            return Err(DeviceTokenRejection::Invalid);
        }
        let mut device = [0_u8; 16];
        device.copy_from_slice(&payload[1..17]);
        let mut expires = [0_u8; 8];
        expires.copy_from_slice(&payload[17..]);
        let expires_at = DateTime::from_timestamp(i64::from_be_bytes(expires), 0)
            .ok_or(DeviceTokenRejection::Invalid)?;
        if expires_at <= now {
            return Err(DeviceTokenRejection::Expired);
        }
        Ok(DeviceId::from_uuid(Uuid::from_bytes(device)))
    }
}

/// Unpadded URL-safe base64 of exactly `N` bytes.
fn decode<const N: usize>(part: &str) -> Result<[u8; N], DeviceTokenRejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| DeviceTokenRejection::Invalid)?;
    <[u8; N]>::try_from(bytes).map_err(|_| DeviceTokenRejection::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8; 32] = b"portico-test-secret-of-32-bytes!";
    const OTHER_SECRET: &[u8; 32] = b"someone-else-s-secret-32-bytes!!";
    const DEVICE: DeviceId = DeviceId::from_uuid(Uuid::from_u128(0xde71ce));

    fn issued_at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn ttl() -> Duration {
        Duration::days(90)
    }

    fn signer(secret: &[u8]) -> HmacDeviceTokens {
        HmacDeviceTokens::derived_from(secret, ttl()).unwrap()
    }

    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap()
    }

    /// A token for Ada's device, minted at [`issued_at`].
    fn adas_token() -> DeviceToken {
        signer(SECRET)
            .mint(&email("ada@example.com"), DEVICE, issued_at())
            .token
    }

    /// Changes one character of `part` (0 = payload, 1 = tag) of `token`, in its middle.
    fn flip(token: &DeviceToken, part: usize) -> DeviceToken {
        let mut parts: Vec<String> = token.expose().split('.').map(str::to_owned).collect();
        let mut bytes = parts[part].clone().into_bytes();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
        parts[part] = String::from_utf8(bytes).unwrap();
        DeviceToken::new(parts.join("."))
    }

    /// A token of the right shape whose tag is made, over `payload` and Ada's address,
    /// with `key` used directly as the HMAC key.
    fn signed_with_raw_key(key: &[u8], payload: [u8; PAYLOAD_BYTES]) -> DeviceToken {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(&payload);
        mac.update(b"ada@example.com");
        let tag = mac.finalize().into_bytes();
        DeviceToken::new(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// The payload [`adas_token`] carries.
    fn adas_payload() -> [u8; PAYLOAD_BYTES] {
        let token = adas_token();
        let (payload, _) = token.expose().split_once('.').unwrap();
        decode(payload).unwrap()
    }

    #[test]
    fn a_minted_token_verifies_to_its_device_for_its_address_until_it_expires() {
        let signer = signer(SECRET);
        let ada = email("ada@example.com");

        let issued = signer.mint(&ada, DEVICE, issued_at());

        assert_eq!(issued.expires_at, issued_at() + ttl());
        for (when, at) in [
            ("at issue", issued_at()),
            (
                "a second before expiry",
                issued.expires_at - Duration::seconds(1),
            ),
        ] {
            assert_eq!(
                signer.verify(&issued.token, &ada, at),
                Ok(DEVICE),
                "verified {when}"
            );
        }
        // The address is compared as parsed, so another spelling of it is the same one.
        assert_eq!(
            signer.verify(&issued.token, &email(" ADA@Example.com "), issued_at()),
            Ok(DEVICE)
        );
    }

    #[test]
    fn a_token_is_cookie_safe_and_carries_neither_the_address_nor_the_secret() {
        let token = adas_token();
        let text = token.expose();
        assert_eq!(text.len(), TOKEN_CHARS);
        assert_eq!(TOKEN_CHARS, 78);
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{text}"
        );
        let payload = adas_payload();
        let as_text = String::from_utf8_lossy(&payload);
        assert!(!as_text.contains("ada"), "the address is not in the token");
        assert!(!text.contains("ada"));
    }

    #[test]
    fn a_token_expires_at_its_expiry_and_stays_expired() {
        let signer = signer(SECRET);
        let ada = email("ada@example.com");
        let issued = signer.mint(&ada, DEVICE, issued_at());
        for (when, at) in [
            ("at expiry", issued.expires_at),
            ("a year later", issued.expires_at + Duration::days(365)),
        ] {
            assert_eq!(
                signer.verify(&issued.token, &ada, at),
                Err(DeviceTokenRejection::Expired),
                "verified {when}"
            );
        }
    }

    #[test]
    fn a_token_for_another_address_is_invalid_even_when_expired() {
        let signer = signer(SECRET);
        let token = adas_token();
        let grace = email("grace@example.com");
        for at in [issued_at(), issued_at() + Duration::days(365)] {
            assert_eq!(
                signer.verify(&token, &grace, at),
                Err(DeviceTokenRejection::Invalid),
                "Ada's token presented for Grace at {at}"
            );
        }
    }

    #[test]
    fn forged_tampered_foreign_or_malformed_tokens_are_invalid() {
        let signer = signer(SECRET);
        let ada = email("ada@example.com");
        let genuine = adas_token();
        let graces = signer
            .mint(&email("grace@example.com"), DEVICE, issued_at())
            .token;
        let (adas_payload_text, adas_tag) = genuine.expose().split_once('.').unwrap();
        let mut later = adas_payload();
        later[17..].copy_from_slice(&i64::MAX.to_be_bytes());
        let mut version_two = adas_payload();
        version_two[0] = 2;
        let derived_key = {
            let mut derivation = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
            derivation.update(KEY_PURPOSE);
            derivation.finalize().into_bytes()
        };
        let other_device = Uuid::from_u128(7);
        let mut swapped_device = adas_payload();
        swapped_device[1..17].copy_from_slice(other_device.as_bytes());

        for (what, token) in [
            ("a changed payload character", flip(&genuine, 0)),
            ("a changed tag character", flip(&genuine, 1)),
            (
                "another device id under Ada's tag",
                DeviceToken::new(format!(
                    "{}.{adas_tag}",
                    URL_SAFE_NO_PAD.encode(swapped_device)
                )),
            ),
            (
                "a later expiry under Ada's tag",
                DeviceToken::new(format!("{}.{adas_tag}", URL_SAFE_NO_PAD.encode(later))),
            ),
            (
                // Same device, same instant: the payloads are equal, only the address
                // bound by the tag differs.
                "Grace's token for the same device, minted at the same instant",
                graces,
            ),
            (
                "a token minted with another secret",
                signer_token(OTHER_SECRET),
            ),
            (
                "a tag made with the JWT secret itself, not the derived key",
                signed_with_raw_key(SECRET, adas_payload()),
            ),
            (
                "a format version the service never wrote, genuinely signed",
                signed_with_raw_key(&derived_key, version_two),
            ),
            (
                "the tag cut off",
                DeviceToken::new(format!("{adas_payload_text}.")),
            ),
            (
                "one character more",
                DeviceToken::new(format!("{}A", genuine.expose())),
            ),
            (
                "no dot",
                DeviceToken::new(genuine.expose().replace('.', "A")),
            ),
            (
                "a character outside URL-safe base64",
                DeviceToken::new(format!("+{}", &genuine.expose()[1..])),
            ),
            ("an empty string", DeviceToken::new(String::new())),
            ("garbage", DeviceToken::new("not a device token".into())),
            ("a huge value", DeviceToken::new("A".repeat(100_000))),
        ] {
            assert_eq!(
                signer.verify(&token, &ada, issued_at()),
                Err(DeviceTokenRejection::Invalid),
                "sent {what}"
            );
        }
        // The genuine token itself still passes: the refusals above are about what changed.
        assert_eq!(signer.verify(&genuine, &ada, issued_at()), Ok(DEVICE));
        // A genuinely signed token of the known format and a swapped id passes: the
        // derived key above is the real one, so the table's refusals are not an accident
        // of the helper.
        assert_eq!(
            signer.verify(
                &signed_with_raw_key(&derived_key, swapped_device),
                &ada,
                issued_at()
            ),
            Ok(DeviceId::from_uuid(other_device))
        );
    }

    /// Ada's token as a signer with `secret` mints it.
    fn signer_token(secret: &[u8]) -> DeviceToken {
        signer(secret)
            .mint(&email("ada@example.com"), DEVICE, issued_at())
            .token
    }

    #[test]
    fn a_weak_secret_or_a_lifetime_that_is_not_positive_is_refused() {
        assert_eq!(
            HmacDeviceTokens::derived_from(&[7; 31], ttl()).err(),
            Some(DeviceTokenSettingsError::WeakSecret)
        );
        for lifetime in [Duration::zero(), Duration::seconds(-1)] {
            assert_eq!(
                HmacDeviceTokens::derived_from(SECRET, lifetime).err(),
                Some(DeviceTokenSettingsError::NonPositiveLifetime),
                "lifetime {lifetime}"
            );
        }
        assert!(HmacDeviceTokens::derived_from(&[7; 32], ttl()).is_ok());
    }

    #[test]
    fn the_expected_length_is_what_unpadded_base64_gives_four_characters_for_three_bytes() {
        // The length check refuses anything else before decoding, so a wrong count here
        // would refuse every token, or let through lengths no token has.
        for bytes in [0, 1, 2, 3, 4, PAYLOAD_BYTES, TAG_BYTES] {
            assert_eq!(
                unpadded_base64_chars(bytes),
                URL_SAFE_NO_PAD.encode(vec![0_u8; bytes]).len(),
                "{bytes} bytes"
            );
        }
        assert_eq!(TOKEN_CHARS, 78, "the length the module documents");
    }

    #[test]
    fn the_signer_prints_no_key() {
        let printed = format!("{:?}", signer(SECRET));
        assert!(printed.starts_with("HmacDeviceTokens"), "{printed}");
        assert!(!printed.contains("portico-test-secret"), "{printed}");
        assert!(!printed.contains("key"), "{printed}");
    }
}

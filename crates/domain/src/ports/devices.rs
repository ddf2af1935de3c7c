//! Device tokens: minted at each successful login, verified at each password check.

use chrono::{DateTime, Utc};

use crate::{DeviceId, DeviceToken, Email, IssuedDeviceToken};

/// Mints and verifies device tokens: signed statements that a client with device id
/// `device` logged in to the account at `email`, valid until an expiry the signer sets.
/// Stateless: nothing is stored, so a token stays valid until it expires (see
/// `docs/security.md`). Synchronous: signing and checking a MAC is a few microseconds
/// of work, nothing next to a query or a hash.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait DeviceTokens: Send + Sync {
    /// A token binding `device` to `email`, valid from `issued_at` for the configured
    /// lifetime.
    ///
    /// # Errors
    /// None: signing with a key the adapter holds cannot fail, and the device id is
    /// drawn by the caller.
    fn mint(&self, email: &Email, device: DeviceId, issued_at: DateTime<Utc>) -> IssuedDeviceToken;

    /// The device a presented token names, when the token was minted by this service
    /// (with its current key) for `email` and has not expired at `now`.
    ///
    /// # Errors
    /// MUST return [`DeviceTokenRejection::Invalid`] for a token that is forged,
    /// tampered with, malformed, signed with another key, or minted for another address;
    /// MUST return [`DeviceTokenRejection::Expired`] only for a token genuine in every
    /// other respect whose expiry is at or before `now`.
    fn verify(
        &self,
        presented: &DeviceToken,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<DeviceId, DeviceTokenRejection>;
}

/// Why a presented device token earns no trust. Either way the client is counted with
/// the address's anonymous clients; the two are told apart for the log only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceTokenRejection {
    /// Genuine, for this address, but past its expiry.
    #[error("the device token expired")]
    Expired,
    /// Not a token this service minted for this address.
    #[error("the device token is invalid")]
    Invalid,
}

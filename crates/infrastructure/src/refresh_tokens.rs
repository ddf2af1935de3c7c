//! Opaque refresh tokens: 256 random bits, stored only as a SHA-256 digest.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ports::{AdapterError, RefreshTokenMint};
use domain::{RefreshToken, TokenDigest};
use sha2::{Digest as _, Sha256};

/// Bytes of randomness in each token (256 bits).
const TOKEN_BYTES: usize = 32;

/// Mints tokens from the operating system's random source, URL-safe base64 without
/// padding (43 characters), and digests them with SHA-256. A plain hash suffices: with
/// 256 bits of entropy there is nothing to guess, so no salt or slow hash is needed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomRefreshTokens;

impl RefreshTokenMint for RandomRefreshTokens {
    fn mint(&self) -> Result<RefreshToken, AdapterError> {
        let mut bytes = [0_u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|error| AdapterError::new("random source failed", error.to_string()))?;
        Ok(RefreshToken::new(URL_SAFE_NO_PAD.encode(bytes)))
    }

    fn digest(&self, token: &RefreshToken) -> TokenDigest {
        let digest = Sha256::digest(token.expose().as_bytes());
        TokenDigest::new(hex(&digest))
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_differ() {
        let first = RandomRefreshTokens.mint().unwrap();
        let second = RandomRefreshTokens.mint().unwrap();
        assert_ne!(first, second);
        let decoded = URL_SAFE_NO_PAD.decode(first.expose()).unwrap();
        assert_eq!(decoded.len(), 32);
    }

    #[test]
    fn digests_are_stable_sha256_hex() {
        let token = RefreshToken::new("abc".into());
        assert_eq!(
            RandomRefreshTokens.digest(&token).as_ref(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            RandomRefreshTokens.digest(&token),
            RandomRefreshTokens.digest(&token.clone())
        );
    }
}

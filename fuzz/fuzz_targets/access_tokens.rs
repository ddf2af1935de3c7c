//! The access-token verifier: any string is refused or verified, never a panic; a token
//! built from arbitrary header, claims and signature bytes reaches the JSON parsing of
//! the header and claims, not only the base64 check.
#![no_main]

use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ports::AccessTokens as _;
use infrastructure::jwt::{JwtAccessTokens, JwtSettings};
use infrastructure::system::SystemClock;
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<JwtAccessTokens> = LazyLock::new(|| {
    JwtAccessTokens::new(
        JwtSettings {
            secret: b"fuzzing-secret-0123456789-abcdefghijklmnop".to_vec(),
            issuer: "portico".to_owned(),
            audience: "portico".to_owned(),
            ttl: chrono::Duration::minutes(15),
        },
        Arc::new(SystemClock),
    )
    .expect("valid settings")
});

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = VERIFIER.verify(text);
    }
    // Three segments, each base64url-encoded: the shape of a JWS compact token.
    let mut parts = data.splitn(3, |byte| *byte == b'\n');
    let segments: Vec<String> = [parts.next(), parts.next(), parts.next()]
        .into_iter()
        .map(|part| URL_SAFE_NO_PAD.encode(part.unwrap_or_default()))
        .collect();
    let _ = VERIFIER.verify(&segments.join("."));
});

//! The WebSocket frame decoder: any text gives a frame or one of the protocol's error
//! codes, never a panic; an error frame always serialises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use web::ws::protocol::decode;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = decode(text, 16 * 1024) {
        assert!(
            ["bad_request", "unknown_type", "invalid_room", "too_large"].contains(&error.code),
            "unexpected code {}",
            error.code
        );
        let _ = error.into_frame().to_text();
    }
});

//! Every JSON request body the HTTP API decodes: any bytes give a command or an
//! `ApiError`, never a panic. Form bodies (the OAuth2 login form) too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use web::extract::{decode_form, decode_json};
use web::routes::accounts::{ChangePasswordRequest, RegisterRequest, UpdateProfileRequest};
use web::routes::rooms::PublishRequest;
use web::routes::sessions::{LoginForm, LoginRequest, RefreshRequest};

fuzz_target!(|body: &[u8]| {
    let _ = decode_json::<RegisterRequest>(body);
    let _ = decode_json::<LoginRequest>(body);
    let _ = decode_json::<RefreshRequest>(body);
    let _ = decode_json::<UpdateProfileRequest>(body);
    let _ = decode_json::<ChangePasswordRequest>(body);
    let _ = decode_json::<PublishRequest>(body);
    let _ = decode_form::<LoginForm>(body);
});

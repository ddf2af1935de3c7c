//! What the handlers share: the use cases and the HTTP settings.

use std::sync::Arc;

use application::{Authenticate, ChangePassword, LogIn, LogOut, Refresh, Register, UpdateProfile};
use domain::ports::StorageHealth;

use crate::protection::CorsSettings;
use crate::rate_limit::{RateLimitSettings, RateLimits};

/// The use cases behind the routes, built once by the binary (or a test) from adapters.
pub struct UseCases {
    /// `POST /register`.
    pub register: Register,
    /// `POST /login`.
    pub log_in: LogIn,
    /// `POST /refresh`.
    pub refresh: Refresh,
    /// `POST /logout`.
    pub log_out: LogOut,
    /// Every route that takes an access token.
    pub authenticate: Authenticate,
    /// `PATCH /users/me`.
    pub update_profile: UpdateProfile,
    /// `PUT /users/me/password`.
    pub change_password: ChangePassword,
    /// `GET /health/ready`.
    pub storage: Arc<dyn StorageHealth>,
}

/// Settings of the HTTP side.
#[derive(Clone)]
pub struct HttpSettings {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Whether `/login` and `/refresh` also set the refresh token as an HttpOnly cookie,
    /// and `/refresh` and `/logout` accept it from there.
    pub refresh_cookie: bool,
    /// Cross-origin access.
    pub cors: CorsSettings,
    /// The rate limiters, shared by every worker.
    pub rate_limits: Arc<RateLimits>,
}

impl HttpSettings {
    /// 16 KiB: far above any legitimate body of this API.
    pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;
}

impl HttpSettings {
    /// The defaults with rate limiting off: for tests of other concerns.
    #[must_use]
    pub fn unlimited() -> Self {
        Self {
            body_limit: Self::DEFAULT_BODY_LIMIT,
            refresh_cookie: false,
            cors: CorsSettings::default(),
            rate_limits: Arc::new(RateLimits::new(RateLimitSettings::disabled())),
        }
    }
}

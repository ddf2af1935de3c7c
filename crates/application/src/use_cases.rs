//! The one place where use cases are built from ports: the binary, the web crate's
//! tests and the end-to-end tests all go through [`UseCases::new`], so a new use case
//! is one edit here.

use std::sync::Arc;

use domain::ports::{Ports, StorageHealth};

use crate::{
    Authenticate, ChangePassword, LogIn, LogOut, LoginThrottle, LoginThrottlePolicy, Refresh,
    Register, SessionPolicy, TokenPairIssuer, UpdateProfile,
};

/// The rules the use cases apply that are a matter of configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    /// Token lifetimes.
    pub session: SessionPolicy,
    /// How failed password checks slow further ones down.
    pub login_throttle: LoginThrottlePolicy,
}

/// Every use case, built once from the ports and shared by every request.
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

impl UseCases {
    /// Builds every use case over `ports`. Login and password change share one throttle,
    /// so a guesser cannot switch between them for more attempts; login and refresh share
    /// one token issuer, so both mint pairs the same way.
    #[must_use]
    pub fn new(ports: &Ports, policies: Policies) -> Self {
        let throttle = Arc::new(LoginThrottle::new(
            Arc::clone(&ports.login_attempts),
            Arc::clone(&ports.device_tokens),
            policies.login_throttle,
            Arc::clone(&ports.clock),
        ));
        let tokens = Arc::new(TokenPairIssuer::new(ports, policies.session));
        Self {
            register: Register::new(ports),
            log_in: LogIn::new(ports, Arc::clone(&tokens), Arc::clone(&throttle)),
            refresh: Refresh::new(ports, tokens),
            log_out: LogOut::new(ports),
            authenticate: Authenticate::new(ports),
            update_profile: UpdateProfile::new(ports),
            change_password: ChangePassword::new(ports, throttle),
            storage: Arc::clone(&ports.storage),
        }
    }
}

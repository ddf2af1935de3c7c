//! Portico's use cases: one type per operation, each owning the rule it exists for
//! (normalise, hash, rotate, revoke, store before broadcast, …) and written against the
//! domain's ports only.
//!
//! This crate may depend on `domain` and on small, framework-free helpers (`chrono`,
//! `uuid`, `thiserror`, `tracing`, `async-trait`). It knows nothing of HTTP, SQL or
//! cryptography: the adapters behind the ports do.

mod accounts;
mod rooms;
mod sessions;
mod throttle;
mod use_cases;

pub use accounts::{
    Authenticate, AuthenticateError, Caller, ChangePassword, ChangePasswordError, ProfileChanges,
    Register, RegisterCommand, RegisterError, UpdateProfile, UpdateProfileError,
};
pub use rooms::{
    Acknowledge, AnnounceDepartures, CatchUp, CloseConnection, DeliveryTracker, History,
    InvalidMessage, JoinRoom, JoinedRoom, LeaveRoom, ListRooms, OpenConnection, OpenedConnection,
    Presence, PresentMember, PruneHistory, Publish, PublishCommand, PublishError, ResumeRoom,
    RoomError, RoomPolicy, SetConnectionState,
};
pub use sessions::{
    EndOtherSessions, EndSession, EndSessionError, ListSessions, ListedSession, LogIn,
    LogInCommand, LogInError, LogOut, LoggedIn, Refresh, SessionError, SessionPolicy, TokenPair,
    TokenPairIssuer,
};

pub use throttle::{AdmitError, LoginThrottle, LoginThrottlePolicy, PasswordAttempt};
pub use use_cases::{Policies, UseCases};

#[cfg(test)]
mod tests;

//! The one place where use cases are built from ports: the binary, the web crate's
//! tests and the end-to-end tests all go through [`UseCases::new`], so a new use case
//! is one edit here.

use std::sync::Arc;

use domain::ports::{Ports, StorageHealth};

use crate::{
    Acknowledge, AnnounceDepartures, Authenticate, CatchUp, ChangePassword, CloseConnection,
    EndOtherSessions, EndSession, History, JoinRoom, LeaveRoom, ListRooms, ListSessions, LogIn,
    LogOut, LoginThrottle, LoginThrottlePolicy, OpenConnection, Presence, PruneHistory, Publish,
    Refresh, Register, ResumeRoom, RoomPolicy, SessionPolicy, SetConnectionState, TokenPairIssuer,
    UpdateProfile,
};

/// The rules the use cases apply that are a matter of configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    /// Token lifetimes.
    pub session: SessionPolicy,
    /// How failed password checks slow further ones down.
    pub login_throttle: LoginThrottlePolicy,
    /// Message size, replay pages and retention.
    pub rooms: RoomPolicy,
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
    /// Every route that takes an access token, the WebSocket upgrade and `auth` frame.
    pub authenticate: Authenticate,
    /// `GET /sessions`.
    pub list_sessions: ListSessions,
    /// `DELETE /sessions/{id}`.
    pub end_session: EndSession,
    /// `DELETE /sessions`.
    pub end_other_sessions: EndOtherSessions,
    /// `PATCH /users/me`.
    pub update_profile: UpdateProfile,
    /// `PUT /users/me/password`.
    pub change_password: ChangePassword,
    /// `GET /rooms`.
    pub list_rooms: ListRooms,
    /// The `join` frame.
    pub join_room: JoinRoom,
    /// The `leave` frame.
    pub leave_room: LeaveRoom,
    /// The `publish` frame and `POST /rooms/{room}/messages`.
    pub publish: Publish,
    /// The `ack` frame.
    pub acknowledge: Acknowledge,
    /// `GET /rooms/{room}/messages`.
    pub history: History,
    /// The `presence` frame and `GET /rooms/{room}/presence`.
    pub presence: Presence,
    /// A connection hears that its user joined a room elsewhere.
    pub resume_room: ResumeRoom,
    /// A connection hears that a message was published.
    pub catch_up: CatchUp,
    /// A WebSocket connection opens.
    pub open_connection: OpenConnection,
    /// A WebSocket connection closes.
    pub close_connection: CloseConnection,
    /// A WebSocket connection becomes active or idle.
    pub set_connection_state: SetConnectionState,
    /// Retention, in the background.
    pub prune_history: PruneHistory,
    /// `presence_leave` for the users of an instance that died, in the background.
    pub announce_departures: AnnounceDepartures,
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
            list_sessions: ListSessions::new(ports),
            end_session: EndSession::new(ports),
            end_other_sessions: EndOtherSessions::new(ports),
            update_profile: UpdateProfile::new(ports),
            change_password: ChangePassword::new(ports, throttle),
            list_rooms: ListRooms::new(ports),
            join_room: JoinRoom::new(ports, policies.rooms),
            leave_room: LeaveRoom::new(ports),
            publish: Publish::new(ports, policies.rooms),
            acknowledge: Acknowledge::new(ports),
            history: History::new(ports),
            presence: Presence::new(ports),
            resume_room: ResumeRoom::new(ports, policies.rooms),
            catch_up: CatchUp::new(ports, policies.rooms),
            open_connection: OpenConnection::new(ports),
            close_connection: CloseConnection::new(ports),
            set_connection_state: SetConnectionState::new(ports),
            prune_history: PruneHistory::new(ports, policies.rooms),
            announce_departures: AnnounceDepartures::new(ports),
            storage: Arc::clone(&ports.storage),
        }
    }
}

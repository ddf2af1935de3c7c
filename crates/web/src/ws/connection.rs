//! One WebSocket connection: a small state machine in one task (STYLE §12).
//!
//! The task `select!`s over what can happen to the connection: the server stopping,
//! the access token expiring, the heartbeat tick, a frame from the client, and an event
//! from the bus (its session ending among them: 1008).
//!
//! A connection belongs to the session of the access token that last authorised it:
//! the token it was opened with, then the token of each accepted `auth` frame. A
//! renewal with a token of another live session of the same user moves the connection
//! to that session (a client that logged in again keeps its socket); from then on only
//! the end of the new session closes it.
//!
//! The task never waits on the socket: every frame is encoded into the connection's
//! **bounded** outbox ([`WsSettings::send_queue`] frames; [`super::socket`]), which the
//! socket's own task writes out. An outbox that stays full for [`SLOW_CONSUMER_GRACE`]
//! means the client does not read: the connection is closed with 4009 and the client
//! resumes from its cursor, losing nothing. A slow
//! socket holds up only its own connection, never another member's delivery: no lock is
//! held while anything is sent, each connection reads the store for itself when it is
//! owed more than the message an event carries, and the bus drops events for a
//! subscriber that falls behind (it catches up from the store).
//!
//! Delivery follows the seam rule of `application::DeliveryTracker`: subscribe to the
//! bus first, then read the store; send only what lies above what was sent. A message
//! the in-process bus carries with its event goes out without a store read when it is
//! exactly the next one owed, as a frame encoded once and shared by every connection
//! ([`super::protocol::shared_message_frame`]).

use std::sync::Arc;
use std::time::Duration;

use actix_http::ws::{CloseCode, CloseReason};
use application::{
    AuthenticateError, DeliveryTracker, JoinedRoom, PresentMember, PublishCommand, PublishError,
    RoomError, UseCases,
};
use bytestring::ByteString;
use chrono::{DateTime, Utc};
use domain::ports::{BusSubscription, RoomEvent, SubscriptionError, TokenRejection};
use domain::{AccessClaims, ConnectionId, PresenceState, Replay, RoomName, Seq, User};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::protocol::{
    ClientFrame, FrameError, MemberView, PresentMemberView, ServerFrame, close_code, decode,
    shared_message_frame,
};
use super::socket::{Inbound, Incoming, Outbound, Outgoing, ProtocolError};
use super::{ConnectionSlot, WsSettings};
use crate::room_json::{MemberJson, MessageJson};

/// Refused frames of one kind in a row before the connection is closed: a client that
/// errs once is told; one that keeps sending what is refused is cut off.
const STRIKES: u32 = 3;

/// How long a full outbox may take to make room before the connection counts
/// as a slow consumer (4009). Waiting holds up this connection only: every other one
/// has its own outbox and position, and this one catches up from the store if it falls
/// behind the bus meanwhile.
const SLOW_CONSUMER_GRACE: Duration = Duration::from_secs(5);

/// What a connection starts from, worked out before the upgrade.
pub struct Setup {
    /// The use cases.
    pub use_cases: Arc<UseCases>,
    /// The limits and timings.
    pub settings: WsSettings,
    /// Cancelled when the server starts to stop: the connection closes with 1001.
    pub shutdown: CancellationToken,
    /// Who is connected.
    pub user: User,
    /// The claims of the access token the connection was opened with: its session and
    /// its expiry.
    pub claims: AccessClaims,
    /// The user's connection count, held while the connection is open.
    pub slot: ConnectionSlot,
}

/// Why the connection ends.
#[derive(Debug)]
enum End {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The client closed (or vanished): answer its close, if any, and stop.
    ClientClosed(Option<CloseReason>),
    /// The outbox stays full: close with 4009 in place of what it holds.
    SlowConsumer,
}

/// The connection's task: opens the connection, serves it until it ends, closes it.
pub async fn run(setup: Setup, outgoing: Outgoing, incoming: Incoming) {
    let Setup {
        use_cases,
        settings,
        shutdown,
        user,
        claims,
        slot,
    } = setup;
    // Subscribe before anything is read: nothing published in between is missed.
    let mut subscription = use_cases.open_connection.subscribe();
    // The steps before and after serving are boxed: they run once, and inline they
    // would size the task that an idle connection holds for its whole life.
    let opened = match Box::pin(use_cases.open_connection.execute(&user)).await {
        Ok(opened) => opened,
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "opening a websocket failed");
            outgoing.close(Some(close_reason(
                close_code::INTERNAL_ERROR,
                "internal error",
            )));
            return;
        }
    };
    let rate = settings
        .limits_enabled
        .then(|| RateLimiter::direct(settings.message_rate.quota()));
    let mut connection = Connection {
        use_cases: Arc::clone(&use_cases),
        settings,
        user,
        id: opened.connection,
        tracker: DeliveryTracker::new(),
        outgoing,
        state: PresenceState::Active,
        last_heard: Instant::now(),
        last_active: Instant::now(),
        claims,
        strikes: Strikes::default(),
        rate,
    };
    let end = connection
        .serve(opened.rooms, subscription.as_mut(), incoming, &shutdown)
        .await;
    if let Err(error) = Box::pin(
        use_cases
            .close_connection
            .execute(&connection.user, connection.id),
    )
    .await
    {
        tracing::warn!(error.cause_chain = ?error, "closing a websocket's presence failed");
    }
    // Presence and the per-user slot are given back before the close frame goes out,
    // so a client that reconnects as soon as it reads the close finds them free.
    drop(slot);
    tracing::info!(user_id = %connection.user.id, ?end, "websocket closed");
    connection.finish(end);
}

/// How a connection whose session ended is closed.
fn session_ended() -> End {
    End::Close(close_code::POLICY, "session ended")
}

fn close_reason(code: u16, description: &str) -> CloseReason {
    CloseReason {
        code: CloseCode::from(code),
        description: Some(description.to_owned()),
    }
}

/// Consecutive refusals of each kind of abuse.
#[derive(Debug, Default)]
struct Strikes {
    too_large: u32,
    binary: u32,
    rate: u32,
}

/// A connection's state.
struct Connection {
    use_cases: Arc<UseCases>,
    settings: WsSettings,
    user: User,
    id: ConnectionId,
    tracker: DeliveryTracker,
    outgoing: Outgoing,
    /// Active until the client has sent no frame of the protocol for a heartbeat
    /// interval.
    state: PresenceState,
    /// Anything from the client, the answers to heartbeat pings included: it is alive.
    last_heard: Instant,
    /// A frame of the protocol (text, or a refused binary): someone is using it. A
    /// client library answers pings on its own, so pongs say nothing about the person.
    last_active: Instant,
    /// The claims of the token that last authorised the connection: the session whose
    /// end closes it, and the expiry that does unless renewed.
    claims: AccessClaims,
    strikes: Strikes,
    /// `None` when limits are off.
    rate: Option<DefaultDirectRateLimiter>,
}

/// How long until `expires_at`, as the system clock reads now.
fn until(expires_at: DateTime<Utc>) -> Duration {
    (expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

impl Connection {
    /// Follows the user's rooms, then serves frames and events until the connection
    /// ends.
    async fn serve(
        &mut self,
        rooms: Vec<domain::RoomSummary>,
        subscription: &mut dyn BusSubscription,
        mut stream: Incoming,
        shutdown: &CancellationToken,
    ) -> End {
        // The upgrade checked the session before the subscription existed: an end
        // announced in between went unheard, so it is read once more now that none can.
        if let Err(end) = Box::pin(self.check_session()).await {
            return end;
        }
        for summary in rooms {
            if let Err(end) = Box::pin(self.resume(&summary.room, summary.cursor)).await {
                return end;
            }
        }
        let interval = self.settings.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + interval, interval);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let expiry = tokio::time::sleep(until(self.claims.expires_at));
        tokio::pin!(expiry);
        // Handlers that may read the store or send pages are boxed: a task is allocated
        // at the size of its largest state, so an idle connection would otherwise hold
        // room for a catch-up it is not making (4.7 KiB per task unboxed, 3.0 KiB boxed).
        // The carried-message path, the one taken per delivery, stays inline.
        loop {
            let step = tokio::select! {
                biased;
                () = shutdown.cancelled() => Err(End::Close(close_code::GOING_AWAY, "server shutting down")),
                () = &mut expiry => Err(End::Close(close_code::TOKEN_EXPIRED, "token expired")),
                _ = heartbeat.tick() => Box::pin(self.beat()).await,
                frame = stream.recv() => match frame {
                    Some(Ok(frame)) => {
                        let expires_at = self.claims.expires_at;
                        let step = Box::pin(self.heard(frame)).await;
                        if self.claims.expires_at != expires_at {
                            expiry.as_mut().reset(Instant::now() + until(self.claims.expires_at));
                        }
                        step
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "websocket protocol error");
                        Err(match error {
                            ProtocolError::Overflow => End::Close(close_code::TOO_BIG, "frame too large"),
                            _ => End::Close(close_code::PROTOCOL_ERROR, "protocol error"),
                        })
                    }
                    None => Err(End::ClientClosed(None)),
                },
                event = subscription.next() => match self.carried(event) {
                    Ok(frame) => self.queue(Outbound::Text(frame)).await,
                    Err(event) => Box::pin(self.event(event)).await,
                },
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// The frame of a message the bus carried when it is exactly the next one owed
    /// (no store read: see the module's documentation); any other event is handed back
    /// for [`Connection::event`].
    fn carried(
        &mut self,
        event: Result<RoomEvent, SubscriptionError>,
    ) -> Result<ByteString, Result<RoomEvent, SubscriptionError>> {
        match event {
            Ok(RoomEvent::Published {
                message: Some(message),
                ..
            }) if self.tracker.admit_announced(&message) => Ok(shared_message_frame(&message)),
            other => Err(other),
        }
    }

    /// Queues `frame`; a full queue ends the connection (slow consumer).
    async fn send<M: serde::Serialize>(&self, frame: &ServerFrame<M>) -> Result<(), End> {
        self.queue(Outbound::Text(frame.to_text().into())).await
    }

    /// Queues `frame` in the outbox. A full outbox is given [`SLOW_CONSUMER_GRACE`] to
    /// make room (a replay of many pages fills it faster than any socket drains it);
    /// one that stays full is a client that does not read.
    async fn queue(&self, frame: Outbound) -> Result<(), End> {
        if self.outgoing.try_send(&frame).is_ok() {
            return Ok(());
        }
        // Full, it is given its grace; closed, the send below is refused at once.
        match tokio::time::timeout(SLOW_CONSUMER_GRACE, self.outgoing.send(&frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::ClientClosed(None)),
            Err(_) => Err(End::SlowConsumer),
        }
    }

    /// Queues the close frame the way `end` calls for. What is queued before it (a
    /// shutdown flushes what the client was already owed, an `error` saying why) goes
    /// out first, unless the client is not reading: then the close takes its place.
    fn finish(&self, end: End) {
        match end {
            End::Close(code, description) => {
                self.outgoing.close(Some(close_reason(code, description)));
            }
            End::ClientClosed(reason) => self.outgoing.close(reason),
            End::SlowConsumer => self.outgoing.close_discarding(Some(close_reason(
                close_code::SLOW_CONSUMER,
                "slow consumer",
            ))),
        }
    }

    async fn refuse(&self, error: FrameError) -> Result<(), End> {
        self.send(&error.into_frame()).await
    }

    async fn error(
        &self,
        code: &'static str,
        message: &str,
        reference: Option<String>,
    ) -> Result<(), End> {
        self.send(&ServerFrame::<MessageJson>::Error {
            code,
            message: message.to_owned(),
            reference,
        })
        .await
    }

    /// The heartbeat: closes a silent connection, marks a quiet one idle, pings.
    async fn beat(&mut self) -> Result<(), End> {
        let silent = self.last_heard.elapsed();
        if silent >= self.settings.heartbeat_timeout {
            return Err(End::Close(
                close_code::HEARTBEAT_TIMEOUT,
                "heartbeat timeout",
            ));
        }
        if self.last_active.elapsed() >= self.settings.heartbeat_interval {
            self.set_state(PresenceState::Idle).await;
        }
        self.queue(Outbound::Ping).await
    }

    async fn set_state(&mut self, state: PresenceState) {
        if self.state == state {
            return;
        }
        self.state = state;
        if let Err(error) = self
            .use_cases
            .set_connection_state
            .execute(self.user.id, self.id, state)
            .await
        {
            tracing::warn!(error.cause_chain = ?error, "setting a connection's presence state failed");
        }
    }

    /// A frame from the client.
    async fn heard(&mut self, frame: Inbound) -> Result<(), End> {
        self.last_heard = Instant::now();
        if matches!(frame, Inbound::Text(_) | Inbound::Binary(_)) {
            self.last_active = self.last_heard;
            self.set_state(PresenceState::Active).await;
        }
        match frame {
            Inbound::Text(text) => {
                if !self.within_rate().await? {
                    return Ok(());
                }
                if text.len() > self.settings.max_frame_bytes {
                    self.strikes.too_large += 1;
                    if self.strikes.too_large >= STRIKES {
                        return Err(End::Close(close_code::TOO_BIG, "frames too large"));
                    }
                    return self
                        .error(
                            "too_large",
                            &format!(
                                "a frame may have at most {} bytes",
                                self.settings.max_frame_bytes
                            ),
                            None,
                        )
                        .await;
                }
                self.strikes.too_large = 0;
                self.strikes.binary = 0;
                match decode(&text, self.settings.message_max_bytes) {
                    Ok(frame) => self.handle(frame).await,
                    Err(error) => self.refuse(error).await,
                }
            }
            Inbound::Binary(_) => {
                if !self.within_rate().await? {
                    return Ok(());
                }
                self.strikes.binary += 1;
                if self.strikes.binary >= STRIKES {
                    return Err(End::Close(close_code::UNSUPPORTED_DATA, "binary frames"));
                }
                self.error(
                    "bad_request",
                    "frames are JSON text; binary frames are not taken",
                    None,
                )
                .await
            }
            Inbound::Ping(bytes) => self.queue(Outbound::Pong(bytes)).await,
            Inbound::Pong(_) => Ok(()),
            Inbound::Close(reason) => Err(End::ClientClosed(reason)),
        }
    }

    /// Spends one token of the frame budget: `Ok(true)` when the frame may be served,
    /// `Ok(false)` when it was refused with `rate_limited`, an end when abuse persists.
    async fn within_rate(&mut self) -> Result<bool, End> {
        let Some(rate) = &self.rate else {
            return Ok(true);
        };
        if rate.check().is_ok() {
            self.strikes.rate = 0;
            return Ok(true);
        }
        self.strikes.rate += 1;
        // A client may overrun its budget by a burst's worth of frames before it is cut
        // off: each of them gets an error frame, which a well-behaved client heeds.
        if self.strikes.rate > self.settings.message_rate.burst.get() {
            return Err(End::Close(close_code::RATE_LIMITED, "rate limit"));
        }
        self.error("rate_limited", "too many frames; slow down", None)
            .await?;
        Ok(false)
    }

    /// A decoded frame: one use case each.
    async fn handle(&mut self, frame: ClientFrame) -> Result<(), End> {
        let user = self.user.id;
        match frame {
            ClientFrame::Join { room, since } => {
                // A join without `since` of a room this connection follows already asks
                // for nothing again: what was sent stays sent.
                let keep_position = self.tracker.sent(&room).filter(|_| since.is_none());
                match self
                    .use_cases
                    .join_room
                    .execute(user, room.clone(), since)
                    .await
                {
                    Ok(joined) => self.start_following(joined, keep_position).await,
                    Err(error) => self.failed(&error, None).await,
                }
            }
            ClientFrame::Leave { room } => {
                match self.use_cases.leave_room.execute(user, &room).await {
                    Ok(()) => {
                        // Unfollowed here, so the bus's word of it sends nothing again.
                        self.tracker.unfollow(&room);
                        self.send(&ServerFrame::<MessageJson>::Left {
                            room: room.to_string(),
                        })
                        .await
                    }
                    Err(error) => self.room_refused(error, None).await,
                }
            }
            ClientFrame::Publish { room, body, id } => {
                let reference = id.as_ref().map(ToString::to_string);
                let command = PublishCommand {
                    room,
                    body: body.to_string(),
                    id: id.map(|id| id.to_string()),
                };
                match self.use_cases.publish.execute(user, command).await {
                    // The `message` frames come from the bus, to this connection too.
                    Ok(published) => {
                        self.send(&ServerFrame::<MessageJson>::Ack {
                            room: published.message.room.to_string(),
                            id: published.message.id.to_string(),
                            seq: published.message.seq.get(),
                        })
                        .await
                    }
                    Err(PublishError::RoomNotFound) => {
                        self.error("room_not_found", "no room has this name", reference)
                            .await
                    }
                    Err(PublishError::NotMember) => {
                        self.error("not_member", "you are not a member of this room", reference)
                            .await
                    }
                    Err(PublishError::Invalid(_)) => {
                        self.error("bad_request", "the message is invalid", reference)
                            .await
                    }
                    Err(PublishError::Adapter(error)) => self.failed(&error, reference).await,
                }
            }
            ClientFrame::Ack { room, seq } => {
                match self.use_cases.acknowledge.execute(user, &room, seq).await {
                    Ok(_) => Ok(()),
                    Err(error) => self.room_refused(error, None).await,
                }
            }
            ClientFrame::Ping => self.send(&ServerFrame::<MessageJson>::Pong).await,
            ClientFrame::Presence { room } => match self.presence(&room).await {
                Ok(frame) => self.send(&frame).await,
                Err(error) => self.room_refused(error, None).await,
            },
            ClientFrame::Auth { access_token } => self.renew(&access_token).await,
        }
    }

    /// An `auth` frame: a new token of the same user, of a live session, extends the
    /// connection, which then belongs to that token's session (see the module's
    /// documentation). A refused token changes nothing: the connection goes on under
    /// the token it had, until that expires.
    async fn renew(&mut self, token: &str) -> Result<(), End> {
        let claims = match self.use_cases.authenticate.verify(token) {
            Ok(claims) => claims,
            Err(TokenRejection::Expired) => {
                return self
                    .error("token_expired", "the access token expired", None)
                    .await;
            }
            Err(TokenRejection::Invalid) => {
                return self
                    .error("invalid_token", "the access token is invalid", None)
                    .await;
            }
        };
        if claims.user_id != self.user.id {
            return self
                .error("invalid_token", "the token is another user's", None)
                .await;
        }
        match self.use_cases.authenticate.user_of(&claims).await {
            Ok(_) => {
                let expires_at = claims.expires_at;
                self.claims = claims;
                self.send(&ServerFrame::<MessageJson>::Authenticated { expires_at })
                    .await
            }
            Err(AuthenticateError::Adapter(error)) => self.failed(&error, None).await,
            Err(AuthenticateError::SessionEnded | AuthenticateError::Rejected(_)) => {
                self.error("invalid_token", "the token's session has ended", None)
                    .await
            }
        }
    }

    /// Reads whether the connection's session is still live: one that ended closes it
    /// with 1008. A store that cannot say is logged and answered with `internal`; the
    /// connection goes on (its token still expires, and the next check decides).
    async fn check_session(&self) -> Result<(), End> {
        match self.use_cases.authenticate.user_of(&self.claims).await {
            Ok(_) => Ok(()),
            Err(AuthenticateError::Adapter(error)) => self.failed(&error, None).await,
            Err(AuthenticateError::SessionEnded | AuthenticateError::Rejected(_)) => {
                Err(session_ended())
            }
        }
    }

    async fn room_refused(&self, error: RoomError, reference: Option<String>) -> Result<(), End> {
        match error {
            RoomError::RoomNotFound => {
                self.error("room_not_found", "no room has this name", reference)
                    .await
            }
            RoomError::NotMember => {
                self.error("not_member", "you are not a member of this room", reference)
                    .await
            }
            RoomError::Adapter(error) => self.failed(&error, reference).await,
        }
    }

    /// An adapter failed: logged, answered with `internal`, the connection goes on.
    async fn failed(
        &self,
        error: &dyn std::error::Error,
        reference: Option<String>,
    ) -> Result<(), End> {
        tracing::error!(error = %error, "a websocket frame failed");
        self.error("internal", "something went wrong; try again", reference)
            .await
    }

    /// Starts following a joined room: `joined`, then what is owed, then live traffic.
    /// With `keep_position` (what was sent in a room followed already), it goes on
    /// from there.
    async fn start_following(
        &mut self,
        joined: JoinedRoom,
        keep_position: Option<Seq>,
    ) -> Result<(), End> {
        let room = joined.room().clone();
        self.send(&ServerFrame::<MessageJson>::Joined {
            room: room.to_string(),
            last_seq: joined.last_seq().get(),
            recovered: joined.recovered(),
        })
        .await?;
        if let Some(sent) = keep_position {
            return self.catch_up(&room, sent).await;
        }
        self.tracker.follow(room.clone(), joined.replay_after());
        self.deliver(&room, joined.replay).await
    }

    /// Follows a room the user is a member of, from `after` (their cursor).
    async fn resume(&mut self, room: &RoomName, after: Seq) -> Result<(), End> {
        match self.use_cases.catch_up.execute(room, after).await {
            Ok(replay) => {
                self.send(&ServerFrame::<MessageJson>::Joined {
                    room: room.to_string(),
                    last_seq: replay.last_seq.get(),
                    recovered: replay.recovered(),
                })
                .await?;
                self.tracker.follow(room.clone(), after);
                self.deliver(room, replay).await
            }
            Err(error) => self.failed(&error, None).await,
        }
    }

    /// Sends what `replay` holds above what was sent, then reads on while more remain.
    async fn deliver(&mut self, room: &RoomName, mut replay: Replay) -> Result<(), End> {
        loop {
            let more = replay.has_more();
            for message in self.tracker.admit(room, replay.messages) {
                self.send(&ServerFrame::Message(MessageJson::from(message)))
                    .await?;
            }
            let Some(after) = self.tracker.sent(room).filter(|_| more) else {
                return Ok(());
            };
            replay = match self.use_cases.catch_up.execute(room, after).await {
                Ok(replay) => replay,
                // The messages stay owed: the next event or connection reads them.
                Err(error) => return self.failed(&error, None).await,
            };
        }
    }

    /// An event from the bus.
    async fn event(&mut self, event: Result<RoomEvent, SubscriptionError>) -> Result<(), End> {
        match event {
            // A carried message owed next went out in `carried`: this one calls for a
            // read, or for nothing.
            Ok(RoomEvent::Published { room, seq, .. }) => {
                let Some(sent) = self.tracker.owed_after(&room, seq) else {
                    return Ok(());
                };
                self.catch_up(&room, sent).await
            }
            Ok(RoomEvent::MembershipChanged { user, room, joined }) if user == self.user.id => {
                if joined && !self.tracker.follows(&room) {
                    match self.use_cases.resume_room.execute(user, &room).await {
                        Ok(joined) => self.start_following(joined, None).await,
                        // Left again meanwhile: nothing to follow.
                        Err(RoomError::NotMember | RoomError::RoomNotFound) => Ok(()),
                        Err(RoomError::Adapter(error)) => self.failed(&error, None).await,
                    }
                } else if !joined && self.tracker.unfollow(&room) {
                    self.send(&ServerFrame::<MessageJson>::Left {
                        room: room.to_string(),
                    })
                    .await
                } else {
                    Ok(())
                }
            }
            Ok(RoomEvent::MembershipChanged { .. }) => Ok(()),
            Ok(RoomEvent::SessionEnded { session }) if session == self.claims.session => {
                Err(session_ended())
            }
            Ok(RoomEvent::SessionEnded { .. }) => Ok(()),
            Ok(RoomEvent::PresenceChanged {
                user,
                rooms,
                present,
            }) => {
                // A connection is not told of its own user's arrival.
                if user.id == self.user.id {
                    return Ok(());
                }
                let member = member_view(MemberJson::from(&user));
                for room in rooms.iter().filter(|room| self.tracker.follows(room)) {
                    let room = room.to_string();
                    let user = member.clone();
                    if present {
                        self.send(&ServerFrame::<MessageJson>::PresenceJoin { room, user })
                            .await?;
                    } else {
                        self.send(&ServerFrame::<MessageJson>::PresenceLeave { room, user })
                            .await?;
                    }
                }
                Ok(())
            }
            Err(SubscriptionError::Lagged { missed }) => {
                tracing::info!(
                    missed,
                    "websocket fell behind the bus; catching up from the store"
                );
                // Its session's end may be among what was lost.
                self.check_session().await?;
                self.recover().await
            }
            Err(SubscriptionError::Closed) => {
                Err(End::Close(close_code::GOING_AWAY, "server shutting down"))
            }
        }
    }

    /// The `presence` frame of `room`: its members connected now, and their states.
    async fn presence(&self, room: &RoomName) -> Result<ServerFrame<MessageJson>, RoomError> {
        let members = self.use_cases.presence.execute(self.user.id, room).await?;
        Ok(ServerFrame::Presence {
            room: room.to_string(),
            users: members.into_iter().map(present_view).collect(),
        })
    }

    /// Reads a followed room above `sent` (what was sent there), and sends it.
    async fn catch_up(&mut self, room: &RoomName, sent: Seq) -> Result<(), End> {
        match self.use_cases.catch_up.execute(room, sent).await {
            Ok(replay) => self.deliver(room, replay).await,
            // The messages stay owed: the next event or connection reads them.
            Err(error) => self.failed(&error, None).await,
        }
    }

    /// After a lag: the user's rooms again (a membership change may have been lost),
    /// then every followed room from what was sent.
    async fn recover(&mut self) -> Result<(), End> {
        let rooms = match self.use_cases.list_rooms.execute(self.user.id).await {
            Ok(rooms) => rooms,
            Err(error) => return self.failed(&error, None).await,
        };
        let listed: Vec<RoomName> = rooms.iter().map(|summary| summary.room.clone()).collect();
        let gone: Vec<RoomName> = self
            .tracker
            .followed()
            .map(|(room, _)| room.clone())
            .filter(|room| !listed.contains(room))
            .collect();
        for room in gone {
            self.tracker.unfollow(&room);
            self.send(&ServerFrame::<MessageJson>::Left {
                room: room.to_string(),
            })
            .await?;
        }
        for summary in rooms {
            match self.tracker.sent(&summary.room) {
                Some(sent) => self.catch_up(&summary.room, sent).await?,
                None => self.resume(&summary.room, summary.cursor).await?,
            }
        }
        // Presence changes lost with the events are in no store to read back: each
        // room's list as it is now replaces whatever the client pieced together.
        let followed: Vec<RoomName> = self
            .tracker
            .followed()
            .map(|(room, _)| room.clone())
            .collect();
        for room in followed {
            match self.presence(&room).await {
                Ok(frame) => self.send(&frame).await?,
                // Left meanwhile: its `left` frame comes with the next event.
                Err(RoomError::NotMember | RoomError::RoomNotFound) => {}
                Err(RoomError::Adapter(error)) => return self.failed(&error, None).await,
            }
        }
        Ok(())
    }
}

fn member_view(member: MemberJson) -> MemberView {
    MemberView {
        id: member.id,
        first_name: member.first_name,
        last_name: member.last_name,
    }
}

fn present_view(present: PresentMember) -> PresentMemberView {
    PresentMemberView {
        member: member_view(MemberJson::from(&present.user)),
        state: present.state.as_str(),
    }
}

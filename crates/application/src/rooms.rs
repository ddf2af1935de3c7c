//! Rooms: listing, joining and leaving them, publishing and acknowledging messages,
//! reading history and presence; and what a real-time connection needs to deliver live
//! traffic with nothing dropped and nothing sent twice.
//!
//! Every operation a client asks for (an HTTP request, a WebSocket frame) is one call of
//! one use case here. The store is the source of truth: a message exists once
//! [`RoomStore::publish`] returned it, and the bus only says where to look
//! ([`RoomEvent`]). A connection follows its rooms with a [`DeliveryTracker`], the rule
//! at the seam between replay and live traffic.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use domain::ports::{
    AdapterError, BusSubscription, Clock, IdSource, MessageBus, Ports, PresenceRegistry,
    RoomAccessError, RoomEvent, RoomStore, UserRepository,
};
use domain::{
    ConnectionId, DEFAULT_MESSAGE_MAX_BYTES, HistoryPage, HistoryRequest, Message, MessageBody,
    MessageBodyError, MessageId, MessageIdError, NewMessage, PageLimit, PresenceState, Published,
    Replay, Retention, RoomName, RoomSummary, Sender, Seq, User, UserId,
};

/// The rules of rooms that are a matter of configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPolicy {
    /// The most bytes (UTF-8) one message's body may have: `MESSAGE_MAX_BYTES`.
    pub message_max_bytes: usize,
    /// How many messages one replay or catch-up read returns; a connection owed more
    /// reads again from where the page ended, sending in between, so a member back from
    /// a long absence never makes the service hold their whole backlog at once.
    pub replay_page: PageLimit,
    /// How long rooms keep their messages: `ROOM_RETENTION_COUNT` and
    /// `ROOM_RETENTION_AGE`.
    pub retention: Retention,
}

impl Default for RoomPolicy {
    /// 16 KiB bodies; replay pages of [`PageLimit::MAX`]; every message kept.
    fn default() -> Self {
        Self {
            message_max_bytes: DEFAULT_MESSAGE_MAX_BYTES,
            replay_page: PageLimit::MAX,
            retention: Retention::KEEP_EVERYTHING,
        }
    }
}

/// Why an operation that needs a member of an existing room was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// No room has this name.
    #[error("no such room")]
    RoomNotFound,
    /// The room exists, but the user is not one of its members.
    #[error("not a member of the room")]
    NotMember,
    /// An adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

impl From<RoomAccessError> for RoomError {
    fn from(error: RoomAccessError) -> Self {
        match error {
            RoomAccessError::RoomNotFound => Self::RoomNotFound,
            RoomAccessError::NotMember => Self::NotMember,
            RoomAccessError::Adapter(error) => Self::Adapter(error),
        }
    }
}

/// Tells every connection about `event`. The event's facts are stored already, so a
/// bus that fails costs latency, not messages (the store is read on the next event or
/// connection): it is logged here, once, and the caller's operation still succeeds.
async fn announce(bus: &dyn MessageBus, event: RoomEvent) {
    if let Err(error) = bus.publish(event).await {
        tracing::warn!(
            error.cause_chain = ?error,
            "announcing a room event failed; connections will catch up from the store"
        );
    }
}

/// The names of the rooms in `summaries`.
fn names(summaries: &[RoomSummary]) -> Vec<RoomName> {
    summaries
        .iter()
        .map(|summary| summary.room.clone())
        .collect()
}

/// Removes the messages that retention no longer keeps, in the background.
pub struct PruneHistory {
    /// Where messages live.
    rooms: Arc<dyn RoomStore>,
    /// What "too old" is measured against.
    clock: Arc<dyn Clock>,
    /// What to keep.
    retention: Retention,
}

impl PruneHistory {
    /// How many messages one step removes at most: small enough that the store's write
    /// lock is held for milliseconds, so publishers barely notice a first pass over a
    /// large backlog.
    pub const STEP: NonZeroU32 = NonZeroU32::new(1_000).expect("a non-zero constant");

    pub(crate) fn new(ports: &Ports, policy: RoomPolicy) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            clock: Arc::clone(&ports.clock),
            retention: policy.retention,
        }
    }

    /// Whether there is ever anything to prune.
    #[must_use]
    pub fn keeps_everything(&self) -> bool {
        self.retention.keeps_everything()
    }

    /// Removes up to [`PruneHistory::STEP`] messages that are due, oldest first, and
    /// answers how many; [`PruneHistory::STEP`] means more may be due at once (call
    /// again), fewer means the rooms are within their limits.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails; nothing of this step is removed.
    #[tracing::instrument(name = "prune_history", skip_all)]
    pub async fn step(&self) -> Result<u64, AdapterError> {
        if self.keeps_everything() {
            return Ok(0);
        }
        self.rooms
            .prune(self.retention, self.clock.now(), Self::STEP)
            .await
    }
}

/// A user's rooms, for `GET /rooms`.
pub struct ListRooms {
    /// Where memberships live.
    rooms: Arc<dyn RoomStore>,
}

impl ListRooms {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
        }
    }

    /// The rooms `user` belongs to, by name, each with its `last_seq` and the user's
    /// cursor ([`RoomSummary::unread`] is what they have not acknowledged).
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    #[tracing::instrument(name = "list_rooms", skip_all, fields(user_id = %user))]
    pub async fn execute(&self, user: UserId) -> Result<Vec<RoomSummary>, AdapterError> {
        self.rooms.rooms_of(user).await
    }
}

/// A room as a connection starts following it: the member's standing, and the first
/// page of what they are owed (the protocol's `joined` frame, then these messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedRoom {
    /// The room, its `last_seq` when joined and the member's cursor.
    pub summary: RoomSummary,
    /// Whether this made the user a member (`false`: they were one, cursor kept).
    pub newly_joined: bool,
    /// The first page above `since` (or above the cursor); read further from
    /// [`Replay::resume_after`] while [`Replay::has_more`].
    pub replay: Replay,
}

impl JoinedRoom {
    /// The room.
    #[must_use]
    pub fn room(&self) -> &RoomName {
        &self.summary.room
    }

    /// The room's `last_seq`, read with the replay.
    #[must_use]
    pub fn last_seq(&self) -> Seq {
        self.replay.last_seq
    }

    /// The protocol's `recovered`: `false` when retention removed part of what was
    /// asked for (what remains is still in the replay).
    #[must_use]
    pub fn recovered(&self) -> bool {
        self.replay.recovered()
    }

    /// Where the replay starts: the position a connection follows the room from.
    #[must_use]
    pub fn replay_after(&self) -> Seq {
        self.replay.after
    }
}

/// Joins a room (creating it at its first join): the `join` frame.
pub struct JoinRoom {
    /// Where memberships and messages live.
    rooms: Arc<dyn RoomStore>,
    /// Tells the user's other connections.
    bus: Arc<dyn MessageBus>,
    /// When the room was created or joined.
    clock: Arc<dyn Clock>,
    /// How much one replay read returns.
    policy: RoomPolicy,
}

impl JoinRoom {
    pub(crate) fn new(ports: &Ports, policy: RoomPolicy) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            bus: Arc::clone(&ports.bus),
            clock: Arc::clone(&ports.clock),
            policy,
        }
    }

    /// Makes `user` a member of `room` and reads the first page they are owed: above
    /// `since` when given, else above their cursor (a new member's cursor is the room's
    /// `last_seq`, so a first join replays nothing). A user who was not a member yet is
    /// announced on the bus, so that every connection of theirs follows the room; a
    /// join by a member changes nothing and announces nothing.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails; a bus failure is logged, not returned.
    #[tracing::instrument(name = "join_room", skip_all, fields(user_id = %user, room = %room))]
    pub async fn execute(
        &self,
        user: UserId,
        room: RoomName,
        since: Option<Seq>,
    ) -> Result<JoinedRoom, AdapterError> {
        let joined = self.rooms.join(&room, user, self.clock.now()).await?;
        if joined.newly_joined {
            tracing::info!("room joined");
            let event = RoomEvent::MembershipChanged {
                user,
                room: room.clone(),
                joined: true,
            };
            announce(self.bus.as_ref(), event).await;
        }
        let after = since.unwrap_or(joined.summary.cursor);
        let replay = self
            .rooms
            .messages_after(&room, after, self.policy.replay_page)
            .await?;
        Ok(JoinedRoom {
            summary: joined.summary,
            newly_joined: joined.newly_joined,
            replay,
        })
    }
}

/// Leaves a room: the `leave` frame.
pub struct LeaveRoom {
    /// Where memberships live.
    rooms: Arc<dyn RoomStore>,
    /// Tells the user's connections.
    bus: Arc<dyn MessageBus>,
}

impl LeaveRoom {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            bus: Arc::clone(&ports.bus),
        }
    }

    /// Ends `user`'s membership of `room` (their cursor is forgotten; the room and its
    /// history stay) and announces it, so that every connection of theirs stops
    /// following the room.
    ///
    /// # Errors
    /// [`RoomError::RoomNotFound`], [`RoomError::NotMember`] (nothing changes, nothing
    /// is announced), [`RoomError::Adapter`] when the store fails.
    #[tracing::instrument(name = "leave_room", skip_all, fields(user_id = %user, room = %room))]
    pub async fn execute(&self, user: UserId, room: &RoomName) -> Result<(), RoomError> {
        self.rooms.leave(room, user).await?;
        tracing::info!("room left");
        let event = RoomEvent::MembershipChanged {
            user,
            room: room.clone(),
            joined: false,
        };
        announce(self.bus.as_ref(), event).await;
        Ok(())
    }
}

/// A message to publish, as the client sent it: the body is checked against the
/// configured limit here, with the id, so that one answer names every bad field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishCommand {
    /// Where.
    pub room: RoomName,
    /// The text, unchecked.
    pub body: String,
    /// The client's idempotency key, unchecked; `None` to have one assigned.
    pub id: Option<String>,
}

/// What is wrong with a message a client sent: every field at once. Its text names the
/// fields, never their values (a body is what people say, and stays out of logs).
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
#[error("the message is invalid")]
pub struct InvalidMessage {
    /// Why the body was refused, if it was.
    pub body: Option<MessageBodyError>,
    /// Why the id was refused, if it was.
    pub id: Option<MessageIdError>,
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The body or the id breaks a rule; nothing was stored.
    #[error(transparent)]
    Invalid(InvalidMessage),
    /// No room has this name.
    #[error("no such room")]
    RoomNotFound,
    /// The sender is not a member of the room.
    #[error("not a member of the room")]
    NotMember,
    /// An adapter failed; nothing was stored.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

impl From<RoomAccessError> for PublishError {
    fn from(error: RoomAccessError) -> Self {
        match error {
            RoomAccessError::RoomNotFound => Self::RoomNotFound,
            RoomAccessError::NotMember => Self::NotMember,
            RoomAccessError::Adapter(error) => Self::Adapter(error),
        }
    }
}

/// Publishes a message: the `publish` frame and `POST /rooms/{room}/messages`.
pub struct Publish {
    /// Where the message is stored and its `seq` assigned.
    rooms: Arc<dyn RoomStore>,
    /// Tells every member's connections.
    bus: Arc<dyn MessageBus>,
    /// When it was published.
    clock: Arc<dyn Clock>,
    /// The id of a message sent without one.
    ids: Arc<dyn IdSource>,
    /// The body limit.
    policy: RoomPolicy,
}

impl Publish {
    pub(crate) fn new(ports: &Ports, policy: RoomPolicy) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            bus: Arc::clone(&ports.bus),
            clock: Arc::clone(&ports.clock),
            ids: Arc::clone(&ports.ids),
            policy,
        }
    }

    /// Checks the message, stores it with the room's next `seq`, then announces it.
    ///
    /// The order is the guarantee: the message is stored durably **before** anything is
    /// broadcast, so whoever hears of it can read it, and an acknowledgement (the
    /// answer) is never given for a message that could be lost. A bus failure after the
    /// store is logged and the publish still succeeds: the message is delivered by the
    /// next event's catch-up or on the members' next connection.
    ///
    /// The id is the sender's idempotency key (a UUID is assigned when the client sent
    /// none). Publishing an id again stores nothing, announces nothing and answers the
    /// original with `duplicate: true` (in its own room, even if that is another).
    ///
    /// # Errors
    /// [`PublishError::Invalid`] naming every bad field, [`PublishError::RoomNotFound`],
    /// [`PublishError::NotMember`], [`PublishError::Adapter`] when the store fails.
    #[tracing::instrument(
        name = "publish",
        skip_all,
        fields(user_id = %sender, room = %command.room)
    )]
    pub async fn execute(
        &self,
        sender: UserId,
        command: PublishCommand,
    ) -> Result<Published, PublishError> {
        let body = MessageBody::parse(&command.body, self.policy.message_max_bytes);
        let id = command.id.as_deref().map(MessageId::parse).transpose();
        let (body, id) = match (body, id) {
            (Ok(body), Ok(id)) => (body, id),
            (body, id) => {
                return Err(PublishError::Invalid(InvalidMessage {
                    body: body.err(),
                    id: id.err(),
                }));
            }
        };
        let id = id.unwrap_or_else(|| MessageId::from_uuid(self.ids.new_id()));
        let room = command.room;
        let published = self
            .rooms
            .publish(NewMessage {
                room,
                id,
                sender,
                body,
                created_at: self.clock.now(),
            })
            .await?;
        let message = &published.message;
        if published.duplicate {
            tracing::info!(seq = %message.seq, "duplicate publish answered with the original");
        } else {
            // The stored message rides along, so that this process's connections owed
            // exactly it send it without reading it back from the store.
            let event = RoomEvent::Published {
                room: message.room.clone(),
                seq: message.seq,
                message: Some(Arc::new(message.clone())),
            };
            announce(self.bus.as_ref(), event).await;
        }
        Ok(published)
    }
}

/// Moves a member's delivery cursor: the `ack` frame.
pub struct Acknowledge {
    /// Where cursors live.
    rooms: Arc<dyn RoomStore>,
}

impl Acknowledge {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
        }
    }

    /// Moves `user`'s cursor in `room` forward to `seq`: never backwards, never beyond
    /// the room's `last_seq`. Returns the cursor as it now stands.
    ///
    /// # Errors
    /// [`RoomError::RoomNotFound`], [`RoomError::NotMember`], [`RoomError::Adapter`].
    #[tracing::instrument(name = "acknowledge", skip_all, fields(user_id = %user, room = %room))]
    pub async fn execute(&self, user: UserId, room: &RoomName, seq: Seq) -> Result<Seq, RoomError> {
        Ok(self.rooms.acknowledge(room, user, seq).await?)
    }
}

/// Reads a page of a room's history: `GET /rooms/{room}/messages`.
pub struct History {
    /// Where messages live.
    rooms: Arc<dyn RoomStore>,
}

impl History {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
        }
    }

    /// A page of `room`'s history, ascending, for a member. Reading moves no cursor:
    /// only an acknowledgement says what was seen.
    ///
    /// # Errors
    /// [`RoomError::RoomNotFound`], [`RoomError::NotMember`], [`RoomError::Adapter`].
    #[tracing::instrument(name = "history", skip_all, fields(user_id = %user, room = %room))]
    pub async fn execute(
        &self,
        user: UserId,
        room: &RoomName,
        request: HistoryRequest,
    ) -> Result<HistoryPage, RoomError> {
        Ok(self.rooms.history(room, user, request).await?)
    }
}

/// A member who has a connection open, as the others see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentMember {
    /// Who, with their names now.
    pub user: Sender,
    /// Active or idle.
    pub state: PresenceState,
}

/// Who of a room's members is connected: the `presence` frame and
/// `GET /rooms/{room}/presence`.
pub struct Presence {
    /// Where memberships live.
    rooms: Arc<dyn RoomStore>,
    /// Where names live.
    users: Arc<dyn UserRepository>,
    /// Who is connected.
    presence: Arc<dyn PresenceRegistry>,
}

impl Presence {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            users: Arc::clone(&ports.users),
            presence: Arc::clone(&ports.presence),
        }
    }

    /// The members of `room` who are connected, ordered by id, with their names and
    /// state, as a member may ask. Four reads whatever the room's size, each
    /// proportional to its members (membership, members, who of them is present, the
    /// names of those present), and none when nobody is present: seating n members
    /// costs n queries, never n².
    ///
    /// # Errors
    /// [`RoomError::RoomNotFound`], [`RoomError::NotMember`], [`RoomError::Adapter`].
    #[tracing::instrument(name = "presence", skip_all, fields(user_id = %user, room = %room))]
    pub async fn execute(
        &self,
        user: UserId,
        room: &RoomName,
    ) -> Result<Vec<PresentMember>, RoomError> {
        self.rooms.membership(room, user).await?;
        let members = self.rooms.members(room).await?;
        let present = self.presence.present_among(&members).await?;
        if present.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<UserId> = present.iter().map(|present| present.user).collect();
        let mut names: HashMap<UserId, User> = self
            .users
            .find_by_ids(&ids)
            .await?
            .into_iter()
            .map(|user| (user.id, user))
            .collect();
        // A member deleted since they connected has no name to show: left out.
        Ok(present
            .into_iter()
            .filter_map(|present| {
                let user = names.remove(&present.user)?;
                Some(PresentMember {
                    user: Sender::from(&user),
                    state: present.state,
                })
            })
            .collect())
    }
}

/// Reads what a connection has not sent yet in a room: the live half of delivery.
pub struct CatchUp {
    /// Where messages live.
    rooms: Arc<dyn RoomStore>,
    /// How much one read returns.
    policy: RoomPolicy,
}

impl CatchUp {
    pub(crate) fn new(ports: &Ports, policy: RoomPolicy) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            policy,
        }
    }

    /// The oldest page of `room`'s messages above `after` (what the connection has
    /// sent there, per its [`DeliveryTracker`]), with the room's `last_seq`. Membership
    /// is not checked again: the connection follows only rooms it joined or resumed,
    /// and stops following those its user leaves.
    ///
    /// # Errors
    /// [`AdapterError`] when the store fails.
    #[tracing::instrument(name = "catch_up", skip_all, fields(room = %room, after = %after))]
    pub async fn execute(&self, room: &RoomName, after: Seq) -> Result<Replay, AdapterError> {
        self.rooms
            .messages_after(room, after, self.policy.replay_page)
            .await
    }
}

/// Starts following a room the user is a member of, from their cursor: what a connection
/// does when it hears that its user joined on another connection.
pub struct ResumeRoom {
    /// Where memberships and messages live.
    rooms: Arc<dyn RoomStore>,
    /// How much one replay read returns.
    policy: RoomPolicy,
}

impl ResumeRoom {
    pub(crate) fn new(ports: &Ports, policy: RoomPolicy) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            policy,
        }
    }

    /// `user`'s standing in `room` and the first page above their cursor, as a `joined`
    /// frame and its replay. Nothing is written or announced.
    ///
    /// # Errors
    /// [`RoomError::RoomNotFound`], [`RoomError::NotMember`] (they left meanwhile: the
    /// connection does not follow the room), [`RoomError::Adapter`].
    #[tracing::instrument(name = "resume_room", skip_all, fields(user_id = %user, room = %room))]
    pub async fn execute(&self, user: UserId, room: &RoomName) -> Result<JoinedRoom, RoomError> {
        let summary = self.rooms.membership(room, user).await?;
        let replay = self
            .rooms
            .messages_after(room, summary.cursor, self.policy.replay_page)
            .await?;
        Ok(JoinedRoom {
            summary,
            newly_joined: false,
            replay,
        })
    }
}

/// A connection that just opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedConnection {
    /// Its id, for [`CloseConnection`] and [`SetConnectionState`].
    pub connection: ConnectionId,
    /// The user's rooms, each with its `last_seq` and the user's cursor: the connection
    /// follows each from the cursor ([`CatchUp`]), sending a `joined` frame for each.
    pub rooms: Vec<RoomSummary>,
    /// Whether it is the user's first open connection (their rooms were told).
    pub first: bool,
}

/// Opens a real-time connection: registers it as present and, for the user's first,
/// tells the members of their rooms.
pub struct OpenConnection {
    /// Where the user's rooms are read.
    rooms: Arc<dyn RoomStore>,
    /// Who is connected.
    presence: Arc<dyn PresenceRegistry>,
    /// Tells the members of the user's rooms.
    bus: Arc<dyn MessageBus>,
    /// The connection's id.
    ids: Arc<dyn IdSource>,
}

impl OpenConnection {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            presence: Arc::clone(&ports.presence),
            bus: Arc::clone(&ports.bus),
            ids: Arc::clone(&ports.ids),
        }
    }

    /// A subscription to every room event from now on. A connection subscribes
    /// **before** [`OpenConnection::execute`] reads its rooms, so that nothing published
    /// between the read and the subscription falls between them (see
    /// [`DeliveryTracker`]).
    #[must_use]
    pub fn subscribe(&self) -> Box<dyn BusSubscription> {
        self.bus.subscribe()
    }

    /// Reads `user`'s rooms, then registers a new connection of theirs as present
    /// (active). When it is their first and they belong to any room, a
    /// [`RoomEvent::PresenceChanged`] tells the connections following any of their rooms
    /// (`presence_join`). The rooms are read
    /// first so that a failure leaves no connection registered.
    ///
    /// # Errors
    /// [`AdapterError`] when the store or the registry fails (nothing is registered);
    /// a bus failure is logged, not returned.
    #[tracing::instrument(name = "open_connection", skip_all, fields(user_id = %user.id))]
    pub async fn execute(&self, user: &User) -> Result<OpenedConnection, AdapterError> {
        let rooms = self.rooms.rooms_of(user.id).await?;
        let connection = ConnectionId::from_uuid(self.ids.new_id());
        let first = self.presence.register(user.id, connection).await?;
        // A user in no room has no one to tell; the event would still wake every
        // connection of every instance (seating n new members: n² wake-ups for nothing).
        if first && !rooms.is_empty() {
            let event = RoomEvent::PresenceChanged {
                user: Sender::from(user),
                rooms: names(&rooms),
                present: true,
            };
            announce(self.bus.as_ref(), event).await;
        }
        Ok(OpenedConnection {
            connection,
            rooms,
            first,
        })
    }
}

/// Closes a real-time connection: unregisters it and, for the user's last, tells the
/// members of their rooms.
pub struct CloseConnection {
    /// Where the user's rooms are read.
    rooms: Arc<dyn RoomStore>,
    /// Who is connected.
    presence: Arc<dyn PresenceRegistry>,
    /// Tells the members of the user's rooms.
    bus: Arc<dyn MessageBus>,
}

impl CloseConnection {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            rooms: Arc::clone(&ports.rooms),
            presence: Arc::clone(&ports.presence),
            bus: Arc::clone(&ports.bus),
        }
    }

    /// Unregisters `connection` of `user`. When it was their last and they belong to
    /// any room, a [`RoomEvent::PresenceChanged`] tells the connections following any
    /// of their rooms (`presence_leave`). Returns whether it was the last.
    ///
    /// # Errors
    /// [`AdapterError`] when the registry or the store fails; a bus failure is logged,
    /// not returned.
    #[tracing::instrument(name = "close_connection", skip_all, fields(user_id = %user.id))]
    pub async fn execute(
        &self,
        user: &User,
        connection: ConnectionId,
    ) -> Result<bool, AdapterError> {
        let last = self.presence.unregister(user.id, connection).await?;
        if last {
            let rooms = self.rooms.rooms_of(user.id).await?;
            if rooms.is_empty() {
                // No one to tell (see `OpenConnection::execute`).
                return Ok(last);
            }
            let event = RoomEvent::PresenceChanged {
                user: Sender::from(user),
                rooms: names(&rooms),
                present: false,
            };
            announce(self.bus.as_ref(), event).await;
        }
        Ok(last)
    }
}

/// Tells the rooms of users whose connections died with their instance that they left:
/// the background half of [`CloseConnection`], for connections nobody closed.
pub struct AnnounceDepartures {
    /// Who is connected, and who was left behind by an instance that stopped.
    presence: Arc<dyn PresenceRegistry>,
    /// The departed users' names, as members see them.
    users: Arc<dyn UserRepository>,
    /// The departed users' rooms.
    rooms: Arc<dyn RoomStore>,
    /// Tells the members of those rooms.
    bus: Arc<dyn MessageBus>,
}

impl AnnounceDepartures {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            presence: Arc::clone(&ports.presence),
            users: Arc::clone(&ports.users),
            rooms: Arc::clone(&ports.rooms),
            bus: Arc::clone(&ports.bus),
        }
    }

    /// How often [`AnnounceDepartures::execute`] should run, or `None` when the presence
    /// registry never leaves departed connections behind (one process).
    #[must_use]
    pub fn interval(&self) -> Option<std::time::Duration> {
        self.presence.sweep_interval()
    }

    /// Sweeps the registry and, for each user it found absent, tells the connections
    /// following any of their rooms (`presence_leave`), as their last connection's close
    /// would have. Returns how many users were announced. A user who no longer exists
    /// has no room to tell; a user whose rooms cannot be read is skipped (logged): the
    /// sweep took them already, and members see their absence at the next presence
    /// query.
    ///
    /// # Errors
    /// [`AdapterError`] when the registry cannot be swept or the users cannot be read
    /// (then nobody was told); a bus failure is logged, not returned.
    #[tracing::instrument(name = "announce_departures", skip_all)]
    pub async fn execute(&self) -> Result<usize, AdapterError> {
        let departed = self.presence.sweep_departed().await?;
        if departed.is_empty() {
            return Ok(0);
        }
        let users = self.users.find_by_ids(&departed).await?;
        let mut announced = 0;
        for user in &users {
            let rooms = match self.rooms.rooms_of(user.id).await {
                Ok(rooms) => rooms,
                Err(error) => {
                    tracing::warn!(user_id = %user.id, error.cause_chain = ?error, "a departed user's rooms could not be read; they are not told");
                    continue;
                }
            };
            let event = RoomEvent::PresenceChanged {
                user: Sender::from(user),
                rooms: names(&rooms),
                present: false,
            };
            announce(self.bus.as_ref(), event).await;
            announced += 1;
        }
        Ok(announced)
    }
}

/// Marks a connection active or idle.
pub struct SetConnectionState {
    /// Who is connected.
    presence: Arc<dyn PresenceRegistry>,
}

impl SetConnectionState {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            presence: Arc::clone(&ports.presence),
        }
    }

    /// Sets the state of `connection` of `user`; the user is active while any of their
    /// connections is. A connection that closed meanwhile is left alone.
    ///
    /// # Errors
    /// [`AdapterError`] when the registry fails.
    pub async fn execute(
        &self,
        user: UserId,
        connection: ConnectionId,
        state: PresenceState,
    ) -> Result<(), AdapterError> {
        self.presence.set_state(user, connection, state).await
    }
}

/// The seam between replay and live traffic, for one connection: the highest `seq` it
/// has sent in each room it follows.
///
/// **The rule.** A connection subscribes to the bus *before* it reads anything from the
/// store. It follows a room from a position (a join's `since` or the member's cursor:
/// [`JoinedRoom::replay_after`]) and sends only what lies above what it has sent, in
/// order, recording each message as sent ([`DeliveryTracker::admit`]). When the bus
/// announces `Published { room, seq }`:
///
/// - `seq` at or below what was sent: the message went out already (a replay read it
///   before its event arrived) — nothing to do ([`DeliveryTracker::owed_after`] is
///   `None`);
/// - exactly one above, with the stored message in the event (an in-process bus):
///   send that message, no store read ([`DeliveryTracker::admit_announced`]): it *is*
///   what a read above what was sent would return first;
/// - above: read the store from what was sent ([`CatchUp`]) and admit what comes back,
///   page by page while [`Replay::has_more`].
///
/// When the bus says the connection lagged, it does the same for every room it follows
/// ([`DeliveryTracker::followed`]), after reading its user's rooms again (a membership
/// change may be among what it missed).
///
/// Every message is therefore read from the store, above a position that only moves
/// forward as messages are sent: an event that arrives during a replay, is lost, merged
/// with another, reordered, or dropped by a lag can neither drop a message nor send one
/// twice. Only an explicit `join` with `since` moves the position back, because the
/// client asked for those messages again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryTracker {
    sent: HashMap<RoomName, Seq>,
}

impl DeliveryTracker {
    /// A connection that follows no room yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows `room` from `after`: what lies above it is owed. Replaces the position of
    /// a room already followed (a `join` with `since` asks for messages again); a
    /// connection that hears of a membership it already follows leaves it alone
    /// ([`DeliveryTracker::follows`]).
    pub fn follow(&mut self, room: RoomName, after: Seq) {
        self.sent.insert(room, after);
    }

    /// Stops following `room`; whether it was followed.
    pub fn unfollow(&mut self, room: &RoomName) -> bool {
        self.sent.remove(room).is_some()
    }

    /// Whether `room` is followed.
    #[must_use]
    pub fn follows(&self, room: &RoomName) -> bool {
        self.sent.contains_key(room)
    }

    /// The highest `seq` sent in `room` (or the position it was followed from), if it
    /// is followed.
    #[must_use]
    pub fn sent(&self, room: &RoomName) -> Option<Seq> {
        self.sent.get(room).copied()
    }

    /// Every followed room with what was sent there: what to catch up after a lag.
    pub fn followed(&self) -> impl Iterator<Item = (&RoomName, Seq)> {
        self.sent.iter().map(|(room, sent)| (room, *sent))
    }

    /// Whether the announcement of `seq` in `room` calls for a read, and from where:
    /// `Some(sent)` when the room is followed and `seq` lies above what was sent;
    /// `None` when the room is not followed or the message went out already.
    #[must_use]
    pub fn owed_after(&self, room: &RoomName, announced: Seq) -> Option<Seq> {
        self.sent(room).filter(|sent| announced > *sent)
    }

    /// Whether `message`, announced by the bus with its event, is the next one owed in
    /// its room: the room is followed and `message.seq` is exactly one above what was
    /// sent. If so it is recorded as sent and the caller sends it without reading the
    /// store. Otherwise nothing changes and the caller reads the store
    /// ([`DeliveryTracker::owed_after`]): the connection is behind (a replay stopped
    /// short, events were dropped), ahead (a replay read it already), or a gap lies
    /// between (messages of a deleted account), and only the store knows what lies in
    /// between.
    ///
    /// Why exactly one above is enough: `seq`s are assigned in order, and the message
    /// came from the store that assigned `message.seq`, so nothing can lie between what
    /// was sent and it.
    pub fn admit_announced(&mut self, message: &Message) -> bool {
        match self.sent.get_mut(&message.room) {
            Some(sent) if message.seq.since(*sent) == 1 => {
                *sent = message.seq;
                true
            }
            _ => false,
        }
    }

    /// Of `messages` read for `room` (ascending, as the store answers), those to send:
    /// the ones above what was sent, in order. Records the last of them as sent.
    /// Nothing is sent for a room not followed (it was left meanwhile).
    pub fn admit(&mut self, room: &RoomName, messages: Vec<Message>) -> Vec<Message> {
        let Some(sent) = self.sent.get_mut(room) else {
            return Vec::new();
        };
        let mut admitted = Vec::with_capacity(messages.len());
        for message in messages {
            if message.seq > *sent {
                *sent = message.seq;
                admitted.push(message);
            }
        }
        admitted
    }
}

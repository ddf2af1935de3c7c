//! The connection task (`ws::connection`) served in memory, frame by frame, on fakes:
//! what the end-to-end tests over a real socket cannot easily reach, such as a port
//! failing in the middle of a connection, a bus that lags or closes, and a client that
//! breaks the framing or vanishes while its queue is full.
//!
//! A [`Client`] is the other end of `GET /ws` as the whole app answers it: what it sends
//! is the upgrade request's payload, encoded as a browser would (masked frames); what
//! it reads is the response body, decoded frame by frame. The bus hands the connection
//! what the test puts into [`Client::hear`]. Every read has a 10 s deadline as a guard
//! against a hang; a story synchronises on the frames it reads, and shows that nothing
//! else was owed with [`Client::round_trip`].
//!
//! A port call no expectation allows fails a story at once: the connection's task
//! panics and the frames the story waits for never come. A count not reached
//! (`times(1)` on a call that never happens) is checked only when the fakes drop, and
//! they drop with the use cases in the connection's task, where a panic fails no test:
//! so each story asserts what the client sees, and counts only where a frame shows them.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_http::ws::{CloseCode, CloseReason, Codec, Frame, Message};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::test;
use actix_web::web::{Bytes, BytesMut};
use async_trait::async_trait;
use domain::ports::{AdapterError, BusSubscription, RoomAccessError, RoomEvent, SubscriptionError};
use domain::{AccessClaims, Replay, RoomName, RoomSummary, Seq, User};
use serde_json::{Value, json};
use test_support::{SESSION, general, replay_of, room, standing};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

use super::{
    ADA, ADAPTER_SECRET, ADAS_ACCESS_TOKEN, BodyStream, Mocks, ada, adapter_failure, adas_claims,
};
use crate::rate_limit::Budget;
use crate::ws::{WebSockets, WsSettings};

/// How long a read waits before the test fails as hung.
const GUARD: Duration = Duration::from_secs(10);

/// The token Ada renews her connection with in an `auth` frame.
const RENEWED_TOKEN: &str = "ada.renewed.jwt";

/// Ada's claims, expiring an hour from now by the system clock: the connection's expiry
/// timer reads that clock, not the fake one the use cases read.
fn live_claims() -> AccessClaims {
    AccessClaims {
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        ..adas_claims()
    }
}

/// A read that finds nothing above `after`, which is the room's `last_seq`.
fn nothing_after(after: u64) -> Replay {
    Replay {
        after: Seq::new(after),
        messages: Vec::new(),
        last_seq: Seq::new(after),
    }
}

/// Events the test hands the connection, as the bus would.
struct Events(mpsc::UnboundedReceiver<Result<RoomEvent, SubscriptionError>>);

#[async_trait]
impl BusSubscription for Events {
    async fn next(&mut self) -> Result<RoomEvent, SubscriptionError> {
        match self.0.recv().await {
            Some(event) => event,
            // The story is over: nothing more will be heard.
            None => std::future::pending().await,
        }
    }
}

impl Mocks {
    /// Ada's token verifies (as [`live_claims`]) and her session is live at the upgrade.
    fn ada_upgrades(&mut self) {
        self.access_tokens
            .expect_verify()
            .withf(|token| token == ADAS_ACCESS_TOKEN)
            .times(1)
            .returning(|_| Ok(live_claims()));
        self.session_check_gives(Ok(Some(ada())));
    }

    /// The store answers `answer` the next time the connection's session is checked.
    /// Checks are answered in the order they were set.
    fn session_check_gives(&mut self, answer: Result<Option<User>, AdapterError>) {
        self.sessions
            .expect_find_live_user()
            .withf(|session, user, _| *session == SESSION && *user == ADA)
            .times(1)
            .return_once(move |_, _, _| answer);
    }

    /// Ada's connection opens in `rooms`: they are read, the connection is registered
    /// (not her first: no one is told) and unregistered when it closes (not her last).
    /// Her session is live at the upgrade and when the connection starts.
    fn ada_connects_in(&mut self, rooms: Vec<RoomSummary>) {
        self.ada_upgrades();
        self.rooms
            .expect_rooms_of()
            .withf(|user| *user == ADA)
            .times(1)
            .return_once(move |_| Ok(rooms));
        self.presence
            .expect_register()
            .withf(|user, _| *user == ADA)
            .times(1)
            .returning(|_, _| Ok(false));
        self.session_check_gives(Ok(Some(ada())));
    }

    /// Closing the connection unregisters it (not Ada's last connection).
    fn ada_disconnects(&mut self) {
        self.presence
            .expect_unregister()
            .withf(|user, _| *user == ADA)
            .times(1)
            .returning(|_, _| Ok(false));
    }

    /// Reading `room` above `after` gives `replay`, once.
    fn reading_gives(&mut self, room: &RoomName, after: u64, replay: Result<Replay, AdapterError>) {
        let room = room.clone();
        self.rooms
            .expect_messages_after()
            .withf(move |read, from, _| *read == room && *from == Seq::new(after))
            .times(1)
            .return_once(move |_, _, _| replay);
    }

    /// The WebSocket limits and timings are `settings`.
    fn ws_settings(&mut self, settings: WsSettings) {
        self.settings.websockets = Arc::new(WebSockets::new(settings));
    }

    /// Opens Ada's socket on the app built over these fakes.
    async fn connect(mut self) -> Client {
        let (events, subscription) = mpsc::unbounded_channel();
        self.bus
            .expect_subscribe()
            .times(1)
            .return_once(move || Box::new(Events(subscription)));
        let (use_cases, settings) = self.into_parts();
        let app =
            test::init_service(crate::app(actix_web::web::Data::new(use_cases), settings)).await;
        let (to_server, mut incoming) = mpsc::unbounded_channel::<Result<Bytes, PayloadError>>();
        let payload: BodyStream = Box::pin(futures_util::stream::poll_fn(move |cx| {
            incoming.poll_recv(cx)
        }));
        let request = super::websocket_handshake()
            .insert_header((header::AUTHORIZATION, format!("Bearer {ADAS_ACCESS_TOKEN}")))
            .to_request()
            .replace_payload(Payload::from(payload))
            .0;
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status().as_u16(), 101, "the protocol switches");
        Client {
            to_server: Some(to_server),
            from_server: Some(response.into_body().boxed()),
            codec: Codec::new().client_mode(),
            read: BytesMut::new(),
            events,
        }
    }
}

/// The client's end of a connection served in memory.
struct Client {
    /// The upgrade request's payload; `None` once the client stopped sending.
    to_server: Option<mpsc::UnboundedSender<Result<Bytes, PayloadError>>>,
    /// The response body; `None` once the client vanished.
    from_server: Option<BoxBody>,
    /// A client's codec: masks what it sends, reads unmasked frames.
    codec: Codec,
    /// Bytes read and not decoded yet.
    read: BytesMut,
    /// What the bus tells the connection.
    events: mpsc::UnboundedSender<Result<RoomEvent, SubscriptionError>>,
}

impl Client {
    /// Sends `message` as a client does.
    fn send(&mut self, message: Message) {
        let mut bytes = BytesMut::new();
        self.codec.encode(message, &mut bytes).unwrap();
        self.send_bytes(bytes.freeze());
    }

    /// Sends `frame` of the protocol as a text frame.
    fn send_json(&mut self, frame: &Value) {
        self.send(Message::Text(frame.to_string().into()));
    }

    /// Sends raw bytes on the wire.
    fn send_bytes(&mut self, bytes: Bytes) {
        let sent = self
            .to_server
            .as_ref()
            .map(|to_server| to_server.send(Ok(bytes)));
        assert!(matches!(sent, Some(Ok(()))), "the server still reads");
    }

    /// The client stops sending, without a close frame: its stream ends.
    fn stop_sending(&mut self) {
        self.to_server = None;
    }

    /// The client vanishes: nothing it was sent will be read.
    fn vanish(&mut self) {
        self.from_server = None;
    }

    /// The bus hands the connection `event`.
    fn hear(&self, event: Result<RoomEvent, SubscriptionError>) {
        assert!(self.events.send(event).is_ok(), "the connection listens");
    }

    /// The next frame from the server, or `None` when the body ended.
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.read).unwrap() {
                return Some(frame);
            }
            let body = self.from_server.as_mut()?;
            let chunk =
                tokio::time::timeout(GUARD, poll_fn(|cx| Pin::new(&mut *body).poll_next(cx)))
                    .await
                    .unwrap_or_else(|_| panic!("no frame came within {GUARD:?}"));
            match chunk {
                Some(Ok(bytes)) => self.read.extend_from_slice(&bytes),
                Some(Err(error)) => panic!("the body failed: {error}"),
                None => return None,
            }
        }
    }

    /// The next frame, which must be a frame of the protocol of type `kind`.
    async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.next_frame().await;
        let Some(Frame::Text(text)) = frame else {
            panic!("expected a {kind} frame, got {frame:?}");
        };
        let frame: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(frame["type"], kind, "expected a {kind} frame, got {frame}");
        frame
    }

    /// The next frame, which must be an `error` frame with `code`; returns it.
    async fn expect_error(&mut self, code: &str) -> Value {
        let frame = self.expect("error").await;
        assert_eq!(frame["code"], code, "answered {frame}");
        assert!(
            !frame.to_string().contains(ADAPTER_SECRET),
            "an adapter's words reached the client: {frame}"
        );
        frame
    }

    /// A `ping` answered by the next frame, a `pong`: the connection goes on, and
    /// nothing else was owed before it.
    async fn round_trip(&mut self) {
        self.send_json(&json!({"type": "ping"}));
        self.expect("pong").await;
    }

    /// The next frame, which must be a close frame; its code and reason, if any.
    async fn closed(&mut self) -> Option<(u16, String)> {
        let frame = self.next_frame().await;
        let Some(Frame::Close(reason)) = frame else {
            panic!("expected a close frame, got {frame:?}");
        };
        reason.map(|reason| {
            (
                u16::from(reason.code),
                reason.description.unwrap_or_default(),
            )
        })
    }
}

/// What [`Client::closed`] gives for `code` and `reason`.
fn close(code: u16, reason: &str) -> Option<(u16, String)> {
    Some((code, reason.to_owned()))
}

#[actix_web::test]
async fn a_connection_whose_rooms_cannot_be_read_closes_with_1011_and_registers_nothing() {
    let mut mocks = Mocks::new();
    mocks.ada_upgrades();
    mocks
        .rooms
        .expect_rooms_of()
        .times(1)
        .returning(|_| Err(adapter_failure()));
    mocks.presence.expect_register().never();
    mocks.presence.expect_unregister().never();
    let mut client = mocks.connect().await;

    assert_eq!(client.closed().await, close(1011, "internal error"));
}

#[actix_web::test]
async fn a_session_that_ended_before_the_connection_subscribed_closes_it_with_1008() {
    let mut mocks = Mocks::new();
    mocks.ada_upgrades();
    mocks
        .rooms
        .expect_rooms_of()
        .times(1)
        .returning(|_| Ok(Vec::new()));
    mocks
        .presence
        .expect_register()
        .times(1)
        .returning(|_, _| Ok(false));
    // Ended between the upgrade's check and the subscription.
    mocks.session_check_gives(Ok(None));
    mocks.ada_disconnects();
    let mut client = mocks.connect().await;

    assert_eq!(client.closed().await, close(1008, "session ended"));
}

#[actix_web::test]
async fn a_store_that_cannot_say_whether_the_session_lives_is_answered_internal_and_the_connection_goes_on()
 {
    let mut mocks = Mocks::new();
    mocks.ada_upgrades();
    mocks
        .rooms
        .expect_rooms_of()
        .times(1)
        .returning(|_| Ok(Vec::new()));
    mocks
        .presence
        .expect_register()
        .times(1)
        .returning(|_, _| Ok(false));
    mocks.session_check_gives(Err(adapter_failure()));
    let mut client = mocks.connect().await;

    client.expect_error("internal").await;
    client.round_trip().await;
}

#[actix_web::test]
async fn a_connection_closes_for_the_client_even_when_the_registry_cannot_unregister_it() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks
        .presence
        .expect_unregister()
        .times(1)
        .returning(|_, _| Err(adapter_failure()));
    let mut client = mocks.connect().await;

    client.send(Message::Close(Some(CloseReason::from(CloseCode::Normal))));

    assert_eq!(
        client.closed().await,
        Some((1000, String::new())),
        "its close is answered"
    );
}

#[actix_web::test]
async fn a_room_whose_messages_cannot_be_read_as_the_connection_starts_is_answered_internal() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(vec![standing(&general(), 3, 1)]);
    mocks.reading_gives(&general(), 1, Err(adapter_failure()));
    let mut client = mocks.connect().await;

    client.expect_error("internal").await;
    // No `joined` for it: the messages stay owed, for the next connection.
    client.round_trip().await;
}

#[actix_web::test]
async fn a_replay_whose_next_page_cannot_be_read_sends_the_first_page_then_internal() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(vec![standing(&general(), 5, 1)]);
    mocks.reading_gives(&general(), 1, Ok(replay_of(1, [2, 3], 5)));
    mocks.reading_gives(&general(), 3, Err(adapter_failure()));
    let mut client = mocks.connect().await;

    let joined = client.expect("joined").await;
    assert_eq!(joined["last_seq"], 5, "{joined}");
    for seq in [2, 3] {
        let message = client.expect("message").await;
        assert_eq!(message["seq"], seq, "{message}");
    }
    client.expect_error("internal").await;
    client.round_trip().await;
}

#[actix_web::test]
async fn a_join_the_store_cannot_keep_is_answered_internal() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks
        .rooms
        .expect_join()
        .times(1)
        .returning(|_, _, _| Err(adapter_failure()));
    let mut client = mocks.connect().await;

    client.send_json(&json!({"type": "join", "room": "general"}));

    client.expect_error("internal").await;
    client.round_trip().await;
}

#[actix_web::test]
async fn a_publish_the_store_cannot_keep_is_answered_internal_with_its_ref() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks
        .rooms
        .expect_publish()
        .times(1)
        .returning(|_| Err(RoomAccessError::Adapter(adapter_failure())));
    let mut client = mocks.connect().await;

    client.send_json(&json!({"type": "publish", "room": "general", "body": "hi", "id": "m-1"}));

    let error = client.expect_error("internal").await;
    assert_eq!(error["ref"], "m-1", "{error}");
    client.round_trip().await;
}

#[actix_web::test]
async fn a_message_the_frames_let_through_but_the_rooms_limit_refuses_is_a_bad_request_with_its_ref()
 {
    let mut mocks = Mocks::new();
    mocks.ws_settings(WsSettings {
        // The frame decoder is told of a larger limit than the rooms' own.
        message_max_bytes: domain::DEFAULT_MESSAGE_MAX_BYTES * 2,
        limits_enabled: false,
        ..WsSettings::default()
    });
    mocks.ada_connects_in(Vec::new());
    mocks.rooms.expect_publish().never();
    let mut client = mocks.connect().await;

    let body = "x".repeat(domain::DEFAULT_MESSAGE_MAX_BYTES + 1);
    client.send_json(&json!({"type": "publish", "room": "general", "body": body, "id": "m-2"}));

    let error = client.expect_error("bad_request").await;
    assert_eq!(error["ref"], "m-2", "{error}");
    client.round_trip().await;
}

#[actix_web::test]
async fn an_ack_presence_or_leave_the_store_refuses_is_answered_with_why_and_the_connection_goes_on()
 {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks
        .rooms
        .expect_acknowledge()
        .times(1)
        .returning(|_, _, _| Err(RoomAccessError::RoomNotFound));
    mocks
        .rooms
        .expect_membership()
        .times(1)
        .returning(|_, _| Err(RoomAccessError::Adapter(adapter_failure())));
    mocks
        .rooms
        .expect_leave()
        .times(1)
        .returning(|_, _| Err(RoomAccessError::Adapter(adapter_failure())));
    let mut client = mocks.connect().await;

    for (frame, code) in [
        (
            json!({"type": "ack", "room": "nowhere", "seq": 1}),
            "room_not_found",
        ),
        (json!({"type": "presence", "room": "general"}), "internal"),
        (json!({"type": "leave", "room": "general"}), "internal"),
    ] {
        client.send_json(&frame);
        let error = client.expect("error").await;
        assert_eq!(error["code"], code, "sent {frame}: answered {error}");
    }
    client.round_trip().await;
}

#[actix_web::test]
async fn a_renewal_whose_session_cannot_be_read_is_answered_internal() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks
        .access_tokens
        .expect_verify()
        .withf(|token| token == RENEWED_TOKEN)
        .times(1)
        .returning(|_| Ok(live_claims()));
    mocks.session_check_gives(Err(adapter_failure()));
    let mut client = mocks.connect().await;

    client.send_json(&json!({"type": "auth", "access_token": RENEWED_TOKEN}));

    client.expect_error("internal").await;
    client.round_trip().await;
}

#[actix_web::test]
async fn a_join_heard_from_elsewhere_is_followed_only_when_the_membership_can_be_read() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    // She left `general` again before this connection heard she joined it.
    mocks
        .rooms
        .expect_membership()
        .withf(|asked, _| *asked == general())
        .times(1)
        .returning(|_, _| Err(RoomAccessError::NotMember));
    mocks
        .rooms
        .expect_membership()
        .withf(|asked, _| *asked == room("random"))
        .times(1)
        .returning(|_, _| Err(RoomAccessError::Adapter(adapter_failure())));
    let mut client = mocks.connect().await;

    for joined in [general(), room("random")] {
        client.hear(Ok(RoomEvent::MembershipChanged {
            user: ADA,
            room: joined,
            joined: true,
        }));
    }

    // Nothing for `general`; `internal` for the room whose membership was unreadable.
    client.expect_error("internal").await;
    client.round_trip().await;
}

#[actix_web::test]
async fn a_bus_closed_for_good_closes_the_connection_with_1001() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks.ada_disconnects();
    let mut client = mocks.connect().await;

    client.hear(Err(SubscriptionError::Closed));

    assert_eq!(client.closed().await, close(1001, "server shutting down"));
}

#[actix_web::test]
async fn a_published_message_the_store_cannot_read_back_is_answered_internal() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(vec![standing(&general(), 1, 1)]);
    mocks.reading_gives(&general(), 1, Ok(nothing_after(1)));
    mocks.reading_gives(&general(), 1, Err(adapter_failure()));
    let mut client = mocks.connect().await;
    client.expect("joined").await;

    // Announced without the message (as by another instance): it must be read.
    client.hear(Ok(RoomEvent::Published {
        room: general(),
        seq: Seq::new(3),
        message: None,
    }));

    client.expect_error("internal").await;
    client.round_trip().await;
}

#[actix_web::test]
async fn after_a_lag_rooms_that_cannot_be_listed_are_answered_internal() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks.session_check_gives(Ok(Some(ada())));
    mocks
        .rooms
        .expect_rooms_of()
        .times(1)
        .returning(|_| Err(adapter_failure()));
    let mut client = mocks.connect().await;

    client.hear(Err(SubscriptionError::Lagged { missed: 7 }));

    client.expect_error("internal").await;
    client.round_trip().await;
}

#[actix_web::test]
async fn after_a_lag_rooms_no_longer_listed_are_left_and_new_ones_followed() {
    let random = room("random");
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(vec![standing(&general(), 1, 1)]);
    mocks.reading_gives(&general(), 1, Ok(nothing_after(1)));
    mocks.session_check_gives(Ok(Some(ada())));
    // Among what the lag lost: she left `general` and joined `random`.
    let listed = vec![standing(&random, 0, 0)];
    mocks
        .rooms
        .expect_rooms_of()
        .times(1)
        .return_once(move |_| Ok(listed));
    mocks.reading_gives(&random, 0, Ok(nothing_after(0)));
    // And left `random` too before its presence was read: no list for it.
    mocks
        .rooms
        .expect_membership()
        .times(1)
        .returning(|_, _| Err(RoomAccessError::NotMember));
    let mut client = mocks.connect().await;
    client.expect("joined").await;

    client.hear(Err(SubscriptionError::Lagged { missed: 7 }));

    let left = client.expect("left").await;
    assert_eq!(left["room"], "general", "{left}");
    let joined = client.expect("joined").await;
    assert_eq!(joined["room"], "random", "{joined}");
    client.round_trip().await;
}

#[actix_web::test]
async fn after_a_lag_presence_that_cannot_be_read_is_answered_internal() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(vec![standing(&general(), 1, 1)]);
    mocks.reading_gives(&general(), 1, Ok(nothing_after(1)));
    mocks.session_check_gives(Ok(Some(ada())));
    mocks
        .rooms
        .expect_rooms_of()
        .times(1)
        .returning(|_| Ok(vec![standing(&general(), 1, 1)]));
    mocks.reading_gives(&general(), 1, Ok(nothing_after(1)));
    mocks
        .rooms
        .expect_membership()
        .times(1)
        .returning(|_, _| Err(RoomAccessError::Adapter(adapter_failure())));
    let mut client = mocks.connect().await;
    client.expect("joined").await;

    client.hear(Err(SubscriptionError::Lagged { missed: 7 }));

    client.expect_error("internal").await;
    client.round_trip().await;
}

#[actix_web::test]
async fn a_client_that_breaks_the_framing_is_closed_with_1002() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks.ada_disconnects();
    let mut client = mocks.connect().await;

    // A server's codec: the frame goes out unmasked, which no client may send.
    let mut unmasked = BytesMut::new();
    Codec::new()
        .encode(
            Message::Text(json!({"type": "ping"}).to_string().into()),
            &mut unmasked,
        )
        .unwrap();
    client.send_bytes(unmasked.freeze());

    assert_eq!(client.closed().await, close(1002, "protocol error"));
}

#[actix_web::test]
async fn a_client_whose_stream_ends_without_a_close_frame_is_let_go() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    mocks.ada_disconnects();
    let mut client = mocks.connect().await;

    client.stop_sending();

    assert_eq!(
        client.closed().await,
        None,
        "a bare close: there is nothing to answer"
    );
    assert!(client.next_frame().await.is_none(), "and nothing after it");
}

#[actix_web::test]
async fn a_pong_the_client_sends_on_its_own_is_taken_without_an_answer() {
    let mut mocks = Mocks::new();
    mocks.ada_connects_in(Vec::new());
    let mut client = mocks.connect().await;

    client.send(Message::Pong(Bytes::from_static(b"unsolicited")));

    client.round_trip().await;
}

#[actix_web::test]
async fn a_client_that_keeps_sending_over_its_budget_text_or_binary_is_closed_with_4008() {
    let mut mocks = Mocks::new();
    mocks.ws_settings(WsSettings {
        // One frame an hour: the second is over it, whenever the test runs.
        message_rate: Budget {
            burst: std::num::NonZeroU32::MIN,
            period: Duration::from_secs(3600),
        },
        ..WsSettings::default()
    });
    mocks.ada_connects_in(Vec::new());
    mocks.ada_disconnects();
    let mut client = mocks.connect().await;

    client.send_json(&json!({"type": "ping"}));
    // A binary frame spends the budget as a text frame does.
    client.send(Message::Binary(Bytes::from_static(b"\x00")));
    client.send_json(&json!({"type": "ping"}));

    client.expect("pong").await;
    client.expect_error("rate_limited").await;
    assert_eq!(client.closed().await, close(4008, "rate limit"));
}

#[actix_web::test]
async fn a_client_that_vanishes_while_its_queue_is_full_is_let_go_before_the_grace_runs_out() {
    // The paused clock: a wait in the test ends only once every task is idle, so the
    // test knows the connection is stuck on its full outbox before the client vanishes.
    tokio::time::pause();
    let mut mocks = Mocks::new();
    mocks.ws_settings(WsSettings {
        send_queue: 1,
        limits_enabled: false,
        ..WsSettings::default()
    });
    mocks.ada_connects_in(Vec::new());
    let (closed, mut unregistered) = mpsc::unbounded_channel();
    mocks
        .presence
        .expect_unregister()
        .times(1)
        .returning(move |_, _| {
            let _ = closed.send(());
            Ok(false)
        });
    let mut client = mocks.connect().await;

    // More pongs are owed than the outbox and the batch the body has taken hold
    // together, and the client reads none of them.
    for _ in 0..64 {
        client.send_json(&json!({"type": "ping"}));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    client.vanish();

    // Well within the 5 s a full queue is given to make room.
    let let_go = tokio::time::timeout(Duration::from_secs(3), unregistered.recv()).await;
    assert!(
        matches!(let_go, Ok(Some(()))),
        "the connection was not let go when its client vanished"
    );
}

#[actix_web::test]
async fn a_frame_far_over_the_limit_breaks_the_framing_and_closes_with_1009() {
    let mut mocks = Mocks::new();
    mocks.ws_settings(WsSettings {
        // The codec reads frames of up to four times this.
        max_frame_bytes: 64,
        limits_enabled: false,
        ..WsSettings::default()
    });
    mocks.ada_connects_in(Vec::new());
    mocks.ada_disconnects();
    let mut client = mocks.connect().await;

    client.send(Message::Text("x".repeat(1024).into()));

    assert_eq!(client.closed().await, close(1009, "frame too large"));
}

#[actix_web::test]
async fn a_registry_that_cannot_mark_a_quiet_connection_idle_does_not_end_it() {
    // The paused clock: the heartbeat comes as soon as nothing else can happen.
    tokio::time::pause();
    let mut mocks = Mocks::new();
    mocks.ws_settings(WsSettings {
        heartbeat_interval: Duration::from_secs(1),
        limits_enabled: false,
        ..WsSettings::default()
    });
    mocks.ada_connects_in(Vec::new());
    mocks
        .presence
        .expect_set_state()
        .withf(|user, _, state| *user == ADA && *state == domain::PresenceState::Idle)
        .times(1)
        .returning(|_, _, _| Err(adapter_failure()));
    mocks
        .presence
        .expect_set_state()
        .withf(|_, _, state| *state == domain::PresenceState::Active)
        .times(1)
        .returning(|_, _, _| Ok(()));
    let mut client = mocks.connect().await;

    // Silent for an interval: marked idle (which fails), and pinged all the same.
    let ping = client.next_frame().await;
    assert!(matches!(ping, Some(Frame::Ping(_))), "got {ping:?}");

    // Heard again: active, and served.
    client.round_trip().await;
}

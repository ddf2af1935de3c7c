//! One WebSocket's framing, with no task of its own.
//!
//! The connection's task ([`super::connection`]) encodes each frame it sends straight
//! into an outbox, and the upgrade's response body hands everything the outbox holds, in
//! one piece, to whatever writes the socket (the edge's transfer,
//! `crate::edge::upgraded`, or actix-http's dispatcher). It decodes what the client sent
//! from the upgrade request's payload. Both ends run on the worker thread that owns the
//! socket, so they share the outbox through an `Rc<RefCell<_>>` and wake each other with
//! wakers: a batch of frames costs one wake-up, from the connection's task to the
//! socket's, and an idle connection holds no channel and no task beyond its own.
//!
//! The outbox is bounded by a count of frames ([`super::WsSettings::send_queue`]); the
//! close frame alone goes in past the bound, since nothing follows it. Whoever writes
//! the socket asks the body for more only once it has written what it was given, so a
//! connection holds at most its outbox and one batch. Nothing is held
//! while a connection is idle: the outbox's bytes are handed over whole, not split off a
//! buffer that would keep its allocation, and the read buffer is let go as soon as every
//! frame in it is decoded.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::poll_fn;
use std::io;
use std::mem;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use actix_codec::Decoder as _;
use actix_http::body::{BodySize, MessageBody};
use actix_http::ws::{CloseReason, Codec, Frame, HandshakeError, Item, OpCode, Parser};
use actix_web::dev::Payload;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use bytestring::ByteString;
use futures_util::Stream;

pub use actix_http::ws::ProtocolError;

/// The sizes one connection's framing is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Frames the outbox holds before a send waits for the client to read.
    pub send_queue: usize,
    /// The largest message taken from the client, in one frame or in fragments; beyond
    /// it the framing is broken ([`ProtocolError::Overflow`]).
    pub max_message_bytes: usize,
}

/// A frame the connection sends, other than the close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A frame of the protocol; its text is shared with other connections when it is a
    /// carried message's.
    Text(ByteString),
    /// A heartbeat ping.
    Ping,
    /// The answer to a client's ping.
    Pong(Bytes),
}

/// A message from the client, its fragments joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A text message.
    Text(ByteString),
    /// A binary message.
    Binary(Bytes),
    /// A ping, to be answered.
    Ping(Bytes),
    /// The answer to a ping.
    Pong(Bytes),
    /// The client closes.
    Close(Option<CloseReason>),
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The outbox is full: the client reads slower than frames are sent.
    Full,
    /// Nothing more goes out: the socket is gone, or the close frame was queued.
    Closed,
}

/// What both ends share.
#[derive(Debug, Default)]
struct Shared {
    /// Encoded frames the body has not taken yet.
    encoded: BytesMut,
    /// How many frames `encoded` holds.
    frames: usize,
    /// The close frame was queued: nothing is queued after it, and the body ends once
    /// it has handed it over.
    closed: bool,
    /// The connection's ends were dropped: the body ends once it has handed over what
    /// they queued.
    connection_gone: bool,
    /// The body was dropped: the socket is gone.
    body_gone: bool,
    /// The body, waiting for frames.
    body: Option<Waker>,
    /// The connection, waiting for room in the outbox.
    room: Option<Waker>,
    /// The connection, waiting for the client's next message.
    reader: Option<Waker>,
}

impl Shared {
    fn encode(&mut self, frame: &Outbound) {
        let (payload, opcode): (&[u8], OpCode) = match frame {
            Outbound::Text(text) => (text.as_bytes(), OpCode::Text),
            Outbound::Ping => (b"", OpCode::Ping),
            Outbound::Pong(bytes) => (bytes, OpCode::Pong),
        };
        Parser::write_message(&mut self.encoded, payload, opcode, true, false);
        self.frames += 1;
        wake(&mut self.body);
    }

    fn close(&mut self, reason: Option<CloseReason>) {
        if self.closed || self.body_gone {
            return;
        }
        Parser::write_close(&mut self.encoded, reason, false);
        self.closed = true;
        wake(&mut self.body);
    }
}

fn wake(waiting: &mut Option<Waker>) {
    if let Some(waker) = waiting.take() {
        waker.wake();
    }
}

fn wait(waiting: &mut Option<Waker>, cx: &Context<'_>) {
    match waiting {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *waiting = Some(cx.waker().clone()),
    }
}

/// Answers a WebSocket handshake: the `101` response, whose body writes what
/// [`Outgoing`] queues, and the connection's two ends. `Err` when `request` is not a
/// handshake.
///
/// # Errors
///
/// What is wrong with the handshake.
pub fn open(
    request: &HttpRequest,
    payload: Payload,
    limits: Limits,
) -> Result<(HttpResponse, Outgoing, Incoming), HandshakeError> {
    let mut response = actix_http::ws::handshake(request.head())?;
    let shared = Rc::new(RefCell::new(Shared::default()));
    let response = response
        .body(OutgoingBody(Rc::clone(&shared)))
        .map_into_boxed_body();
    let outgoing = Outgoing {
        shared: Rc::clone(&shared),
        capacity: limits.send_queue.max(1),
    };
    let incoming = Incoming {
        payload,
        shared,
        buffer: BytesMut::new(),
        codec: Codec::new().max_size(limits.max_message_bytes),
        fragments: None,
        max_message_bytes: limits.max_message_bytes,
        ended: false,
    };
    Ok((HttpResponse::from(response), outgoing, incoming))
}

/// The connection's sending end.
#[derive(Debug)]
pub struct Outgoing {
    shared: Rc<RefCell<Shared>>,
    capacity: usize,
}

impl Outgoing {
    /// Queues `frame` if the outbox has room for it.
    ///
    /// # Errors
    ///
    /// [`Refused::Full`] when the outbox is full, [`Refused::Closed`] when nothing more
    /// goes out.
    pub fn try_send(&self, frame: &Outbound) -> Result<(), Refused> {
        let mut shared = self.shared.borrow_mut();
        if shared.closed || shared.body_gone {
            return Err(Refused::Closed);
        }
        if shared.frames >= self.capacity {
            return Err(Refused::Full);
        }
        shared.encode(frame);
        Ok(())
    }

    /// Queues `frame`, waiting for as long as the outbox is full.
    ///
    /// # Errors
    ///
    /// [`Refused::Closed`] when nothing more goes out.
    pub async fn send(&self, frame: &Outbound) -> Result<(), Refused> {
        poll_fn(|cx| match self.try_send(frame) {
            Err(Refused::Full) => {
                let mut shared = self.shared.borrow_mut();
                wait(&mut shared.room, cx);
                Poll::Pending
            }
            sent => Poll::Ready(sent),
        })
        .await
    }

    /// Queues the close frame behind what is queued: the body ends once the client has
    /// been handed it. Nothing can be sent after it.
    pub fn close(&self, reason: Option<CloseReason>) {
        self.shared.borrow_mut().close(reason);
    }

    /// Queues the close frame in place of whatever is queued, for a client that does
    /// not read what it is sent.
    pub fn close_discarding(&self, reason: Option<CloseReason>) {
        let mut shared = self.shared.borrow_mut();
        if !shared.closed {
            shared.encoded = BytesMut::new();
            shared.frames = 0;
        }
        shared.close(reason);
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        shared.connection_gone = true;
        wake(&mut shared.body);
    }
}

/// The `101` response's body: the frames [`Outgoing`] queued, all of them at each
/// poll.
#[derive(Debug)]
struct OutgoingBody(Rc<RefCell<Shared>>);

impl MessageBody for OutgoingBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        let mut shared = self.0.borrow_mut();
        if !shared.encoded.is_empty() {
            shared.frames = 0;
            wake(&mut shared.room);
            return Poll::Ready(Some(Ok(mem::take(&mut shared.encoded).freeze())));
        }
        if shared.closed || shared.connection_gone {
            return Poll::Ready(None);
        }
        wait(&mut shared.body, cx);
        Poll::Pending
    }
}

impl Drop for OutgoingBody {
    fn drop(&mut self) {
        let mut shared = self.0.borrow_mut();
        shared.body_gone = true;
        wake(&mut shared.room);
        wake(&mut shared.reader);
    }
}

/// The connection's receiving end: the client's messages, decoded from the upgrade
/// request's payload.
pub struct Incoming {
    payload: Payload,
    shared: Rc<RefCell<Shared>>,
    /// Bytes read and not decoded yet: part of a frame.
    buffer: BytesMut,
    codec: Codec,
    /// A fragmented message being received: whether it is text, and its bytes so far.
    fragments: Option<(bool, BytesMut)>,
    max_message_bytes: usize,
    ended: bool,
}

impl Incoming {
    /// The client's next message; `None` once the client has gone, or the socket has.
    /// After an error, the framing cannot be trusted: the stream has ended.
    pub async fn recv(&mut self) -> Option<Result<Inbound, ProtocolError>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Inbound, ProtocolError>>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match self.decode() {
                Ok(None) => {}
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Err(error) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(error)));
                }
            }
            if self.shared.borrow().body_gone {
                self.ended = true;
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if self.buffer.is_empty() {
                        self.buffer = BytesMut::from(chunk);
                    } else {
                        self.buffer.extend_from_slice(&chunk);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(ProtocolError::Io(io::Error::other(error)))));
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    wait(&mut self.shared.borrow_mut().reader, cx);
                    return Poll::Pending;
                }
            }
        }
    }

    /// The next whole message among the bytes read, if they hold one.
    fn decode(&mut self) -> Result<Option<Inbound>, ProtocolError> {
        let message = loop {
            let Some(frame) = self.codec.decode(&mut self.buffer)? else {
                break None;
            };
            let message = match frame {
                Frame::Text(bytes) => Inbound::Text(text(bytes)?),
                Frame::Binary(bytes) => Inbound::Binary(bytes),
                Frame::Ping(bytes) => Inbound::Ping(bytes),
                Frame::Pong(bytes) => Inbound::Pong(bytes),
                Frame::Close(reason) => Inbound::Close(reason),
                Frame::Continuation(item) => match self.fragment(item)? {
                    Some(message) => message,
                    None => continue,
                },
            };
            break Some(message);
        };
        if self.buffer.is_empty() {
            // Let the read's allocation go with the last frame decoded from it.
            self.buffer = BytesMut::new();
        }
        Ok(message)
    }

    /// Adds a fragment to the message being received; the message once it is whole.
    fn fragment(&mut self, item: Item) -> Result<Option<Inbound>, ProtocolError> {
        let ((is_text, mut joined), bytes, last) = match item {
            Item::FirstText(bytes) => ((true, BytesMut::new()), bytes, false),
            Item::FirstBinary(bytes) => ((false, BytesMut::new()), bytes, false),
            // The codec refuses a continuation with no first fragment before it.
            Item::Continue(bytes) => (self.fragments.take().unwrap_or_default(), bytes, false),
            Item::Last(bytes) => (self.fragments.take().unwrap_or_default(), bytes, true),
        };
        if joined.len() + bytes.len() > self.max_message_bytes {
            return Err(ProtocolError::Overflow);
        }
        joined.extend_from_slice(&bytes);
        if !last {
            self.fragments = Some((is_text, joined));
            return Ok(None);
        }
        let joined = joined.freeze();
        Ok(Some(if is_text {
            Inbound::Text(text(joined)?)
        } else {
            Inbound::Binary(joined)
        }))
    }
}

/// A text message's bytes, which must be UTF-8.
fn text(bytes: Bytes) -> Result<ByteString, ProtocolError> {
    ByteString::try_from(bytes)
        .map_err(|error| ProtocolError::Io(io::Error::new(io::ErrorKind::InvalidData, error)))
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use actix_codec::Encoder as _;
    use actix_http::ws::{CloseCode, Message};
    use actix_web::body::BoxBody;
    use actix_web::error::PayloadError;
    use actix_web::test::TestRequest;
    use futures_util::FutureExt as _;
    use tokio::sync::mpsc;

    use super::*;

    const LIMITS: Limits = Limits {
        send_queue: 2,
        max_message_bytes: 16,
    };

    /// The client's side: what it sends goes into the upgrade's payload.
    struct Client {
        payload: mpsc::UnboundedSender<Result<Bytes, PayloadError>>,
        /// Its codec remembers a fragmented message being sent.
        codec: Codec,
    }

    impl Client {
        /// Sends `message` masked, as a client does, in one chunk.
        fn send(&mut self, message: Message) {
            let mut encoded = BytesMut::new();
            self.codec.encode(message, &mut encoded).unwrap();
            self.send_bytes(encoded.freeze());
        }

        fn send_bytes(&self, bytes: Bytes) {
            self.payload.send(Ok(bytes)).unwrap();
        }
    }

    /// A connection opened with `limits`: the response's body (what the client reads),
    /// its two ends, and the client.
    fn connection(limits: Limits) -> (BoxBody, Outgoing, Incoming, Client) {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let payload = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let payload = Payload::Stream {
            payload: Box::pin(payload) as actix_http::BoxedPayloadStream,
        };
        let (response, outgoing, incoming) = open(
            &crate::tests::websocket_handshake().to_http_request(),
            payload,
            limits,
        )
        .unwrap();
        assert_eq!(
            response.status(),
            actix_web::http::StatusCode::SWITCHING_PROTOCOLS
        );
        let client = Client {
            payload: sender,
            codec: Codec::new().client_mode(),
        };
        (response.into_body(), outgoing, incoming, client)
    }

    /// One poll of the body: the bytes it hands over, if it has any now.
    fn poll_body(body: &mut BoxBody) -> Poll<Option<Bytes>> {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        Pin::new(body)
            .poll_next(&mut cx)
            .map(|chunk| chunk.map(|bytes| bytes.unwrap()))
    }

    /// The frames the body hands over at one poll.
    fn taken(body: &mut BoxBody) -> Poll<Option<Vec<Frame>>> {
        poll_body(body).map(|chunk| chunk.map(|bytes| frames(&bytes)))
    }

    /// The frames in `bytes`, decoded as the client does.
    fn frames(bytes: &Bytes) -> Vec<Frame> {
        let mut codec = Codec::new().client_mode();
        let mut buffer = BytesMut::from(&bytes[..]);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buffer).unwrap() {
            frames.push(frame);
        }
        assert!(buffer.is_empty(), "the bytes hold whole frames only");
        frames
    }

    fn text(text: &'static str) -> Outbound {
        Outbound::Text(ByteString::from_static(text))
    }

    fn reason(code: u16, description: &str) -> Option<CloseReason> {
        Some(CloseReason {
            code: CloseCode::from(code),
            description: Some(description.to_owned()),
        })
    }

    #[test]
    fn a_waiting_end_is_woken_through_the_waker_it_last_waited_with() {
        let (first, first_waker) = crate::tests::counted();
        let (second, second_waker) = crate::tests::counted();
        let mut waiting = None;
        wait(&mut waiting, &Context::from_waker(&first_waker));
        wait(&mut waiting, &Context::from_waker(&first_waker));
        wait(&mut waiting, &Context::from_waker(&second_waker));
        wake(&mut waiting);
        wake(&mut waiting);
        assert_eq!(
            (first.count(), second.count()),
            (0, 1),
            "woken once, the latest"
        );
    }

    #[test]
    fn a_request_that_is_not_a_handshake_is_refused() {
        let request = TestRequest::get().to_http_request();
        let opened = open(&request, Payload::None, LIMITS);
        assert!(matches!(opened, Err(HandshakeError::NoWebsocketUpgrade)));
    }

    #[test]
    fn queued_frames_are_handed_over_in_one_piece_then_the_body_waits() {
        let (mut body, outgoing, _incoming, _client) = connection(Limits {
            send_queue: 8,
            ..LIMITS
        });
        assert!(poll_body(&mut body).is_pending(), "nothing queued yet");
        outgoing.try_send(&text("one")).unwrap();
        outgoing.try_send(&Outbound::Ping).unwrap();
        outgoing
            .try_send(&Outbound::Pong(Bytes::from_static(b"beat")))
            .unwrap();
        assert_eq!(
            taken(&mut body),
            Poll::Ready(Some(vec![
                Frame::Text(Bytes::from_static(b"one")),
                Frame::Ping(Bytes::new()),
                Frame::Pong(Bytes::from_static(b"beat")),
            ]))
        );
        assert!(poll_body(&mut body).is_pending());
    }

    #[tokio::test]
    async fn a_full_outbox_refuses_and_a_send_waits_until_the_body_takes_what_it_holds() {
        let (mut body, outgoing, _incoming, _client) = connection(LIMITS);
        outgoing.try_send(&text("one")).unwrap();
        outgoing.try_send(&text("two")).unwrap();
        assert_eq!(outgoing.try_send(&text("three")), Err(Refused::Full));

        let third = text("three");
        let mut waiting = pin!(outgoing.send(&third));
        assert!(waiting.as_mut().now_or_never().is_none(), "the send waits");
        let two = matches!(taken(&mut body), Poll::Ready(Some(frames)) if frames.len() == 2);
        assert!(two, "the body takes the two frames");
        assert_eq!(waiting.await, Ok(()), "the outbox has room again");
        assert_eq!(
            taken(&mut body),
            Poll::Ready(Some(vec![Frame::Text(Bytes::from_static(b"three"))]))
        );
    }

    #[test]
    fn the_close_goes_behind_what_is_queued_even_when_full_and_nothing_goes_after_it() {
        let (mut body, outgoing, _incoming, _client) = connection(LIMITS);
        outgoing.try_send(&text("one")).unwrap();
        outgoing.try_send(&text("two")).unwrap();
        outgoing.close(reason(1001, "server shutting down"));
        assert_eq!(outgoing.try_send(&text("late")), Err(Refused::Closed));
        outgoing.close(reason(1011, "a second close is not sent"));

        assert_eq!(
            taken(&mut body),
            Poll::Ready(Some(vec![
                Frame::Text(Bytes::from_static(b"one")),
                Frame::Text(Bytes::from_static(b"two")),
                Frame::Close(reason(1001, "server shutting down")),
            ]))
        );
        assert_eq!(poll_body(&mut body), Poll::Ready(None), "the body ends");
    }

    #[test]
    fn a_close_in_place_of_what_is_queued_is_all_the_client_is_handed() {
        let (mut body, outgoing, _incoming, _client) = connection(LIMITS);
        outgoing.try_send(&text("unread")).unwrap();
        outgoing.close_discarding(reason(4009, "slow consumer"));
        outgoing.close_discarding(reason(1011, "not a second one"));
        assert_eq!(
            taken(&mut body),
            Poll::Ready(Some(vec![Frame::Close(reason(4009, "slow consumer"))]))
        );
        assert_eq!(poll_body(&mut body), Poll::Ready(None));
    }

    #[test]
    fn a_connection_that_goes_without_a_close_ends_the_body_after_what_it_queued() {
        let (mut body, outgoing, incoming, _client) = connection(LIMITS);
        outgoing.try_send(&text("last words")).unwrap();
        drop((outgoing, incoming));
        assert_eq!(
            taken(&mut body),
            Poll::Ready(Some(vec![Frame::Text(Bytes::from_static(b"last words"))]))
        );
        assert_eq!(poll_body(&mut body), Poll::Ready(None));
    }

    #[tokio::test]
    async fn a_socket_that_is_gone_refuses_sends_and_ends_the_messages() {
        let (body, outgoing, mut incoming, _client) = connection(LIMITS);
        outgoing.try_send(&text("one")).unwrap();
        outgoing.try_send(&text("two")).unwrap();
        let third = text("three");
        let mut waiting_send = pin!(outgoing.send(&third));
        assert!(waiting_send.as_mut().now_or_never().is_none());
        let mut waiting_read = pin!(incoming.recv());
        assert!(waiting_read.as_mut().now_or_never().is_none());

        drop(body);
        assert_eq!(waiting_send.await, Err(Refused::Closed));
        assert!(waiting_read.await.is_none());
        assert_eq!(outgoing.try_send(&Outbound::Ping), Err(Refused::Closed));
        outgoing.close(reason(1000, "nobody to tell"));
    }

    #[tokio::test]
    async fn messages_come_whole_however_the_bytes_arrive() {
        let (_body, _outgoing, mut incoming, mut client) = connection(LIMITS);
        let mut encoded = BytesMut::new();
        let mut codec = Codec::new().client_mode();
        codec
            .encode(
                Message::Text(ByteString::from_static("héllo")),
                &mut encoded,
            )
            .unwrap();
        codec
            .encode(Message::Ping(Bytes::from_static(b"p")), &mut encoded)
            .unwrap();
        for byte in encoded.iter() {
            client.send_bytes(Bytes::copy_from_slice(&[*byte]));
        }
        client.send(Message::Pong(Bytes::from_static(b"q")));
        client.send(Message::Binary(Bytes::from_static(b"\x00\x01")));
        client.send(Message::Close(reason(1000, "bye")));

        let mut heard = Vec::new();
        for _ in 0..5 {
            heard.push(incoming.recv().await.unwrap().unwrap());
        }
        assert_eq!(
            heard,
            vec![
                Inbound::Text(ByteString::from_static("héllo")),
                Inbound::Ping(Bytes::from_static(b"p")),
                Inbound::Pong(Bytes::from_static(b"q")),
                Inbound::Binary(Bytes::from_static(b"\x00\x01")),
                Inbound::Close(reason(1000, "bye")),
            ]
        );
        assert_eq!(
            incoming.buffer.capacity(),
            0,
            "nothing is held between messages"
        );
    }

    #[tokio::test]
    async fn fragments_are_joined_into_one_message_with_control_frames_between_them() {
        let (_body, _outgoing, mut incoming, mut client) = connection(LIMITS);
        client.send(Message::Continuation(Item::FirstText(Bytes::from_static(
            b"he",
        ))));
        client.send(Message::Ping(Bytes::new()));
        client.send(Message::Continuation(Item::Continue(Bytes::from_static(
            b"ll",
        ))));
        client.send(Message::Continuation(Item::Last(Bytes::from_static(b"o"))));
        client.send(Message::Continuation(Item::FirstBinary(
            Bytes::from_static(b"\x01"),
        )));
        client.send(Message::Continuation(Item::Last(Bytes::from_static(
            b"\x02",
        ))));

        assert_eq!(
            incoming.recv().await.unwrap().unwrap(),
            Inbound::Ping(Bytes::new()),
            "a control frame may come between fragments"
        );
        assert_eq!(
            incoming.recv().await.unwrap().unwrap(),
            Inbound::Text(ByteString::from_static("hello"))
        );
        assert_eq!(
            incoming.recv().await.unwrap().unwrap(),
            Inbound::Binary(Bytes::from_static(b"\x01\x02"))
        );
    }

    #[tokio::test]
    async fn a_message_at_the_limit_in_fragments_is_taken_and_one_byte_over_breaks_the_framing() {
        let (_body, _outgoing, mut incoming, mut client) = connection(LIMITS);
        client.send(Message::Continuation(Item::FirstText(Bytes::from_static(
            b"0123456789",
        ))));
        client.send(Message::Continuation(Item::Last(Bytes::from_static(
            b"abcdef",
        ))));
        assert_eq!(
            incoming.recv().await.unwrap().unwrap(),
            Inbound::Text(ByteString::from_static("0123456789abcdef")),
            "16 bytes, the limit, in two fragments"
        );
        client.send(Message::Continuation(Item::FirstText(Bytes::from_static(
            b"0123456789abcdef",
        ))));
        client.send(Message::Continuation(Item::Last(Bytes::from_static(b"g"))));
        assert!(matches!(
            incoming.recv().await,
            Some(Err(ProtocolError::Overflow))
        ));
        assert!(incoming.recv().await.is_none(), "nothing is read after it");
    }

    #[tokio::test]
    async fn a_message_at_the_limit_is_taken_and_one_frame_over_it_breaks_the_framing() {
        let (_body, _outgoing, mut incoming, mut client) = connection(LIMITS);
        client.send(Message::Text(ByteString::from_static("0123456789abcdef")));
        client.send(Message::Text(ByteString::from_static("0123456789abcdefg")));
        assert!(matches!(incoming.recv().await, Some(Ok(Inbound::Text(text))) if text.len() == 16));
        assert!(matches!(
            incoming.recv().await,
            Some(Err(ProtocolError::Overflow))
        ));
    }

    #[tokio::test]
    async fn text_that_is_not_utf8_breaks_the_framing_whole_or_in_fragments() {
        for fragmented in [false, true] {
            let (_body, _outgoing, mut incoming, client) = connection(LIMITS);
            let mut encoded = BytesMut::new();
            let mut codec = Codec::new().client_mode();
            let invalid = Bytes::from_static(b"\xff\xfe");
            if fragmented {
                codec
                    .encode(
                        Message::Continuation(Item::FirstText(invalid)),
                        &mut encoded,
                    )
                    .unwrap();
                codec
                    .encode(
                        Message::Continuation(Item::Last(Bytes::new())),
                        &mut encoded,
                    )
                    .unwrap();
            } else {
                // The codec's own `Message::Text` takes UTF-8 only: the frame is built by hand.
                Parser::write_message(&mut encoded, &invalid, OpCode::Text, true, true);
            }
            client.send_bytes(encoded.freeze());
            match incoming.recv().await {
                Some(Err(ProtocolError::Io(error))) => {
                    assert_eq!(
                        error.kind(),
                        io::ErrorKind::InvalidData,
                        "fragmented: {fragmented}"
                    );
                }
                other => panic!("fragmented: {fragmented}: expected invalid data, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_failed_payload_is_an_error_and_an_ended_one_ends_the_messages() {
        let (_body, _outgoing, mut incoming, client) = connection(LIMITS);
        client
            .payload
            .send(Err(PayloadError::Io(io::ErrorKind::ConnectionReset.into())))
            .unwrap();
        assert!(matches!(
            incoming.recv().await,
            Some(Err(ProtocolError::Io(_)))
        ));
        assert!(incoming.recv().await.is_none());

        let (_body, _outgoing, mut incoming, mut client) = connection(LIMITS);
        client.send(Message::Text(ByteString::from_static("last")));
        drop(client);
        assert!(matches!(incoming.recv().await, Some(Ok(Inbound::Text(_)))));
        assert!(incoming.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_reader_waiting_for_the_client_is_woken_by_its_next_bytes() {
        let (_body, _outgoing, mut incoming, mut client) = connection(LIMITS);
        let mut waiting = pin!(incoming.recv());
        assert!(waiting.as_mut().now_or_never().is_none());
        client.send(Message::Text(ByteString::from_static("hi")));
        assert!(matches!(waiting.await, Some(Ok(Inbound::Text(text))) if text == "hi"));
    }
}

//! One client connection's I/O, as the HTTP/1 dispatcher sees it, with the deadlines and
//! the clean close that actix does not give:
//!
//! - **Every request head has a deadline.** actix times out the first request head of a
//!   connection only; a client could then trickle the head of its second request for
//!   ever. Here the bytes of every later head must arrive within the head timeout of the
//!   first one (the connection is closed otherwise).
//! - **Stalled writes have a deadline.** A client that stops reading its responses holds
//!   a connection and its buffers; after the write timeout without progress it is closed.
//! - **A refusal is the last thing written.** After a refused request (ambiguous framing,
//!   an over-limit body announced with `Expect`), actix would still serve requests the
//!   client pipelined behind it. [`ConnectionControl::refuse`] makes a response whose
//!   body, once its bytes have been flushed to the socket, ends the connection, before
//!   the dispatcher moves on to anything queued after it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::header::{self, HeaderValue};
use actix_http::{ConnectionType, Response, StatusCode};
use actix_web::web::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::PeerSlot;
use crate::error::{PROBLEM_JSON, Problem};

/// Where a connection is between requests; it decides which deadline applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the first request: actix's own head timer applies.
    Fresh,
    /// Between requests: actix's keep-alive timer applies until a byte arrives.
    Idle,
    /// A later request head is arriving: the head deadline applies.
    Head,
    /// The app has the request: the body deadline (a middleware) applies.
    InRequest,
    /// Switched protocols (a WebSocket): the session sets its own deadlines.
    Upgraded,
}

/// What the request side tells a connection's I/O, shared between the two through the
/// connection's data (`HttpRequest::conn_data`). One per connection, on one worker.
#[derive(Debug)]
pub struct ConnectionControl {
    phase: Cell<Phase>,
    refused: Cell<bool>,
    /// How many flushes have completed, every byte handed to the socket.
    flushes: Cell<u64>,
    /// The refusal body waiting for its bytes to be flushed.
    flush_waiter: RefCell<Option<Waker>>,
}

impl ConnectionControl {
    fn new() -> Self {
        Self {
            phase: Cell::new(Phase::Fresh),
            refused: Cell::new(false),
            flushes: Cell::new(0),
            flush_waiter: RefCell::new(None),
        }
    }

    /// A request head has been read and is handed to the app.
    pub fn request_started(&self) {
        if self.phase.get() != Phase::Upgraded {
            self.phase.set(Phase::InRequest);
        }
    }

    /// The app answered with `status`; the next bytes belong to the next request, unless
    /// the protocol was switched.
    pub fn request_finished(&self, status: StatusCode) {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            self.phase.set(Phase::Upgraded);
        } else if self.phase.get() != Phase::Upgraded {
            self.phase.set(Phase::Idle);
        }
    }

    /// Whether a refusal was made on this connection: nothing else is served on it.
    #[must_use]
    pub fn is_refused(&self) -> bool {
        self.refused.get()
    }

    /// The response refusing a request with `problem`; the connection ends as soon as
    /// it has been written. No further request bytes are read from then on.
    #[must_use]
    pub fn refuse(self: &Rc<Self>, problem: &Problem) -> Response<BoxBody> {
        self.refused.set(true);
        closing_problem(problem, |json| {
            BoxBody::new(RefusalBody {
                len: json.len() as u64,
                bytes: Some(json),
                control: Rc::clone(self),
                flushes_when_sent: None,
            })
        })
    }

    fn flushed(&self) {
        self.flushes.set(self.flushes.get() + 1);
        if let Some(waiter) = self.flush_waiter.borrow_mut().take() {
            waiter.wake();
        }
    }
}

/// `problem` as a response asking for its connection to be closed; `body` carries its
/// JSON.
pub(super) fn closing_problem(
    problem: &Problem,
    body: impl FnOnce(Bytes) -> BoxBody,
) -> Response<BoxBody> {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    let json = Bytes::from(serde_json::to_vec(problem).unwrap_or_default());
    let mut response = Response::with_body(status, body(json));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    response
}

/// Why a refused connection's dispatcher stops: the refusal has been written. The
/// dispatcher logs it as a "response payload stream error"; telemetry knows it by this
/// name and keeps it out of the error log.
#[derive(Debug)]
pub struct ClosedAfterRefusal;

impl fmt::Display for ClosedAfterRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection closed after a refusal")
    }
}

impl std::error::Error for ClosedAfterRefusal {}

/// The body of a refusal: its bytes, then, once they are flushed, an error that makes
/// the dispatcher drop the connection before it serves anything pipelined behind.
struct RefusalBody {
    bytes: Option<Bytes>,
    len: u64,
    control: Rc<ConnectionControl>,
    flushes_when_sent: Option<u64>,
}

impl MessageBody for RefusalBody {
    type Error = ClosedAfterRefusal;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if let Some(bytes) = this.bytes.take() {
            this.flushes_when_sent = Some(this.control.flushes.get());
            return Poll::Ready(Some(Ok(bytes)));
        }
        // A flush completed after the bytes were handed over: they are on the wire.
        if this.control.flushes.get() > this.flushes_when_sent.unwrap_or(0) {
            return Poll::Ready(Some(Err(ClosedAfterRefusal)));
        }
        *this.control.flush_waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A TCP connection with the edge's deadlines. It also holds the peer's connection slot,
/// given back when the connection is dropped.
pub struct Connection {
    stream: TcpStream,
    control: Rc<ConnectionControl>,
    head_timeout: Duration,
    head_deadline: Option<Pin<Box<Sleep>>>,
    write_timeout: Duration,
    write_deadline: Option<Pin<Box<Sleep>>>,
    write_stalled: bool,
    _slot: Option<PeerSlot>,
}

impl Connection {
    /// Wraps an accepted stream.
    #[must_use]
    pub fn new(
        stream: TcpStream,
        head_timeout: Duration,
        write_timeout: Duration,
        slot: Option<PeerSlot>,
    ) -> Self {
        Self {
            stream,
            control: Rc::new(ConnectionControl::new()),
            head_timeout,
            head_deadline: None,
            write_timeout,
            write_deadline: None,
            write_stalled: false,
            _slot: slot,
        }
    }

    /// The control the request side uses; stored in the connection's data.
    #[must_use]
    pub fn control(&self) -> Rc<ConnectionControl> {
        Rc::clone(&self.control)
    }
}

/// Sets `slot` to fire at `at`, reusing its timer.
fn arm(slot: &mut Option<Pin<Box<Sleep>>>, at: Instant) {
    match slot {
        Some(sleep) => sleep.as_mut().reset(at),
        None => *slot = Some(Box::pin(tokio::time::sleep_until(at))),
    }
}

fn timed_out(what: &'static str) -> Poll<io::Result<()>> {
    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.control.refused.get() {
            // Nothing more is read: whatever follows a refused request is not served.
            // The refusal's flush wakes the dispatcher.
            return Poll::Pending;
        }
        let phase = self.control.phase.get();
        if phase == Phase::Head
            && let Some(deadline) = self.head_deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            tracing::debug!("request head not received in time; connection closed");
            return timed_out("the request head did not arrive in time");
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let outcome = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(outcome, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && phase == Phase::Idle
        {
            this.control.phase.set(Phase::Head);
            arm(&mut this.head_deadline, Instant::now() + this.head_timeout);
        }
        outcome
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Pending => {
                if !this.write_stalled {
                    this.write_stalled = true;
                    arm(
                        &mut this.write_deadline,
                        Instant::now() + this.write_timeout,
                    );
                }
                match this
                    .write_deadline
                    .as_mut()
                    .map(|deadline| deadline.as_mut().poll(cx))
                {
                    Some(Poll::Ready(())) => {
                        tracing::debug!("client stopped reading its response; connection closed");
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client did not read its response in time",
                        )))
                    }
                    _ => Poll::Pending,
                }
            }
            written => {
                this.write_stalled = false;
                written
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.stream).poll_flush(cx);
        if matches!(outcome, Poll::Ready(Ok(()))) {
            self.control.flushed();
        }
        outcome
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The server's and the client's side of a fresh loopback connection, for the edge's
/// tests on real sockets.
#[cfg(test)]
pub(super) async fn loopback_pair() -> (TcpStream, TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_moves_between_requests_and_stays_upgraded_once_switched() {
        let control = ConnectionControl::new();
        control.request_started();
        assert_eq!(control.phase.get(), Phase::InRequest);
        control.request_finished(StatusCode::OK);
        assert_eq!(
            control.phase.get(),
            Phase::Idle,
            "the next bytes are a head"
        );
        control.request_started();
        control.request_finished(StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(control.phase.get(), Phase::Upgraded);
        // Nothing after the switch is HTTP again: no head deadline ever applies.
        control.request_started();
        control.request_finished(StatusCode::OK);
        assert_eq!(control.phase.get(), Phase::Upgraded);
    }

    #[test]
    fn a_refusal_is_written_whole_then_ends_its_connection_once_flushed() {
        use futures_util::FutureExt as _;

        let control = Rc::new(ConnectionControl::new());
        assert!(!control.is_refused());
        let problem = crate::error::ApiError::PayloadTooLarge(16).problem();
        let response = control.refuse(&problem);
        assert!(
            control.is_refused(),
            "nothing more is served on the connection"
        );
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.head().connection_type(), ConnectionType::Close);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );

        let mut body = response.into_body();
        let mut cx = Context::from_waker(Waker::noop());
        let json = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx))
            .now_or_never()
            .flatten()
            .and_then(Result::ok)
            .expect("the problem document comes first");
        let written: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(written["code"], "payload_too_large");
        assert!(
            Pin::new(&mut body).poll_next(&mut cx).is_pending(),
            "the connection stays until the bytes are flushed"
        );
        control.flushed();
        let last = Pin::new(&mut body).poll_next(&mut cx);
        assert!(
            matches!(last, Poll::Ready(Some(Err(_)))),
            "once flushed, the body ends the connection"
        );
    }

    /// A connection wrapping the server's side of a fresh loopback socket, and the
    /// client's side.
    async fn connected(head_timeout: Duration, write_timeout: Duration) -> (Connection, TcpStream) {
        let (server, client) = loopback_pair().await;
        (
            Connection::new(server, head_timeout, write_timeout, None),
            client,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_request_head_that_stalls_is_cut_off_at_the_head_deadline() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut connection, mut client) =
            connected(Duration::from_secs(5), Duration::from_secs(30)).await;
        connection.control().request_started();
        connection.control().request_finished(StatusCode::OK);
        client.write_all(b"GET / HT").await.unwrap();
        let mut head = [0_u8; 64];
        let read = connection.read(&mut head).await.unwrap();
        assert_eq!(
            &head[..read],
            b"GET / HT",
            "the first bytes start the clock"
        );
        tokio::time::advance(Duration::from_secs(4)).await;
        client.write_all(b"TP/1.1").await.unwrap();
        let read = connection.read(&mut head).await.unwrap();
        assert_eq!(
            &head[..read],
            b"TP/1.1",
            "within the deadline the head goes on"
        );

        let stalled = connection.read(&mut head).await;
        assert_eq!(
            stalled.map_err(|error| error.kind()),
            Err(io::ErrorKind::TimedOut)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_or_a_websocket_may_take_longer_than_a_head() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        for phase in [Phase::InRequest, Phase::Upgraded] {
            let (mut connection, mut client) =
                connected(Duration::from_secs(5), Duration::from_secs(30)).await;
            connection.control.phase.set(phase);
            client.write_all(b"some").await.unwrap();
            let mut buffer = [0_u8; 64];
            let read = connection.read(&mut buffer).await.unwrap();
            assert_eq!(&buffer[..read], b"some");
            // Three head deadlines later, the connection still just waits for bytes.
            let waiting =
                tokio::time::timeout(Duration::from_secs(15), connection.read(&mut buffer));
            assert!(
                waiting.await.is_err(),
                "{phase:?}: no head deadline applies"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_nobody_reads_is_cut_off_at_the_write_deadline() {
        use tokio::io::AsyncWriteExt as _;
        let (mut connection, _client) =
            connected(Duration::from_secs(5), Duration::from_secs(30)).await;
        // The client reads nothing: the socket's buffers fill, then the deadline runs.
        let started = Instant::now();
        let chunk = vec![0_u8; 64 * 1024];
        let outcome = loop {
            if let Err(error) = connection.write(&chunk).await {
                break error.kind();
            }
        };
        assert_eq!(outcome, io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() >= Duration::from_secs(30),
            "not before the deadline"
        );
    }

    #[tokio::test]
    async fn a_flush_is_counted_and_a_shutdown_ends_the_clients_reads() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut connection, mut client) =
            connected(Duration::from_secs(5), Duration::from_secs(30)).await;
        connection.write_all(b"answer").await.unwrap();
        connection.flush().await.unwrap();
        assert_eq!(
            connection.control.flushes.get(),
            1,
            "a refusal waits on this count"
        );
        connection.shutdown().await.unwrap();
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"answer");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_refusal_nothing_more_is_read() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut connection, mut client) =
            connected(Duration::from_secs(5), Duration::from_secs(30)).await;
        let mut buffer = [0_u8; 64];
        client.write_all(b"first").await.unwrap();
        let read = connection.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..read], b"first");

        let _ = connection
            .control()
            .refuse(&crate::error::ApiError::PayloadTooLarge(16).problem());
        client
            .write_all(b"GET /next HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        // On the paused clock the timeout fires only once nothing else can happen: the
        // bytes are there, and the connection does not read them.
        let pipelined = tokio::time::timeout(Duration::from_secs(1), connection.read(&mut buffer));
        assert!(
            pipelined.await.is_err(),
            "pipelined bytes after a refusal are never read"
        );
    }

    #[test]
    fn the_end_after_a_refusal_is_known_by_the_name_telemetry_looks_for() {
        // actix logs a body's error with `{:?}`; src/telemetry.rs keeps that line out of
        // the error log by this name.
        assert_eq!(format!("{ClosedAfterRefusal:?}"), "ClosedAfterRefusal");
        assert_eq!(
            ClosedAfterRefusal.to_string(),
            "connection closed after a refusal"
        );
    }
}

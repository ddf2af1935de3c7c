//! Upgraded connections, taken over from actix-http's HTTP/1 dispatcher.
//!
//! The dispatcher keeps an 8 KiB read buffer and an 8 KiB write buffer for a
//! connection's whole life, sized for HTTP traffic. A WebSocket is mostly idle, and its
//! frames are small: kept by the dispatcher, 10,000 idle sockets held 160 MiB of buffers
//! that were empty. So a request to switch protocols (`Upgrade: websocket`) is handed
//! here instead, with the connection: the app still answers it (routing, middleware,
//! authentication, the upgrade handler), and then [`Transfer`] writes the answer and,
//! after a `101`, carries bytes both ways with no buffer held between them: a read
//! lands in a chunk of its own size that the request's payload takes, and each
//! outgoing frame is written from the bytes the session encoded.
//!
//! Any other answer to such a request (a refusal, or a path that is not a WebSocket)
//! is written whole and the connection closed: the connection cannot go back to the
//! dispatcher once taken.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use actix_codec::{Encoder as _, Framed};
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::h1::{Codec, Message};
use actix_http::{ConnectionType, Payload, Request, Response, StatusCode};
use actix_service::Service;
use actix_web::web::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::connection::Connection;

/// The most bytes one read takes from an upgraded socket. It lives on the stack during
/// the read; only what arrived is kept.
const READ_CHUNK: usize = 4096;

/// Answers `request`, which asked to switch protocols, through `app`, then serves the
/// connection for as long as the switched protocol lasts.
///
/// Never fails: how a connection ended is logged here, and actix logs an upgrade's
/// error at `ERROR`, which a client closing its socket is not.
pub async fn take_over<S, B>(
    app: Rc<S>,
    request: Request,
    framed: Framed<Connection, Codec>,
) -> Result<(), Infallible>
where
    S: Service<Request, Response = Response<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let inbound = Rc::new(RefCell::new(Inbound::default()));
    let (request, _) = request.replace_payload(Payload::Stream {
        payload: Box::pin(InboundStream(Rc::clone(&inbound))) as actix_http::BoxedPayloadStream,
    });
    // Boxed so that the app's future, done with after the answer, does not add its size
    // to every open connection's.
    let response = Box::pin(app.call(request)).await.map_or_else(
        |error| Response::from(error.error_response()), // coverage: excluded: actix-web's App answers every error itself
        Response::map_into_boxed_body,
    );
    let actix_codec::FramedParts {
        io,
        mut codec,
        read_buf,
        write_buf,
        ..
    } = framed.into_parts();
    // The dispatcher's buffers: nothing is left to write, and the bytes read behind the
    // request head are moved out below. Dropped here, they are not held for the
    // connection's life.
    drop(write_buf);
    let (mut head, body) = response.into_parts();
    let switched = head.status() == StatusCode::SWITCHING_PROTOCOLS;
    if !switched {
        head.head_mut().set_connection_type(ConnectionType::Close);
    }
    let mut encoded = BytesMut::new();
    if let Err(error) = codec.encode(Message::Item((head, body.size())), &mut encoded) {
        // coverage: excluded-begin: the HTTP/1 codec writes a head into memory that grows
        tracing::debug!(%error, "the answer to an upgrade request could not be encoded");
        return Ok(()); // coverage: excluded-end
    }
    let feed = if switched {
        // Bytes the client sent right behind its handshake, already read.
        let mut feed = Feed(inbound);
        if !read_buf.is_empty() {
            feed.push(Bytes::copy_from_slice(&read_buf));
        }
        Some(feed)
    } else {
        None
    };
    drop(read_buf);
    Transfer {
        io,
        codec,
        pending: encoded.freeze(),
        body: Some(body),
        framed_body: !switched,
        feed,
    }
    .await;
    Ok(())
}

/// An answer being written on a taken-over connection and, after a `101`, the bytes
/// flowing both ways.
struct Transfer {
    io: Connection,
    codec: Codec,
    /// Bytes handed out by the body, not written yet.
    pending: Bytes,
    /// `None` once the body has ended.
    body: Option<BoxBody>,
    /// The body is HTTP's, framed by the codec (content length or close-delimited);
    /// otherwise it is the switched protocol's own bytes, written as they are.
    framed_body: bool,
    /// Where read bytes go; `None` once reading has stopped.
    feed: Option<Feed>,
}

impl Future for Transfer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut().poll_transfer(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(error)) => {
                tracing::debug!(%error, "an upgraded connection ended");
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Transfer {
    fn poll_transfer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let wrote = self.poll_write_out(cx)?;
            if self.pending.is_empty() && self.body.is_none() {
                // Everything is written: the answer, or the protocol's closing frame.
                return Pin::new(&mut self.io).poll_shutdown(cx);
            }
            let read = self.poll_read_in(cx)?;
            if !wrote && !read {
                return Poll::Pending;
            }
        }
    }

    /// Takes what the body has ready, writes it, and goes on until either waits.
    /// Whether anything moved.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let mut moved = false;
        loop {
            // An HTTP answer is gathered whole behind its head, so it leaves in one write
            // (clients that read the head of a refused handshake take the body that came
            // with it). A switched protocol's bytes go as they come: the socket's outbox
            // (`ws::socket`) hands over every frame it holds at once. The body is asked
            // for more only once what it gave is written: that is what bounds the
            // outbox's memory to itself and one batch.
            while let Some(body) = self.body.as_mut() {
                if !self.pending.is_empty() && !self.framed_body {
                    break;
                }
                match Pin::new(body).poll_next(cx) {
                    Poll::Ready(Some(Ok(bytes))) => self.append(Message::Chunk(Some(bytes)))?,
                    // coverage: excluded-begin: a refusal's body is made whole, a socket's frames are encoded in memory
                    Poll::Ready(Some(Err(error))) => {
                        return Err(io::Error::other(error.to_string()));
                    } // coverage: excluded-end
                    Poll::Ready(None) => {
                        self.body = None;
                        self.append(Message::Chunk(None))?;
                    }
                    Poll::Pending => break,
                }
                moved = true;
            }
            if self.pending.is_empty() {
                return Ok(moved);
            }
            while !self.pending.is_empty() {
                match Pin::new(&mut self.io).poll_write(cx, &self.pending) {
                    Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()), // coverage: excluded: a socket write returns zero only for an empty buffer, which is never written
                    Poll::Ready(Ok(written)) => {
                        let _ = self.pending.split_to(written);
                        moved = true;
                    }
                    Poll::Ready(Err(error)) => return Err(error),
                    Poll::Pending => return Ok(moved),
                }
            }
            // The connection counts flushes: a refusal's body waits for its bytes to be
            // on the wire before it ends the connection. (A socket's flush is never
            // pending: it has nothing of its own to write.)
            let _flushed: Poll<()> = Pin::new(&mut self.io).poll_flush(cx)?;
        }
    }

    /// Puts a piece of the body behind what is pending.
    fn append(&mut self, piece: Message<(Response<()>, BodySize)>) -> io::Result<()> {
        let bytes = match piece {
            Message::Chunk(Some(bytes)) if !self.framed_body => bytes,
            Message::Chunk(None) if !self.framed_body => return Ok(()),
            piece => {
                let mut encoded = BytesMut::new();
                self.codec.encode(piece, &mut encoded)?;
                encoded.freeze()
            }
        };
        self.pending = if self.pending.is_empty() {
            bytes
        } else {
            let mut joined = BytesMut::with_capacity(self.pending.len() + bytes.len());
            joined.extend_from_slice(&self.pending);
            joined.extend_from_slice(&bytes);
            joined.freeze()
        };
        Ok(())
    }

    /// Reads once if the request's payload wants bytes. Whether anything moved.
    fn poll_read_in(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let Some(feed) = self.feed.as_mut() else {
            return Ok(false);
        };
        match feed.wants(cx) {
            Wants::More => {}
            Wants::Wait => return Ok(false),
            Wants::Gone => {
                // The session stopped reading; what the client still sends is not read.
                self.feed = None;
                return Ok(false);
            }
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                if let Some(feed) = self.feed.take() {
                    feed.end(End::Closed);
                }
                Ok(true)
            }
            Poll::Ready(Ok(())) => {
                feed.push(Bytes::copy_from_slice(buf.filled()));
                Ok(true)
            }
            Poll::Ready(Err(error)) => {
                if let Some(feed) = self.feed.take() {
                    feed.end(End::Failed(error.kind()));
                }
                Err(error)
            }
            Poll::Pending => Ok(false),
        }
    }
}

/// How the bytes of an upgraded connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed its side.
    Closed,
    /// Reading failed.
    Failed(io::ErrorKind),
    /// The connection is gone without either: the transfer ended first.
    Dropped,
}

/// What passes from the connection to the request's payload: at most one chunk at a
/// time, so a session that stops reading stops the socket being read too.
#[derive(Debug, Default)]
struct Inbound {
    chunk: Option<Bytes>,
    end: Option<End>,
    /// The payload's reader, waiting for a chunk.
    reader: Option<Waker>,
    /// The transfer, waiting for the chunk to be taken.
    transfer: Option<Waker>,
}

/// Whether the payload wants bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wants {
    More,
    Wait,
    Gone,
}

/// The transfer's side of [`Inbound`]; dropped, it ends the payload.
struct Feed(Rc<RefCell<Inbound>>);

impl Feed {
    fn wants(&self, cx: &mut Context<'_>) -> Wants {
        if Rc::strong_count(&self.0) == 1 {
            return Wants::Gone;
        }
        let mut inbound = self.0.borrow_mut();
        if inbound.chunk.is_some() {
            inbound.transfer = Some(cx.waker().clone());
            Wants::Wait
        } else {
            Wants::More
        }
    }

    fn push(&mut self, chunk: Bytes) {
        let mut inbound = self.0.borrow_mut();
        inbound.chunk = Some(chunk);
        if let Some(reader) = inbound.reader.take() {
            reader.wake();
        }
    }

    fn end(self, end: End) {
        self.0.borrow_mut().end = Some(end);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let mut inbound = self.0.borrow_mut();
        inbound.end.get_or_insert(End::Dropped);
        if let Some(reader) = inbound.reader.take() {
            reader.wake();
        }
    }
}

/// The payload's side of [`Inbound`]: the request body of an upgraded request.
struct InboundStream(Rc<RefCell<Inbound>>);

impl Stream for InboundStream {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut inbound = self.0.borrow_mut();
        if let Some(chunk) = inbound.chunk.take() {
            if let Some(transfer) = inbound.transfer.take() {
                transfer.wake();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        match inbound.end.take() {
            Some(End::Closed) => Poll::Ready(None),
            Some(end @ (End::Failed(_) | End::Dropped)) => {
                // Said once; the stream has ended after it.
                inbound.end = Some(End::Closed);
                let kind = match end {
                    End::Failed(kind) => kind,
                    _ => io::ErrorKind::ConnectionAborted,
                };
                Poll::Ready(Some(Err(PayloadError::Io(kind.into()))))
            }
            None => {
                inbound.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for InboundStream {
    fn drop(&mut self) {
        // The transfer learns at its next poll that nobody reads any more.
        if let Some(transfer) = self.0.borrow_mut().transfer.take() {
            transfer.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;
    use crate::tests::counted;

    fn pair() -> (Feed, InboundStream) {
        let inbound = Rc::new(RefCell::new(Inbound::default()));
        (Feed(Rc::clone(&inbound)), InboundStream(inbound))
    }

    #[test]
    fn the_feed_holds_one_chunk_until_the_reader_takes_it() {
        let (mut feed, mut stream) = pair();
        let (transfer, waker) = counted();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(feed.wants(&mut cx), Wants::More);
        feed.push(Bytes::from_static(b"one"));
        assert_eq!(feed.wants(&mut cx), Wants::Wait, "a second chunk waits");

        let (_, reader) = counted();
        let mut reader_cx = Context::from_waker(&reader);
        let taken = Pin::new(&mut stream).poll_next(&mut reader_cx);
        assert!(matches!(taken, Poll::Ready(Some(Ok(ref bytes))) if bytes == "one"));
        assert_eq!(transfer.count(), 1, "taking the chunk wakes the transfer");
        assert_eq!(feed.wants(&mut cx), Wants::More);
    }

    #[test]
    fn a_reader_waiting_for_bytes_is_woken_by_the_next_chunk() {
        let (mut feed, mut stream) = pair();
        let (reader, waker) = counted();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
        feed.push(Bytes::from_static(b"frame"));
        assert_eq!(reader.count(), 1);
    }

    #[tokio::test]
    async fn a_closed_connection_ends_the_payload_after_its_last_chunk() {
        let (mut feed, mut stream) = pair();
        feed.push(Bytes::from_static(b"last"));
        feed.end(End::Closed);
        assert_eq!(stream.next().await.unwrap().unwrap(), "last");
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_failed_read_is_the_payloads_error_once_then_its_end() {
        let (feed, mut stream) = pair();
        feed.end(End::Failed(io::ErrorKind::ConnectionReset));
        match stream.next().await {
            Some(Err(PayloadError::Io(error))) => {
                assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
            }
            other => panic!("expected the read's error, got {other:?}"),
        }
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_transfer_that_ends_first_aborts_a_waiting_reader() {
        let (feed, mut stream) = pair();
        let (reader, waker) = counted();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
        drop(feed);
        assert_eq!(reader.count(), 1, "the waiting reader is woken");
        match stream.next().await {
            Some(Err(PayloadError::Io(error))) => {
                assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
            }
            other => panic!("expected an abort, got {other:?}"),
        }
    }

    #[test]
    fn a_dropped_reader_is_gone_for_the_feed_and_wakes_it() {
        let (mut feed, stream) = pair();
        let (transfer, waker) = counted();
        let mut cx = Context::from_waker(&waker);
        feed.push(Bytes::from_static(b"unread"));
        assert_eq!(feed.wants(&mut cx), Wants::Wait);
        drop(stream);
        assert_eq!(transfer.count(), 1);
        assert_eq!(feed.wants(&mut cx), Wants::Gone);
    }
}

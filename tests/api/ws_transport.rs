//! The transport of upgraded connections, below the WebSocket protocol: once the server
//! has taken a connection over from its HTTP/1 dispatcher, bytes must still arrive
//! however the client chunks them, and every way a client can end the connection must
//! end the session behind it. A raw TCP client shows what a WebSocket library hides.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Credentials, TestApp, spawn_app, spawn_app_with};

/// A guard against a hang, never a way to let something happen.
const DEADLINE: Duration = Duration::from_secs(10);

/// The handshake of `/ws` for `access_token`, as a client writes it.
fn handshake(host: &str, access_token: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {access_token}\r\n\r\n"
    )
}

/// `text` as a client's text frame: masked, as RFC 6455 requires of clients.
fn client_text_frame(text: &str) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let payload = text.as_bytes();
    let mut frame = vec![0x81];
    match payload.len() {
        short @ 0..=125 => frame.push(0x80 | u8::try_from(short).unwrap()),
        medium => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(medium).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(
        payload
            .iter()
            .zip(mask.iter().cycle())
            .map(|(byte, key)| byte ^ key),
    );
    frame
}

/// A raw connection to the app.
async fn raw_connection(app: &TestApp) -> (TcpStream, String) {
    let host = app.address.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&host).await.expect("connect");
    (stream, host)
}

/// A raw socket upgraded for `access_token`, `then` written in the handshake's packet.
async fn upgraded(app: &TestApp, access_token: &str, then: &[u8]) -> TcpStream {
    let (mut stream, host) = raw_connection(app).await;
    let mut packet = handshake(&host, access_token).into_bytes();
    packet.extend_from_slice(then);
    stream.write_all(&packet).await.expect("one write");
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// The client frame joining "general".
fn join_general() -> Vec<u8> {
    client_text_frame(&json!({"type": "join", "room": "general"}).to_string())
}

/// Reads an HTTP head, byte by byte so that nothing after it is consumed.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(
            tokio::time::timeout(DEADLINE, stream.read_u8())
                .await
                .expect("the head within the deadline")
                .expect("the head"),
        );
    }
    String::from_utf8(head).expect("a textual head")
}

/// Reads one server frame (unmasked, unfragmented): its opcode and payload.
async fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    tokio::time::timeout(DEADLINE, async {
        let first = stream.read_u8().await?;
        let length = match stream.read_u8().await? & 0x7f {
            126 => u64::from(stream.read_u16().await?),
            127 => stream.read_u64().await?,
            short => u64::from(short),
        };
        let mut payload = vec![0; usize::try_from(length).unwrap()];
        stream.read_exact(&mut payload).await?;
        std::io::Result::Ok((first & 0x0f, payload))
    })
    .await
    .expect("a frame within the deadline")
    .expect("a frame")
}

/// Reads server frames until a text frame of `kind`.
async fn next_of(stream: &mut TcpStream, kind: &str) -> Value {
    loop {
        let (opcode, payload) = read_frame(stream).await;
        if opcode == 0x1 {
            let frame: Value = serde_json::from_slice(&payload).expect("a JSON frame");
            if frame["type"] == kind {
                return frame;
            }
        }
    }
}

#[tokio::test]
async fn a_frame_sent_in_the_same_packet_as_the_handshake_is_read() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let mut stream = upgraded(&app, &tokens.access, &join_general()).await;
    let joined = next_of(&mut stream, "joined").await;
    assert_eq!(joined["room"], "general");
}

#[tokio::test]
async fn a_frame_trickled_a_byte_at_a_time_is_read_whole() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let mut stream = upgraded(&app, &tokens.access, &[]).await;
    stream.set_nodelay(true).expect("nodelay");
    for byte in join_general() {
        stream.write_all(&[byte]).await.expect("one byte");
        stream.flush().await.expect("flushed");
    }
    let joined = next_of(&mut stream, "joined").await;
    assert_eq!(joined["room"], "general");
}

#[tokio::test]
async fn a_member_whose_client_closes_its_side_without_a_close_frame_is_announced_gone() {
    let app = spawn_app().await;
    let (_, ada_tokens) = app.signed_in_user().await;
    let mut ada = app.connect(&ada_tokens.access).await;
    ada.join("general").await;
    let (grace, grace_tokens) = app.signed_in_user().await;
    app.join_room(&grace_tokens.access, "general").await;
    let mut stream = upgraded(&app, &grace_tokens.access, &[]).await;
    next_of(&mut stream, "joined").await;
    let came = ada.next_of("presence_join").await;
    assert_eq!(came["user"]["id"], grace.id.as_str());

    // The end of Grace's bytes, and nothing else: no close frame.
    stream.shutdown().await.expect("write side closed");
    let left = ada.next_of("presence_leave").await;
    assert_eq!(left["user"]["id"], grace.id.as_str());
}

#[tokio::test]
async fn a_connection_reset_by_its_client_gives_back_the_users_connection_slot() {
    let app = spawn_app_with(&[("WS_MAX_CONNECTIONS_PER_USER", "1")]).await;
    let (_, tokens) = app.signed_in_user().await;
    let stream = upgraded(&app, &tokens.access, &[]).await;
    assert!(
        app.try_connect(Credentials::Bearer(&tokens.access))
            .await
            .is_err(),
        "the one slot is taken"
    );

    // A linger of zero makes the close a reset (RST), as a crashed client's would be.
    stream.set_zero_linger().expect("linger");
    drop(stream);
    let reopened = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(socket) = app.try_connect(Credentials::Bearer(&tokens.access)).await {
                return socket;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(reopened.is_ok(), "the slot came back after the reset");
}

#[tokio::test]
async fn an_upgrade_request_for_a_plain_route_is_answered_and_the_connection_closed() {
    let app = spawn_app().await;
    let (mut stream, host) = raw_connection(&app).await;
    let request = format!(
        "GET /health/live HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("request");

    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("the connection ends within the deadline")
        .expect("the answer");
    let answer = String::from_utf8(answer).expect("a textual answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).expect("the JSON answer, whole");
    assert_eq!(body["status"], "ok", "{body}");
}

#[tokio::test]
async fn a_websocket_client_that_stops_reading_is_cut_off_by_the_write_deadline() {
    // A send queue far deeper than the backlog, so the slow-consumer close (4009) cannot
    // come first: only the edge's write deadline can end this connection.
    let app = spawn_app_with(&[
        ("WS_SEND_QUEUE", "10000"),
        ("MESSAGE_MAX_BYTES", "1048576"),
        ("HTTP_WRITE_TIMEOUT", "1s"),
    ])
    .await;
    let (_, ada_tokens) = app.signed_in_user().await;
    let (_, grace_tokens) = app.signed_in_user().await;
    app.join_room(&grace_tokens.access, "general").await;
    app.join_room(&ada_tokens.access, "general").await;
    // 30 MB: far more than the socket buffers on both sides hold. Grace publishes
    // before she connects, and acknowledges it all: her own socket, which this test
    // does not read while it publishes, is owed nothing.
    let big = "x".repeat(200 * 1024);
    const MESSAGES: usize = 150;
    let mut last = 0;
    for _ in 0..MESSAGES {
        last = app.say(&grace_tokens.access, "general", &big).await["seq"]
            .as_u64()
            .expect("a seq");
    }
    app.acknowledge(&grace_tokens.access, "general", last).await;
    let mut grace = app.connect(&grace_tokens.access).await;
    grace.expect("joined").await;

    // Ada's client takes the upgrade, then reads nothing while her replay is written.
    let _stalled = upgraded(&app, &ada_tokens.access, &[]).await;
    grace.next_of("presence_join").await;
    grace.next_of("presence_leave").await;

    // Her slot came back and nothing was acknowledged: all of it is still owed.
    let mut ada = app.connect(&ada_tokens.access).await;
    ada.expect("joined").await;
    assert_eq!(ada.messages(MESSAGES).await.len(), MESSAGES);
}

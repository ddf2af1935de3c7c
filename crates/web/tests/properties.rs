//! Properties of what clients can reach directly: the WebSocket framing, the protocol's
//! frame decoder and the problem-document mapping. Any input gives a value or a clean
//! error (never a panic), what was sent comes back as it was sent however the bytes
//! arrive, and every error becomes a complete problem document that carries nothing
//! internal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use actix_web::ResponseError as _;
use actix_web::http::Method;
use domain::{MessageBody, MessageId, RoomName, Seq};
use portico_web::error::{ApiError, FieldError};
use portico_web::ws::protocol::{ClientFrame, ServerFrame, decode};
use portico_web::ws::socket::{self, Inbound, Incoming};
use proptest::prelude::*;
use proptest::strategy::LazyJust;
use serde_json::{Map, Value, json};

/// The codes the decoder may answer with (SPEC §5).
const DECODE_CODES: [&str; 4] = ["bad_request", "unknown_type", "invalid_room", "too_large"];

/// The byte limit the decoder runs under in these properties.
const MAX_BODY: usize = 64;

/// A JSON value of any shape, small enough to stay fast.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A JSON object shaped like a frame: the protocol's own keys, each with any value,
/// and sometimes a key the protocol does not know.
fn frame_like() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type"),
        Just("room"),
        Just("body"),
        Just("id"),
        Just("since"),
        Just("seq"),
        Just("access_token"),
        Just("extra"),
    ];
    let value = prop_oneof![
        any_json(),
        prop_oneof![
            Just("join"),
            Just("leave"),
            Just("publish"),
            Just("ack"),
            Just("ping"),
            Just("presence"),
            Just("auth"),
        ]
        .prop_map(|kind| json!(kind)),
        "[a-z0-9_-]{0,70}".prop_map(Value::String),
        any::<u64>().prop_map(|n| json!(n)),
    ];
    proptest::collection::vec((key, value), 0..6).prop_map(|pairs| {
        let object: Map<String, Value> = pairs
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        Value::Object(object)
    })
}

fn room_name() -> impl Strategy<Value = RoomName> {
    "[a-z0-9_-]{1,64}".prop_map(|raw| RoomName::parse(&raw).unwrap())
}

/// A valid client frame and the JSON a client would send for it.
fn valid_frame() -> impl Strategy<Value = (ClientFrame, Value)> {
    let body =
        "[ -~]{0,40}[!-~][ -~]{0,20}".prop_map(|raw| MessageBody::parse(&raw, MAX_BODY).unwrap());
    let id = proptest::option::of("[ -~]{1,40}".prop_map(|raw| MessageId::parse(&raw).unwrap()));
    prop_oneof![
        (room_name(), proptest::option::of(any::<u64>())).prop_map(|(room, since)| {
            let mut json = json!({"type": "join", "room": room.as_ref()});
            if let Some(since) = since {
                json["since"] = json!(since);
            }
            (
                ClientFrame::Join {
                    room,
                    since: since.map(Seq::new),
                },
                json,
            )
        }),
        room_name().prop_map(|room| {
            let json = json!({"type": "leave", "room": room.as_ref()});
            (ClientFrame::Leave { room }, json)
        }),
        (room_name(), body, id).prop_map(|(room, body, id)| {
            let mut json = json!({"type": "publish", "room": room.as_ref(), "body": body.as_ref()});
            if let Some(id) = &id {
                json["id"] = json!(id.as_ref());
            }
            (ClientFrame::Publish { room, body, id }, json)
        }),
        (room_name(), any::<u64>()).prop_map(|(room, seq)| {
            let json = json!({"type": "ack", "room": room.as_ref(), "seq": seq});
            (
                ClientFrame::Ack {
                    room,
                    seq: Seq::new(seq),
                },
                json,
            )
        }),
        Just((ClientFrame::Ping, json!({"type": "ping"}))),
        room_name().prop_map(|room| {
            let json = json!({"type": "presence", "room": room.as_ref()});
            (ClientFrame::Presence { room }, json)
        }),
        ".{0,80}".prop_map(|token| {
            let json = json!({"type": "auth", "access_token": token});
            (
                ClientFrame::Auth {
                    access_token: token,
                },
                json,
            )
        }),
    ]
}

/// Any error the HTTP side can answer with; `secret` stands for an internal message.
fn any_api_error() -> impl Strategy<Value = ApiError> {
    let text = ".{0,30}";
    prop_oneof![
        text.prop_map(ApiError::MalformedRequest),
        LazyJust::new(|| ApiError::MissingToken),
        LazyJust::new(|| ApiError::InvalidToken("the access token is invalid")),
        LazyJust::new(|| ApiError::InvalidCredentials),
        LazyJust::new(|| ApiError::InvalidRefreshToken),
        LazyJust::new(|| ApiError::CorsRejected),
        LazyJust::new(|| ApiError::NotMember),
        LazyJust::new(|| ApiError::NotFound),
        LazyJust::new(|| ApiError::RoomNotFound),
        LazyJust::new(|| ApiError::SessionNotFound),
        proptest::sample::subsequence(vec![Method::GET, Method::POST, Method::DELETE], 1..=3)
            .prop_map(ApiError::MethodNotAllowed),
        (1_u64..600).prop_map(|seconds| ApiError::RequestTimeout(Duration::from_secs(seconds))),
        LazyJust::new(|| ApiError::EmailTaken),
        any::<usize>().prop_map(ApiError::PayloadTooLarge),
        LazyJust::new(|| ApiError::UnsupportedMediaType("application/json")),
        proptest::collection::vec((text, text), 1..4).prop_map(|fields| {
            ApiError::Validation(
                fields
                    .into_iter()
                    .map(|(field, message)| FieldError { field, message })
                    .collect(),
            )
        }),
        (0_u64..86_400).prop_map(ApiError::RateLimited),
        LazyJust::new(|| ApiError::NotReady),
        LazyJust::new(|| ApiError::Overloaded),
        "[a-z]{12}".prop_map(|secret| ApiError::internal(format!("SELECT secret-{secret}"))),
    ]
}

proptest! {
    #[test]
    fn any_text_decodes_to_a_frame_or_a_known_error(text in ".{0,200}") {
        if let Err(error) = decode(&text, MAX_BODY) {
            prop_assert!(DECODE_CODES.contains(&error.code), "{error:?}");
        }
    }

    #[test]
    fn any_json_decodes_to_a_frame_or_a_known_error(value in prop_oneof![any_json(), frame_like()]) {
        if let Err(error) = decode(&value.to_string(), MAX_BODY) {
            prop_assert!(DECODE_CODES.contains(&error.code), "{error:?}");
            // The error frame itself is always valid JSON of type `error`.
            let frame: Value = serde_json::from_str(&error.into_frame().to_text()).unwrap();
            prop_assert_eq!(&frame["type"], "error");
        }
    }

    #[test]
    fn a_valid_frame_decodes_to_what_was_sent((frame, json) in valid_frame()) {
        prop_assert_eq!(decode(&json.to_string(), MAX_BODY), Ok(frame));
    }

    #[test]
    fn an_error_frame_echoes_any_text_as_valid_json(
        message in ".{0,60}",
        reference in proptest::option::of(".{0,60}"),
    ) {
        let frame = ServerFrame::<Value>::Error {
            code: "bad_request",
            message: message.clone(),
            reference: reference.clone(),
        };
        let parsed: Value = serde_json::from_str(&frame.to_text()).unwrap();
        prop_assert_eq!(&parsed["message"], &json!(message));
        prop_assert_eq!(parsed.get("ref").cloned(), reference.map(Value::String));
    }

    #[test]
    fn every_error_is_a_complete_problem_document_that_leaks_nothing(error in any_api_error()) {
        let status = error.status_code();
        let problem = serde_json::to_value(error.problem()).unwrap();
        let response = error.error_response();

        prop_assert!(status.is_client_error() || status.is_server_error());
        prop_assert_eq!(response.status(), status);
        prop_assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
        prop_assert_eq!(&problem["status"], &json!(status.as_u16()));
        let code = problem["code"].as_str().unwrap();
        prop_assert_eq!(
            problem["type"].as_str().unwrap(),
            format!("urn:portico:problem:{code}")
        );
        prop_assert!(problem["title"].as_str().is_some_and(|title| !title.is_empty()));
        prop_assert!(problem["detail"].as_str().is_some_and(|detail| !detail.is_empty()));
        prop_assert!(!problem.to_string().contains("SELECT"), "{problem}");
        if status == 405 {
            prop_assert!(response.headers().contains_key("allow"));
        }
        if status == 429 {
            prop_assert!(response.headers().contains_key("retry-after"));
        }
        prop_assert_eq!(problem.get("errors").is_some(), code == "validation_failed");
    }
}

/// The framing's limits in these properties: small, so that the limit itself is reached.
const SOCKET_LIMITS: socket::Limits = socket::Limits {
    send_queue: 4,
    max_message_bytes: 256,
};

/// A socket whose client sent `chunks`, then closed its side: the `101` response (its
/// body, alive as long as the socket is), the sending end and the receiving end.
fn socket_fed(chunks: Vec<Vec<u8>>) -> (actix_web::HttpResponse, socket::Outgoing, Incoming) {
    use actix_web::test::TestRequest;

    let request = TestRequest::get()
        .insert_header(("upgrade", "websocket"))
        .insert_header(("connection", "upgrade"))
        .insert_header(("sec-websocket-version", "13"))
        .insert_header(("sec-websocket-key", "x3JJHMbDL1EzLkh9GBhXDw=="))
        .to_http_request();
    let chunks = chunks
        .into_iter()
        .map(|chunk| Ok(actix_web::web::Bytes::from(chunk)));
    let payload = actix_web::dev::Payload::Stream {
        payload: Box::pin(futures_util::stream::iter(chunks)) as actix_http::BoxedPayloadStream,
    };
    socket::open(&request, payload, SOCKET_LIMITS).unwrap()
}

/// Everything `incoming` yields until it ends: its messages, then the error it ended
/// with, if any.
fn drain(incoming: &mut Incoming) -> (Vec<Inbound>, Option<socket::ProtocolError>) {
    let mut messages = Vec::new();
    loop {
        match next(incoming) {
            Some(Ok(message)) => messages.push(message),
            Some(Err(error)) => return (messages, Some(error)),
            None => return (messages, None),
        }
    }
}

/// The next thing `incoming` yields; its payload is ready to its end, so it never waits.
fn next(incoming: &mut Incoming) -> Option<Result<Inbound, socket::ProtocolError>> {
    use futures_util::FutureExt as _;

    incoming
        .recv()
        .now_or_never()
        .expect("a ready payload never waits")
}

/// A message a client may send, and what the server hears of it.
fn client_message() -> impl Strategy<Value = (actix_http::ws::Message, Inbound)> {
    use actix_http::ws::Message;
    use actix_web::web::Bytes;
    use bytestring::ByteString;

    prop_oneof![
        ".{0,40}".prop_map(|text: String| {
            let text = ByteString::from(text);
            (Message::Text(text.clone()), Inbound::Text(text))
        }),
        proptest::collection::vec(any::<u8>(), 0..60).prop_map(|bytes| {
            let bytes = Bytes::from(bytes);
            (Message::Binary(bytes.clone()), Inbound::Binary(bytes))
        }),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|bytes| {
            let bytes = Bytes::from(bytes);
            (Message::Ping(bytes.clone()), Inbound::Ping(bytes))
        }),
    ]
}

proptest! {
    #[test]
    fn any_bytes_give_bounded_messages_then_an_end_or_one_error_never_a_panic(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..6),
    ) {
        let (_response, _outgoing, mut incoming) = socket_fed(chunks);
        let (messages, _) = drain(&mut incoming);
        for message in &messages {
            let size = match message {
                Inbound::Text(text) => text.len(),
                Inbound::Binary(bytes) => bytes.len(),
                _ => 0,
            };
            prop_assert!(size <= SOCKET_LIMITS.max_message_bytes, "{message:?}");
        }
        prop_assert!(next(&mut incoming).is_none(), "nothing is read after the end");
    }

    #[test]
    fn messages_come_back_as_sent_however_the_bytes_are_split(
        sent in proptest::collection::vec(client_message(), 1..6),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
    ) {
        use actix_codec::Encoder as _;

        let mut codec = actix_http::ws::Codec::new().client_mode();
        let mut encoded = actix_web::web::BytesMut::new();
        let mut expected = Vec::new();
        for (message, heard) in sent {
            codec.encode(message, &mut encoded).unwrap();
            expected.push(heard);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(encoded.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([encoded.len()]) {
            chunks.push(encoded[from..cut].to_vec());
            from = cut;
        }
        let (_response, _outgoing, mut incoming) = socket_fed(chunks);
        let (heard, error) = drain(&mut incoming);
        prop_assert!(error.is_none(), "{error:?}");
        prop_assert_eq!(heard, expected);
    }
}

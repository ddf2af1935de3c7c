//! The room endpoints: the JSON they answer, the query and bodies they take, and every
//! refusal (401, 403 `not_member`, 404 `room_not_found`, 422 with each bad field, 413,
//! 405) — each before the store is asked anything it need not be.

use actix_web::http::{Method, header};
use actix_web::test::TestRequest;
use domain::ports::{PresentUser, RoomAccessError, RoomEvent};
use domain::{
    HistoryPage, HistoryRequest, HistoryWindow, Message, MessageId, PageLimit, PresenceState,
    Published, Seq,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ADA, ADAPTER_SECRET, Mocks, NEXT_ID, ada, adapter_failure, as_ada};
use test_support::{GRACE, adas_message, general, grace, room, standing};

/// `method path` as Ada.
fn adas(method: Method, path: &str) -> TestRequest {
    as_ada(TestRequest::default().method(method).uri(path))
}

/// Ada publishes `body` (any JSON) to `path`.
fn adas_post(path: &str, body: &Value) -> TestRequest {
    as_ada(TestRequest::post().uri(path).set_json(body))
}

/// Message 4 of "general", as every member reads it.
fn fourth_message_json() -> Value {
    json!({
        "room": "general",
        "seq": 4,
        "id": "m4",
        "sender": {
            "id": "00000000-0000-0000-0000-000000000ada",
            "first_name": "Ada",
            "last_name": "Lovelace",
        },
        "body": "hello 4",
        "created_at": "2025-03-14T15:09:26Z",
    })
}

/// Every room route as Ada sends it to `room`, with a valid body where one is taken.
fn every_room_route(name: &str) -> [(TestRequest, String); 3] {
    [
        (
            adas(Method::GET, &format!("/rooms/{name}/messages")),
            format!("GET /rooms/{name}/messages"),
        ),
        (
            adas_post(&format!("/rooms/{name}/messages"), &json!({"body": "hi"})),
            format!("POST /rooms/{name}/messages"),
        ),
        (
            adas(Method::GET, &format!("/rooms/{name}/presence")),
            format!("GET /rooms/{name}/presence"),
        ),
    ]
}

/// The store answers any member-only question about "general" with `refusal`.
fn store_refuses(mocks: &mut Mocks, refusal: fn() -> RoomAccessError) {
    mocks
        .rooms
        .expect_history()
        .returning(move |_, _, _| Err(refusal()));
    mocks
        .rooms
        .expect_publish()
        .returning(move |_| Err(refusal()));
    mocks
        .rooms
        .expect_membership()
        .returning(move |_, _| Err(refusal()));
}

/// Nothing reaches the room store or the bus.
fn nothing_reaches_the_rooms(mocks: &mut Mocks) {
    mocks.rooms.expect_history().never();
    mocks.rooms.expect_publish().never();
    mocks.rooms.expect_membership().never();
    mocks.bus.expect_publish().never();
}

#[actix_web::test]
async fn ada_lists_her_rooms_with_last_seq_and_unread() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .rooms
        .expect_rooms_of()
        .withf(|user| *user == ADA)
        .times(1)
        .returning(|_| {
            Ok(vec![
                standing(&general(), 10, 4),
                standing(&room("random"), 0, 0),
            ])
        });

    let answer = mocks.send(adas(Method::GET, "/rooms")).await;

    answer.assert_status(200);
    assert_eq!(
        answer.json(),
        json!({"rooms": [
            {"room": "general", "last_seq": 10, "unread": 6},
            {"room": "random", "last_seq": 0, "unread": 0},
        ]})
    );
}

#[actix_web::test]
async fn every_room_route_asks_for_an_access_token() {
    for (method, path) in [
        (Method::GET, "/rooms"),
        (Method::GET, "/rooms/general/messages"),
        (Method::POST, "/rooms/general/messages"),
        (Method::GET, "/rooms/general/presence"),
    ] {
        let mut mocks = Mocks::new();
        nothing_reaches_the_rooms(&mut mocks);
        mocks.rooms.expect_rooms_of().never();

        let answer = mocks
            .send(
                TestRequest::default()
                    .method(method)
                    .uri(path)
                    .set_json(json!({"body": "hi"})),
            )
            .await;

        answer.assert_problem(401, "missing_token");
    }
}

#[actix_web::test]
async fn a_page_of_history_is_the_messages_as_members_see_them_with_has_more() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .rooms
        .expect_history()
        .withf(|room, reader, _| *room == general() && *reader == ADA)
        .times(1)
        .returning(|_, _, _| {
            Ok(HistoryPage {
                messages: vec![adas_message(4)],
                has_more: true,
            })
        });

    let answer = mocks
        .send(adas(Method::GET, "/rooms/general/messages"))
        .await;

    answer.assert_status(200);
    assert_eq!(
        answer.json(),
        json!({"messages": [fourth_message_json()], "has_more": true})
    );
}

#[actix_web::test]
async fn the_query_picks_the_page() {
    let limit = |n| PageLimit::new(n).unwrap();
    let cases = [
        ("", HistoryWindow::Latest, PageLimit::DEFAULT),
        (
            "?before=5&limit=2",
            HistoryWindow::Before(Seq::new(5)),
            limit(2),
        ),
        (
            "?after=3",
            HistoryWindow::After(Seq::new(3)),
            PageLimit::DEFAULT,
        ),
        (
            "?after=0&limit=200",
            HistoryWindow::After(Seq::ZERO),
            limit(200),
        ),
        ("?limit=1&unknown=ignored", HistoryWindow::Latest, limit(1)),
    ];
    for (query, window, limit) in cases {
        let mut mocks = Mocks::new();
        mocks.ada_is_authenticated();
        let expected = HistoryRequest { window, limit };
        mocks
            .rooms
            .expect_history()
            .withf(move |_, _, request| *request == expected)
            .times(1)
            .returning(|_, _, _| {
                Ok(HistoryPage {
                    messages: Vec::new(),
                    has_more: false,
                })
            });

        let answer = mocks
            .send(adas(
                Method::GET,
                &format!("/rooms/general/messages{query}"),
            ))
            .await;

        answer.assert_status(200);
        assert_eq!(answer.json(), json!({"messages": [], "has_more": false}));
    }
}

#[actix_web::test]
async fn a_bad_query_is_one_422_naming_every_bad_field_and_reads_nothing() {
    let range = "must be an integer from 0 to 18446744073709551615";
    let cases = [
        (
            "?limit=0",
            json!([{"field": "limit", "message": "must be between 1 and 200"}]),
        ),
        (
            "?limit=201",
            json!([{"field": "limit", "message": "must be between 1 and 200"}]),
        ),
        (
            "?before=soon",
            json!([{"field": "before", "message": range}]),
        ),
        ("?after=-1", json!([{"field": "after", "message": range}])),
        (
            "?before=9&after=2",
            json!([{"field": "before", "message": "give before or after, not both"}]),
        ),
        (
            "?before=x&after=y&limit=0",
            json!([
                {"field": "before", "message": range},
                {"field": "after", "message": range},
                {"field": "limit", "message": "must be between 1 and 200"},
            ]),
        ),
    ];
    for (query, errors) in cases {
        let mut mocks = Mocks::new();
        mocks.ada_is_authenticated();
        nothing_reaches_the_rooms(&mut mocks);

        let answer = mocks
            .send(adas(
                Method::GET,
                &format!("/rooms/general/messages{query}"),
            ))
            .await;

        let problem = answer.assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"], errors, "sent {query}");
    }
}

#[actix_web::test]
async fn a_limit_given_twice_is_refused_rather_than_one_of_them_guessed() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    nothing_reaches_the_rooms(&mut mocks);

    let answer = mocks
        .send(adas(Method::GET, "/rooms/general/messages?limit=1&limit=2"))
        .await;

    let problem = answer.assert_problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "limit", "{problem}");
}

#[actix_web::test]
async fn a_room_name_that_breaks_the_rule_is_a_422_about_the_room_on_every_route() {
    let too_long = "x".repeat(65);
    for (name, message) in [
        ("General", "may contain only a-z, 0-9, _ and -"),
        ("a.b", "may contain only a-z, 0-9, _ and -"),
        ("caf%C3%A9", "may contain only a-z, 0-9, _ and -"),
        (too_long.as_str(), "must be at most 64 characters"),
    ] {
        for (request, route) in every_room_route(name) {
            let mut mocks = Mocks::new();
            mocks.ada_is_authenticated();
            nothing_reaches_the_rooms(&mut mocks);

            let answer = mocks.send(request).await;

            let problem = answer.assert_problem(422, "validation_failed");
            assert_eq!(
                problem["errors"],
                json!([{"field": "room", "message": message}]),
                "{route}"
            );
        }
    }
}

#[actix_web::test]
async fn an_unknown_room_is_a_404_and_a_room_ada_is_not_in_a_403_on_every_route() {
    type Refusal = fn() -> RoomAccessError;
    let cases: [(Refusal, u16, &str); 2] = [
        (|| RoomAccessError::RoomNotFound, 404, "room_not_found"),
        (|| RoomAccessError::NotMember, 403, "not_member"),
    ];
    for (refusal, status, code) in cases {
        for (request, route) in every_room_route("general") {
            let mut mocks = Mocks::new();
            mocks.ada_is_authenticated();
            store_refuses(&mut mocks, refusal);
            mocks.rooms.expect_members().never();
            mocks.bus.expect_publish().never();

            let answer = mocks.send(request).await;

            let problem = answer.assert_problem(status, code);
            assert!(problem.get("errors").is_none(), "{route}: {problem}");
        }
    }
}

#[actix_web::test]
async fn a_store_failure_on_a_room_route_is_a_500_that_says_nothing_of_it() {
    for (request, route) in every_room_route("general") {
        let mut mocks = Mocks::new();
        mocks.ada_is_authenticated();
        store_refuses(&mut mocks, || RoomAccessError::Adapter(adapter_failure()));

        let answer = mocks.send(request).await;

        answer.assert_problem(500, "internal");
        assert!(!answer.text().contains(ADAPTER_SECRET), "{route}");
    }
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .rooms
        .expect_rooms_of()
        .returning(|_| Err(adapter_failure()));
    mocks
        .send(adas(Method::GET, "/rooms"))
        .await
        .assert_problem(500, "internal");
}

/// The store takes Ada's message to "general" and stores it as message 4 (or answers
/// message 4 as the original of a duplicate), once; its id is kept.
fn store_takes_adas_message(mocks: &mut Mocks, id: &'static str, duplicate: bool) {
    mocks
        .rooms
        .expect_publish()
        .withf(move |new| {
            new.room == general()
                && new.sender == ADA
                && new.id.as_ref() == id
                && new.body.as_ref() == "hello 4"
        })
        .times(1)
        .returning(move |new| {
            Ok(Published {
                message: Message {
                    id: new.id,
                    ..adas_message(4)
                },
                duplicate,
            })
        });
}

#[actix_web::test]
async fn a_published_message_is_a_201_with_the_stored_message_and_reaches_the_bus() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    store_takes_adas_message(&mut mocks, "m4", false);
    mocks
        .bus
        .expect_publish()
        .withf(|event| {
            matches!(
                event,
                RoomEvent::Published { room, seq, message: Some(message) }
                    if *room == general() && *seq == Seq::new(4) && message.seq == Seq::new(4)
            )
        })
        .times(1)
        .returning(|_| Ok(()));

    let answer = mocks
        .send(adas_post(
            "/rooms/general/messages",
            &json!({"body": "hello 4", "id": "m4"}),
        ))
        .await;

    answer.assert_status(201);
    assert_eq!(answer.json(), fourth_message_json());
}

#[actix_web::test]
async fn a_message_without_an_id_is_answered_with_the_one_assigned() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    let assigned = MessageId::from_uuid(NEXT_ID).to_string();
    let assigned: &'static str = Box::leak(assigned.into_boxed_str());
    store_takes_adas_message(&mut mocks, assigned, false);
    mocks.bus.expect_publish().times(1).returning(|_| Ok(()));

    let answer = mocks
        .send(adas_post(
            "/rooms/general/messages",
            &json!({"body": "hello 4", "id": null}),
        ))
        .await;

    answer.assert_status(201);
    assert_eq!(answer.json()["id"], assigned);
}

#[actix_web::test]
async fn a_repeated_id_is_a_201_with_the_original_and_is_not_broadcast_again() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    store_takes_adas_message(&mut mocks, "m4", true);
    mocks.bus.expect_publish().never();

    let answer = mocks
        .send(adas_post(
            "/rooms/general/messages",
            &json!({"body": "hello 4", "id": "m4"}),
        ))
        .await;

    answer.assert_status(201);
    assert_eq!(answer.json(), fourth_message_json());
}

#[actix_web::test]
async fn a_bad_message_is_one_422_naming_every_bad_field_and_stores_nothing() {
    let cases = [
        (
            json!({"body": "", "id": ""}),
            json!([
                {"field": "body", "message": "must not be empty"},
                {"field": "id", "message": "must not be empty"},
            ]),
        ),
        (
            json!({"body": "x".repeat(16_385)}),
            json!([{"field": "body", "message": "must be at most 16384 bytes"}]),
        ),
        (
            json!({"body": "a\u{0}b", "id": "x".repeat(129)}),
            json!([
                {"field": "body", "message": "must not contain NUL characters"},
                {"field": "id", "message": "must be at most 128 characters"},
            ]),
        ),
        (
            json!({"body": 42, "room": "general"}),
            json!([
                {"field": "body", "message": "must be a string"},
                {"field": "room", "message": "is not allowed"},
            ]),
        ),
        (
            json!({}),
            json!([{"field": "body", "message": "is required"}]),
        ),
    ];
    for (body, errors) in cases {
        let mut mocks = Mocks::new();
        mocks.ada_is_authenticated();
        nothing_reaches_the_rooms(&mut mocks);

        let answer = mocks
            .send(adas_post("/rooms/general/messages", &body))
            .await;

        let problem = answer.assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"], errors, "sent {body}");
    }
}

#[actix_web::test]
async fn a_message_of_the_largest_size_is_taken_however_its_json_escapes_it() {
    // 16 KiB of a control character: each byte is six in JSON (`\u0001`), far over the
    // 16 KiB body limit of other routes.
    let body = "\u{1}".repeat(16_384);
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .rooms
        .expect_publish()
        .withf(|new| new.body.as_ref().len() == 16_384)
        .times(1)
        .returning(|new| {
            Ok(Published {
                message: Message {
                    body: new.body,
                    ..adas_message(1)
                },
                duplicate: false,
            })
        });
    mocks.bus.expect_publish().times(1).returning(|_| Ok(()));

    let answer = mocks
        .send(adas_post("/rooms/general/messages", &json!({"body": body})))
        .await;

    answer.assert_status(201);

    // One byte past what such a message can need is a 413, as on every route.
    let mut mocks = Mocks::new();
    mocks
        .access_tokens
        .expect_verify()
        .returning(|_| Ok(test_support::adas_claims()));
    mocks
        .sessions
        .expect_find_live_user()
        .returning(|_, _, _| Ok(Some(ada())));
    nothing_reaches_the_rooms(&mut mocks);
    let oversized = format!(r#"{{"body":"{}"}}"#, "x".repeat(16_384 * 6 + 4_096));

    let answer = mocks
        .send(as_ada(
            TestRequest::post()
                .uri("/rooms/general/messages")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(oversized),
        ))
        .await;

    answer.assert_problem(413, "payload_too_large");
}

#[actix_web::test]
async fn presence_lists_the_connected_members_with_their_state() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .rooms
        .expect_membership()
        .times(1)
        .returning(|room, _| Ok(standing(room, 0, 0)));
    mocks
        .rooms
        .expect_members()
        .times(1)
        .returning(|_| Ok(vec![ADA, GRACE]));
    mocks
        .presence
        .expect_present_among()
        .times(1)
        .returning(|_| {
            Ok(vec![
                PresentUser {
                    user: ADA,
                    state: PresenceState::Active,
                },
                PresentUser {
                    user: GRACE,
                    state: PresenceState::Idle,
                },
            ])
        });
    mocks
        .users
        .expect_find_by_ids()
        .times(1)
        .returning(|_| Ok(vec![ada(), grace()]));

    let answer = mocks
        .send(adas(Method::GET, "/rooms/general/presence"))
        .await;

    answer.assert_status(200);
    assert_eq!(
        answer.json(),
        json!({"room": "general", "users": [
            {
                "id": "00000000-0000-0000-0000-000000000ada",
                "first_name": "Ada", "last_name": "Lovelace", "state": "active",
            },
            {
                "id": Uuid::from_u128(0x6ace).to_string(),
                "first_name": "Grace", "last_name": "Hopper", "state": "idle",
            },
        ]})
    );
}

#[actix_web::test]
async fn presence_with_nobody_connected_is_an_empty_list() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .rooms
        .expect_membership()
        .returning(|room, _| Ok(standing(room, 0, 0)));
    mocks.rooms.expect_members().returning(|_| Ok(vec![ADA]));
    mocks
        .presence
        .expect_present_among()
        .returning(|_| Ok(Vec::new()));

    let answer = mocks
        .send(adas(Method::GET, "/rooms/general/presence"))
        .await;

    answer.assert_status(200);
    assert_eq!(answer.json(), json!({"room": "general", "users": []}));
}

#[actix_web::test]
async fn a_room_route_called_with_another_method_is_a_405_listing_its_methods() {
    for (method, path, allowed) in [
        (Method::POST, "/rooms", "GET"),
        (Method::DELETE, "/rooms/general/messages", "GET, POST"),
        (Method::PUT, "/rooms/general/presence", "GET"),
    ] {
        let answer = Mocks::new()
            .send(TestRequest::default().method(method).uri(path))
            .await;

        answer.assert_problem(405, "method_not_allowed");
        assert_eq!(answer.header(header::ALLOW), Some(allowed), "{path}");
    }
}

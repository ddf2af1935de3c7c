//! Rooms over real HTTP on a real database: two members publish and read the same
//! history in `seq` order, page through it, count what they have not read, see who is
//! present; and every refusal answers as SPEC §3 says, storing nothing.
//!
//! Joining, leaving and acknowledging belong to the WebSocket: the stories do them over
//! a short-lived socket (`TestApp::join_room`, …); `websocket.rs` tells the socket's own
//! stories.

use serde_json::{Value, json};

use crate::helpers::{Registered, TestApp, Tokens, assert_problem, spawn_app, spawn_app_with};

/// Ada and Grace, signed in, both members of "general".
async fn ada_and_grace_in_general(app: &TestApp) -> ((Registered, Tokens), (Registered, Tokens)) {
    let ada = app.signed_in_user().await;
    let grace = app.signed_in_user().await;
    app.join_room(&ada.1.access, "general").await;
    app.join_room(&grace.1.access, "general").await;
    (ada, grace)
}

/// The `seq`s of a history page.
fn seqs(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| message["seq"].as_u64().expect("seq"))
        .collect()
}

async fn json_of(response: reqwest::Response, what: &str) -> Value {
    assert_eq!(response.status(), 200, "{what}");
    response.json().await.expect("json")
}

#[tokio::test]
async fn two_members_publish_and_read_the_same_history_in_seq_order() {
    let app = spawn_app().await;
    let ((ada, adas), (grace, graces)) = ada_and_grace_in_general(&app).await;

    let first = app
        .publish(
            &adas.access,
            "general",
            &json!({"body": "Hello, Grace", "id": "a-1"}),
        )
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    app.say(&graces.access, "general", "Hello, Ada").await;
    let third = app.say(&adas.access, "general", "Shall we compute?").await;

    assert_eq!(first["room"], "general");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["id"], "a-1");
    assert_eq!(first["body"], "Hello, Grace");
    assert_eq!(
        first["sender"],
        json!({"id": ada.id, "first_name": "Ada", "last_name": ""})
    );
    assert!(first["created_at"].is_string());
    assert_eq!(third["seq"], 3);
    assert!(
        uuid::Uuid::parse_str(third["id"].as_str().unwrap()).is_ok(),
        "an id is assigned when none is sent: {third}"
    );

    let adas_view = json_of(
        app.history(&adas.access, "general", "").await,
        "Ada's history",
    )
    .await;
    let graces_view = json_of(
        app.history(&graces.access, "general", "").await,
        "Grace's history",
    )
    .await;
    assert_eq!(adas_view, graces_view, "both read the same history");
    assert_eq!(seqs(&adas_view), [1, 2, 3]);
    assert_eq!(adas_view["has_more"], false);
    assert_eq!(
        adas_view["messages"][0], first,
        "history shows what publish answered"
    );
    assert_eq!(adas_view["messages"][1]["sender"]["id"], grace.id.as_str());
    assert_eq!(adas_view["messages"][2], third);
}

#[tokio::test]
async fn history_pages_walk_back_from_the_newest_and_forward_from_the_oldest() {
    let app = spawn_app().await;
    let ((_, adas), _) = ada_and_grace_in_general(&app).await;
    for n in 1..=5 {
        app.say(&adas.access, "general", &format!("message {n}"))
            .await;
    }
    let page = async |query: &str| {
        let page = json_of(app.history(&adas.access, "general", query).await, query).await;
        (seqs(&page), page["has_more"].as_bool().expect("has_more"))
    };

    assert_eq!(page("?limit=2").await, (vec![4, 5], true), "the newest");
    assert_eq!(page("?before=4&limit=2").await, (vec![2, 3], true));
    assert_eq!(
        page("?before=2&limit=2").await,
        (vec![1], false),
        "the first"
    );
    assert_eq!(
        page("?after=0&limit=2").await,
        (vec![1, 2], true),
        "the oldest"
    );
    assert_eq!(page("?after=2&limit=2").await, (vec![3, 4], true));
    assert_eq!(page("?after=4&limit=2").await, (vec![5], false), "the last");
    assert_eq!(page("?after=5").await, (vec![], false), "nothing newer");
    assert_eq!(
        page("").await,
        (vec![1, 2, 3, 4, 5], false),
        "50 by default"
    );
}

#[tokio::test]
async fn unread_is_what_a_member_has_not_acknowledged() {
    let app = spawn_app().await;
    let ((_, adas), (_, graces)) = ada_and_grace_in_general(&app).await;
    app.join_room(&adas.access, "random").await;
    for body in ["one", "two", "three"] {
        app.say(&graces.access, "general", body).await;
    }

    let rooms = json_of(app.rooms(&adas.access).await, "Ada's rooms").await;
    assert_eq!(
        rooms,
        json!({"rooms": [
            {"room": "general", "last_seq": 3, "unread": 3},
            {"room": "random", "last_seq": 0, "unread": 0},
        ]})
    );
    let graces_rooms = json_of(app.rooms(&graces.access).await, "Grace's rooms").await;
    assert_eq!(
        graces_rooms["rooms"][0]["unread"], 3,
        "her own messages reach her connections too, and are acked like any"
    );

    app.acknowledge(&adas.access, "general", 2).await;
    let rooms = json_of(app.rooms(&adas.access).await, "Ada's rooms").await;
    assert_eq!(rooms["rooms"][0]["unread"], 1);
    json_of(app.history(&adas.access, "general", "").await, "history").await;
    let rooms = json_of(app.rooms(&adas.access).await, "Ada's rooms").await;
    assert_eq!(
        rooms["rooms"][0]["unread"], 1,
        "reading history acknowledges nothing"
    );

    // A new member is owed what comes next, not the past.
    let (_, edsgers) = app.signed_in_user().await;
    app.join_room(&edsgers.access, "general").await;
    let rooms = json_of(app.rooms(&edsgers.access).await, "Edsger's rooms").await;
    assert_eq!(
        rooms,
        json!({"rooms": [{"room": "general", "last_seq": 3, "unread": 0}]})
    );
    let (_, nobodys) = app.signed_in_user().await;
    assert_eq!(
        json_of(app.rooms(&nobodys.access).await, "a user in no room").await,
        json!({"rooms": []})
    );
}

#[tokio::test]
async fn publishing_an_id_again_answers_the_original_and_stores_nothing_new() {
    let app = spawn_app().await;
    let ((_, adas), _) = ada_and_grace_in_general(&app).await;

    let first = app
        .publish(
            &adas.access,
            "general",
            &json!({"body": "once", "id": "retry-me"}),
        )
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retry = app
        .publish(
            &adas.access,
            "general",
            &json!({"body": "twice?", "id": "retry-me"}),
        )
        .await;

    assert_eq!(
        retry.status(),
        201,
        "a retry is answered as the first publish was"
    );
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    let history = json_of(app.history(&adas.access, "general", "").await, "history").await;
    assert_eq!(seqs(&history), [1]);
    let rooms = json_of(app.rooms(&adas.access).await, "rooms").await;
    assert_eq!(rooms["rooms"][0]["last_seq"], 1);
}

#[tokio::test]
async fn presence_is_empty_while_nobody_has_a_socket_open() {
    let app = spawn_app().await;
    let ((_, adas), _) = ada_and_grace_in_general(&app).await;

    let presence = json_of(app.presence(&adas.access, "general").await, "presence").await;

    assert_eq!(presence, json!({"room": "general", "users": []}));
}

#[tokio::test]
async fn every_room_route_refuses_a_missing_or_refused_token() {
    let app = spawn_app().await;
    for path in [
        "/rooms",
        "/rooms/general/messages",
        "/rooms/general/presence",
    ] {
        assert_problem(app.get(path).await, 401, "missing_token").await;
        assert_problem(app.get_as("not.a.token", path).await, 401, "invalid_token").await;
    }
    let unauthenticated = app
        .post_json("/rooms/general/messages", &json!({"body": "hi"}))
        .await;
    assert_problem(unauthenticated, 401, "missing_token").await;
}

#[tokio::test]
async fn an_unknown_room_is_a_404_on_every_route() {
    let app = spawn_app().await;
    let (_, adas) = app.signed_in_user().await;

    assert_problem(
        app.history(&adas.access, "nowhere", "").await,
        404,
        "room_not_found",
    )
    .await;
    assert_problem(
        app.presence(&adas.access, "nowhere").await,
        404,
        "room_not_found",
    )
    .await;
    let published = app
        .publish(&adas.access, "nowhere", &json!({"body": "hello?"}))
        .await;
    assert_problem(published, 404, "room_not_found").await;
    assert_eq!(
        json_of(app.rooms(&adas.access).await, "rooms").await,
        json!({"rooms": []}),
        "publishing creates no room: only a join does"
    );
}

#[tokio::test]
async fn a_room_the_caller_is_not_in_is_a_403_on_every_route_and_takes_nothing() {
    let app = spawn_app().await;
    let ((_, adas), _) = ada_and_grace_in_general(&app).await;
    let (_, strangers) = app.signed_in_user().await;
    app.say(&adas.access, "general", "members only").await;

    assert_problem(
        app.history(&strangers.access, "general", "").await,
        403,
        "not_member",
    )
    .await;
    assert_problem(
        app.presence(&strangers.access, "general").await,
        403,
        "not_member",
    )
    .await;
    let intrusion = app
        .publish(&strangers.access, "general", &json!({"body": "let me in"}))
        .await;
    assert_problem(intrusion, 403, "not_member").await;

    // Leaving is the end of it: a former member is a stranger.
    app.leave_room(&adas.access, "general").await;
    let after_leaving = app
        .publish(&adas.access, "general", &json!({"body": "still here?"}))
        .await;
    assert_problem(after_leaving, 403, "not_member").await;

    app.join_room(&adas.access, "general").await;
    let history = json_of(app.history(&adas.access, "general", "").await, "history").await;
    assert_eq!(seqs(&history), [1], "nothing refused was stored");
}

#[tokio::test]
async fn bad_input_is_one_422_naming_every_bad_field_and_stores_nothing() {
    let app = spawn_app_with(&[("MESSAGE_MAX_BYTES", "8")]).await;
    let ((_, adas), _) = ada_and_grace_in_general(&app).await;

    let bad_room = assert_problem(
        app.history(&adas.access, "General", "").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        bad_room["errors"],
        json!([{"field": "room", "message": "may contain only a-z, 0-9, _ and -"}])
    );
    let bad_query = assert_problem(
        app.history(&adas.access, "general", "?before=3&after=1&limit=500")
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        bad_query["errors"],
        json!([
            {"field": "before", "message": "give before or after, not both"},
            {"field": "limit", "message": "must be between 1 and 200"},
        ])
    );
    for (body, errors) in [
        (
            json!({"body": "nine byte", "id": ""}),
            json!([
                {"field": "body", "message": "must be at most 8 bytes"},
                {"field": "id", "message": "must not be empty"},
            ]),
        ),
        (
            json!({"body": "  \n "}),
            json!([{"field": "body", "message": "must not be empty"}]),
        ),
        (
            json!({"text": "hi"}),
            json!([
                {"field": "body", "message": "is required"},
                {"field": "text", "message": "is not allowed"},
            ]),
        ),
    ] {
        let problem = assert_problem(
            app.publish(&adas.access, "general", &body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"], errors, "sent {body}");
    }
    let eight_bytes = app
        .publish(&adas.access, "general", &json!({"body": "8 bytes!"}))
        .await;
    assert_eq!(eight_bytes.status(), 201, "the limit itself is allowed");
    let history = json_of(app.history(&adas.access, "general", "").await, "history").await;
    assert_eq!(seqs(&history), [1], "only the valid message was stored");
}

#[tokio::test]
async fn a_message_body_that_is_not_json_is_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    let ((_, adas), _) = ada_and_grace_in_general(&app).await;
    let send = |content_type: &'static str, body: &'static str| {
        app.client
            .post(app.url("/rooms/general/messages"))
            .bearer_auth(&adas.access)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    assert_problem(
        send("text/plain", "hello").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        send("application/json", r#"{"body": "#).await.unwrap(),
        400,
        "malformed_request",
    )
    .await;
    let history = json_of(app.history(&adas.access, "general", "").await, "history").await;
    assert_eq!(seqs(&history), Vec::<u64>::new());
}

#[tokio::test]
async fn publishing_spends_the_callers_budget_and_a_spent_one_is_a_429() {
    // Three requests: the upgrade of the socket Ada joins over, and two messages.
    let app = spawn_app_with(&[("RATE_LIMIT_PER_USER", "3/1m")]).await;
    let ada = app.register_user().await;
    let adas = app.login_tokens(&ada).await;
    app.join_room(&adas.access, "general").await;

    app.say(&adas.access, "general", "one").await;
    app.say(&adas.access, "general", "two").await;
    let third = app
        .publish(&adas.access, "general", &json!({"body": "three"}))
        .await;

    assert!(third.headers().contains_key("retry-after"));
    assert_problem(third, 429, "rate_limited").await;
}

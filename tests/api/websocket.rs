//! The WebSocket protocol (SPEC §5), end to end: real sockets against the real app.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

use crate::helpers::{Credentials, Socket, TestApp, Tokens, spawn_app, spawn_app_with};

/// The seqs and ids of `messages`, in order.
fn order(messages: &[Value]) -> Vec<(u64, String)> {
    messages
        .iter()
        .map(|message| {
            (
                message["seq"].as_u64().expect("seq"),
                message["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}

/// Signs up a user and opens a socket for them.
async fn connected(app: &TestApp) -> (crate::helpers::Registered, Tokens, Socket) {
    let (user, tokens) = app.signed_in_user().await;
    let socket = app.connect(&tokens.access).await;
    (user, tokens, socket)
}

#[tokio::test]
async fn two_users_join_a_room_publish_and_see_the_same_messages_in_the_same_order() {
    let app = spawn_app().await;
    let (_, ada_tokens, mut ada) = connected(&app).await;
    let (_, grace_tokens, mut grace) = connected(&app).await;

    let joined = ada.join("general").await;
    assert_eq!(
        joined,
        json!({"type": "joined", "room": "general", "last_seq": 0, "recovered": true})
    );
    grace.join("general").await;

    // They talk at once: three from Ada, two from Grace, one without an id.
    for id in ["a-1", "a-2"] {
        ada.send(json!({"type": "publish", "room": "general", "body": id, "id": id}))
            .await;
    }
    for id in ["g-1", "g-2"] {
        grace
            .send(json!({"type": "publish", "room": "general", "body": id, "id": id}))
            .await;
    }
    ada.send(json!({"type": "publish", "room": "general", "body": "no id"}))
        .await;

    let adas_view = ada.messages(5).await;
    let graces_view = grace.messages(5).await;
    assert_eq!(
        order(&adas_view),
        order(&graces_view),
        "the same order for both"
    );
    let seqs: Vec<u64> = order(&adas_view).iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "gap-free and increasing");
    let first = &adas_view[0];
    assert_eq!(first["room"], "general");
    assert_eq!(first["sender"]["first_name"], "Ada");
    assert!(first["created_at"].is_string());

    // The HTTP history agrees with what the sockets saw.
    let history: Value = app
        .history(&grace_tokens.access, "general", "")
        .await
        .json()
        .await
        .expect("json");
    let stored: Vec<Value> = history["messages"].as_array().expect("messages").clone();
    assert_eq!(order(&stored), order(&adas_view));
    let _ = ada_tokens;
}

#[tokio::test]
async fn a_publish_is_acked_with_its_seq_and_the_same_id_again_stores_nothing_new() {
    let app = spawn_app().await;
    let (_, _, mut ada) = connected(&app).await;
    ada.join("general").await;

    ada.send(json!({"type": "publish", "room": "general", "body": "hi", "id": "m-1"}))
        .await;
    let ack = ada.expect("ack").await;
    assert_eq!(
        ack,
        json!({"type": "ack", "room": "general", "id": "m-1", "seq": 1})
    );
    let message = ada.expect("message").await;
    assert_eq!(
        (message["seq"].as_u64(), &message["body"]),
        (Some(1), &json!("hi"))
    );

    ada.send(json!({"type": "publish", "room": "general", "body": "hi", "id": "m-1"}))
        .await;
    assert_eq!(ada.expect("ack").await["seq"], 1, "the same seq");
    ada.send(json!({"type": "publish", "room": "general", "body": "auto"}))
        .await;
    let ack = ada.expect("ack").await;
    assert_eq!(ack["seq"], 2, "the duplicate was not stored or broadcast");
    let assigned = ack["id"].as_str().expect("id");
    assert!(
        uuid::Uuid::parse_str(assigned).is_ok(),
        "a UUID: {assigned}"
    );
    assert_eq!(ada.expect("message").await["id"], assigned);
}

#[tokio::test]
async fn members_see_each_other_come_and_go_and_can_ask_who_is_here() {
    let app = spawn_app().await;
    let (ada_user, _, mut ada) = connected(&app).await;
    let (grace_user, grace_tokens, mut grace) = connected(&app).await;
    ada.join("general").await;
    grace.join("general").await;

    ada.send(json!({"type": "presence", "room": "general"}))
        .await;
    let presence = ada.expect("presence").await;
    let mut present: Vec<(String, String)> = presence["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|user| {
            (
                user["id"].as_str().expect("id").to_owned(),
                user["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect();
    present.sort();
    let mut expected = vec![
        (ada_user.id.clone(), "active".to_owned()),
        (grace_user.id.clone(), "active".to_owned()),
    ];
    expected.sort();
    assert_eq!(present, expected);

    // Grace's last connection closes: Ada is told; her next connection: Ada is told.
    grace.close().await;
    let left = ada.next_of("presence_leave").await;
    assert_eq!(left["room"], "general");
    assert_eq!(left["user"]["id"], grace_user.id.as_str());
    assert_eq!(
        left["user"]["first_name"], "Ada",
        "every test user is called Ada"
    );
    let _grace_again = app.connect(&grace_tokens.access).await;
    let came = ada.next_of("presence_join").await;
    assert_eq!(came["user"]["id"], grace_user.id.as_str());
}

#[tokio::test]
async fn a_reconnecting_member_gets_what_they_missed_above_their_cursor_and_can_ask_again() {
    let app = spawn_app().await;
    let (_, ada_tokens, mut ada) = connected(&app).await;
    let (_, grace_tokens, mut grace) = connected(&app).await;
    ada.join("general").await;
    grace.join("general").await;
    app.say(&ada_tokens.access, "general", "one").await;
    grace.messages(1).await;
    grace
        .send(json!({"type": "ack", "room": "general", "seq": 1}))
        .await;
    grace.round_trip().await;
    grace.close().await;

    app.say(&ada_tokens.access, "general", "two").await;
    app.say(&ada_tokens.access, "general", "three").await;

    let mut grace = app.connect(&grace_tokens.access).await;
    let joined = grace.expect("joined").await;
    assert_eq!(
        joined,
        json!({"type": "joined", "room": "general", "last_seq": 3, "recovered": true})
    );
    let missed = grace.messages(2).await;
    let bodies: Vec<&Value> = missed.iter().map(|message| &message["body"]).collect();
    assert_eq!(
        bodies,
        [&json!("two"), &json!("three")],
        "above the cursor, in order"
    );

    grace
        .send(json!({"type": "join", "room": "general", "since": 0}))
        .await;
    assert_eq!(grace.expect("joined").await["last_seq"], 3);
    let again = grace.messages(3).await;
    let seqs: Vec<u64> = order(&again).iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 2, 3], "everything since 0, once");
    grace.round_trip().await;
    drop(ada);
}

#[tokio::test]
async fn a_publish_concurrent_with_joins_is_neither_dropped_nor_duplicated() {
    const MESSAGES: u64 = 30;
    let app = Arc::new(spawn_app().await);
    let (_, ada_tokens, mut ada) = connected(&app).await;
    ada.join("general").await;
    app.say(&ada_tokens.access, "general", "the room exists")
        .await;
    let mut joiners = Vec::new();
    for _ in 0..3 {
        joiners.push(connected(&app).await);
    }

    // Ada publishes while the others join from the start of the room.
    let publisher = {
        let app = Arc::clone(&app);
        let token = ada_tokens.access.clone();
        tokio::spawn(async move {
            for n in 0..MESSAGES {
                app.say(&token, "general", &format!("m{n}")).await;
            }
        })
    };
    for (_, _, socket) in &mut joiners {
        socket
            .send(json!({"type": "join", "room": "general", "since": 0}))
            .await;
    }
    publisher.await.expect("publisher");

    for (_, _, socket) in &mut joiners {
        socket.expect("joined").await;
        let received = socket
            .messages(usize::try_from(MESSAGES + 1).unwrap())
            .await;
        let seqs: Vec<u64> = order(&received).iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            seqs,
            (1..=MESSAGES + 1).collect::<Vec<_>>(),
            "each once, in order"
        );
        // Nothing else is owed: the next frame is the answer to a ping.
        socket.round_trip().await;
    }
}

#[tokio::test]
async fn a_join_or_leave_on_one_connection_is_followed_by_the_users_other_connections() {
    let app = spawn_app().await;
    let (_, tokens, mut phone) = connected(&app).await;
    let mut laptop = app.connect(&tokens.access).await;
    let (_, grace_tokens, mut grace) = connected(&app).await;
    grace.join("general").await;

    phone.join("general").await;
    let followed = laptop.expect("joined").await;
    assert_eq!(followed["room"], "general");
    app.say(&tokens.access, "general", "to both").await;
    assert_eq!(phone.expect("message").await["body"], "to both");
    assert_eq!(laptop.expect("message").await["body"], "to both");

    laptop
        .send(json!({"type": "leave", "room": "general"}))
        .await;
    assert_eq!(
        laptop.expect("left").await,
        json!({"type": "left", "room": "general"})
    );
    assert_eq!(phone.expect("left").await["room"], "general");
    app.say(&grace_tokens.access, "general", "Ada has gone")
        .await;
    phone.round_trip().await;
    laptop.round_trip().await;
}

#[tokio::test]
async fn every_refused_frame_gets_its_error_and_the_connection_stays_usable() {
    let app = spawn_app_with(&[("MESSAGE_MAX_BYTES", "16")]).await;
    let (_, _, mut ada) = connected(&app).await;
    let (_, grace_tokens) = app.signed_in_user().await;
    app.connect(&grace_tokens.access)
        .await
        .join("private")
        .await;

    let cases = [
        ("not json".to_owned(), "bad_request", None),
        (
            json!({"type": "shout", "id": "x-1"}).to_string(),
            "unknown_type",
            Some("x-1"),
        ),
        (
            json!({"type": "join", "room": "No Caps"}).to_string(),
            "invalid_room",
            None,
        ),
        (
            json!({"type": "publish", "room": "private", "body": "hi", "id": "x-2"}).to_string(),
            "not_member",
            Some("x-2"),
        ),
        (
            json!({"type": "publish", "room": "nowhere", "body": "hi"}).to_string(),
            "room_not_found",
            None,
        ),
        (
            json!({"type": "publish", "room": "private", "body": "x".repeat(17), "id": "x-3"})
                .to_string(),
            "too_large",
            Some("x-3"),
        ),
        (
            json!({"type": "ack", "room": "private", "seq": -1}).to_string(),
            "bad_request",
            None,
        ),
        (
            json!({"type": "ack", "room": "private", "seq": 1}).to_string(),
            "not_member",
            None,
        ),
        (
            json!({"type": "presence", "room": "private"}).to_string(),
            "not_member",
            None,
        ),
        (
            json!({"type": "leave", "room": "private"}).to_string(),
            "not_member",
            None,
        ),
        (
            json!({"type": "auth", "access_token": "forged"}).to_string(),
            "invalid_token",
            None,
        ),
    ];
    for (sent, code, reference) in cases {
        ada.send_text(sent.clone()).await;
        let error = ada.expect("error").await;
        assert_eq!(error["code"], code, "sent {sent}: {error}");
        assert_eq!(error["ref"].as_str(), reference, "sent {sent}");
        assert!(error["message"].is_string());
    }
    ada.round_trip().await;
}

#[tokio::test]
async fn without_a_valid_token_there_is_no_upgrade() {
    let app = spawn_app().await;
    for credentials in [
        Credentials::None,
        Credentials::Bearer("forged"),
        Credentials::Query("forged"),
    ] {
        let Err(response) = app.try_connect(credentials).await else {
            panic!("upgraded without a valid token");
        };
        assert_eq!(response.status(), 401);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/problem+json");
        let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
        assert!(["missing_token", "invalid_token"].contains(&body["code"].as_str().unwrap()));
    }
}

/// Every log line the test process writes from now on.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&logs);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Capture(Arc::clone(&writer)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        logs
    }))
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_browsers_token_in_the_query_opens_the_socket_and_never_reaches_the_logs() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;

    let Ok(mut socket) = app.try_connect(Credentials::Query(&tokens.access)).await else {
        panic!("the query token was refused");
    };
    socket.join("general").await;
    let _ = app
        .try_connect(Credentials::Query("refused-token-value"))
        .await;
    socket.close().await;

    let written = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(written.contains("/ws"), "the upgrade was logged");
    assert!(
        !written.contains(&tokens.access),
        "the token is not in the logs"
    );
    assert!(!written.contains("refused-token-value"));
    assert!(!written.contains("access_token="));
}

#[tokio::test]
async fn a_binary_frame_is_refused_and_a_client_that_keeps_sending_them_is_closed_with_1003() {
    let app = spawn_app().await;
    let (_, _, mut ada) = connected(&app).await;

    ada.send_binary(vec![1, 2, 3]).await;
    assert_eq!(ada.expect("error").await["code"], "bad_request");
    ada.round_trip().await;

    for _ in 0..3 {
        ada.send_binary(vec![0]).await;
    }
    assert_eq!(ada.closed().await, 1003);
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_closed_with_4002() {
    let app = spawn_app_with(&[
        ("WS_HEARTBEAT_INTERVAL", "1s"),
        ("WS_HEARTBEAT_TIMEOUT", "2s"),
    ])
    .await;
    let (_, tokens) = app.signed_in_user().await;

    let mut dead_peer = app.connect_silently(&tokens.access).await;
    assert_eq!(dead_peer.closed().await, 4002);

    // A client that answers pings (as every WebSocket library does) stays.
    let mut alive = app.connect(&tokens.access).await;
    for _ in 0..3 {
        alive.ping_received().await;
    }
    alive.round_trip().await;
}

#[tokio::test]
async fn a_member_quiet_for_a_heartbeat_interval_is_idle_and_active_again_when_they_speak() {
    let app = spawn_app_with(&[
        ("WS_HEARTBEAT_INTERVAL", "1s"),
        ("WS_HEARTBEAT_TIMEOUT", "30s"),
    ])
    .await;
    let (ada_user, _, mut ada) = connected(&app).await;
    let (_, _, mut grace) = connected(&app).await;
    ada.join("general").await;
    grace.join("general").await;
    let adas_state = |presence: &Value| {
        presence["users"]
            .as_array()
            .expect("users")
            .iter()
            .find(|user| user["id"] == ada_user.id.as_str())
            .map(|user| user["state"].as_str().expect("state").to_owned())
    };

    // Ada says nothing; by her second heartbeat ping she has been quiet a full interval.
    ada.ping_received().await;
    ada.ping_received().await;
    grace
        .send(json!({"type": "presence", "room": "general"}))
        .await;
    let presence = grace.next_of("presence").await;
    assert_eq!(adas_state(&presence).as_deref(), Some("idle"));

    ada.round_trip().await;
    grace
        .send(json!({"type": "presence", "room": "general"}))
        .await;
    let presence = grace.next_of("presence").await;
    assert_eq!(adas_state(&presence).as_deref(), Some("active"));
}

#[tokio::test]
async fn a_connection_ends_with_its_token_unless_renewed_with_auth() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL", "4s")]).await;
    let (user, tokens) = app.signed_in_user().await;
    let mut kept = app.connect(&tokens.access).await;
    let mut forgotten = app.connect(&tokens.access).await;

    // A minute later by the service's clock, a fresh token renews one of them.
    app.clock.advance(chrono::Duration::minutes(1));
    let renewed = app.login_tokens(&user).await;
    kept.send(json!({"type": "auth", "access_token": renewed.access}))
        .await;
    let authenticated = kept.expect("authenticated").await;
    assert!(authenticated["expires_at"].is_string());

    assert_eq!(forgotten.closed().await, 4001, "the token expired");
    kept.round_trip().await;
}

#[tokio::test]
async fn an_auth_frame_with_another_users_or_an_expired_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (ada_user, _, mut ada) = connected(&app).await;
    let (_, grace_tokens) = app.signed_in_user().await;

    ada.send(json!({"type": "auth", "access_token": grace_tokens.access}))
        .await;
    let refused = ada.expect("error").await;
    assert_eq!(refused["code"], "invalid_token");
    assert_eq!(refused["message"], "the token is another user's");

    // Ada's own token, once the service's clock has passed its expiry.
    let stale = app.login_tokens(&ada_user).await;
    app.clock.advance(chrono::Duration::hours(1));
    ada.send(json!({"type": "auth", "access_token": stale.access}))
        .await;
    let refused = ada.expect("error").await;
    assert_eq!(refused["code"], "token_expired");

    // The connection goes on under the token it had.
    ada.round_trip().await;
}

#[tokio::test]
async fn a_websocket_ping_from_the_client_gets_its_pong() {
    let app = spawn_app().await;
    let (_, _, mut ada) = connected(&app).await;

    ada.ping(b"are you there").await;
    ada.round_trip().await;
}

#[tokio::test]
async fn a_stopping_server_closes_its_sockets_with_1001() {
    let app = spawn_app().await;
    let (_, _, mut ada) = connected(&app).await;
    ada.round_trip().await;

    app.stop();
    assert_eq!(ada.closed().await, 1001);
}

#[tokio::test]
async fn a_frame_over_the_size_limit_is_refused_and_repeated_ones_close_with_1009() {
    let app = spawn_app_with(&[("WS_MAX_FRAME_BYTES", "1024")]).await;
    let (_, _, mut ada) = connected(&app).await;
    let oversized = json!({"type": "ping", "pad": "x".repeat(2000)}).to_string();

    ada.send_text(oversized.clone()).await;
    assert_eq!(ada.expect("error").await["code"], "too_large");
    ada.round_trip().await;

    for _ in 0..3 {
        ada.send_text(oversized.clone()).await;
    }
    assert_eq!(ada.closed().await, 1009);
}

#[tokio::test]
async fn a_connection_over_its_frame_budget_is_told_and_closed_with_4008_when_it_persists() {
    let app = spawn_app_with(&[("WS_MESSAGE_RATE", "5/1m")]).await;
    let (_, _, mut ada) = connected(&app).await;
    for _ in 0..5 {
        ada.round_trip().await;
    }

    ada.send(json!({"type": "ping"})).await;
    let refused = ada.expect("error").await;
    assert_eq!(refused["code"], "rate_limited");
    for _ in 0..5 {
        ada.send(json!({"type": "ping"})).await;
    }
    assert_eq!(ada.closed().await, 4008);
}

#[tokio::test]
async fn a_user_over_their_connection_limit_is_refused_the_upgrade_with_429() {
    let app = spawn_app_with(&[("WS_MAX_CONNECTIONS_PER_USER", "2")]).await;
    let (_, tokens) = app.signed_in_user().await;
    let first = app.connect(&tokens.access).await;
    let _second = app.connect(&tokens.access).await;

    let Err(refused) = app.try_connect(Credentials::Bearer(&tokens.access)).await else {
        panic!("a third connection was opened");
    };
    assert_eq!(refused.status(), 429);
    let body: Value = serde_json::from_slice(refused.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["code"], "rate_limited");

    // Another user is not affected; a closed connection gives its slot back.
    let (_, others) = app.signed_in_user().await;
    app.connect(&others.access).await.round_trip().await;
    first.close().await;
    app.connect(&tokens.access).await.round_trip().await;
}

#[tokio::test]
async fn upgrades_from_one_address_are_budgeted_apart_with_ws_upgrade_rate() {
    let app = spawn_app_with(&[("WS_UPGRADE_RATE", "2/1m")]).await;
    let (_, tokens) = app.signed_in_user().await;
    let _first = app.connect(&tokens.access).await;
    let _second = app.connect(&tokens.access).await;

    let Err(refused) = app.try_connect(Credentials::Bearer(&tokens.access)).await else {
        panic!("a third upgrade within the minute was let through");
    };
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // Other routes keep their own budget.
    assert_eq!(app.me(&tokens.access).await.status(), 200);
}

#[tokio::test]
async fn with_rate_limits_off_no_websocket_limit_applies() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("WS_MAX_CONNECTIONS_PER_USER", "1"),
        ("WS_UPGRADE_RATE", "1/1m"),
        ("WS_MESSAGE_RATE", "1/1m"),
    ])
    .await;
    let (_, tokens) = app.signed_in_user().await;
    let mut first = app.connect(&tokens.access).await;
    let mut second = app.connect(&tokens.access).await;
    for _ in 0..5 {
        first.round_trip().await;
        second.round_trip().await;
    }
}

#[tokio::test]
async fn joining_a_room_again_without_since_sends_nothing_twice() {
    let app = spawn_app().await;
    let (_, tokens, mut ada) = connected(&app).await;
    ada.join("general").await;
    app.say(&tokens.access, "general", "once").await;
    assert_eq!(ada.expect("message").await["seq"], 1);

    let joined = ada.join("general").await;
    assert_eq!(joined["last_seq"], 1);
    ada.round_trip().await;
}

#[tokio::test]
async fn a_backlog_larger_than_the_send_queue_is_replayed_whole_to_a_client_that_reads() {
    let app = spawn_app_with(&[("WS_SEND_QUEUE", "2")]).await;
    let (_, ada_tokens) = app.signed_in_user().await;
    let (_, grace_tokens) = app.signed_in_user().await;
    app.join_room(&ada_tokens.access, "general").await;
    app.join_room(&grace_tokens.access, "general").await;
    for n in 0..20 {
        app.say(&grace_tokens.access, "general", &format!("m{n}"))
            .await;
    }

    // Ada comes back owed twenty messages, ten times what her queue holds: the replay
    // waits for her socket to take them, it does not call her slow.
    let mut ada = app.connect(&ada_tokens.access).await;
    ada.expect("joined").await;
    let replayed = ada.messages(20).await;
    let seqs: Vec<u64> = order(&replayed).iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    ada.round_trip().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_a_slow_consumer_and_loses_nothing() {
    let app = spawn_app_with(&[("WS_SEND_QUEUE", "1"), ("MESSAGE_MAX_BYTES", "1048576")]).await;
    let (_, ada_tokens) = app.signed_in_user().await;
    let (_, grace_tokens, mut grace) = connected(&app).await;
    grace.join("general").await;
    app.join_room(&ada_tokens.access, "general").await;
    // Far more than the socket buffers and the WebSocket library's own queue of 32
    // frames hold: 30 MB in 150 messages.
    let big = "x".repeat(200 * 1024);
    const MESSAGES: usize = 150;
    for _ in 0..MESSAGES {
        app.say(&grace_tokens.access, "general", &big).await;
    }
    grace.messages(MESSAGES).await;

    // Ada's client connects and reads nothing: her replay backs up until the server
    // gives up on her. Grace sees her go.
    let mut stalled = app.connect_silently(&ada_tokens.access).await;
    grace.next_of("presence_join").await;
    grace.next_of("presence_leave").await;
    let end = stalled.ended().await;
    assert!(matches!(end, None | Some(4009)), "closed with {end:?}");

    // She acknowledged nothing, so her next connection is owed all of it.
    let mut ada = app.connect(&ada_tokens.access).await;
    ada.expect("joined").await;
    assert_eq!(ada.messages(MESSAGES).await.len(), MESSAGES);
}

#[tokio::test]
async fn a_frame_that_breaks_the_websocket_protocol_closes_with_1002() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {}\r\n\r\n",
        tokens.access
    );
    stream
        .write_all(upgrade.as_bytes())
        .await
        .expect("upgrade sent");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0_u8; 1];
        stream
            .read_exact(&mut byte)
            .await
            .expect("the upgrade's answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );

    // A client's frames must be masked (RFC 6455 §5.1): this text frame is not.
    stream
        .write_all(&[0x81, 0x02, b'h', b'i'])
        .await
        .expect("frame sent");

    // Whatever the server sent first (`joined` frames, none here), its last frame is a
    // close whose code is 1002.
    let mut received = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut received),
    )
    .await
    .expect("the server closes the connection")
    .expect("read");
    let close = received
        .windows(4)
        .rposition(|window| window[0] == 0x88 && window[1] >= 2)
        .map(|at| u16::from_be_bytes([received[at + 2], received[at + 3]]));
    assert_eq!(close, Some(1002), "{received:?}");
}

//! Delivery that survives (SPEC §5): cursors that only move forward, replay that meets
//! live traffic without a gap or a duplicate, retention that says what it lost, and a
//! server killed outright that owes, once restarted, exactly what was not acknowledged.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, Socket, TestApp, Tokens, spawn_app, spawn_app_with};
use crate::process::serve;

/// The seqs of `messages`, in order.
pub(crate) fn seqs(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|message| message["seq"].as_u64().expect("seq"))
        .collect()
}

/// Publishes over `socket` with the idempotency key `id`; the acked seq.
pub(crate) async fn publish_acked(socket: &mut Socket, id: &str) -> u64 {
    socket
        .send(json!({"type": "publish", "room": "general", "body": id, "id": id}))
        .await;
    let ack = socket.next_of("ack").await;
    assert_eq!(ack["id"], id, "the ack names the publish");
    ack["seq"].as_u64().expect("seq")
}

/// Acknowledges `seq` in "general" and waits until the server has served it.
async fn ack(socket: &mut Socket, seq: u64) {
    socket
        .send(json!({"type": "ack", "room": "general", "seq": seq}))
        .await;
    socket.round_trip().await;
}

/// What `tokens`' holder has not acknowledged in "general", by `GET /rooms`.
async fn unread(app: &TestApp, tokens: &Tokens) -> u64 {
    let rooms: Value = app.rooms(&tokens.access).await.json().await.expect("json");
    rooms["rooms"][0]["unread"].as_u64().expect("unread")
}

/// Retention runs in the background: waits, within a deadline, until the oldest
/// message "general" still holds is `oldest`, as `GET /rooms/general/messages` reads it.
async fn until_history_starts_at(app: &TestApp, tokens: &Tokens, oldest: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let history: Value = app
            .history(&tokens.access, "general", "")
            .await
            .json()
            .await
            .expect("json");
        if history["messages"][0]["seq"] == oldest {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention never pruned below {oldest}: {history}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_ack_moves_the_cursor_forward_never_back() {
    let app = spawn_app().await;
    let (_, ada_tokens) = app.signed_in_user().await;
    let (_, grace_tokens) = app.signed_in_user().await;
    app.join_room(&ada_tokens.access, "general").await;
    app.join_room(&grace_tokens.access, "general").await;
    for n in 1..=5 {
        app.say(&ada_tokens.access, "general", &format!("m{n}"))
            .await;
    }

    let mut grace = app.connect(&grace_tokens.access).await;
    grace.expect("joined").await;
    assert_eq!(seqs(&grace.messages(5).await), [1, 2, 3, 4, 5]);
    ack(&mut grace, 3).await;
    ack(&mut grace, 1).await;
    assert_eq!(
        unread(&app, &grace_tokens).await,
        2,
        "the cursor stayed at 3"
    );
    grace.close().await;

    let mut grace = app.connect(&grace_tokens.access).await;
    assert_eq!(grace.expect("joined").await["recovered"], true);
    assert_eq!(
        seqs(&grace.messages(2).await),
        [4, 5],
        "owed only what lies above 3"
    );
    grace.round_trip().await;
}

#[tokio::test]
async fn live_messages_published_during_a_long_replay_follow_it_without_a_gap_or_a_duplicate() {
    // More than one replay page (200), so the seam is crossed between pages too.
    const BACKLOG: u64 = 230;
    const LIVE: u64 = 40;
    let app = Arc::new(spawn_app_with(&[("RATE_LIMIT_ENABLED", "false")]).await);
    let (_, ada_tokens) = app.signed_in_user().await;
    let (_, grace_tokens) = app.signed_in_user().await;
    app.join_room(&ada_tokens.access, "general").await;
    app.join_room(&grace_tokens.access, "general").await;
    for n in 1..=BACKLOG {
        app.say(&ada_tokens.access, "general", &format!("old {n}"))
            .await;
    }

    // Ada goes on publishing while Grace's new connection is being replayed to.
    let publisher = {
        let app = Arc::clone(&app);
        let token = ada_tokens.access.clone();
        tokio::spawn(async move {
            for n in 1..=LIVE {
                app.say(&token, "general", &format!("live {n}")).await;
            }
        })
    };
    let mut grace = app.connect(&grace_tokens.access).await;
    grace.expect("joined").await;
    let received = grace
        .messages(usize::try_from(BACKLOG + LIVE).expect("small"))
        .await;
    publisher.await.expect("publisher");

    assert_eq!(
        seqs(&received),
        (1..=BACKLOG + LIVE).collect::<Vec<_>>(),
        "every message once, in order"
    );
    grace.round_trip().await;
}

#[tokio::test]
async fn a_member_back_from_beyond_retention_is_told_recovered_false_and_gets_what_remains() {
    let app = spawn_app_with(&[
        ("ROOM_RETENTION_COUNT", "2"),
        ("ROOM_RETENTION_AGE", "off"),
        ("ROOM_PRUNE_INTERVAL", "1s"),
    ])
    .await;
    let (_, ada_tokens) = app.signed_in_user().await;
    let (_, grace_tokens) = app.signed_in_user().await;
    app.join_room(&ada_tokens.access, "general").await;
    app.join_room(&grace_tokens.access, "general").await;
    for n in 1..=5 {
        app.say(&ada_tokens.access, "general", &format!("m{n}"))
            .await;
    }
    until_history_starts_at(&app, &ada_tokens, 4).await;

    // Grace acknowledged nothing: 1 to 5 are owed, 1 to 3 are gone.
    let mut grace = app.connect(&grace_tokens.access).await;
    assert_eq!(
        grace.expect("joined").await,
        json!({"type": "joined", "room": "general", "last_seq": 5, "recovered": false})
    );
    assert_eq!(seqs(&grace.messages(2).await), [4, 5], "what remains");
    grace.round_trip().await;

    // A client that asks from a position retention still covers recovers everything.
    grace
        .send(json!({"type": "join", "room": "general", "since": 3}))
        .await;
    assert_eq!(grace.expect("joined").await["recovered"], true);
    assert_eq!(seqs(&grace.messages(2).await), [4, 5]);
    grace
        .send(json!({"type": "join", "room": "general", "since": 1}))
        .await;
    assert_eq!(grace.expect("joined").await["recovered"], false);
    assert_eq!(seqs(&grace.messages(2).await), [4, 5]);

    // Seqs go on from last_seq, never reused.
    let next = app.say(&ada_tokens.access, "general", "m6").await;
    assert_eq!(next["seq"], 6);
    assert_eq!(grace.expect("message").await["seq"], 6);
}

#[tokio::test]
async fn a_server_killed_outright_owes_exactly_what_was_not_acked_once_restarted() {
    let folder = tempfile::tempdir().expect("temporary folder");
    // The same signing key across the restart, so the tokens stay valid; the default
    // durability (SQLITE_SYNCHRONOUS=full).
    let settings = [("JWT_SECRET", JWT_SECRET), ("BCRYPT_COST", "4")];
    let (mut first, address, _log) = serve(folder.path(), &settings);
    let app = TestApp::remote(address);
    let (_, ada_tokens) = app.signed_in_user().await;
    let (_, grace_tokens) = app.signed_in_user().await;
    app.join_room(&ada_tokens.access, "general").await;
    app.join_room(&grace_tokens.access, "general").await;
    let mut ada = app.connect(&ada_tokens.access).await;
    ada.expect("joined").await;
    let mut grace = app.connect(&grace_tokens.access).await;
    grace.expect("joined").await;
    for id in ["m1", "m2", "m3", "m4", "m5"] {
        publish_acked(&mut ada, id).await;
    }
    assert_eq!(seqs(&grace.messages(5).await), [1, 2, 3, 4, 5]);
    ack(&mut grace, 3).await;

    // No drain, no goodbye: the process is gone between one instruction and the next.
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let (mut second, address, _log) = serve(folder.path(), &settings);
    let app = TestApp::remote(address);

    let mut grace = app.connect(&grace_tokens.access).await;
    assert_eq!(
        grace.expect("joined").await,
        json!({"type": "joined", "room": "general", "last_seq": 5, "recovered": true})
    );
    let owed = grace.messages(2).await;
    assert_eq!(seqs(&owed), [4, 5], "exactly what was not acked, in order");
    assert_eq!(
        (&owed[0]["id"], &owed[1]["id"]),
        (&json!("m4"), &json!("m5"))
    );
    grace.round_trip().await;

    let mut ada = app.connect(&ada_tokens.access).await;
    ada.expect("joined").await;
    ada.messages(5).await;
    assert_eq!(
        publish_acked(&mut ada, "m3").await,
        3,
        "a retried key acks its original seq"
    );
    assert_eq!(
        publish_acked(&mut ada, "m6").await,
        6,
        "seq goes on without a gap"
    );
    assert_eq!(
        seqs(&grace.messages(1).await),
        [6],
        "the retry was not broadcast again"
    );
    grace.round_trip().await;

    second.kill().expect("SIGKILL");
    second.wait().expect("reaped");
}

/// The real room store, counting its catch-up reads (`messages_after`).
struct CountingReads {
    inner: Arc<dyn domain::ports::RoomStore>,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl domain::ports::RoomStore for CountingReads {
    async fn join(
        &self,
        room: &domain::RoomName,
        user: domain::UserId,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<domain::Joined, domain::ports::AdapterError> {
        self.inner.join(room, user, at).await
    }

    async fn leave(
        &self,
        room: &domain::RoomName,
        user: domain::UserId,
    ) -> Result<(), domain::ports::RoomAccessError> {
        self.inner.leave(room, user).await
    }

    async fn rooms_of(
        &self,
        user: domain::UserId,
    ) -> Result<Vec<domain::RoomSummary>, domain::ports::AdapterError> {
        self.inner.rooms_of(user).await
    }

    async fn membership(
        &self,
        room: &domain::RoomName,
        user: domain::UserId,
    ) -> Result<domain::RoomSummary, domain::ports::RoomAccessError> {
        self.inner.membership(room, user).await
    }

    async fn members(
        &self,
        room: &domain::RoomName,
    ) -> Result<Vec<domain::UserId>, domain::ports::AdapterError> {
        self.inner.members(room).await
    }

    async fn publish(
        &self,
        message: domain::NewMessage,
    ) -> Result<domain::Published, domain::ports::RoomAccessError> {
        self.inner.publish(message).await
    }

    async fn history(
        &self,
        room: &domain::RoomName,
        reader: domain::UserId,
        request: domain::HistoryRequest,
    ) -> Result<domain::HistoryPage, domain::ports::RoomAccessError> {
        self.inner.history(room, reader, request).await
    }

    async fn messages_after(
        &self,
        room: &domain::RoomName,
        after: domain::Seq,
        limit: domain::PageLimit,
    ) -> Result<domain::Replay, domain::ports::AdapterError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.messages_after(room, after, limit).await
    }

    async fn acknowledge(
        &self,
        room: &domain::RoomName,
        user: domain::UserId,
        seq: domain::Seq,
    ) -> Result<domain::Seq, domain::ports::RoomAccessError> {
        self.inner.acknowledge(room, user, seq).await
    }

    async fn prune(
        &self,
        retention: domain::Retention,
        now: chrono::DateTime<chrono::Utc>,
        limit: std::num::NonZeroU32,
    ) -> Result<u64, domain::ports::AdapterError> {
        self.inner.prune(retention, now, limit).await
    }
}

#[tokio::test]
async fn members_keeping_up_get_live_messages_without_a_store_read_each() {
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&reads);
    let app = crate::helpers::spawn_app_wrapping_storage(move |storage| {
        infrastructure::storage::Storage {
            rooms: Arc::new(CountingReads {
                inner: storage.rooms,
                reads: Arc::clone(&counted),
            }),
            ..storage
        }
    })
    .await;
    let mut members = Vec::new();
    for _ in 0..3 {
        let (_, tokens) = app.signed_in_user().await;
        let mut socket = app.connect(&tokens.access).await;
        socket.join("general").await;
        members.push(socket);
    }
    // The publisher is a member too; its own `message` frames are skipped while it
    // waits for its acks, so it is not among those checked.
    let (_, tokens) = app.signed_in_user().await;
    let mut publisher = app.connect(&tokens.access).await;
    publisher.join("general").await;
    let reads_once_seated = reads.load(std::sync::atomic::Ordering::SeqCst);

    for n in 1..=5 {
        publish_acked(&mut publisher, &format!("m-{n}")).await;
    }
    for member in &mut members {
        let messages = member.messages(5).await;
        assert_eq!(seqs(&messages), [1, 2, 3, 4, 5], "each once, in order");
    }

    assert_eq!(
        reads.load(std::sync::atomic::Ordering::SeqCst),
        reads_once_seated,
        "15 deliveries, each the next one owed: the message came with its event, not from \
         a read per member"
    );
}

//! Cost of the store read every authenticated request makes
//! (`SessionRepository::find_live_user`: the session by its key joined with its user),
//! through the SQLite adapter's door: the hand-over to a database thread, the cached
//! statement, the answer back to the async caller. And the user alone by id, for
//! comparison. And the rooms' hot read: `RoomStore::messages_after` with one message
//! owed, the catch-up every member connection makes for every published message
//! (issue 19's rooms part; `docs/benchmarks.md`, *Where the fan-out's time goes*).

#![allow(missing_docs, clippy::expect_used)]

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::ports::{RoomStore as _, SessionRepository as _, UserRepository as _};
use domain::{
    MessageBody, MessageId, NewMessage, NewRefreshToken, NewSession, PageLimit, RoomName, Seq,
    SessionId, TokenDigest,
};
use portico_infrastructure::sqlite::{
    Database, SqlitePath, SqliteRoomStore, SqliteSessionRepository, SqliteUserRepository,
};
use portico_infrastructure::storage::Synchronous;
use uuid::Uuid;

fn store(criterion: &mut Criterion) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path =
        SqlitePath::parse(&folder.path().join("bench.db").to_string_lossy()).expect("a file path");
    // The caller's side: one thread that parks while it waits, as an async worker with
    // nothing else to do would.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let database = Database::open(&path, 2, Synchronous::Normal).expect("opened");
    let users = SqliteUserRepository::new(database.clone());
    let sessions = SqliteSessionRepository::new(database.clone());
    let rooms = SqliteRoomStore::new(database);
    let room = RoomName::parse("general").expect("a room name");
    let new_user = test_support::contracts::new_user("ada@example.com");
    let user = new_user.user.id;
    let session = SessionId::from_uuid(Uuid::new_v4());
    let now = Utc::now();
    runtime.block_on(async {
        users.insert(new_user).await.expect("user stored");
        sessions
            .start(NewSession {
                user_id: user,
                first: NewRefreshToken {
                    digest: TokenDigest::new("bench".into()),
                    session,
                    issued_at: now,
                    expires_at: now + Duration::days(1),
                },
                user_agent: None,
            })
            .await
            .expect("session stored");
        rooms.join(&room, user, now).await.expect("joined");
        for n in 0..100 {
            rooms
                .publish(NewMessage {
                    room: room.clone(),
                    id: MessageId::parse(&format!("m{n}")).expect("an id"),
                    sender: user,
                    body: MessageBody::parse("a message of ordinary length, 40 bytes", 1024)
                        .expect("a body"),
                    created_at: now,
                })
                .await
                .expect("published");
        }
    });
    // The live case: a connection that has sent up to 99 is rung for 100.
    let after = Seq::new(99);

    let mut group = criterion.benchmark_group("store");
    group.bench_function("find_live_user", |bench| {
        bench.iter(|| {
            let found = runtime.block_on(sessions.find_live_user(session, user, now));
            assert!(matches!(found, Ok(Some(_))));
        });
    });
    group.bench_function("find_by_id", |bench| {
        bench.iter(|| {
            let found = runtime.block_on(users.find_by_id(user));
            assert!(matches!(found, Ok(Some(_))));
        });
    });
    group.bench_function("messages_after/one owed", |bench| {
        bench.iter(|| {
            let replay = runtime
                .block_on(rooms.messages_after(&room, after, PageLimit::MAX))
                .expect("read");
            assert_eq!(replay.messages.len(), 1);
        });
    });
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);

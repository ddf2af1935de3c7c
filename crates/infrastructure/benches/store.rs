//! Cost of the store read every authenticated request makes
//! (`SessionRepository::find_live_user`: the session by its key joined with its user),
//! through the SQLite adapter's door: the hand-over to a database thread, the cached
//! statement, the answer back to the async caller. And the user alone by id, for
//! comparison.

#![allow(missing_docs, clippy::expect_used)]

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::ports::{SessionRepository as _, UserRepository as _};
use domain::{NewRefreshToken, NewSession, SessionId, TokenDigest};
use portico_infrastructure::sqlite::{
    Database, SqlitePath, SqliteSessionRepository, SqliteUserRepository,
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
    let sessions = SqliteSessionRepository::new(database);
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
    });

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
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);

//! Two real Portico processes on one PostgreSQL database (SPEC §8): what one instance
//! stores and announces, members on the other receive, in order; presence is one for
//! both; a lost bus connection loses nothing; and the members of an instance that dies
//! without a goodbye are announced gone by the other. Runs when `PORTICO_TEST_POSTGRES_URL` names a cluster
//! (`make test-postgres`, CI); says it did not run otherwise.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::postgres::{TestCluster, TestDatabase};

use crate::delivery::{publish_acked, seqs};
use crate::helpers::{JWT_SECRET, TestApp};
use crate::process::serve;

/// A running instance, stopped when the test ends however it ends (a failed assertion
/// must not leave processes behind holding the test's output open). It is asked to stop
/// with SIGTERM, as an operator would, so that it exits through its own shutdown (and a
/// coverage run gets its profile); SIGKILL only if it outstays its grace.
struct Instance(std::process::Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let asked = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            // One the test killed already is no news.
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while asked && Instant::now() < deadline {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the process whose log is `log` writes a line whose message is `message`.
fn until_logged(log: &Receiver<String>, message: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = log
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{message:?} was not logged in time"));
        if serde_json::from_str::<Value>(&line).is_ok_and(|line| line["message"] == message) {
            return;
        }
    }
}

/// Two instances, A and B, serving one fresh database with one signing key, as two
/// instances behind a load balancer have.
struct TwoInstances {
    a: TestApp,
    a_log: Receiver<String>,
    _a_process: Instance,
    b: TestApp,
    b_log: Receiver<String>,
    b_process: Instance,
    database: TestDatabase,
    _folder: tempfile::TempDir,
}

/// [`TwoInstances`] on the cluster the environment names; `None` (said on stderr, by
/// `suite`'s name) when it names none.
fn two_instances(suite: &str) -> Option<TwoInstances> {
    let database = TestCluster::from_env(suite)?.create_database();
    let folder = tempfile::tempdir().expect("temporary folder");
    let settings = [
        ("DATABASE_URL", database.url()),
        ("JWT_SECRET", JWT_SECRET),
        ("BCRYPT_COST", "4"),
    ];
    let (a_process, a_address, a_log) = serve(folder.path(), &settings);
    let (b_process, b_address, b_log) = serve(folder.path(), &settings);
    Some(TwoInstances {
        a: TestApp::remote(a_address),
        a_log,
        _a_process: Instance(a_process),
        b: TestApp::remote(b_address),
        b_log,
        b_process: Instance(b_process),
        database,
        _folder: folder,
    })
}

#[tokio::test]
async fn two_instances_on_one_database_share_presence_deliver_in_order_end_sessions_and_survive_a_lost_bus()
 {
    // Bindings drop in reverse: the processes stop before their database goes.
    let Some(TwoInstances {
        database,
        _folder,
        a,
        a_log,
        _a_process,
        b,
        b_log,
        b_process: _b_process,
    }) = two_instances("the two-instance end-to-end test")
    else {
        return;
    };

    // Ada on A, Grace on B: accounts and sessions made on one instance work on the other.
    let (ada_user, ada) = a.signed_in_user().await;
    let (grace_user, grace) = b.signed_in_user().await;
    assert_eq!(
        b.me(&ada.access).await.status(),
        200,
        "A's session, checked on B"
    );
    a.join_room(&ada.access, "general").await;
    b.join_room(&grace.access, "general").await;
    let mut ada_socket = a.connect(&ada.access).await;
    ada_socket.expect("joined").await;
    let mut grace_socket = b.connect(&grace.access).await;
    grace_socket.expect("joined").await;

    // Presence is cluster-wide: Ada, on A, is told that Grace came (on B), and both are
    // present in the room as A sees it.
    let came = ada_socket.next_of("presence_join").await;
    assert_eq!(came["user"]["id"], grace_user.id.as_str());
    ada_socket
        .send(json!({"type": "presence", "room": "general"}))
        .await;
    let presence = ada_socket.expect("presence").await;
    let mut present: Vec<&str> = presence["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|user| user["id"].as_str().expect("id"))
        .collect();
    present.sort_unstable();
    let mut expected = [ada_user.id.as_str(), grace_user.id.as_str()];
    expected.sort_unstable();
    assert_eq!(present, expected);

    // Published on A, delivered on B, in seq order.
    for id in ["m1", "m2", "m3", "m4", "m5"] {
        publish_acked(&mut ada_socket, id).await;
    }
    assert_eq!(seqs(&grace_socket.messages(5).await), [1, 2, 3, 4, 5]);

    // Every listening connection ends, as when PostgreSQL restarts its side: what A
    // publishes meanwhile is not heard on B, which catches up from the store once it
    // listens again. Nothing lost, nothing twice.
    database.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    );
    for id in ["m6", "m7", "m8"] {
        publish_acked(&mut ada_socket, id).await;
    }
    until_logged(&b_log, "the message bus listens again");
    assert_eq!(seqs(&grace_socket.messages(3).await), [6, 7, 8]);
    // Presence changes lost meanwhile are in no store: the room's list as it is now
    // follows the catch-up, unasked.
    let presence = grace_socket.next_of("presence").await;
    assert_eq!(presence["room"], "general");
    assert_eq!(
        presence["users"].as_array().map(Vec::len),
        Some(2),
        "{presence}"
    );
    grace_socket.round_trip().await;
    // A presence change made while an instance does not listen is not in the store to
    // catch up from (docs/operations.md): A must listen again before the next one.
    until_logged(&a_log, "the message bus listens again");

    // Grace logs out through A: her socket on B closes at once (1008), not at her
    // token's expiry.
    assert_eq!(a.logout(&grace.refresh).await.status(), 204);
    assert_eq!(grace_socket.closed().await, 1008);
    // Her last connection is gone from the cluster: Ada, on A, is told.
    let left = ada_socket.next_of("presence_leave").await;
    assert_eq!(left["user"]["id"], grace_user.id.as_str());
}

#[tokio::test]
async fn the_members_of_an_instance_killed_without_goodbye_are_announced_gone_by_the_other() {
    // Every field bound: a field left to `..` would be dropped, its process stopped.
    let Some(TwoInstances {
        database: _database,
        _folder,
        a,
        a_log: _,
        _a_process,
        b,
        b_log: _,
        b_process: mut second,
    }) = two_instances("the dead-instance presence test")
    else {
        return;
    };

    let (_, ada) = a.signed_in_user().await;
    let (grace_user, grace) = b.signed_in_user().await;
    a.join_room(&ada.access, "general").await;
    b.join_room(&grace.access, "general").await;
    let mut ada_socket = a.connect(&ada.access).await;
    ada_socket.expect("joined").await;
    let _grace_socket = b.connect(&grace.access).await;
    let came = ada_socket.next_of("presence_join").await;
    assert_eq!(came["user"]["id"], grace_user.id.as_str());

    // B dies at once: no goodbye, its rows stay. Once its heartbeat lapses (20 s) the
    // next sweep on A (every 5 s) finds Grace with no live connection and tells her room.
    second.0.kill().expect("kill B");
    second.0.wait().expect("B is gone");
    let left = loop {
        let frame = ada_socket.next_within(Duration::from_secs(40)).await;
        if frame["type"] == "presence_leave" {
            break frame;
        }
    };
    assert_eq!(left["room"], "general");
    assert_eq!(left["user"]["id"], grace_user.id.as_str());
    ada_socket
        .send(json!({"type": "presence", "room": "general"}))
        .await;
    let presence = ada_socket.next_of("presence").await;
    let present: Vec<&Value> = presence["users"]
        .as_array()
        .expect("users")
        .iter()
        .collect();
    assert_eq!(present.len(), 1, "only Ada is left: {presence}");
}

//! JoinRoom and LeaveRoom: membership belongs to the user, so a change is announced for
//! every connection of theirs; a join reads the first page of what the member is owed.

use domain::ports::RoomEvent;
use domain::{Joined, Seq};

use super::{
    ADA, Logs, Mocks, Refusal, boom, general, now, replay_of, room_refusals, seqs_of, standing,
};

/// The store makes Ada a member of "general" (or finds her one), at [`now`], once.
fn store_joins(mocks: &mut Mocks, last_seq: u64, cursor: u64, newly_joined: bool) {
    mocks
        .rooms
        .expect_join()
        .withf(|room, user, at| *room == general() && *user == ADA && *at == now())
        .times(1)
        .returning(move |room, _, _| {
            Ok(Joined {
                summary: standing(room, last_seq, cursor),
                newly_joined,
            })
        });
}

/// The store answers a read of "general" above `after`, one page of the policy's two,
/// once.
fn store_replays(mocks: &mut Mocks, after: u64, seqs: &'static [u64], last_seq: u64) {
    mocks
        .rooms
        .expect_messages_after()
        .withf(move |room, from, limit| {
            *room == general() && *from == Seq::new(after) && limit.get() == 2
        })
        .times(1)
        .returning(move |_, _, _| Ok(replay_of(after, seqs.iter().copied(), last_seq)));
}

/// The bus takes `event`, once.
fn bus_takes(mocks: &mut Mocks, event: RoomEvent) {
    mocks
        .bus
        .expect_publish()
        .withf(move |published| *published == event)
        .times(1)
        .returning(|_| Ok(()));
}

/// Ada's membership of "general" changed.
fn ada_membership(joined: bool) -> RoomEvent {
    RoomEvent::MembershipChanged {
        user: ADA,
        room: general(),
        joined,
    }
}

#[tokio::test]
async fn a_first_join_makes_ada_a_member_announces_it_and_replays_nothing_older() {
    let mut mocks = Mocks::new();
    // Seven messages before she came: her cursor starts at the room's last_seq.
    store_joins(&mut mocks, 7, 7, true);
    bus_takes(&mut mocks, ada_membership(true));
    store_replays(&mut mocks, 7, &[], 7);

    let joined = mocks
        .use_cases()
        .join_room
        .execute(ADA, general(), None)
        .await
        .unwrap();

    assert!(joined.newly_joined);
    assert_eq!(joined.room(), &general());
    assert_eq!(joined.last_seq(), Seq::new(7));
    assert!(joined.recovered());
    assert_eq!(joined.replay_after(), Seq::new(7));
    assert!(joined.replay.messages.is_empty());
}

#[tokio::test]
async fn a_member_joining_again_is_not_announced_and_gets_what_lies_above_her_cursor() {
    let mut mocks = Mocks::new();
    store_joins(&mut mocks, 7, 5, false);
    mocks.bus.expect_publish().never();
    store_replays(&mut mocks, 5, &[6, 7], 7);

    let joined = mocks
        .use_cases()
        .join_room
        .execute(ADA, general(), None)
        .await
        .unwrap();

    assert!(!joined.newly_joined);
    assert_eq!(seqs_of(&joined.replay.messages), [6, 7]);
    assert!(!joined.replay.has_more());
}

#[tokio::test]
async fn joining_with_since_replays_above_it_one_page_at_a_time() {
    let mut mocks = Mocks::new();
    store_joins(&mut mocks, 9, 5, false);
    store_replays(&mut mocks, 3, &[4, 5], 9);

    let joined = mocks
        .use_cases()
        .join_room
        .execute(ADA, general(), Some(Seq::new(3)))
        .await
        .unwrap();

    assert_eq!(joined.replay_after(), Seq::new(3), "since, not the cursor");
    assert_eq!(seqs_of(&joined.replay.messages), [4, 5]);
    assert!(
        joined.replay.has_more(),
        "the rest is read with CatchUp from 5"
    );
    assert_eq!(joined.replay.resume_after(), Seq::new(5));
}

#[tokio::test]
async fn a_join_whose_history_was_pruned_says_it_did_not_recover_and_gives_what_remains() {
    let mut mocks = Mocks::new();
    store_joins(&mut mocks, 9, 9, false);
    store_replays(&mut mocks, 2, &[8, 9], 9);

    let joined = mocks
        .use_cases()
        .join_room
        .execute(ADA, general(), Some(Seq::new(2)))
        .await
        .unwrap();

    assert!(!joined.recovered());
    assert_eq!(seqs_of(&joined.replay.messages), [8, 9]);
}

#[tokio::test]
async fn a_join_the_store_refuses_announces_nothing_and_reads_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_join()
        .times(1)
        .returning(|_, _, _| Err(boom("join")));
    mocks.bus.expect_publish().never();
    mocks.rooms.expect_messages_after().never();

    let result = mocks
        .use_cases()
        .join_room
        .execute(ADA, general(), None)
        .await;

    assert!(result.is_err(), "got {result:?}");
}

#[tokio::test]
async fn a_join_whose_replay_cannot_be_read_fails_after_the_membership_was_announced() {
    let mut mocks = Mocks::new();
    store_joins(&mut mocks, 0, 0, true);
    bus_takes(&mut mocks, ada_membership(true));
    mocks
        .rooms
        .expect_messages_after()
        .times(1)
        .returning(|_, _, _| Err(boom("messages after")));

    let result = mocks
        .use_cases()
        .join_room
        .execute(ADA, general(), None)
        .await;

    // The membership is stored: the client's retry is a join by a member, which
    // announces nothing again and keeps the cursor.
    assert!(result.is_err(), "got {result:?}");
}

#[tokio::test]
async fn a_bus_that_fails_after_the_join_is_logged_and_the_join_still_succeeds() {
    let (logs, _capturing) = Logs::capture();
    let mut mocks = Mocks::new();
    store_joins(&mut mocks, 0, 0, true);
    mocks
        .bus
        .expect_publish()
        .times(1)
        .returning(|_| Err(boom("notify")));
    store_replays(&mut mocks, 0, &[], 0);

    let joined = mocks
        .use_cases()
        .join_room
        .execute(ADA, general(), None)
        .await;

    assert!(joined.is_ok(), "got {joined:?}");
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("WARN") && line.contains("notify")),
        "the bus failure was not logged with its cause: {lines:#?}"
    );
}

#[tokio::test]
async fn leaving_ends_the_membership_and_announces_it_to_every_connection_of_hers() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_leave()
        .withf(|room, user| *room == general() && *user == ADA)
        .times(1)
        .returning(|_, _| Ok(()));
    bus_takes(&mut mocks, ada_membership(false));

    let result = mocks.use_cases().leave_room.execute(ADA, &general()).await;

    assert!(result.is_ok(), "got {result:?}");
}

#[tokio::test]
async fn a_leave_the_store_refuses_is_answered_as_it_says_and_announces_nothing() {
    for Refusal {
        what,
        store_says: refusal,
        answered: expected,
    } in room_refusals()
    {
        let mut mocks = Mocks::new();
        mocks
            .rooms
            .expect_leave()
            .times(1)
            .returning(move |_, _| Err(refusal()));
        mocks.bus.expect_publish().never();

        let result = mocks.use_cases().leave_room.execute(ADA, &general()).await;

        let error = result.expect_err(what);
        assert!(expected(&error), "{what}: got {error:?}");
    }
}

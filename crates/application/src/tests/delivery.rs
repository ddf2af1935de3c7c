//! Delivery: the seam between replay and live traffic. A connection follows each room
//! from a position, reads from the store above what it has sent whenever the bus
//! announces more, and sends only what lies above what it sent — so announcements that
//! arrive during a replay, get lost, merge or lag neither drop nor duplicate a message.
//!
//! [`Connection`] drives the use cases the way the WebSocket session will: it is the
//! rule of `DeliveryTracker` written out as a loop, and these stories are its proof.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::ports::{RoomEvent, SubscriptionError};
use domain::{Joined, Message, Replay, RoomName, Seq, UserId};

use super::{
    ADA, GRACE, Mocks, Refusal, adas_message, boom, general, room, room_refusals, seqs_of, standing,
};
use crate::{DeliveryTracker, JoinedRoom, RoomError, UseCases};

/// Message `seq` of `room`.
fn message_in(room: &RoomName, seq: u64) -> Message {
    Message {
        room: room.clone(),
        ..adas_message(seq)
    }
}

/// A store of rooms whose messages are `1..=last_seq`, shared by the fakes and the
/// story: the story publishes (moves `last_seq`) between steps, and reads what was read.
#[derive(Clone, Default)]
struct Rooms(Arc<Mutex<RoomsState>>);

#[derive(Default)]
struct RoomsState {
    last_seq: HashMap<RoomName, u64>,
    /// Every read: the room and the position it read above.
    reads: Vec<(String, u64)>,
}

impl Rooms {
    fn with(rooms: &[(&str, u64)]) -> Self {
        let store = Self::default();
        for (name, last_seq) in rooms {
            store
                .0
                .lock()
                .unwrap()
                .last_seq
                .insert(room(name), *last_seq);
        }
        store
    }

    /// Someone publishes in `name`: its next message is stored, and this is its event
    /// as a broker carries it (room and seq only).
    fn publish(&self, name: &str) -> RoomEvent {
        let mut state = self.0.lock().unwrap();
        let last_seq = state.last_seq.entry(room(name)).or_default();
        *last_seq += 1;
        RoomEvent::Published {
            room: room(name),
            seq: Seq::new(*last_seq),
            message: None,
        }
    }

    /// The same, with the event as the in-process bus carries it: the stored message
    /// along.
    fn publish_carrying(&self, name: &str) -> RoomEvent {
        match self.publish(name) {
            RoomEvent::Published { room, seq, .. } => RoomEvent::Published {
                message: Some(Arc::new(message_in(&room, seq.get()))),
                room,
                seq,
            },
            other => other,
        }
    }

    /// What `messages_after` answers: the oldest `limit` above `after`.
    fn read(&self, room: &RoomName, after: Seq, limit: u16) -> Replay {
        let mut state = self.0.lock().unwrap();
        state.reads.push((room.to_string(), after.get()));
        let last_seq = state.last_seq.get(room).copied().unwrap_or_default();
        let end = last_seq.min(after.get() + u64::from(limit));
        Replay {
            after,
            messages: (after.get() + 1..=end)
                .map(|seq| message_in(room, seq))
                .collect(),
            last_seq: Seq::new(last_seq),
        }
    }

    fn reads(&self) -> Vec<(String, u64)> {
        self.0.lock().unwrap().reads.clone()
    }

    /// The fake store reads from these rooms, with the policy's pages of two, as often
    /// as asked; the bus takes anything.
    fn serve(&self, mocks: &mut Mocks) {
        let rooms = self.clone();
        mocks
            .rooms
            .expect_messages_after()
            .returning(move |room, after, limit| {
                assert_eq!(limit.get(), 2, "reads take the policy's page");
                Ok(rooms.read(room, after, limit.get()))
            });
        mocks.bus.expect_publish().returning(|_| Ok(()));
    }
}

/// A WebSocket connection of `user` reduced to what delivery needs: it sends a message
/// by recording its room and seq.
struct Connection<'a> {
    use_cases: &'a UseCases,
    user: UserId,
    tracker: DeliveryTracker,
    sent: Vec<(String, u64)>,
}

impl<'a> Connection<'a> {
    fn of(user: UserId, use_cases: &'a UseCases) -> Self {
        Self {
            use_cases,
            user,
            tracker: DeliveryTracker::new(),
            sent: Vec::new(),
        }
    }

    /// Joins "general" from `since` (its end when `None`) and sends what the join owes.
    async fn join_general(&mut self, since: Option<Seq>) {
        let joined = self
            .use_cases
            .join_room
            .execute(self.user, general(), since)
            .await
            .unwrap();
        self.follow(joined).await;
    }

    /// Follows the room a join or a resume answered and sends what it is owed there.
    async fn follow(&mut self, joined: JoinedRoom) {
        let room = joined.room().clone();
        self.tracker.follow(room.clone(), joined.replay_after());
        self.send(&room, joined.replay).await;
    }

    /// Sends what `page` holds above what was sent, and reads on while more is owed.
    async fn send(&mut self, room: &RoomName, mut page: Replay) {
        loop {
            let more = page.has_more();
            let from = page.resume_after();
            for message in self.tracker.admit(room, page.messages) {
                self.sent
                    .push((message.room.to_string(), message.seq.get()));
            }
            if !more {
                return;
            }
            page = self.use_cases.catch_up.execute(room, from).await.unwrap();
        }
    }

    /// Catches up `room` from what was sent there.
    async fn catch_up(&mut self, room: &RoomName, after: Seq) {
        let page = self.use_cases.catch_up.execute(room, after).await.unwrap();
        self.send(room, page).await;
    }

    /// Acts on what the bus says.
    async fn hear(&mut self, heard: Result<RoomEvent, SubscriptionError>) {
        match heard {
            Ok(RoomEvent::Published { room, seq, message }) => {
                if let Some(message) =
                    message.filter(|message| self.tracker.admit_announced(message))
                {
                    self.sent
                        .push((message.room.to_string(), message.seq.get()));
                } else if let Some(after) = self.tracker.owed_after(&room, seq) {
                    self.catch_up(&room, after).await;
                }
            }
            Ok(RoomEvent::MembershipChanged { user, room, joined }) if user == self.user => {
                if !joined {
                    self.tracker.unfollow(&room);
                } else if !self.tracker.follows(&room) {
                    match self.use_cases.resume_room.execute(user, &room).await {
                        Ok(resumed) => self.follow(resumed).await,
                        // Left again meanwhile: nothing to follow.
                        Err(RoomError::NotMember | RoomError::RoomNotFound) => {}
                        Err(error) => panic!("resume failed: {error}"),
                    }
                }
            }
            Ok(_) | Err(SubscriptionError::Closed) => {}
            Err(SubscriptionError::Lagged { .. }) => {
                // Membership may have changed among what was missed: read it again.
                let rooms = self.use_cases.list_rooms.execute(self.user).await.unwrap();
                let member_of: Vec<&RoomName> = rooms.iter().map(|summary| &summary.room).collect();
                let gone: Vec<RoomName> = self
                    .tracker
                    .followed()
                    .map(|(room, _)| room.clone())
                    .filter(|room| !member_of.contains(&room))
                    .collect();
                for room in gone {
                    self.tracker.unfollow(&room);
                }
                for summary in &rooms {
                    let after = match self.tracker.sent(&summary.room) {
                        Some(sent) => sent,
                        None => {
                            self.tracker.follow(summary.room.clone(), summary.cursor);
                            summary.cursor
                        }
                    };
                    self.catch_up(&summary.room, after).await;
                }
            }
        }
    }
}

/// Ada is a member of `name` (joined at some point), her cursor at `cursor`: what the
/// store says when she joins again or a connection resumes the room.
fn ada_is_a_member(mocks: &mut Mocks, store: &Rooms, name: &'static str, cursor: u64) {
    let rooms = store.clone();
    mocks
        .rooms
        .expect_join()
        .withf(move |room, user, _| *room == super::room(name) && *user == ADA)
        .returning(move |room, _, _| {
            let last_seq = rooms.0.lock().unwrap().last_seq[room];
            Ok(Joined {
                summary: standing(room, last_seq, cursor),
                newly_joined: false,
            })
        });
    let rooms = store.clone();
    mocks
        .rooms
        .expect_membership()
        .withf(move |room, user| *room == super::room(name) && *user == ADA)
        .returning(move |room, _| {
            let last_seq = rooms.0.lock().unwrap().last_seq[room];
            Ok(standing(room, last_seq, cursor))
        });
}

/// "general" holding `held` messages, Ada a member with her cursor at its end, and the
/// use cases over them.
fn adas_general(held: u64) -> (Rooms, UseCases) {
    let store = Rooms::with(&[("general", held)]);
    let mut mocks = Mocks::new();
    store.serve(&mut mocks);
    ada_is_a_member(&mut mocks, &store, "general", held);
    (store, mocks.use_cases())
}

fn in_general(seqs: impl IntoIterator<Item = u64>) -> Vec<(String, u64)> {
    seqs.into_iter()
        .map(|seq| ("general".into(), seq))
        .collect()
}

#[tokio::test]
async fn a_message_announced_while_a_join_replays_is_sent_once() {
    let (store, use_cases) = adas_general(4);
    let mut adas_phone = Connection::of(ADA, &use_cases);

    // The phone subscribed to the bus when it opened. Grace publishes 5 just before
    // Ada's join reads the store: the replay includes 5, and its event arrives after.
    let fifth = store.publish("general");
    adas_phone.join_general(Some(Seq::new(3))).await;
    adas_phone.hear(Ok(fifth)).await;
    let sixth = store.publish("general");
    adas_phone.hear(Ok(sixth)).await;

    assert_eq!(
        adas_phone.sent,
        in_general([4, 5, 6]),
        "each once, in order"
    );
    assert_eq!(
        store.reads(),
        in_general([3, 5]),
        "the announcement of 5 read nothing: 5 was sent already"
    );
}

#[tokio::test]
async fn a_long_replay_is_read_page_by_page_and_what_was_announced_meanwhile_is_not_sent_again() {
    let (store, use_cases) = adas_general(0);
    let mut adas_phone = Connection::of(ADA, &use_cases);

    let announced: Vec<RoomEvent> = (1..=5).map(|_| store.publish("general")).collect();
    let joined = use_cases
        .join_room
        .execute(ADA, general(), Some(Seq::ZERO))
        .await
        .unwrap();
    adas_phone.follow(joined).await;
    for event in announced {
        adas_phone.hear(Ok(event)).await;
    }

    assert_eq!(adas_phone.sent, in_general(1..=5));
    assert_eq!(
        store.reads(),
        in_general([0, 2, 4]),
        "pages of two, no more"
    );
}

#[tokio::test]
async fn announcements_lost_or_merged_are_made_good_by_the_next_one() {
    let (store, use_cases) = adas_general(2);
    let mut adas_phone = Connection::of(ADA, &use_cases);
    adas_phone.join_general(None).await;

    // Three messages; the bus delivers only the last announcement.
    store.publish("general");
    store.publish("general");
    let fifth = store.publish("general");
    adas_phone.hear(Ok(fifth)).await;

    assert_eq!(adas_phone.sent, in_general([3, 4, 5]));
}

#[tokio::test]
async fn a_connection_that_lagged_catches_up_every_room_it_is_in_from_what_it_sent() {
    let store = Rooms::with(&[("general", 2), ("random", 0), ("news", 7)]);
    let mut mocks = Mocks::new();
    store.serve(&mut mocks);
    ada_is_a_member(&mut mocks, &store, "general", 1);
    ada_is_a_member(&mut mocks, &store, "random", 0);
    let rooms = store.clone();
    // She also joined "news" on her laptop (cursor 7) and left "random" there, while
    // the phone was lagging: both announcements were among what it missed.
    mocks.rooms.expect_rooms_of().times(1).returning(move |_| {
        let last = |name: &str| rooms.0.lock().unwrap().last_seq[&room(name)];
        Ok(vec![
            standing(&general(), last("general"), 1),
            standing(&room("news"), last("news"), 7),
        ])
    });
    let use_cases = mocks.use_cases();
    let mut adas_phone = Connection::of(ADA, &use_cases);
    for name in ["general", "random"] {
        let joined = use_cases
            .join_room
            .execute(ADA, room(name), None)
            .await
            .unwrap();
        adas_phone.follow(joined).await;
    }
    assert_eq!(adas_phone.sent, in_general([2]), "above the cursor, 1");

    store.publish("general");
    store.publish("news");
    store.publish("random");
    adas_phone
        .hear(Err(SubscriptionError::Lagged { missed: 40 }))
        .await;

    assert_eq!(
        adas_phone.sent,
        [
            ("general".into(), 2),
            ("general".into(), 3),
            ("news".into(), 8)
        ],
        "general from what was sent (2, not the cursor), news from its cursor, random no more"
    );
    assert!(!adas_phone.tracker.follows(&room("random")));
}

#[tokio::test]
async fn a_room_left_elsewhere_is_no_longer_delivered_and_one_joined_elsewhere_is_followed() {
    let store = Rooms::with(&[("general", 3), ("random", 6)]);
    let mut mocks = Mocks::new();
    store.serve(&mut mocks);
    ada_is_a_member(&mut mocks, &store, "general", 3);
    ada_is_a_member(&mut mocks, &store, "random", 5);
    let use_cases = mocks.use_cases();
    let mut adas_phone = Connection::of(ADA, &use_cases);
    adas_phone.join_general(None).await;

    adas_phone
        .hear(Ok(RoomEvent::MembershipChanged {
            user: ADA,
            room: general(),
            joined: false,
        }))
        .await;
    let fourth = store.publish("general");
    adas_phone.hear(Ok(fourth)).await;
    let random_joined = || RoomEvent::MembershipChanged {
        user: ADA,
        room: room("random"),
        joined: true,
    };
    adas_phone.hear(Ok(random_joined())).await;
    adas_phone.hear(Ok(random_joined())).await;
    adas_phone
        .hear(Ok(RoomEvent::MembershipChanged {
            user: GRACE,
            room: room("news"),
            joined: true,
        }))
        .await;

    assert_eq!(
        adas_phone.sent,
        [("random".into(), 6)],
        "above her cursor, 5"
    );
    assert_eq!(
        store.reads(),
        [("general".into(), 3), ("random".into(), 5)],
        "nothing read for the room she left, nor twice for the one she joined"
    );
}

#[tokio::test]
async fn resuming_a_room_reads_above_the_cursor_and_writes_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_membership()
        .withf(|room, user| *room == general() && *user == ADA)
        .times(1)
        .returning(|room, _| Ok(standing(room, 9, 4)));
    mocks
        .rooms
        .expect_messages_after()
        .withf(|room, after, limit| *room == general() && *after == Seq::new(4) && limit.get() == 2)
        .times(1)
        .returning(|_, _, _| Ok(super::replay_of(4, [5, 6], 9)));
    mocks.rooms.expect_join().never();
    mocks.bus.expect_publish().never();

    let resumed = mocks
        .use_cases()
        .resume_room
        .execute(ADA, &general())
        .await
        .unwrap();

    assert!(!resumed.newly_joined);
    assert_eq!(resumed.replay_after(), Seq::new(4));
    assert_eq!(seqs_of(&resumed.replay.messages), [5, 6]);
    assert_eq!(resumed.last_seq(), Seq::new(9));
}

#[tokio::test]
async fn resuming_is_refused_as_the_store_says() {
    for Refusal {
        what,
        store_says: refusal,
        answered: expected,
    } in room_refusals()
    {
        let mut mocks = Mocks::new();
        mocks
            .rooms
            .expect_membership()
            .times(1)
            .returning(move |_, _| Err(refusal()));
        mocks.rooms.expect_messages_after().never();

        let result = mocks.use_cases().resume_room.execute(ADA, &general()).await;

        let error = result.expect_err(what);
        assert!(expected(&error), "{what}: got {error:?}");
    }
}

#[tokio::test]
async fn resuming_and_catching_up_pass_on_a_failing_read() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_membership()
        .returning(|room, _| Ok(standing(room, 9, 4)));
    mocks
        .rooms
        .expect_messages_after()
        .times(2)
        .returning(|_, _, _| Err(boom("messages after")));
    let use_cases = mocks.use_cases();

    let resumed = use_cases.resume_room.execute(ADA, &general()).await;
    let caught_up = use_cases.catch_up.execute(&general(), Seq::new(4)).await;

    assert!(
        matches!(resumed, Err(RoomError::Adapter(_))),
        "got {resumed:?}"
    );
    assert!(caught_up.is_err(), "got {caught_up:?}");
}

#[test]
fn the_tracker_reads_only_for_what_lies_above_what_was_sent() {
    let mut tracker = DeliveryTracker::new();
    assert_eq!(
        tracker.owed_after(&general(), Seq::new(1)),
        None,
        "a room not followed is none of this connection's business"
    );

    tracker.follow(general(), Seq::new(3));
    assert!(tracker.follows(&general()));
    assert_eq!(tracker.sent(&general()), Some(Seq::new(3)));
    for (announced, owed) in [(2, None), (3, None), (4, Some(3)), (9, Some(3))] {
        assert_eq!(
            tracker.owed_after(&general(), Seq::new(announced)),
            owed.map(Seq::new),
            "announced {announced} after sending up to 3"
        );
    }
}

#[test]
fn the_tracker_admits_each_message_once_in_order() {
    let mut tracker = DeliveryTracker::new();
    tracker.follow(general(), Seq::new(3));

    let first = tracker.admit(&general(), (2..=5).map(adas_message).collect());
    assert_eq!(seqs_of(&first), [4, 5], "what was sent is trimmed");
    assert_eq!(tracker.sent(&general()), Some(Seq::new(5)));

    let overlapping = tracker.admit(&general(), (4..=7).map(adas_message).collect());
    assert_eq!(
        seqs_of(&overlapping),
        [6, 7],
        "a read that overlaps adds the rest"
    );

    let pruned_gap = tracker.admit(&general(), [10, 11].map(adas_message).into());
    assert_eq!(
        seqs_of(&pruned_gap),
        [10, 11],
        "a gap left by retention is delivered across, not waited for"
    );
    assert_eq!(tracker.admit(&general(), Vec::new()), []);
    assert_eq!(tracker.sent(&general()), Some(Seq::new(11)));
}

#[test]
fn the_tracker_sends_nothing_for_a_room_it_stopped_following() {
    let mut tracker = DeliveryTracker::new();
    tracker.follow(general(), Seq::new(3));
    tracker.follow(room("random"), Seq::ZERO);

    assert!(tracker.unfollow(&general()));
    assert!(!tracker.unfollow(&general()), "once");
    assert_eq!(tracker.admit(&general(), vec![adas_message(4)]), []);
    assert_eq!(tracker.owed_after(&general(), Seq::new(9)), None);
    let followed: Vec<(String, u64)> = tracker
        .followed()
        .map(|(room, sent)| (room.to_string(), sent.get()))
        .collect();
    assert_eq!(followed, [("random".into(), 0)]);
}

#[test]
fn following_again_restarts_from_the_position_given() {
    let mut tracker = DeliveryTracker::new();
    tracker.follow(general(), Seq::new(8));
    // A join with `since` asks for messages again: the client will dedupe by seq.
    tracker.follow(general(), Seq::new(2));
    assert_eq!(tracker.sent(&general()), Some(Seq::new(2)));
    assert_eq!(
        tracker.owed_after(&general(), Seq::new(8)),
        Some(Seq::new(2))
    );
}

#[tokio::test]
async fn a_message_carried_by_its_event_to_a_connection_owed_only_it_is_sent_without_a_read() {
    let (store, use_cases) = adas_general(2);
    let mut adas_phone = Connection::of(ADA, &use_cases);
    adas_phone.join_general(None).await;
    let reads_after_joining = store.reads();

    for _ in 0..3 {
        let event = store.publish_carrying("general");
        adas_phone.hear(Ok(event)).await;
    }

    assert_eq!(
        adas_phone.sent,
        in_general([3, 4, 5]),
        "each once, in order"
    );
    assert_eq!(
        store.reads(),
        reads_after_joining,
        "each was exactly the next one owed: no store read"
    );
}

#[tokio::test]
async fn a_connection_behind_what_an_event_carries_reads_the_store_rather_than_skip() {
    let (store, use_cases) = adas_general(2);
    let mut adas_phone = Connection::of(ADA, &use_cases);
    adas_phone.join_general(None).await;

    // The event of 3 is lost (a lag); 4's arrives carrying 4, which is not the next
    // one owed.
    store.publish_carrying("general");
    let fourth = store.publish_carrying("general");
    adas_phone.hear(Ok(fourth)).await;
    let fifth = store.publish_carrying("general");
    adas_phone.hear(Ok(fifth)).await;

    assert_eq!(
        adas_phone.sent,
        in_general([3, 4, 5]),
        "3 read, not skipped"
    );
    assert_eq!(
        store.reads().last(),
        Some(&("general".into(), 2)),
        "one read above what was sent, then 5 came with its event"
    );
}

#[tokio::test]
async fn a_carried_message_a_replay_sent_already_is_not_sent_again() {
    let (store, use_cases) = adas_general(4);
    let mut adas_phone = Connection::of(ADA, &use_cases);

    // 5 is published just before the join's replay reads the store: the replay sends
    // it, and its event, carrying it, arrives after.
    let fifth = store.publish_carrying("general");
    adas_phone.join_general(Some(Seq::new(3))).await;
    adas_phone.hear(Ok(fifth)).await;

    assert_eq!(adas_phone.sent, in_general([4, 5]), "5 once");
}

#[test]
fn only_the_next_message_owed_in_a_followed_room_is_admitted_as_announced() {
    let mut tracker = DeliveryTracker::new();
    tracker.follow(general(), Seq::new(4));
    let cases = [
        (message_in(&room("random"), 5), false, "a room not followed"),
        (message_in(&general(), 4), false, "sent already"),
        (message_in(&general(), 6), false, "5 lies between"),
        (message_in(&general(), 5), true, "the next one"),
        (message_in(&general(), 5), false, "now sent"),
        (message_in(&general(), 6), true, "then the one after"),
    ];
    for (message, admitted, case) in cases {
        assert_eq!(tracker.admit_announced(&message), admitted, "{case}");
    }
    assert_eq!(tracker.sent(&general()), Some(Seq::new(6)));
}

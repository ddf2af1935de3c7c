//! The contract of [`RoomStore`].
//!
//! The cast: Ada and Grace are users; "general" is the room most stories happen in. Every
//! message is published at [`at`]`(2)` unless a story says otherwise.

use std::collections::BTreeSet;
use std::future::Future;
use std::num::{NonZeroU32, NonZeroU64};

use chrono::TimeDelta;

use domain::ports::RoomAccessError;
use domain::{
    HistoryPage, HistoryRequest, HistoryWindow, Message, MessageBody, MessageId, NewMessage,
    PageLimit, PersonName, Published, Retention, RoomName, RoomSummary, Sender, Seq, UserId,
};
use uuid::Uuid;

use super::{Case, Store, at, new_user, run_cases};

/// Runs every case of the contract, each against a store made by `fresh`.
///
/// # Panics
/// When the adapter breaks the contract; the case is named on standard error.
pub async fn run<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Store>,
{
    let cases: Vec<(&str, Case)> = vec![
        ("the first join creates the room with nothing in it", |s| {
            Box::pin(the_first_join_creates_the_room_with_nothing_in_it(s))
        }),
        ("a new members cursor starts at the rooms last_seq", |s| {
            Box::pin(a_new_members_cursor_starts_at_the_rooms_last_seq(s))
        }),
        ("joining again changes nothing and keeps the cursor", |s| {
            Box::pin(joining_again_changes_nothing_and_keeps_the_cursor(s))
        }),
        (
            "a user who does not exist cannot join and creates no room",
            |s| Box::pin(a_user_who_does_not_exist_cannot_join_and_creates_no_room(s)),
        ),
        (
            "leaving ends the membership but keeps the room and its history",
            |s| Box::pin(leaving_ends_the_membership_but_keeps_the_room_and_its_history(s)),
        ),
        ("leaving refuses an unknown room and a non-member", |s| {
            Box::pin(leaving_refuses_an_unknown_room_and_a_non_member(s))
        }),
        (
            "a users rooms are listed by name with last_seq and unread",
            |s| Box::pin(a_users_rooms_are_listed_by_name_with_last_seq_and_unread(s)),
        ),
        (
            "membership tells an unknown room from a room the user is not in",
            |s| Box::pin(membership_tells_an_unknown_room_from_a_room_the_user_is_not_in(s)),
        ),
        (
            "members are listed by id and an unknown room has none",
            |s| Box::pin(members_are_listed_by_id_and_an_unknown_room_has_none(s)),
        ),
        (
            "publishing assigns gap-free seqs from one and answers the stored message",
            |s| {
                Box::pin(
                    publishing_assigns_gap_free_seqs_from_one_and_answers_the_stored_message(s),
                )
            },
        ),
        (
            "publishing refuses an unknown room and a non-member and stores nothing",
            |s| Box::pin(publishing_refuses_an_unknown_room_and_a_non_member_and_stores_nothing(s)),
        ),
        (
            "republishing an id stores nothing and answers the original",
            |s| {
                Box::pin(republishing_an_id_stores_nothing_and_answers_the_original(
                    s,
                ))
            },
        ),
        ("the idempotency key is scoped per sender", |s| {
            Box::pin(the_idempotency_key_is_scoped_per_sender(s))
        }),
        ("an id reused in another room answers the original", |s| {
            Box::pin(an_id_reused_in_another_room_answers_the_original(s))
        }),
        ("membership is checked before the id", |s| {
            Box::pin(membership_is_checked_before_the_id(s))
        }),
        ("concurrent publishers get distinct gap-free seqs", |s| {
            Box::pin(concurrent_publishers_get_distinct_gap_free_seqs(s))
        }),
        ("concurrent publishes of one id store one message", |s| {
            Box::pin(concurrent_publishes_of_one_id_store_one_message(s))
        }),
        (
            "the latest page is the newest messages in ascending order",
            |s| Box::pin(the_latest_page_is_the_newest_messages_in_ascending_order(s)),
        ),
        ("paging before walks back to the first message", |s| {
            Box::pin(paging_before_walks_back_to_the_first_message(s))
        }),
        ("paging after walks forward to the last message", |s| {
            Box::pin(paging_after_walks_forward_to_the_last_message(s))
        }),
        ("history refuses an unknown room and a non-member", |s| {
            Box::pin(history_refuses_an_unknown_room_and_a_non_member(s))
        }),
        (
            "a replay reads what lies above a position with the rooms last_seq",
            |s| Box::pin(a_replay_reads_what_lies_above_a_position_with_the_rooms_last_seq(s)),
        ),
        ("acknowledging moves the cursor forward only", |s| {
            Box::pin(acknowledging_moves_the_cursor_forward_only(s))
        }),
        ("acknowledging beyond last_seq stops at last_seq", |s| {
            Box::pin(acknowledging_beyond_last_seq_stops_at_last_seq(s))
        }),
        (
            "acknowledging refuses an unknown room and a non-member",
            |s| Box::pin(acknowledging_refuses_an_unknown_room_and_a_non_member(s)),
        ),
        ("messages show their senders current names", |s| {
            Box::pin(messages_show_their_senders_current_names(s))
        }),
        (
            "a write that cannot commit is an error and keeps nothing",
            |s| Box::pin(a_write_that_cannot_commit_is_an_error_and_keeps_nothing(s)),
        ),
        (
            "retention by count keeps each rooms newest messages and its last_seq",
            |s| Box::pin(retention_by_count_keeps_each_rooms_newest_messages_and_its_last_seq(s)),
        ),
        (
            "retention by age removes the oldest messages up to the first young one",
            |s| Box::pin(retention_by_age_removes_the_oldest_messages_up_to_the_first_young_one(s)),
        ),
        (
            "pruning stops at its limit and resumes where it stopped",
            |s| Box::pin(pruning_stops_at_its_limit_and_resumes_where_it_stopped(s)),
        ),
        ("keeping everything removes nothing", |s| {
            Box::pin(keeping_everything_removes_nothing(s))
        }),
    ];
    run_cases("RoomStore", &fresh, cases).await;
}

/// Stores a user with these names and returns the id.
async fn person(store: &Store, email: &str, first_name: &str, last_name: &str) -> UserId {
    let mut user = new_user(email);
    user.user.first_name = PersonName::parse(first_name).unwrap();
    user.user.last_name = PersonName::parse(last_name).unwrap();
    let id = user.user.id;
    store.users.insert(user).await.unwrap();
    id
}

/// Ada and Grace, stored.
async fn ada_and_grace(store: &Store) -> (UserId, UserId) {
    (
        person(store, "ada@example.com", "Ada", "Lovelace").await,
        person(store, "grace@example.com", "Grace", "Hopper").await,
    )
}

fn room(raw: &str) -> RoomName {
    RoomName::parse(raw).unwrap()
}

fn seq(n: u64) -> Seq {
    Seq::new(n)
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|message| message.seq.get()).collect()
}

fn summary(raw: &str, last_seq: u64, cursor: u64) -> RoomSummary {
    RoomSummary {
        room: room(raw),
        last_seq: seq(last_seq),
        cursor: seq(cursor),
    }
}

fn someone_unknown() -> UserId {
    UserId::from_uuid(Uuid::new_v4())
}

/// A message with this id and body, published at `at(2)`.
fn message(raw_room: &str, sender: UserId, id: &str, body: &str) -> NewMessage {
    NewMessage {
        room: room(raw_room),
        id: MessageId::parse(id).unwrap(),
        sender,
        body: MessageBody::parse(body, 1024).unwrap(),
        created_at: at(2),
    }
}

async fn join(store: &Store, raw_room: &str, user: UserId) -> domain::Joined {
    store
        .rooms
        .join(&room(raw_room), user, at(1))
        .await
        .unwrap()
}

async fn publish(store: &Store, raw_room: &str, sender: UserId, id: &str) -> Published {
    store
        .rooms
        .publish(message(raw_room, sender, id, &format!("body of {id}")))
        .await
        .unwrap()
}

/// Ada joins "general" and publishes `count` messages, `m1`, `m2`, …
async fn ada_publishes(store: &Store, ada: UserId, count: u64) {
    join(store, "general", ada).await;
    for n in 1..=count {
        publish(store, "general", ada, &format!("m{n}")).await;
    }
}

async fn page(store: &Store, reader: UserId, window: HistoryWindow, limit: u64) -> HistoryPage {
    store
        .rooms
        .history(
            &room("general"),
            reader,
            HistoryRequest {
                window,
                limit: PageLimit::new(limit).unwrap(),
            },
        )
        .await
        .unwrap()
}

async fn membership(
    store: &Store,
    raw_room: &str,
    user: UserId,
) -> Result<RoomSummary, RoomAccessError> {
    store.rooms.membership(&room(raw_room), user).await
}

async fn last_seq(store: &Store, user: UserId) -> u64 {
    membership(store, "general", user)
        .await
        .unwrap()
        .last_seq
        .get()
}

async fn the_first_join_creates_the_room_with_nothing_in_it(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;

    let joined = join(&store, "general", ada).await;

    assert!(joined.newly_joined);
    assert_eq!(joined.summary, summary("general", 0, 0));
    assert_eq!(joined.summary.unread(), 0);
    assert_eq!(
        membership(&store, "general", ada).await.unwrap(),
        summary("general", 0, 0)
    );
    assert_eq!(
        store.rooms.rooms_of(ada).await.unwrap(),
        vec![summary("general", 0, 0)]
    );
    assert_eq!(store.rooms.members(&room("general")).await.unwrap(), [ada]);
}

async fn a_new_members_cursor_starts_at_the_rooms_last_seq(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 3).await;

    let joined = join(&store, "general", grace).await;

    assert!(joined.newly_joined);
    assert_eq!(
        joined.summary,
        summary("general", 3, 3),
        "Grace is owed what comes next, not what came before"
    );
    assert_eq!(
        membership(&store, "general", ada).await.unwrap().unread(),
        3,
        "publishing does not move the sender's cursor: their connections get their \
         own messages too, and ack them"
    );
}

async fn joining_again_changes_nothing_and_keeps_the_cursor(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    join(&store, "general", grace).await;
    ada_publishes(&store, ada, 3).await;
    store
        .rooms
        .acknowledge(&room("general"), grace, seq(2))
        .await
        .unwrap();

    let again = join(&store, "general", grace).await;

    assert!(!again.newly_joined);
    assert_eq!(again.summary, summary("general", 3, 2));
    assert_eq!(
        store.rooms.members(&room("general")).await.unwrap().len(),
        2
    );
}

async fn a_user_who_does_not_exist_cannot_join_and_creates_no_room(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;

    let outcome = store
        .rooms
        .join(&room("general"), someone_unknown(), at(1))
        .await;

    assert!(outcome.is_err(), "gave {outcome:?}");
    assert!(matches!(
        membership(&store, "general", ada).await,
        Err(RoomAccessError::RoomNotFound)
    ));
}

async fn leaving_ends_the_membership_but_keeps_the_room_and_its_history(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    join(&store, "general", grace).await;
    ada_publishes(&store, ada, 2).await;
    store
        .rooms
        .acknowledge(&room("general"), grace, seq(1))
        .await
        .unwrap();

    store.rooms.leave(&room("general"), grace).await.unwrap();

    assert!(matches!(
        membership(&store, "general", grace).await,
        Err(RoomAccessError::NotMember)
    ));
    assert_eq!(store.rooms.rooms_of(grace).await.unwrap(), []);
    assert_eq!(store.rooms.members(&room("general")).await.unwrap(), [ada]);
    let history = page(&store, ada, HistoryWindow::Latest, 50).await;
    assert_eq!(seqs(&history.messages), [1, 2], "the history stays");

    let rejoined = join(&store, "general", grace).await;
    assert!(rejoined.newly_joined);
    assert_eq!(
        rejoined.summary,
        summary("general", 2, 2),
        "the old cursor was forgotten: Grace is a new member again"
    );
}

async fn leaving_refuses_an_unknown_room_and_a_non_member(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    assert!(matches!(
        store.rooms.leave(&room("nowhere"), ada).await,
        Err(RoomAccessError::RoomNotFound)
    ));
    join(&store, "general", ada).await;
    assert!(matches!(
        store.rooms.leave(&room("general"), grace).await,
        Err(RoomAccessError::NotMember)
    ));
    store.rooms.leave(&room("general"), ada).await.unwrap();
    // Leaving twice: the second time Ada is no longer a member.
    let again = store.rooms.leave(&room("general"), ada).await;
    assert!(
        matches!(again, Err(RoomAccessError::NotMember)),
        "{again:?}"
    );
}

async fn a_users_rooms_are_listed_by_name_with_last_seq_and_unread(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    for name in ["zeta", "alpha", "mid"] {
        join(&store, name, ada).await;
    }
    join(&store, "alpha", grace).await;
    publish(&store, "alpha", grace, "a1").await;
    publish(&store, "alpha", grace, "a2").await;
    publish(&store, "zeta", ada, "z1").await;
    store
        .rooms
        .acknowledge(&room("zeta"), ada, seq(1))
        .await
        .unwrap();

    let adas = store.rooms.rooms_of(ada).await.unwrap();

    assert_eq!(
        adas,
        [
            summary("alpha", 2, 0),
            summary("mid", 0, 0),
            summary("zeta", 1, 1)
        ]
    );
    let unread: Vec<u64> = adas.iter().map(RoomSummary::unread).collect();
    assert_eq!(unread, [2, 0, 0]);
    assert_eq!(
        store.rooms.rooms_of(grace).await.unwrap(),
        [summary("alpha", 2, 0)]
    );
    assert_eq!(store.rooms.rooms_of(someone_unknown()).await.unwrap(), []);
}

async fn membership_tells_an_unknown_room_from_a_room_the_user_is_not_in(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    assert!(matches!(
        membership(&store, "general", ada).await,
        Err(RoomAccessError::RoomNotFound)
    ));
    join(&store, "general", ada).await;
    assert!(matches!(
        membership(&store, "general", grace).await,
        Err(RoomAccessError::NotMember)
    ));
    assert_eq!(
        membership(&store, "general", ada).await.unwrap(),
        summary("general", 0, 0)
    );
}

async fn members_are_listed_by_id_and_an_unknown_room_has_none(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    join(&store, "general", grace).await;
    join(&store, "general", ada).await;
    join(&store, "random", ada).await;

    let mut expected = vec![ada, grace];
    expected.sort();
    assert_eq!(
        store.rooms.members(&room("general")).await.unwrap(),
        expected
    );
    assert_eq!(store.rooms.members(&room("random")).await.unwrap(), [ada]);
    assert_eq!(store.rooms.members(&room("nowhere")).await.unwrap(), []);
}

async fn publishing_assigns_gap_free_seqs_from_one_and_answers_the_stored_message(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    join(&store, "general", grace).await;

    let first = store
        .rooms
        .publish(message("general", ada, "m-1", "hello"))
        .await
        .unwrap();
    let second = publish(&store, "general", grace, "m-2").await;
    let third = publish(&store, "general", ada, "m-3").await;

    assert_eq!(
        first,
        Published {
            message: Message {
                room: room("general"),
                seq: seq(1),
                id: MessageId::parse("m-1").unwrap(),
                sender: Sender {
                    id: ada,
                    first_name: PersonName::parse("Ada").unwrap(),
                    last_name: PersonName::parse("Lovelace").unwrap(),
                },
                body: MessageBody::parse("hello", 1024).unwrap(),
                created_at: at(2),
            },
            duplicate: false,
        }
    );
    assert_eq!(second.message.seq, seq(2));
    assert_eq!(second.message.sender.first_name.as_ref(), "Grace");
    assert!(!second.duplicate);
    assert_eq!(third.message.seq, seq(3));
    assert_eq!(last_seq(&store, ada).await, 3);
    let history = page(&store, ada, HistoryWindow::Latest, 50).await;
    assert_eq!(
        history.messages,
        [first.message, second.message, third.message],
        "history reads back what publishing answered"
    );
}

async fn publishing_refuses_an_unknown_room_and_a_non_member_and_stores_nothing(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    let to_nowhere = store
        .rooms
        .publish(message("nowhere", ada, "m-1", "hi"))
        .await;
    assert!(
        matches!(to_nowhere, Err(RoomAccessError::RoomNotFound)),
        "gave {to_nowhere:?}"
    );
    join(&store, "general", ada).await;

    let from_outsider = store
        .rooms
        .publish(message("general", grace, "m-1", "hi"))
        .await;

    assert!(
        matches!(from_outsider, Err(RoomAccessError::NotMember)),
        "gave {from_outsider:?}"
    );
    assert_eq!(last_seq(&store, ada).await, 0);
    join(&store, "general", grace).await;
    let once_a_member = publish(&store, "general", grace, "m-1").await;
    assert!(
        !once_a_member.duplicate,
        "the refused publishes kept nothing under their id"
    );
    assert_eq!(once_a_member.message.seq, seq(1), "and left no gap");
}

async fn republishing_an_id_stores_nothing_and_answers_the_original(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    let original = store
        .rooms
        .publish(message("general", ada, "m-1", "hello"))
        .await
        .unwrap();

    let mut retry = message("general", ada, "m-1", "hello, edited");
    retry.created_at = at(5);
    let again = store.rooms.publish(retry).await.unwrap();

    assert_eq!(
        again,
        Published {
            message: original.message.clone(),
            duplicate: true
        },
        "the original as stored: its seq, body and instant"
    );
    assert_eq!(last_seq(&store, ada).await, 1, "last_seq did not move");
    let next = publish(&store, "general", ada, "m-2").await;
    assert_eq!(
        next.message.seq,
        seq(2),
        "no seq was spent on the duplicate"
    );
    let history = page(&store, ada, HistoryWindow::Latest, 50).await;
    assert_eq!(seqs(&history.messages), [1, 2]);
}

async fn the_idempotency_key_is_scoped_per_sender(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    join(&store, "general", grace).await;

    let adas = publish(&store, "general", ada, "m-1").await;
    let graces = publish(&store, "general", grace, "m-1").await;

    assert!(!adas.duplicate);
    assert!(!graces.duplicate, "Grace's m-1 is not Ada's");
    assert_eq!((adas.message.seq, graces.message.seq), (seq(1), seq(2)));
}

async fn an_id_reused_in_another_room_answers_the_original(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    join(&store, "random", ada).await;
    let original = publish(&store, "general", ada, "m-1").await;

    let elsewhere = publish(&store, "random", ada, "m-1").await;

    assert!(elsewhere.duplicate);
    assert_eq!(elsewhere.message, original.message);
    assert_eq!(elsewhere.message.room, room("general"));
    assert_eq!(
        membership(&store, "random", ada).await.unwrap().last_seq,
        Seq::ZERO,
        "nothing was stored in random"
    );
}

async fn membership_is_checked_before_the_id(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    publish(&store, "general", ada, "m-1").await;
    store.rooms.leave(&room("general"), ada).await.unwrap();

    let retry = store
        .rooms
        .publish(message("general", ada, "m-1", "body of m-1"))
        .await;

    assert!(
        matches!(retry, Err(RoomAccessError::NotMember)),
        "a former member is refused, even for a message already stored: {retry:?}"
    );
}

async fn concurrent_publishers_get_distinct_gap_free_seqs(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    join(&store, "general", grace).await;
    let attempts: Vec<NewMessage> = (1..=5)
        .flat_map(|n| {
            [
                message("general", ada, &format!("ada-{n}"), "hi"),
                message("general", grace, &format!("grace-{n}"), "hi"),
            ]
        })
        .collect();

    let published = futures_util::future::join_all(
        attempts
            .into_iter()
            .map(|attempt| store.rooms.publish(attempt)),
    )
    .await;

    let mut assigned: Vec<u64> = published
        .iter()
        .flatten()
        .filter(|published| !published.duplicate)
        .map(|published| published.message.seq.get())
        .collect();
    assert_eq!(
        assigned.len(),
        published.len(),
        "each concurrent publish stored a new message: {published:?}"
    );
    assigned.sort_unstable();
    assert_eq!(assigned, (1..=10).collect::<Vec<_>>(), "distinct, gap-free");
    assert_eq!(last_seq(&store, ada).await, 10);
    let history = page(&store, ada, HistoryWindow::Latest, 50).await;
    assert_eq!(seqs(&history.messages), (1..=10).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = history
        .messages
        .iter()
        .map(|message| message.id.as_ref())
        .collect();
    assert_eq!(ids.len(), 10, "every publish is stored once");
}

async fn concurrent_publishes_of_one_id_store_one_message(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    let retries: Vec<NewMessage> = (1..=4)
        .map(|n| message("general", ada, "m-1", &format!("attempt {n}")))
        .collect();

    let published: Vec<Published> =
        futures_util::future::join_all(retries.into_iter().map(|retry| store.rooms.publish(retry)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();

    let stored: Vec<&Published> = published.iter().filter(|p| !p.duplicate).collect();
    assert_eq!(stored.len(), 1, "exactly one stored: {published:?}");
    for answer in &published {
        assert_eq!(
            answer.message, stored[0].message,
            "every answer is the one stored message"
        );
    }
    assert_eq!(stored[0].message.seq, seq(1));
    assert_eq!(last_seq(&store, ada).await, 1);
    let history = page(&store, ada, HistoryWindow::Latest, 50).await;
    assert_eq!(seqs(&history.messages), [1]);
}

async fn the_latest_page_is_the_newest_messages_in_ascending_order(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    let empty = page(&store, ada, HistoryWindow::Latest, 50).await;
    assert_eq!(
        empty,
        HistoryPage {
            messages: vec![],
            has_more: false
        },
        "an empty room"
    );
    for n in 1..=5 {
        publish(&store, "general", ada, &format!("m{n}")).await;
    }

    for (limit, expected, has_more) in [
        (2, vec![4, 5], true),
        (4, vec![2, 3, 4, 5], true),
        (5, vec![1, 2, 3, 4, 5], false),
        (200, vec![1, 2, 3, 4, 5], false),
    ] {
        let latest = page(&store, ada, HistoryWindow::Latest, limit).await;
        assert_eq!(seqs(&latest.messages), expected, "latest, limit {limit}");
        assert_eq!(latest.has_more, has_more, "latest, limit {limit}");
    }
}

async fn paging_before_walks_back_to_the_first_message(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 5).await;

    for (before, limit, expected, has_more) in [
        (4, 2, vec![2, 3], true),
        (2, 2, vec![1], false),
        (3, 2, vec![1, 2], false),
        (1, 2, vec![], false),
        (0, 2, vec![], false),
        (99, 2, vec![4, 5], true),
        (u64::MAX, 200, vec![1, 2, 3, 4, 5], false),
    ] {
        let older = page(&store, ada, HistoryWindow::Before(seq(before)), limit).await;
        assert_eq!(
            seqs(&older.messages),
            expected,
            "before {before}, limit {limit}"
        );
        assert_eq!(older.has_more, has_more, "before {before}, limit {limit}");
    }
}

async fn paging_after_walks_forward_to_the_last_message(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 5).await;

    for (after, limit, expected, has_more) in [
        (0, 2, vec![1, 2], true),
        (2, 3, vec![3, 4, 5], false),
        (2, 2, vec![3, 4], true),
        (4, 2, vec![5], false),
        (5, 2, vec![], false),
        (99, 2, vec![], false),
        (u64::MAX, 2, vec![], false),
    ] {
        let newer = page(&store, ada, HistoryWindow::After(seq(after)), limit).await;
        assert_eq!(
            seqs(&newer.messages),
            expected,
            "after {after}, limit {limit}"
        );
        assert_eq!(newer.has_more, has_more, "after {after}, limit {limit}");
    }
}

async fn history_refuses_an_unknown_room_and_a_non_member(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    let unknown = store
        .rooms
        .history(&room("general"), ada, HistoryRequest::default())
        .await;
    assert!(
        matches!(unknown, Err(RoomAccessError::RoomNotFound)),
        "gave {unknown:?}"
    );
    ada_publishes(&store, ada, 1).await;

    let outsider = store
        .rooms
        .history(&room("general"), grace, HistoryRequest::default())
        .await;

    assert!(
        matches!(outsider, Err(RoomAccessError::NotMember)),
        "gave {outsider:?}"
    );
}

async fn a_replay_reads_what_lies_above_a_position_with_the_rooms_last_seq(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 5).await;
    let general = room("general");
    let two = PageLimit::new(2).unwrap();

    let first = store
        .rooms
        .messages_after(&general, seq(1), two)
        .await
        .unwrap();
    assert_eq!(first.after, seq(1));
    assert_eq!(seqs(&first.messages), [2, 3]);
    assert_eq!(first.last_seq, seq(5));
    assert!(first.recovered());
    assert!(first.has_more());

    let rest = store
        .rooms
        .messages_after(&general, first.resume_after(), two)
        .await
        .unwrap();
    assert_eq!(seqs(&rest.messages), [4, 5]);
    assert!(!rest.has_more());

    let caught_up = store
        .rooms
        .messages_after(&general, seq(5), two)
        .await
        .unwrap();
    assert_eq!(seqs(&caught_up.messages), Vec::<u64>::new());
    assert!(caught_up.recovered());

    let unknown = store
        .rooms
        .messages_after(&room("nowhere"), Seq::ZERO, two)
        .await
        .unwrap();
    assert_eq!(unknown.messages, []);
    assert_eq!(
        unknown.last_seq,
        Seq::ZERO,
        "an unknown room reads as empty"
    );
}

async fn acknowledging_moves_the_cursor_forward_only(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 5).await;
    let general = room("general");

    for (acked, cursor) in [(3, 3), (2, 3), (3, 3), (0, 3), (4, 4)] {
        let moved = store
            .rooms
            .acknowledge(&general, ada, seq(acked))
            .await
            .unwrap();
        assert_eq!(moved, seq(cursor), "acked {acked}");
    }
    let standing = membership(&store, "general", ada).await.unwrap();
    assert_eq!(standing, summary("general", 5, 4));
    assert_eq!(standing.unread(), 1);
}

async fn acknowledging_beyond_last_seq_stops_at_last_seq(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 5).await;
    let general = room("general");

    for acked in [99, u64::MAX] {
        let moved = store
            .rooms
            .acknowledge(&general, ada, seq(acked))
            .await
            .unwrap();
        assert_eq!(moved, seq(5), "acked {acked}");
    }
    publish(&store, "general", ada, "m6").await;
    assert_eq!(
        membership(&store, "general", ada).await.unwrap().unread(),
        1,
        "the message published after the ack is unread"
    );
}

async fn acknowledging_refuses_an_unknown_room_and_a_non_member(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    assert!(matches!(
        store.rooms.acknowledge(&room("general"), ada, seq(1)).await,
        Err(RoomAccessError::RoomNotFound)
    ));
    ada_publishes(&store, ada, 1).await;
    assert!(matches!(
        store
            .rooms
            .acknowledge(&room("general"), grace, seq(1))
            .await,
        Err(RoomAccessError::NotMember)
    ));
}

async fn messages_show_their_senders_current_names(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 1).await;

    store
        .users
        .update_names(
            ada,
            PersonName::parse("Augusta").unwrap(),
            PersonName::parse("King").unwrap(),
            at(3),
        )
        .await
        .unwrap();

    let history = page(&store, ada, HistoryWindow::Latest, 50).await;
    let sender = &history.messages[0].sender;
    assert_eq!(
        (sender.first_name.as_ref(), sender.last_name.as_ref()),
        ("Augusta", "King")
    );
}

async fn a_write_that_cannot_commit_is_an_error_and_keeps_nothing(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 2).await;
    store.faults.fail_commits(true);

    let new_room = store.rooms.join(&room("random"), ada, at(3)).await;
    assert!(new_room.is_err(), "join creating a room: {new_room:?}");
    let new_member = store.rooms.join(&room("general"), grace, at(3)).await;
    assert!(new_member.is_err(), "join: {new_member:?}");
    let left = store.rooms.leave(&room("general"), ada).await;
    assert!(left.is_err(), "leave: {left:?}");
    let published = store
        .rooms
        .publish(message("general", ada, "m-lost", "hi"))
        .await;
    assert!(published.is_err(), "publish: {published:?}");
    let acked = store.rooms.acknowledge(&room("general"), ada, seq(2)).await;
    assert!(acked.is_err(), "acknowledge: {acked:?}");
    let pruned = store
        .rooms
        .prune(keep_newest(1), at(9), prune_limit(100))
        .await;
    assert!(pruned.is_err(), "prune: {pruned:?}");

    store.faults.fail_commits(false);
    let random = membership(&store, "random", ada).await;
    assert!(
        matches!(random, Err(RoomAccessError::RoomNotFound)),
        "the failed join created no room: {random:?}"
    );
    let graces = membership(&store, "general", grace).await;
    assert!(
        matches!(graces, Err(RoomAccessError::NotMember)),
        "the failed join made no member: {graces:?}"
    );
    assert_eq!(
        membership(&store, "general", ada).await.unwrap(),
        summary("general", 2, 0),
        "Ada is still a member, last_seq did not move, her cursor did not move"
    );
    assert_eq!(
        all_of(&store, ada, "general").await,
        [1, 2],
        "the failed prune removed nothing"
    );
    let retried = publish(&store, "general", ada, "m-lost").await;
    assert!(
        !retried.duplicate,
        "the failed publish kept nothing under its id"
    );
    assert_eq!(retried.message.seq, seq(3), "and left no gap");
}

fn keep_newest(count: u64) -> Retention {
    Retention {
        max_messages: NonZeroU64::new(count),
        max_age: None,
    }
}

fn prune_limit(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

async fn all_of(store: &Store, reader: UserId, raw_room: &str) -> Vec<u64> {
    let page = store
        .rooms
        .history(
            &room(raw_room),
            reader,
            HistoryRequest {
                window: HistoryWindow::Latest,
                limit: PageLimit::MAX,
            },
        )
        .await
        .unwrap();
    seqs(&page.messages)
}

async fn retention_by_count_keeps_each_rooms_newest_messages_and_its_last_seq(store: Store) {
    let (ada, grace) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 5).await;
    join(&store, "random", grace).await;
    publish(&store, "random", grace, "r1").await;

    let removed = store
        .rooms
        .prune(keep_newest(2), at(9), prune_limit(100))
        .await
        .unwrap();

    assert_eq!(removed, 3);
    assert_eq!(all_of(&store, ada, "general").await, [4, 5]);
    assert_eq!(
        all_of(&store, grace, "random").await,
        [1],
        "within its limit"
    );
    assert_eq!(last_seq(&store, ada).await, 5, "last_seq never goes down");
    let replay = store
        .rooms
        .messages_after(&room("general"), Seq::ZERO, PageLimit::MAX)
        .await
        .unwrap();
    assert_eq!(seqs(&replay.messages), [4, 5], "what remains is delivered");
    assert!(!replay.recovered(), "and the gap is reported");
    assert_eq!(
        publish(&store, "general", ada, "m6").await.message.seq,
        seq(6),
        "seqs are never reused"
    );
    assert_eq!(
        membership(&store, "general", ada).await.unwrap(),
        summary("general", 6, 0),
        "members and cursors stay"
    );
}

async fn retention_by_age_removes_the_oldest_messages_up_to_the_first_young_one(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    join(&store, "general", ada).await;
    // The clock stepped back between the second and third publishes.
    for (id, minute) in [("m1", 1), ("m2", 5), ("m3", 2), ("m4", 6)] {
        let mut message = message("general", ada, id, "hi");
        message.created_at = at(minute);
        store.rooms.publish(message).await.unwrap();
    }
    join(&store, "random", ada).await;
    publish(&store, "random", ada, "r1").await;
    let six_minutes = Retention {
        max_messages: None,
        max_age: Some(TimeDelta::minutes(6)),
    };

    let removed = store
        .rooms
        .prune(six_minutes, at(10), prune_limit(100))
        .await
        .unwrap();

    assert_eq!(removed, 2, "m1 of general and r1 (at 2) of random");
    assert_eq!(
        all_of(&store, ada, "general").await,
        [2, 3, 4],
        "the old m3 stays behind the young m2: no hole in the middle"
    );
    assert_eq!(all_of(&store, ada, "random").await, Vec::<u64>::new());
    assert_eq!(
        publish(&store, "random", ada, "r2").await.message.seq,
        seq(2),
        "an emptied room goes on from its last_seq"
    );
}

async fn pruning_stops_at_its_limit_and_resumes_where_it_stopped(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 5).await;
    join(&store, "random", ada).await;
    for n in 1..=3 {
        publish(&store, "random", ada, &format!("r{n}")).await;
    }
    let prune = || store.rooms.prune(keep_newest(1), at(9), prune_limit(4));

    assert_eq!(prune().await.unwrap(), 4, "a full pass");
    assert_eq!(prune().await.unwrap(), 2, "the rest");
    assert_eq!(prune().await.unwrap(), 0, "nothing left");
    assert_eq!(all_of(&store, ada, "general").await, [5]);
    assert_eq!(all_of(&store, ada, "random").await, [3]);
}

async fn keeping_everything_removes_nothing(store: Store) {
    let (ada, _) = ada_and_grace(&store).await;
    ada_publishes(&store, ada, 3).await;

    let removed = store
        .rooms
        .prune(Retention::KEEP_EVERYTHING, at(59), prune_limit(100))
        .await
        .unwrap();

    assert_eq!(removed, 0);
    assert_eq!(all_of(&store, ada, "general").await, [1, 2, 3]);
}

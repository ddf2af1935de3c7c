//! Publish: checked against the policy (bodies of at most 16 bytes in these stories),
//! stored with the room's next seq, and only then announced; a duplicate is answered
//! with the original and never announced again; a bus that fails is not the sender's
//! problem.

use std::sync::Arc;

use domain::ports::RoomEvent;
use domain::{MessageBodyError, MessageId, MessageIdError, Published, Seq};
use mockall::Sequence;
use uuid::Uuid;

use super::{ADA, Logs, Mocks, Refusal, adas_message, boom, general, now, publish_refusals};
use crate::{InvalidMessage, PublishCommand, PublishError};

/// Ada's message to "general", with the client's id when given.
fn command(body: &str, id: Option<&str>) -> PublishCommand {
    PublishCommand {
        room: general(),
        body: body.to_owned(),
        id: id.map(str::to_owned),
    }
}

/// The store takes Ada's message `id` saying `body` and answers it stored as `seq`
/// (or, for a duplicate, the original `seq`), once.
fn store_takes(mocks: &mut Mocks, id: MessageId, body: &'static str, seq: u64, duplicate: bool) {
    mocks
        .rooms
        .expect_publish()
        .withf(move |new| {
            new.room == general()
                && new.id == id
                && new.sender == ADA
                && new.body.as_ref() == body
                && new.created_at == now()
        })
        .times(1)
        .returning(move |new| {
            Ok(Published {
                message: domain::Message {
                    id: new.id,
                    body: new.body,
                    ..adas_message(seq)
                },
                duplicate,
            })
        });
}

fn client_id(raw: &str) -> MessageId {
    MessageId::parse(raw).unwrap()
}

#[tokio::test]
async fn a_message_is_stored_before_it_is_announced() {
    let mut mocks = Mocks::new();
    let mut order = Sequence::new();
    mocks
        .rooms
        .expect_publish()
        .times(1)
        .in_sequence(&mut order)
        .returning(|new| {
            Ok(Published {
                message: domain::Message {
                    id: new.id,
                    ..adas_message(4)
                },
                duplicate: false,
            })
        });
    mocks
        .bus
        .expect_publish()
        .withf(|event| {
            *event
                == RoomEvent::Published {
                    room: general(),
                    seq: Seq::new(4),
                    message: Some(Arc::new(domain::Message {
                        id: client_id("c-1"),
                        ..adas_message(4)
                    })),
                }
        })
        .times(1)
        .in_sequence(&mut order)
        .returning(|_| Ok(()));

    let published = mocks
        .use_cases()
        .publish
        .execute(ADA, command("hello", Some("c-1")))
        .await
        .unwrap();

    assert!(!published.duplicate);
    assert_eq!(published.message.seq, Seq::new(4));
    assert_eq!(published.message.id, client_id("c-1"));
}

#[tokio::test]
async fn the_clients_id_is_kept_and_the_body_is_stored_as_sent() {
    let mut mocks = Mocks::new();
    store_takes(&mut mocks, client_id(" c-1 "), "  two\nlines ", 1, false);
    mocks.bus.expect_publish().times(1).returning(|_| Ok(()));
    mocks.ids.expect_new_id().never();

    let published = mocks
        .use_cases()
        .publish
        .execute(ADA, command("  two\nlines ", Some(" c-1 ")))
        .await
        .unwrap();

    assert_eq!(published.message.body.as_ref(), "  two\nlines ");
}

#[tokio::test]
async fn a_message_without_an_id_gets_a_fresh_uuid() {
    const ASSIGNED: Uuid = Uuid::from_u128(0x1d);
    let mut mocks = Mocks::new();
    mocks.ids.expect_new_id().times(1).return_const(ASSIGNED);
    store_takes(&mut mocks, MessageId::from_uuid(ASSIGNED), "hi", 1, false);
    mocks.bus.expect_publish().times(1).returning(|_| Ok(()));

    let published = mocks
        .use_cases()
        .publish
        .execute(ADA, command("hi", None))
        .await
        .unwrap();

    assert_eq!(
        published.message.id.as_ref(),
        "00000000-0000-0000-0000-00000000001d"
    );
}

#[tokio::test]
async fn a_duplicate_is_answered_with_the_original_and_not_announced_again() {
    let mut mocks = Mocks::new();
    store_takes(&mut mocks, client_id("c-1"), "again", 3, true);
    mocks.bus.expect_publish().never();

    let published = mocks
        .use_cases()
        .publish
        .execute(ADA, command("again", Some("c-1")))
        .await
        .unwrap();

    assert!(published.duplicate);
    assert_eq!(
        published.message.seq,
        Seq::new(3),
        "the original's seq, acked again"
    );
}

#[tokio::test]
async fn every_bad_field_is_named_at_once_and_nothing_is_stored() {
    let too_long = "x".repeat(17);
    let cases = [
        (
            "an empty body",
            command("", None),
            InvalidMessage {
                body: Some(MessageBodyError::Empty),
                id: None,
            },
        ),
        (
            "a blank body",
            command(" \n\t", Some("c-1")),
            InvalidMessage {
                body: Some(MessageBodyError::Empty),
                id: None,
            },
        ),
        (
            "a body one byte over the policy",
            command(&too_long, None),
            InvalidMessage {
                body: Some(MessageBodyError::TooLong { max_bytes: 16 }),
                id: None,
            },
        ),
        (
            "an empty id",
            command("hello", Some("")),
            InvalidMessage {
                body: None,
                id: Some(MessageIdError::Empty),
            },
        ),
        (
            "a NUL in the body and a line feed in the id",
            command("a\0b", Some("c\n1")),
            InvalidMessage {
                body: Some(MessageBodyError::ContainsNul),
                id: Some(MessageIdError::ControlOrFormattingCharacter),
            },
        ),
    ];
    for (what, command, expected) in cases {
        let mut mocks = Mocks::new();
        mocks.rooms.expect_publish().never();
        mocks.ids.expect_new_id().never();
        mocks.bus.expect_publish().never();

        let result = mocks.use_cases().publish.execute(ADA, command).await;

        match result {
            Err(PublishError::Invalid(invalid)) => assert_eq!(invalid, expected, "{what}"),
            other => panic!("{what}: got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_body_of_exactly_the_policys_size_is_taken() {
    let mut mocks = Mocks::new();
    store_takes(&mut mocks, client_id("c-1"), "sixteen bytes!!!", 1, false);
    mocks.bus.expect_publish().times(1).returning(|_| Ok(()));

    let result = mocks
        .use_cases()
        .publish
        .execute(ADA, command("sixteen bytes!!!", Some("c-1")))
        .await;

    assert!(result.is_ok(), "got {result:?}");
}

#[tokio::test]
async fn a_publish_the_store_refuses_is_answered_as_it_says_and_nothing_is_announced() {
    for Refusal {
        what,
        store_says: refusal,
        answered: expected,
    } in publish_refusals()
    {
        let mut mocks = Mocks::new();
        mocks
            .rooms
            .expect_publish()
            .times(1)
            .returning(move |_| Err(refusal()));
        mocks.bus.expect_publish().never();

        let result = mocks
            .use_cases()
            .publish
            .execute(ADA, command("hello", Some("c-1")))
            .await;

        let error = result.expect_err(what);
        assert!(expected(&error), "{what}: got {error:?}");
    }
}

#[tokio::test]
async fn a_bus_that_fails_after_the_store_is_logged_and_the_message_is_still_published() {
    let (logs, _capturing) = Logs::capture();
    let mut mocks = Mocks::new();
    store_takes(&mut mocks, client_id("c-1"), "private words", 1, false);
    mocks
        .bus
        .expect_publish()
        .times(1)
        .returning(|_| Err(boom("notify")));

    let published = mocks
        .use_cases()
        .publish
        .execute(ADA, command("private words", Some("c-1")))
        .await;

    // The message is stored: the sender gets its ack, and members get it from the store
    // at the next event or connection.
    assert!(published.is_ok(), "got {published:?}");
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("WARN") && line.contains("notify")),
        "the bus failure was not logged with its cause: {lines:#?}"
    );
    assert!(
        lines.iter().all(|line| !line.contains("private words")),
        "what people say stays out of the logs: {lines:#?}"
    );
}

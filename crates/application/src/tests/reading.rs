//! ListRooms, History and Acknowledge: what a member reads and how far they have read,
//! each refused for a room that does not exist or that the user is not in.

use domain::{HistoryPage, HistoryRequest, HistoryWindow, PageLimit, Seq};

use super::{
    ADA, Mocks, Refusal, adas_message, boom, general, room, room_refusals, seqs_of, standing,
};

#[tokio::test]
async fn ada_lists_her_rooms_with_what_she_has_not_read() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_rooms_of()
        .withf(|user| *user == ADA)
        .times(1)
        .returning(|_| {
            Ok(vec![
                standing(&general(), 10, 4),
                standing(&room("random"), 0, 0),
            ])
        });

    let rooms = mocks.use_cases().list_rooms.execute(ADA).await.unwrap();

    let unread: Vec<(String, u64, u64)> = rooms
        .iter()
        .map(|summary| {
            (
                summary.room.to_string(),
                summary.last_seq.get(),
                summary.unread(),
            )
        })
        .collect();
    assert_eq!(unread, [("general".into(), 10, 6), ("random".into(), 0, 0)]);
}

#[tokio::test]
async fn listing_rooms_passes_on_a_store_failure() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_rooms_of()
        .times(1)
        .returning(|_| Err(boom("rooms of")));

    let result = mocks.use_cases().list_rooms.execute(ADA).await;

    assert!(result.is_err(), "got {result:?}");
}

#[tokio::test]
async fn a_member_reads_the_page_she_asks_for() {
    let request = HistoryRequest {
        window: HistoryWindow::Before(Seq::new(5)),
        limit: PageLimit::new(2).unwrap(),
    };
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_history()
        .withf(move |room, reader, asked| *room == general() && *reader == ADA && *asked == request)
        .times(1)
        .returning(|_, _, _| {
            Ok(HistoryPage {
                messages: vec![adas_message(3), adas_message(4)],
                has_more: true,
            })
        });

    let page = mocks
        .use_cases()
        .history
        .execute(ADA, &general(), request)
        .await
        .unwrap();

    assert_eq!(seqs_of(&page.messages), [3, 4]);
    assert!(page.has_more);
}

#[tokio::test]
async fn history_is_refused_as_the_store_says() {
    for Refusal {
        what,
        store_says: refusal,
        answered: expected,
    } in room_refusals()
    {
        let mut mocks = Mocks::new();
        mocks
            .rooms
            .expect_history()
            .times(1)
            .returning(move |_, _, _| Err(refusal()));

        let result = mocks
            .use_cases()
            .history
            .execute(ADA, &general(), HistoryRequest::default())
            .await;

        let error = result.expect_err(what);
        assert!(expected(&error), "{what}: got {error:?}");
    }
}

#[tokio::test]
async fn acknowledging_answers_the_cursor_as_it_now_stands() {
    let mut mocks = Mocks::new();
    // An ack beyond last_seq stops there: the store says where the cursor is.
    mocks
        .rooms
        .expect_acknowledge()
        .withf(|room, user, seq| *room == general() && *user == ADA && *seq == Seq::new(99))
        .times(1)
        .returning(|_, _, _| Ok(Seq::new(7)));

    let cursor = mocks
        .use_cases()
        .acknowledge
        .execute(ADA, &general(), Seq::new(99))
        .await
        .unwrap();

    assert_eq!(cursor, Seq::new(7));
}

#[tokio::test]
async fn acknowledging_is_refused_as_the_store_says() {
    for Refusal {
        what,
        store_says: refusal,
        answered: expected,
    } in room_refusals()
    {
        let mut mocks = Mocks::new();
        mocks
            .rooms
            .expect_acknowledge()
            .times(1)
            .returning(move |_, _, _| Err(refusal()));

        let result = mocks
            .use_cases()
            .acknowledge
            .execute(ADA, &general(), Seq::new(1))
            .await;

        let error = result.expect_err(what);
        assert!(expected(&error), "{what}: got {error:?}");
    }
}

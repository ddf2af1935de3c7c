//! Listing and ending sessions: the caller sees their live sessions with their own
//! marked `current`; they end one of theirs (and only theirs: another user's is the same
//! "not found" as an unknown one) or every other one; each end is announced so that the
//! session's sockets close.

use chrono::Duration;
use domain::{SessionId, SessionSummary, UserAgent};
use uuid::Uuid;

use super::{ADA, Mocks, SESSION, ada, boom, now};
use crate::{Caller, EndSessionError, ListedSession};

/// Ada's phone: another of her sessions.
const PHONE: SessionId = SessionId::from_uuid(Uuid::from_u128(0xf0e5));
/// Ada's tablet: a third.
const TABLET: SessionId = SessionId::from_uuid(Uuid::from_u128(0x7ab));

/// Ada, calling with an access token of [`SESSION`].
fn ada_calling() -> Caller {
    Caller {
        user: ada(),
        session: SESSION,
    }
}

/// A session last used `minutes_ago`.
fn summary(id: SessionId, minutes_ago: i64, agent: &str) -> SessionSummary {
    SessionSummary {
        id,
        created_at: now() - Duration::hours(1),
        last_used_at: now() - Duration::minutes(minutes_ago),
        expires_at: now() + Duration::days(7),
        user_agent: UserAgent::from_presented(agent),
    }
}

#[tokio::test]
async fn the_list_is_the_stores_live_sessions_in_its_order_with_the_callers_marked_current() {
    let mut mocks = Mocks::new();
    let stored = vec![
        summary(PHONE, 1, "Portico/1.4 (iPhone)"),
        summary(SESSION, 5, "Firefox/140.0"),
        summary(TABLET, 60, ""),
    ];
    let answer = stored.clone();
    mocks
        .sessions
        .expect_list_live()
        .withf(|user, at| *user == ADA && *at == now())
        .times(1)
        .returning(move |_, _| Ok(answer.clone()));

    let listed = mocks.list_sessions().execute(&ada_calling()).await.unwrap();

    let expected: Vec<ListedSession> = stored
        .into_iter()
        .map(|summary| ListedSession {
            current: summary.id == SESSION,
            summary,
        })
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(
        listed.iter().filter(|session| session.current).count(),
        1,
        "exactly the caller's session is current"
    );
}

#[tokio::test]
async fn the_list_passes_on_a_store_failure() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_list_live()
        .times(1)
        .returning(|_, _| Err(boom("list sessions")));

    let result = mocks.list_sessions().execute(&ada_calling()).await;

    assert!(result.is_err(), "got {result:?}");
}

#[tokio::test]
async fn ending_a_session_of_ones_own_revokes_it_and_announces_its_end() {
    // The caller's current session may be ended too: that is a logout.
    for target in [PHONE, SESSION] {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_revoke_of_user()
            .withf(move |user, session, at| *user == ADA && *session == target && *at == now())
            .times(1)
            .returning(|_, _, _| Ok(true));
        mocks.announces_the_end_of(&[target]);

        let result = mocks.end_session().execute(&ada_calling(), target).await;

        assert!(result.is_ok(), "ending {target}: {result:?}");
    }
}

#[tokio::test]
async fn a_session_the_store_does_not_end_for_the_caller_is_not_found_and_nothing_is_announced() {
    // The store answers `false` alike for an unknown session, an ended one and another
    // user's: the caller learns nothing about other people's sessions.
    let someone_elses = SessionId::from_uuid(Uuid::from_u128(0xb0b5));
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_revoke_of_user()
        .withf(move |user, session, _| *user == ADA && *session == someone_elses)
        .times(1)
        .returning(|_, _, _| Ok(false));
    mocks.bus.expect_publish().never();

    let result = mocks
        .end_session()
        .execute(&ada_calling(), someone_elses)
        .await;

    assert!(
        matches!(result, Err(EndSessionError::SessionNotFound)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn ending_a_session_passes_on_a_store_failure_and_announces_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_revoke_of_user()
        .times(1)
        .returning(|_, _, _| Err(boom("revoke")));
    mocks.bus.expect_publish().never();

    let result = mocks.end_session().execute(&ada_calling(), PHONE).await;

    assert!(
        matches!(result, Err(EndSessionError::Adapter(_))),
        "got {result:?}"
    );
}

#[tokio::test]
async fn ending_the_other_sessions_keeps_the_callers_and_announces_each_end() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_revoke_all_of_user()
        .withf(|user, except, at| *user == ADA && *except == Some(SESSION) && *at == now())
        .times(1)
        .returning(|_, _, _| Ok(vec![PHONE, TABLET]));
    mocks.announces_the_end_of(&[PHONE, TABLET]);

    let result = mocks.end_other_sessions().execute(&ada_calling()).await;

    assert!(result.is_ok(), "got {result:?}");
}

#[tokio::test]
async fn ending_the_other_sessions_when_there_are_none_announces_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_revoke_all_of_user()
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    mocks.bus.expect_publish().never();

    let result = mocks.end_other_sessions().execute(&ada_calling()).await;

    assert!(result.is_ok(), "got {result:?}");
}

#[tokio::test]
async fn ending_the_other_sessions_passes_on_a_store_failure_and_announces_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_revoke_all_of_user()
        .times(1)
        .returning(|_, _, _| Err(boom("revoke all")));
    mocks.bus.expect_publish().never();

    let result = mocks.end_other_sessions().execute(&ada_calling()).await;

    assert!(result.is_err(), "got {result:?}");
}

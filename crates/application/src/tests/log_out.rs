//! LogOut: a live token ends its session; a spent one ends it too, as a reuse, and is
//! refused; anything else refreshes nothing and revokes nothing.

use super::{Logs, Mocks, SESSION, boom, dead_tokens, live_record, now, presented, spent_record};
use crate::SessionError;

async fn log_out_presented(mocks: Mocks) -> Result<(), SessionError> {
    mocks.log_out().execute(&presented()).await
}

/// The store revokes [`SESSION`] at [`now`], once, and its end is announced so that
/// its connections close.
fn revokes_the_session(mocks: &mut Mocks) {
    mocks
        .sessions
        .expect_revoke()
        .withf(|session, at| *session == SESSION && *at == now())
        .times(1)
        .returning(|_, _| Ok(()));
    mocks.announces_the_end_of(&[SESSION]);
}

#[tokio::test]
async fn log_out_revokes_the_session_of_a_live_token() {
    let mut mocks = Mocks::new();
    mocks.presented_token_is(Some(live_record()));
    mocks.digests_tokens();
    revokes_the_session(&mut mocks);

    let result = log_out_presented(mocks).await;

    assert!(result.is_ok(), "got {result:?}");
}

#[tokio::test]
async fn log_out_with_a_spent_token_revokes_its_session_as_a_reuse_and_refuses_it() {
    let mut mocks = Mocks::new();
    mocks.presented_token_is(Some(spent_record()));
    mocks.digests_tokens();
    revokes_the_session(&mut mocks);

    let result = log_out_presented(mocks).await;

    assert!(
        matches!(result, Err(SessionError::InvalidRefreshToken)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn log_out_refuses_a_token_that_refreshes_nothing_and_revokes_nothing() {
    for (label, record) in dead_tokens() {
        let mut mocks = Mocks::new();
        mocks.presented_token_is(record);
        mocks.digests_tokens();
        mocks.sessions.expect_revoke().never();

        let result = log_out_presented(mocks).await;

        assert!(
            matches!(result, Err(SessionError::InvalidRefreshToken)),
            "presented {label}, got {result:?}"
        );
    }
}

#[tokio::test]
async fn log_out_passes_on_a_failure_to_find_the_token() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_find_token()
        .times(1)
        .returning(|_| Err(boom("find token")));
    mocks.digests_tokens();
    mocks.sessions.expect_revoke().never();

    let result = log_out_presented(mocks).await;

    assert!(
        matches!(result, Err(SessionError::Adapter(_))),
        "got {result:?}"
    );
}

#[tokio::test]
async fn log_out_passes_on_a_failure_to_revoke() {
    for (label, record) in [
        ("a live token", live_record()),
        ("a spent token", spent_record()),
    ] {
        let mut mocks = Mocks::new();
        mocks.presented_token_is(Some(record));
        mocks.digests_tokens();
        mocks
            .sessions
            .expect_revoke()
            .times(1)
            .returning(|_, _| Err(boom("revoke session")));

        let result = log_out_presented(mocks).await;

        assert!(
            matches!(result, Err(SessionError::Adapter(_))),
            "presented {label}, got {result:?}"
        );
    }
}

#[tokio::test]
async fn log_out_succeeds_when_the_bus_cannot_announce_the_end_and_says_so_in_the_log() {
    // The store refuses the session's tokens already: the sockets close at their next
    // check instead of at once, which is worth a warning, not a failed logout.
    let mut mocks = Mocks::new();
    mocks.presented_token_is(Some(live_record()));
    mocks.digests_tokens();
    mocks
        .sessions
        .expect_revoke()
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .bus
        .expect_publish()
        .times(1)
        .returning(|_| Err(boom("publish")));
    let (logs, _capture) = Logs::capture();

    let result = log_out_presented(mocks).await;

    assert!(result.is_ok(), "got {result:?}");
    assert!(
        logs.lines()
            .iter()
            .any(|line| line.starts_with("WARN")
                && line.contains("announcing an ended session failed")),
        "logged {:?}",
        logs.lines()
    );
}

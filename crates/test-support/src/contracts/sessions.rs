//! The contract of [`SessionRepository`].

use std::future::Future;

use domain::{
    NewRefreshToken, NewSession, RefreshTokenRecord, SessionId, SessionSummary, TokenDigest,
    UserAgent, UserId,
};
use uuid::Uuid;

use super::{Case, Store, at, cases, new_user, run_cases};

/// Runs every case of the contract, each against a store made by `fresh`.
///
/// # Panics
/// When the adapter breaks the contract; the case is named on standard error.
pub async fn run<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Store>,
{
    let cases: Vec<(&str, Case)> = cases![
        a_started_session_finds_its_first_token_live,
        an_unknown_digest_is_none,
        starting_a_session_for_an_unknown_user_fails_and_stores_nothing,
        rotating_spends_the_presented_token_and_stores_a_live_replacement,
        a_spent_token_does_not_rotate_again_and_its_replacement_is_not_stored,
        a_rotation_whose_replacement_cannot_be_stored_changes_nothing,
        an_expired_token_does_not_rotate,
        a_token_of_a_revoked_session_does_not_rotate,
        an_unknown_token_does_not_rotate,
        of_two_concurrent_rotations_of_one_token_exactly_one_wins,
        revoking_marks_the_session_once_and_tolerates_repeats_and_unknown_sessions,
        revoking_all_of_a_users_sessions_leaves_other_users_alone,
        pruning_deletes_what_is_dead_and_keeps_what_can_still_be_presented,
        a_write_that_cannot_commit_is_an_error_and_keeps_nothing,
        a_live_session_finds_its_user_and_nothing_else_does,
        a_started_session_is_listed_with_its_user_agent_and_times,
        the_list_holds_only_the_users_live_sessions_most_recently_used_first,
        rotating_moves_last_used_and_expiry_and_the_list_order,
        revoking_a_session_of_the_user_ends_only_a_live_session_of_theirs,
        revoking_all_but_one_returns_what_it_ended_and_keeps_the_exception,
    ];
    run_cases("SessionRepository", &fresh, cases).await;
}

/// The digest stored for a token written `raw`.
#[must_use]
pub fn digest(raw: &str) -> TokenDigest {
    TokenDigest::new(raw.to_owned())
}

/// A fresh session id.
#[must_use]
pub fn new_session() -> SessionId {
    SessionId::from_uuid(Uuid::new_v4())
}

/// A token issued at `at(0)` that expires at `at(30)`.
#[must_use]
pub fn token(raw: &str, session: SessionId) -> NewRefreshToken {
    NewRefreshToken {
        digest: digest(raw),
        session,
        issued_at: at(0),
        expires_at: at(30),
    }
}

/// Stores a user (sessions belong to one) and returns the id.
async fn user(store: &Store, email: &str) -> UserId {
    let user = new_user(email);
    let id = user.user.id;
    store.users.insert(user).await.unwrap();
    id
}

/// A new session of `user_id` with `first` as its token and no user agent.
#[must_use]
pub fn session_of(user_id: UserId, first: NewRefreshToken) -> NewSession {
    NewSession {
        user_id,
        first,
        user_agent: None,
    }
}

/// Starts a session for `user` with `first` as its token, which must work.
async fn start(store: &Store, user: UserId, first: NewRefreshToken) {
    store.sessions.start(session_of(user, first)).await.unwrap();
}

/// A token issued at `at(issued)` that expires at `at(expires)`.
fn token_between(raw: &str, session: SessionId, issued: u32, expires: u32) -> NewRefreshToken {
    NewRefreshToken {
        issued_at: at(issued),
        expires_at: at(expires),
        ..token(raw, session)
    }
}

/// The ids of `user`'s sessions live at `at(minute)`, in the order listed.
async fn listed(store: &Store, user: UserId, minute: u32) -> Vec<SessionId> {
    let sessions = store.sessions.list_live(user, at(minute)).await.unwrap();
    sessions.iter().map(|session| session.id).collect()
}

/// Whether `session` authenticates `user` at `at(minute)`.
async fn authenticates(store: &Store, session: SessionId, user: UserId, minute: u32) -> bool {
    let found = store
        .sessions
        .find_live_user(session, user, at(minute))
        .await
        .unwrap();
    if let Some(found) = &found {
        assert_eq!(found.id, user, "the session's user is the one asked for");
    }
    found.is_some()
}

/// Ada, stored, with one session whose live token is written `first`.
async fn ada_with_a_session(store: &Store) -> (UserId, SessionId) {
    let ada = user(store, "ada@example.com").await;
    let session = new_session();
    start(store, ada, token("first", session)).await;
    (ada, session)
}

async fn find(store: &Store, raw: &str) -> Option<RefreshTokenRecord> {
    store.sessions.find_token(&digest(raw)).await.unwrap()
}

async fn a_started_session_finds_its_first_token_live(store: Store) {
    let (ada, session) = ada_with_a_session(&store).await;

    let record = find(&store, "first").await;
    assert_eq!(
        record,
        Some(RefreshTokenRecord {
            session,
            user_id: ada,
            expires_at: at(30),
            spent_at: None,
            session_revoked_at: None,
        })
    );
}

async fn an_unknown_digest_is_none(store: Store) {
    let ada = user(&store, "ada@example.com").await;
    start(&store, ada, token("first", new_session())).await;
    assert_eq!(find(&store, "never-issued").await, None);
}

async fn starting_a_session_for_an_unknown_user_fails_and_stores_nothing(store: Store) {
    user(&store, "ada@example.com").await;
    let nobody = UserId::from_uuid(Uuid::new_v4());
    let outcome = store
        .sessions
        .start(session_of(nobody, token("orphan", new_session())))
        .await;
    assert!(outcome.is_err());
    assert_eq!(find(&store, "orphan").await, None);
}

async fn rotating_spends_the_presented_token_and_stores_a_live_replacement(store: Store) {
    let (ada, session) = ada_with_a_session(&store).await;

    let rotated = store
        .sessions
        .rotate(&digest("first"), token("second", session), at(10))
        .await
        .unwrap();

    assert!(rotated);
    let presented = find(&store, "first").await.unwrap();
    assert_eq!(presented.spent_at, Some(at(10)));
    assert_eq!(presented.session_revoked_at, None);
    let replacement = find(&store, "second").await.unwrap();
    assert_eq!(replacement.session, session);
    assert_eq!(replacement.user_id, ada);
    assert_eq!(replacement.expires_at, at(30));
    assert_eq!(replacement.spent_at, None);
    assert_eq!(replacement.session_revoked_at, None);
}

async fn a_spent_token_does_not_rotate_again_and_its_replacement_is_not_stored(store: Store) {
    let (_, session) = ada_with_a_session(&store).await;
    assert!(
        store
            .sessions
            .rotate(&digest("first"), token("second", session), at(10))
            .await
            .unwrap()
    );

    let again = store
        .sessions
        .rotate(&digest("first"), token("third", session), at(11))
        .await
        .unwrap();

    assert!(!again);
    assert_eq!(find(&store, "third").await, None);
    // The first spend is what stays on record.
    assert_eq!(find(&store, "first").await.unwrap().spent_at, Some(at(10)));
}

async fn a_rotation_whose_replacement_cannot_be_stored_changes_nothing(store: Store) {
    let (ada, session) = ada_with_a_session(&store).await;
    start(&store, ada, token("taken", new_session())).await;

    // The replacement's digest is already stored: the insert fails after the spend.
    let outcome = store
        .sessions
        .rotate(&digest("first"), token("taken", session), at(10))
        .await;

    assert!(outcome.is_err(), "gave {outcome:?}");
    assert_eq!(find(&store, "first").await.unwrap().spent_at, None);
    assert!(
        store
            .sessions
            .rotate(&digest("first"), token("second", session), at(11))
            .await
            .unwrap(),
        "the presented token is still live"
    );
}

async fn an_expired_token_does_not_rotate(store: Store) {
    let (_, session) = ada_with_a_session(&store).await;

    // At its expiry instant a token is no longer live.
    for now in [at(30), at(31)] {
        let rotated = store
            .sessions
            .rotate(&digest("first"), token("second", session), now)
            .await
            .unwrap();
        assert!(!rotated, "rotated at {now}");
    }
    assert_eq!(find(&store, "first").await.unwrap().spent_at, None);
    assert_eq!(find(&store, "second").await, None);
}

async fn a_token_of_a_revoked_session_does_not_rotate(store: Store) {
    let (_, session) = ada_with_a_session(&store).await;
    store.sessions.revoke(session, at(5)).await.unwrap();

    let rotated = store
        .sessions
        .rotate(&digest("first"), token("second", session), at(10))
        .await
        .unwrap();

    assert!(!rotated);
    assert_eq!(find(&store, "first").await.unwrap().spent_at, None);
    assert_eq!(find(&store, "second").await, None);
}

async fn an_unknown_token_does_not_rotate(store: Store) {
    let (_, session) = ada_with_a_session(&store).await;

    let rotated = store
        .sessions
        .rotate(&digest("never-issued"), token("second", session), at(10))
        .await
        .unwrap();

    assert!(!rotated);
    assert_eq!(find(&store, "second").await, None);
}

async fn of_two_concurrent_rotations_of_one_token_exactly_one_wins(store: Store) {
    let (_, session) = ada_with_a_session(&store).await;

    let presented = digest("first");
    let (left, right) = futures_util::future::join(
        store
            .sessions
            .rotate(&presented, token("left", session), at(10)),
        store
            .sessions
            .rotate(&presented, token("right", session), at(10)),
    )
    .await;
    let (left, right) = (left.unwrap(), right.unwrap());

    assert!(left ^ right, "left rotated: {left}, right rotated: {right}");
    let stored = [find(&store, "left").await, find(&store, "right").await];
    assert_eq!(
        stored.iter().filter(|record| record.is_some()).count(),
        1,
        "exactly the winner's replacement is stored: {stored:?}"
    );
    assert_eq!(stored[0].is_some(), left);
}

async fn revoking_marks_the_session_once_and_tolerates_repeats_and_unknown_sessions(store: Store) {
    let (_, session) = ada_with_a_session(&store).await;

    store.sessions.revoke(session, at(5)).await.unwrap();
    let record = find(&store, "first").await.unwrap();
    assert_eq!(record.session_revoked_at, Some(at(5)));

    store.sessions.revoke(session, at(6)).await.unwrap();
    let record = find(&store, "first").await.unwrap();
    assert_eq!(
        record.session_revoked_at,
        Some(at(5)),
        "a second revocation keeps the first instant"
    );

    store.sessions.revoke(new_session(), at(7)).await.unwrap();
}

async fn revoking_all_of_a_users_sessions_leaves_other_users_alone(store: Store) {
    let ada = user(&store, "ada@example.com").await;
    let grace = user(&store, "grace@example.com").await;
    start(&store, ada, token("ada-laptop", new_session())).await;
    start(&store, ada, token("ada-phone", new_session())).await;
    start(&store, grace, token("grace-laptop", new_session())).await;

    let ended = store
        .sessions
        .revoke_all_of_user(ada, None, at(5))
        .await
        .unwrap();

    assert_eq!(ended.len(), 2, "both of Ada's sessions ended: {ended:?}");
    for raw in ["ada-laptop", "ada-phone"] {
        let record = find(&store, raw).await.unwrap();
        assert_eq!(record.session_revoked_at, Some(at(5)), "session of {raw}");
    }
    let record = find(&store, "grace-laptop").await.unwrap();
    assert_eq!(record.session_revoked_at, None, "session of grace-laptop");
    // A user without sessions is not an error.
    let nobody = UserId::from_uuid(Uuid::new_v4());
    let ended = store
        .sessions
        .revoke_all_of_user(nobody, None, at(6))
        .await
        .unwrap();
    assert_eq!(ended, vec![]);
    // Sessions revoked already are not ended again.
    let ended = store
        .sessions
        .revoke_all_of_user(ada, None, at(7))
        .await
        .unwrap();
    assert_eq!(ended, vec![], "nothing was left to end");
}

async fn pruning_deletes_what_is_dead_and_keeps_what_can_still_be_presented(store: Store) {
    let ada = user(&store, "ada@example.com").await;
    // Live: one unspent token, kept.
    start(&store, ada, token("live", new_session())).await;
    // Rotated: a spent token and its live replacement, both kept (presenting the spent
    // one again must still be recognised as reuse).
    let rotated = new_session();
    start(&store, ada, token("spent", rotated)).await;
    assert!(
        store
            .sessions
            .rotate(&digest("spent"), token("replacement", rotated), at(10))
            .await
            .unwrap()
    );
    // Expired: its only token expired, so the token goes and then the empty session.
    let expired = new_session();
    let mut short = token("expired", expired);
    short.expires_at = at(15);
    start(&store, ada, short).await;
    // Revoked: the session goes, and its live token with it by cascade.
    let revoked = new_session();
    start(&store, ada, token("revoked", revoked)).await;
    store.sessions.revoke(revoked, at(12)).await.unwrap();

    let pruned = store.sessions.prune(at(20)).await.unwrap();

    // At least the expired token and the two dead sessions; whether rows deleted by
    // cascade count is the backend's own business.
    assert!(pruned >= 3, "pruned {pruned} rows");
    for raw in ["live", "spent", "replacement"] {
        assert!(find(&store, raw).await.is_some(), "{raw} was kept");
    }
    for raw in ["expired", "revoked"] {
        assert_eq!(find(&store, raw).await, None, "{raw} was pruned");
    }
    assert_eq!(find(&store, "spent").await.unwrap().spent_at, Some(at(10)));

    assert_eq!(
        store.sessions.prune(at(20)).await.unwrap(),
        0,
        "a second prune finds nothing"
    );
}

async fn a_write_that_cannot_commit_is_an_error_and_keeps_nothing(store: Store) {
    let (ada, session) = ada_with_a_session(&store).await;
    let mut short = token("expired", new_session());
    short.expires_at = at(5);
    start(&store, ada, short).await;
    store.faults.fail_commits(true);

    let started = store
        .sessions
        .start(session_of(ada, token("other", new_session())))
        .await;
    assert!(started.is_err(), "start: {started:?}");
    let rotated = store
        .sessions
        .rotate(&digest("first"), token("second", session), at(10))
        .await;
    assert!(rotated.is_err(), "rotate: {rotated:?}");
    let revoked = store.sessions.revoke(session, at(11)).await;
    assert!(revoked.is_err(), "revoke: {revoked:?}");
    let revoked_one = store.sessions.revoke_of_user(ada, session, at(11)).await;
    assert!(revoked_one.is_err(), "revoke_of_user: {revoked_one:?}");
    let revoked_all = store.sessions.revoke_all_of_user(ada, None, at(12)).await;
    assert!(revoked_all.is_err(), "revoke_all_of_user: {revoked_all:?}");
    let pruned = store.sessions.prune(at(20)).await;
    assert!(pruned.is_err(), "prune: {pruned:?}");

    store.faults.fail_commits(false);
    assert_eq!(
        find(&store, "other").await,
        None,
        "the failed start kept nothing"
    );
    assert_eq!(
        find(&store, "second").await,
        None,
        "the failed rotation kept nothing"
    );
    let first = find(&store, "first").await.unwrap();
    assert_eq!(first.spent_at, None, "the failed rotation spent nothing");
    assert_eq!(
        first.session_revoked_at, None,
        "the failed revocations revoked nothing"
    );
    assert!(
        find(&store, "expired").await.is_some(),
        "the failed prune deleted nothing"
    );
    assert_eq!(
        listed(&store, ada, 6).await,
        vec![session],
        "the failed rotation did not move the session's use"
    );
    let summary = &store.sessions.list_live(ada, at(6)).await.unwrap()[0];
    assert_eq!((summary.last_used_at, summary.expires_at), (at(0), at(30)));
}

async fn a_live_session_finds_its_user_and_nothing_else_does(store: Store) {
    let (ada, session) = ada_with_a_session(&store).await;
    let grace = user(&store, "grace@example.com").await;
    let graces = new_session();
    start(&store, grace, token("grace", graces)).await;

    let found = store
        .sessions
        .find_live_user(session, ada, at(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.email.as_ref(), "ada@example.com");
    assert!(authenticates(&store, session, ada, 29).await);

    assert!(
        !authenticates(&store, session, ada, 30).await,
        "expired at its expiry"
    );
    assert!(
        !authenticates(&store, graces, ada, 10).await,
        "another user's session"
    );
    assert!(
        !authenticates(&store, session, grace, 10).await,
        "not Grace's session"
    );
    assert!(
        !authenticates(&store, new_session(), ada, 10).await,
        "unknown session"
    );
    store.sessions.revoke(session, at(11)).await.unwrap();
    assert!(!authenticates(&store, session, ada, 12).await, "revoked");
    assert!(
        authenticates(&store, graces, grace, 12).await,
        "Grace's is untouched"
    );
}

async fn a_started_session_is_listed_with_its_user_agent_and_times(store: Store) {
    let ada = user(&store, "ada@example.com").await;
    let session = new_session();
    let agent = UserAgent::from_presented("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0");
    store
        .sessions
        .start(NewSession {
            user_agent: agent.clone(),
            ..session_of(ada, token_between("first", session, 2, 30))
        })
        .await
        .unwrap();

    let sessions = store.sessions.list_live(ada, at(3)).await.unwrap();

    assert_eq!(
        sessions,
        vec![SessionSummary {
            id: session,
            created_at: at(2),
            last_used_at: at(2),
            expires_at: at(30),
            user_agent: agent,
        }]
    );
}

async fn the_list_holds_only_the_users_live_sessions_most_recently_used_first(store: Store) {
    let ada = user(&store, "ada@example.com").await;
    let grace = user(&store, "grace@example.com").await;
    let (older, newer, newest) = (new_session(), new_session(), new_session());
    start(&store, ada, token_between("newer", newer, 2, 30)).await;
    start(&store, ada, token_between("older", older, 1, 30)).await;
    start(&store, ada, token_between("newest", newest, 3, 30)).await;
    let (revoked, expired) = (new_session(), new_session());
    start(&store, ada, token_between("revoked", revoked, 4, 30)).await;
    store.sessions.revoke(revoked, at(5)).await.unwrap();
    start(&store, ada, token_between("expired", expired, 4, 6)).await;
    start(&store, grace, token_between("grace", new_session(), 4, 30)).await;

    assert_eq!(listed(&store, ada, 10).await, vec![newest, newer, older]);
    assert_eq!(
        listed(&store, ada, 5).await,
        vec![expired, newest, newer, older]
    );
    let nobody = UserId::from_uuid(Uuid::new_v4());
    assert_eq!(listed(&store, nobody, 10).await, vec![]);
}

async fn rotating_moves_last_used_and_expiry_and_the_list_order(store: Store) {
    let ada = user(&store, "ada@example.com").await;
    let (laptop, phone) = (new_session(), new_session());
    start(&store, ada, token_between("laptop", laptop, 1, 30)).await;
    start(&store, ada, token_between("phone", phone, 2, 30)).await;
    assert_eq!(listed(&store, ada, 5).await, vec![phone, laptop]);

    let replacement = token_between("laptop-2", laptop, 10, 45);
    assert!(
        store
            .sessions
            .rotate(&digest("laptop"), replacement, at(10))
            .await
            .unwrap()
    );

    assert_eq!(listed(&store, ada, 11).await, vec![laptop, phone]);
    let sessions = store.sessions.list_live(ada, at(11)).await.unwrap();
    assert_eq!(sessions[0].created_at, at(1), "its start stays");
    assert_eq!(sessions[0].last_used_at, at(10));
    assert_eq!(sessions[0].expires_at, at(45));
    assert!(
        authenticates(&store, laptop, ada, 40).await,
        "live until its new expiry"
    );
    assert_eq!(listed(&store, ada, 40).await, vec![laptop]);
}

async fn revoking_a_session_of_the_user_ends_only_a_live_session_of_theirs(store: Store) {
    let (ada, session) = ada_with_a_session(&store).await;
    let grace = user(&store, "grace@example.com").await;
    let graces = new_session();
    start(&store, grace, token("grace", graces)).await;
    let expired = new_session();
    start(&store, ada, token_between("expired", expired, 0, 5)).await;

    for (what, owner, target) in [
        ("another user's session", ada, graces),
        ("an unknown session", ada, new_session()),
        ("an expired session", ada, expired),
        ("a session of Ada's, asked for by Grace", grace, session),
    ] {
        let revoked = store
            .sessions
            .revoke_of_user(owner, target, at(10))
            .await
            .unwrap();
        assert!(!revoked, "{what} was revoked");
    }
    assert!(
        authenticates(&store, graces, grace, 10).await,
        "Grace's lives"
    );
    assert!(authenticates(&store, session, ada, 10).await, "Ada's lives");

    assert!(
        store
            .sessions
            .revoke_of_user(ada, session, at(10))
            .await
            .unwrap()
    );
    assert!(!authenticates(&store, session, ada, 11).await);
    assert_eq!(
        find(&store, "first").await.unwrap().session_revoked_at,
        Some(at(10))
    );
    assert!(
        !store
            .sessions
            .revoke_of_user(ada, session, at(12))
            .await
            .unwrap(),
        "an ended session is not ended again"
    );
}

async fn revoking_all_but_one_returns_what_it_ended_and_keeps_the_exception(store: Store) {
    let ada = user(&store, "ada@example.com").await;
    let grace = user(&store, "grace@example.com").await;
    let (laptop, phone, tablet) = (new_session(), new_session(), new_session());
    start(&store, ada, token("laptop", laptop)).await;
    start(&store, ada, token("phone", phone)).await;
    start(&store, ada, token("tablet", tablet)).await;
    let graces = new_session();
    start(&store, grace, token("grace", graces)).await;

    let mut ended = store
        .sessions
        .revoke_all_of_user(ada, Some(laptop), at(5))
        .await
        .unwrap();

    ended.sort();
    let mut expected = vec![phone, tablet];
    expected.sort();
    assert_eq!(ended, expected);
    assert_eq!(listed(&store, ada, 6).await, vec![laptop]);
    assert!(
        authenticates(&store, graces, grace, 6).await,
        "Grace's lives"
    );
}

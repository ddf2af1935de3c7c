//! ChangePassword: the current password must be right; every session of the user is
//! revoked and only then is the new hash stored (moving `updated_at`), so a failure in
//! between fails closed.

use domain::ports::{HashReplacement, PasswordCheck, RoomEvent, StoredCredentials};
use domain::{SessionId, User};
use mockall::Sequence;
use uuid::Uuid;

use super::{
    ADA, ADAS_PASSWORD, Mocks, SESSION, SOMEONE_ELSE, ada, fresh_hash, now, password, stored_hash,
    unless_failing,
};
use crate::ChangePasswordError;

/// Ada's session on another device.
const OTHER_SESSION: SessionId = SessionId::from_uuid(Uuid::from_u128(0x07e5));
/// The password Ada wants instead.
const NEW_PASSWORD: &str = "difference engine";

async fn change_adas_password(mocks: Mocks, current: &str) -> Result<(), ChangePasswordError> {
    mocks
        .change_password()
        .execute(&ada(), &password(current), &password(NEW_PASSWORD), None)
        .await
}

/// Nothing is hashed, stored or revoked.
fn changes_nothing(mocks: &mut Mocks) {
    mocks.hasher.expect_hash().never();
    mocks.users.expect_update_password_hash().never();
    mocks.sessions.expect_revoke_all_of_user().never();
}

#[tokio::test]
async fn change_password_revokes_every_session_announces_their_end_then_stores_the_new_hash() {
    // An outdated hash of the right password is still the right password.
    for check in [
        PasswordCheck::Match { outdated: false },
        PasswordCheck::Match { outdated: true },
    ] {
        let mut mocks = Mocks::new();
        mocks.attempts_are_unremarkable();
        mocks.ada_is_registered();
        mocks.password_check_gives(ADAS_PASSWORD, check);
        mocks
            .hasher
            .expect_hash()
            .withf(|password| password.expose() == NEW_PASSWORD)
            .times(1)
            .returning(|_| Ok(fresh_hash()));
        let mut order = Sequence::new();
        mocks
            .sessions
            .expect_revoke_all_of_user()
            // Every session, the caller's own included: it logs in again.
            .withf(|id, except, at| *id == ADA && except.is_none() && *at == now())
            .times(1)
            .in_sequence(&mut order)
            .returning(|_, _, _| Ok(vec![SESSION, OTHER_SESSION]));
        for session in [SESSION, OTHER_SESSION] {
            mocks
                .bus
                .expect_publish()
                .withf(move |event| *event == RoomEvent::SessionEnded { session })
                .times(1)
                .in_sequence(&mut order)
                .returning(|_| Ok(()));
        }
        mocks
            .users
            .expect_update_password_hash()
            .withf(|id, hash, at, replacement| {
                *id == ADA
                    && *hash == fresh_hash()
                    && *at == now()
                    && *replacement == HashReplacement::Changed
            })
            .times(1)
            .in_sequence(&mut order)
            .returning(|_, _, _, _| Ok(true));

        let result = change_adas_password(mocks, ADAS_PASSWORD).await;

        assert!(
            result.is_ok(),
            "current password checked as {check:?}, got {result:?}"
        );
    }
}

#[tokio::test]
async fn change_password_with_a_wrong_current_password_changes_nothing() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks.ada_is_registered();
    mocks.password_check_gives("not the password", PasswordCheck::Mismatch);
    changes_nothing(&mut mocks);

    let result = change_adas_password(mocks, "not the password").await;

    assert!(
        matches!(result, Err(ChangePasswordError::InvalidCredentials)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn change_password_answers_user_gone_when_the_address_leads_to_no_one_or_someone_else() {
    let someone_else = StoredCredentials {
        user: User {
            id: SOMEONE_ELSE,
            ..ada()
        },
        password_hash: stored_hash(),
    };
    for (label, found) in [("no one", None), ("someone else", Some(someone_else))] {
        let mut mocks = Mocks::new();
        mocks.attempts_are_unremarkable();
        mocks
            .users
            .expect_find_credentials()
            .times(1)
            .returning(move |_| Ok(found.clone()));
        mocks.hasher.expect_verify().never();
        changes_nothing(&mut mocks);

        let result = change_adas_password(mocks, ADAS_PASSWORD).await;

        assert!(
            matches!(result, Err(ChangePasswordError::UserGone)),
            "address led to {label}, got {result:?}"
        );
    }
}

#[tokio::test]
async fn change_password_answers_user_gone_when_the_user_vanishes_before_the_update() {
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks.ada_is_registered();
    mocks.password_check_gives(ADAS_PASSWORD, PasswordCheck::Match { outdated: false });
    mocks
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    mocks
        .users
        .expect_update_password_hash()
        .times(1)
        .returning(|_, _, _, _| Ok(false));
    // Revoking a vanished user's sessions is harmless: there are none left.
    mocks
        .sessions
        .expect_revoke_all_of_user()
        .times(1)
        .returning(|_, _, _| Ok(vec![]));

    let result = change_adas_password(mocks, ADAS_PASSWORD).await;

    assert!(
        matches!(result, Err(ChangePasswordError::UserGone)),
        "got {result:?}"
    );
}

/// The calls of a password change, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    FindCredentials,
    Verify,
    Hash,
    RevokeSessions,
    UpdateHash,
}

/// Every step before `failing` succeeds, `failing` fails, later steps never happen.
fn failing_at(failing: Step) -> Mocks {
    let reached = |step: Step| usize::from(step <= failing);
    let mut mocks = Mocks::new();
    mocks.attempts_are_unremarkable();
    mocks
        .users
        .expect_find_credentials()
        .times(reached(Step::FindCredentials))
        .returning(move |_| {
            unless_failing(
                failing == Step::FindCredentials,
                Some(StoredCredentials {
                    user: ada(),
                    password_hash: stored_hash(),
                }),
            )
        });
    mocks
        .hasher
        .expect_verify()
        .times(reached(Step::Verify))
        .returning(move |_, _| {
            unless_failing(
                failing == Step::Verify,
                PasswordCheck::Match { outdated: false },
            )
        });
    mocks
        .hasher
        .expect_hash()
        .times(reached(Step::Hash))
        .returning(move |_| unless_failing(failing == Step::Hash, fresh_hash()));
    mocks
        .users
        .expect_update_password_hash()
        .times(reached(Step::UpdateHash))
        .returning(move |_, _, _, _| unless_failing(failing == Step::UpdateHash, true));
    mocks
        .sessions
        .expect_revoke_all_of_user()
        .times(reached(Step::RevokeSessions))
        .returning(move |_, _, _| unless_failing(failing == Step::RevokeSessions, vec![]));
    mocks
}

#[tokio::test]
async fn change_password_passes_on_an_adapter_failure_at_any_step_and_goes_no_further() {
    for failing in [
        Step::FindCredentials,
        // Also what a malformed stored hash gives.
        Step::Verify,
        Step::Hash,
        Step::RevokeSessions,
        Step::UpdateHash,
    ] {
        let result = change_adas_password(failing_at(failing), ADAS_PASSWORD).await;

        assert!(
            matches!(result, Err(ChangePasswordError::Adapter(_))),
            "{failing:?} failed, got {result:?}"
        );
    }
}

//! The contract of [`UserRepository`].

use std::future::Future;

use domain::ports::{HashReplacement, InsertUserError};
use domain::{Email, PasswordHash, PersonName, UserId};
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
        a_stored_user_reads_back_by_id_and_by_email,
        unknown_users_are_none,
        several_users_are_read_at_once_ordered_by_id,
        a_second_user_with_the_same_address_is_email_taken,
        a_duplicate_id_is_a_storage_error_not_email_taken,
        names_update_and_updated_at_moves,
        password_hash_updates_touch_updated_at_only_when_asked,
        a_write_that_cannot_commit_is_an_error_and_keeps_nothing,
    ];
    run_cases("UserRepository", &fresh, cases).await;
}

async fn a_stored_user_reads_back_by_id_and_by_email(store: Store) {
    let ada = new_user("ada@example.com");
    store.users.insert(ada.clone()).await.unwrap();

    let by_id = store.users.find_by_id(ada.user.id).await.unwrap();
    assert_eq!(by_id, Some(ada.user.clone()));
    let credentials = store
        .users
        .find_credentials(&ada.user.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.user, ada.user);
    assert_eq!(credentials.password_hash, ada.password_hash);
}

async fn unknown_users_are_none(store: Store) {
    let nobody = UserId::from_uuid(Uuid::new_v4());
    assert_eq!(store.users.find_by_id(nobody).await.unwrap(), None);
    let email = Email::parse("nobody@example.com").unwrap();
    assert_eq!(store.users.find_credentials(&email).await.unwrap(), None);
    let names = PersonName::default();
    let updated = store
        .users
        .update_names(nobody, names.clone(), names, at(1))
        .await
        .unwrap();
    assert_eq!(updated, None);
    let hash = PasswordHash::new("x".into());
    assert!(
        !store
            .users
            .update_password_hash(nobody, hash, at(1), HashReplacement::Changed)
            .await
            .unwrap()
    );
}

async fn several_users_are_read_at_once_ordered_by_id(store: Store) {
    let mut users = Vec::new();
    for email in ["ada@example.com", "grace@example.com", "edsger@example.com"] {
        let new = new_user(email);
        store.users.insert(new.clone()).await.unwrap();
        users.push(new.user);
    }
    let (ada, grace) = (users[0].clone(), users[1].clone());
    let nobody = UserId::from_uuid(Uuid::new_v4());

    let found = store
        .users
        .find_by_ids(&[grace.id, nobody, ada.id, grace.id])
        .await
        .unwrap();
    let mut expected = vec![ada.clone(), grace.clone()];
    expected.sort_by_key(|user| user.id);
    assert_eq!(
        found, expected,
        "unknown ids skipped, repeated ones answered once"
    );

    assert_eq!(store.users.find_by_ids(&[]).await.unwrap(), []);

    // A crowd of ids, as a large room's presence asks: one call, whatever its size.
    let mut crowd: Vec<UserId> = (0..2_000)
        .map(|_| UserId::from_uuid(Uuid::new_v4()))
        .collect();
    crowd.push(ada.id);
    assert_eq!(store.users.find_by_ids(&crowd).await.unwrap(), [ada]);
}

async fn a_second_user_with_the_same_address_is_email_taken(store: Store) {
    store
        .users
        .insert(new_user("ada@example.com"))
        .await
        .unwrap();
    let outcome = store.users.insert(new_user("ADA@example.com")).await;
    assert!(
        matches!(outcome, Err(InsertUserError::EmailTaken)),
        "{outcome:?}"
    );
}

async fn a_duplicate_id_is_a_storage_error_not_email_taken(store: Store) {
    let ada = new_user("ada@example.com");
    store.users.insert(ada.clone()).await.unwrap();
    let mut twin = new_user("twin@example.com");
    twin.user.id = ada.user.id;
    let outcome = store.users.insert(twin.clone()).await;
    assert!(
        matches!(outcome, Err(InsertUserError::Adapter(_))),
        "{outcome:?}"
    );
    assert_eq!(
        store
            .users
            .find_credentials(&twin.user.email)
            .await
            .unwrap(),
        None,
        "nothing is stored on error"
    );
}

async fn names_update_and_updated_at_moves(store: Store) {
    let ada = new_user("ada@example.com");
    store.users.insert(ada.clone()).await.unwrap();
    let updated = store
        .users
        .update_names(
            ada.user.id,
            PersonName::parse("Augusta").unwrap(),
            PersonName::parse("King").unwrap(),
            at(30),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.first_name.as_ref(), "Augusta");
    assert_eq!(updated.last_name.as_ref(), "King");
    assert_eq!(updated.updated_at, at(30));
    assert_eq!(updated.created_at, at(0));
    let stored = store.users.find_by_id(ada.user.id).await.unwrap();
    assert_eq!(stored, Some(updated), "what was returned is what is stored");
}

async fn password_hash_updates_touch_updated_at_only_when_asked(store: Store) {
    let ada = new_user("ada@example.com");
    store.users.insert(ada.clone()).await.unwrap();
    let stored_hash = |store: &Store| {
        let users = std::sync::Arc::clone(&store.users);
        let email = ada.user.email.clone();
        async move { users.find_credentials(&email).await.unwrap().unwrap() }
    };

    let rehashed = PasswordHash::new("$argon2id$rehash".into());
    let upgrade = HashReplacement::Upgrade {
        previous: ada.password_hash.clone(),
    };
    assert!(
        store
            .users
            .update_password_hash(ada.user.id, rehashed.clone(), at(10), upgrade)
            .await
            .unwrap()
    );
    let stored = stored_hash(&store).await;
    assert_eq!(stored.password_hash, rehashed);
    assert_eq!(stored.user.updated_at, at(0));

    let changed = PasswordHash::new("$2b$04$changed".into());
    assert!(
        store
            .users
            .update_password_hash(
                ada.user.id,
                changed.clone(),
                at(20),
                HashReplacement::Changed
            )
            .await
            .unwrap()
    );
    let stored = stored_hash(&store).await;
    assert_eq!(stored.password_hash, changed);
    assert_eq!(stored.user.updated_at, at(20));

    // A late upgrade of the old password loses to the change.
    let late = PasswordHash::new("$argon2id$late".into());
    let upgrade = HashReplacement::Upgrade { previous: rehashed };
    let upgraded = store
        .users
        .update_password_hash(ada.user.id, late, at(30), upgrade)
        .await
        .unwrap();
    assert!(!upgraded);
    assert_eq!(stored_hash(&store).await.password_hash, changed);
}

async fn a_write_that_cannot_commit_is_an_error_and_keeps_nothing(store: Store) {
    let ada = new_user("ada@example.com");
    store.users.insert(ada.clone()).await.unwrap();
    store.faults.fail_commits(true);

    let grace = new_user("grace@example.com");
    let inserted = store.users.insert(grace.clone()).await;
    assert!(
        matches!(inserted, Err(InsertUserError::Adapter(_))),
        "insert: {inserted:?}"
    );
    let renamed = store
        .users
        .update_names(
            ada.user.id,
            PersonName::parse("Augusta").unwrap(),
            PersonName::parse("King").unwrap(),
            at(30),
        )
        .await;
    assert!(renamed.is_err(), "update_names: {renamed:?}");
    for replacement in [
        HashReplacement::Changed,
        HashReplacement::Upgrade {
            previous: ada.password_hash.clone(),
        },
    ] {
        let rehashed = store
            .users
            .update_password_hash(
                ada.user.id,
                PasswordHash::new("$2b$04$never".into()),
                at(40),
                replacement.clone(),
            )
            .await;
        assert!(
            rehashed.is_err(),
            "update_password_hash {replacement:?}: {rehashed:?}"
        );
    }

    store.faults.fail_commits(false);
    assert_eq!(
        store
            .users
            .find_credentials(&grace.user.email)
            .await
            .unwrap(),
        None,
        "the failed insert kept nothing"
    );
    let stored = store
        .users
        .find_credentials(&ada.user.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.user, ada.user, "the failed rename kept nothing");
    assert_eq!(
        stored.password_hash, ada.password_hash,
        "the failed hash updates kept nothing"
    );
}

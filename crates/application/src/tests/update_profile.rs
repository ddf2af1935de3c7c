//! UpdateProfile: given names replace the current ones, the others stay, and
//! `updated_at` moves to the clock's time.

use domain::User;

use super::{ADA, Mocks, ada, boom, name, now};
use crate::{ProfileChanges, UpdateProfileError};

#[tokio::test]
async fn update_profile_changes_only_the_names_given_and_moves_updated_at() {
    let cases = [
        (ProfileChanges::default(), "Ada", "Lovelace"),
        (
            ProfileChanges {
                first_name: Some(name("Augusta")),
                last_name: None,
            },
            "Augusta",
            "Lovelace",
        ),
        (
            ProfileChanges {
                first_name: None,
                last_name: Some(name("King")),
            },
            "Ada",
            "King",
        ),
        (
            ProfileChanges {
                first_name: Some(name("Augusta")),
                last_name: Some(name("")),
            },
            "Augusta",
            "",
        ),
    ];
    for (changes, first, last) in cases {
        let mut mocks = Mocks::new();
        // The store writes what it is given and answers the updated row.
        mocks
            .users
            .expect_update_names()
            .withf(|id, _, _, _| *id == ADA)
            .times(1)
            .returning(|id, first_name, last_name, updated_at| {
                Ok(Some(User {
                    id,
                    first_name,
                    last_name,
                    updated_at,
                    ..ada()
                }))
            });

        let updated = mocks
            .update_profile()
            .execute(&ada(), changes.clone())
            .await
            .unwrap();

        assert_eq!(updated.first_name.as_ref(), first, "sent {changes:?}");
        assert_eq!(updated.last_name.as_ref(), last, "sent {changes:?}");
        assert_eq!(updated.updated_at, now(), "sent {changes:?}");
    }
}

#[tokio::test]
async fn update_profile_answers_user_gone_when_the_user_was_deleted_meanwhile() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_update_names()
        .times(1)
        .returning(|_, _, _, _| Ok(None));

    let result = mocks
        .update_profile()
        .execute(&ada(), ProfileChanges::default())
        .await;

    assert!(
        matches!(result, Err(UpdateProfileError::UserGone)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn update_profile_passes_on_a_store_failure() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_update_names()
        .times(1)
        .returning(|_, _, _, _| Err(boom("update names")));

    let result = mocks
        .update_profile()
        .execute(&ada(), ProfileChanges::default())
        .await;

    assert!(
        matches!(result, Err(UpdateProfileError::Adapter(_))),
        "got {result:?}"
    );
}

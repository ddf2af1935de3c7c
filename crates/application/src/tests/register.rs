//! Register: hash the password, give the user an id and a creation time, store them.

use domain::NewUser;
use uuid::Uuid;

use super::{ADAS_PASSWORD, Mocks, boom, email, fresh_hash, name, now, password};
use crate::{RegisterCommand, RegisterError};
use domain::ports::InsertUserError;
use domain::{User, UserId};

/// The id the id source hands to the new user.
const NEW_USER: Uuid = Uuid::from_u128(0x0e3);

fn command() -> RegisterCommand {
    RegisterCommand {
        email: email("ada@example.com"),
        password: password(ADAS_PASSWORD),
        first_name: name("Ada"),
        last_name: name("Lovelace"),
    }
}

/// The hasher hashes Ada's password into [`fresh_hash`]; the id source gives [`NEW_USER`].
fn hashing_works(mocks: &mut Mocks) {
    mocks
        .hasher
        .expect_hash()
        .withf(|password| password.expose() == ADAS_PASSWORD)
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    mocks.ids.expect_new_id().times(1).return_const(NEW_USER);
}

#[tokio::test]
async fn register_stores_the_hashed_password_with_a_fresh_id_and_the_clock_time() {
    let mut mocks = Mocks::new();
    hashing_works(&mut mocks);
    let expected = User {
        id: UserId::from_uuid(NEW_USER),
        email: email("ada@example.com"),
        first_name: name("Ada"),
        last_name: name("Lovelace"),
        created_at: now(),
        updated_at: now(),
    };
    let stored = NewUser {
        user: expected.clone(),
        password_hash: fresh_hash(),
    };
    mocks
        .users
        .expect_insert()
        .withf(move |new_user| *new_user == stored)
        .times(1)
        .returning(|_| Ok(()));

    let user = mocks.register().execute(command()).await.unwrap();

    assert_eq!(user, expected);
}

#[tokio::test]
async fn register_answers_email_taken_when_the_store_has_the_address_already() {
    let mut mocks = Mocks::new();
    hashing_works(&mut mocks);
    mocks
        .users
        .expect_insert()
        .times(1)
        .returning(|_| Err(InsertUserError::EmailTaken));

    let result = mocks.register().execute(command()).await;

    assert!(
        matches!(result, Err(RegisterError::EmailTaken)),
        "got {result:?}"
    );
}

#[tokio::test]
async fn register_passes_on_a_store_failure() {
    let mut mocks = Mocks::new();
    hashing_works(&mut mocks);
    mocks
        .users
        .expect_insert()
        .times(1)
        .returning(|_| Err(InsertUserError::Adapter(boom("insert user"))));

    let result = mocks.register().execute(command()).await;

    assert!(
        matches!(result, Err(RegisterError::Adapter(_))),
        "got {result:?}"
    );
}

#[tokio::test]
async fn register_stores_nothing_when_hashing_fails() {
    let mut mocks = Mocks::new();
    mocks
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Err(boom("hash password")));
    mocks.users.expect_insert().never();

    let result = mocks.register().execute(command()).await;

    assert!(
        matches!(result, Err(RegisterError::Adapter(_))),
        "got {result:?}"
    );
}

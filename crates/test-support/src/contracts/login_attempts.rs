//! The contract of [`LoginAttempts`].

use std::future::Future;

use chrono::Duration;
use domain::DeviceId;
use domain::ports::{AttemptKey, FailedLogins, LoginAttempts};
use uuid::Uuid;

use super::at;
use crate::fixtures::email;

/// Runs every case of the contract against records made by `fresh`.
///
/// # Panics
/// When the adapter breaks the contract.
pub async fn run<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Box<dyn LoginAttempts>>,
{
    eprintln!("LoginAttempts contract: failures count up, restart and are forgotten");
    failures_count_up_restart_and_are_forgotten(fresh().await.as_ref()).await;
    eprintln!("LoginAttempts contract: addresses are counted apart");
    addresses_are_counted_apart(fresh().await.as_ref()).await;
    eprintln!("LoginAttempts contract: each device of an address is counted apart");
    each_device_of_an_address_is_counted_apart(fresh().await.as_ref()).await;
    eprintln!("LoginAttempts contract: forgetting one key of an address forgets no other");
    forgetting_one_key_of_an_address_forgets_no_other(fresh().await.as_ref()).await;
}

/// Ada's laptop, a device she logged in from.
const LAPTOP: DeviceId = DeviceId::from_uuid(Uuid::from_u128(0x1a97));
/// Ada's phone, another one.
const PHONE: DeviceId = DeviceId::from_uuid(Uuid::from_u128(0xf0e));

/// The anonymous clients of Ada's address.
fn ada_anonymous() -> AttemptKey {
    AttemptKey::anonymous(email("ada@example.com"))
}

/// One trusted device of Ada's address.
fn adas(device: DeviceId) -> AttemptKey {
    AttemptKey::trusted(email("ada@example.com"), device)
}

/// Records failures against `key` at each of `minutes`, keeping every entry.
async fn fail(attempts: &dyn LoginAttempts, key: &AttemptKey, minutes: &[u32]) {
    let keep_all = at(0) - Duration::days(1);
    for &minute in minutes {
        attempts
            .record_failure(key, at(minute), false, keep_all)
            .await
            .unwrap();
    }
}

/// The count recorded against `key`, if any.
async fn count(attempts: &dyn LoginAttempts, key: &AttemptKey) -> Option<u32> {
    attempts
        .failures(key)
        .await
        .unwrap()
        .map(|failures| failures.count)
}

async fn failures_count_up_restart_and_are_forgotten(attempts: &dyn LoginAttempts) {
    for key in [ada_anonymous(), adas(LAPTOP)] {
        let keep_all = at(0) - Duration::days(1);
        assert_eq!(attempts.failures(&key).await.unwrap(), None, "{key:?}");
        attempts.forget(&key).await.unwrap();
        fail(attempts, &key, &[1, 2]).await;
        assert_eq!(
            attempts.failures(&key).await.unwrap(),
            Some(FailedLogins {
                count: 2,
                last_at: at(2)
            }),
            "{key:?}"
        );
        attempts
            .record_failure(&key, at(3), true, keep_all)
            .await
            .unwrap();
        assert_eq!(
            attempts.failures(&key).await.unwrap(),
            Some(FailedLogins {
                count: 1,
                last_at: at(3)
            }),
            "{key:?}: a restart counts from one"
        );
        attempts.forget(&key).await.unwrap();
        assert_eq!(attempts.failures(&key).await.unwrap(), None, "{key:?}");
    }
}

async fn addresses_are_counted_apart(attempts: &dyn LoginAttempts) {
    let grace = AttemptKey::anonymous(email("grace@example.com"));
    fail(attempts, &ada_anonymous(), &[1]).await;
    assert_eq!(attempts.failures(&grace).await.unwrap(), None);
    attempts.forget(&grace).await.unwrap();
    assert_eq!(count(attempts, &ada_anonymous()).await, Some(1));
    // The same device id under another address is another key too.
    let graces_laptop = AttemptKey::trusted(email("grace@example.com"), LAPTOP);
    fail(attempts, &adas(LAPTOP), &[2]).await;
    assert_eq!(count(attempts, &graces_laptop).await, None);
}

async fn each_device_of_an_address_is_counted_apart(attempts: &dyn LoginAttempts) {
    // Strangers fail three times, the laptop twice, the phone not at all.
    fail(attempts, &ada_anonymous(), &[1, 2, 3]).await;
    fail(attempts, &adas(LAPTOP), &[4, 5]).await;

    assert_eq!(count(attempts, &ada_anonymous()).await, Some(3));
    assert_eq!(
        attempts.failures(&adas(LAPTOP)).await.unwrap(),
        Some(FailedLogins {
            count: 2,
            last_at: at(5)
        })
    );
    assert_eq!(count(attempts, &adas(PHONE)).await, None);
}

async fn forgetting_one_key_of_an_address_forgets_no_other(attempts: &dyn LoginAttempts) {
    fail(attempts, &ada_anonymous(), &[1, 2, 3]).await;
    fail(attempts, &adas(LAPTOP), &[4]).await;
    fail(attempts, &adas(PHONE), &[5, 6]).await;

    // The laptop proves the password: strangers keep their count, the phone its own.
    attempts.forget(&adas(LAPTOP)).await.unwrap();
    assert_eq!(count(attempts, &adas(LAPTOP)).await, None);
    assert_eq!(count(attempts, &ada_anonymous()).await, Some(3));
    assert_eq!(count(attempts, &adas(PHONE)).await, Some(2));

    // And an anonymous success leaves the devices alone.
    attempts.forget(&ada_anonymous()).await.unwrap();
    assert_eq!(count(attempts, &ada_anonymous()).await, None);
    assert_eq!(count(attempts, &adas(PHONE)).await, Some(2));
}

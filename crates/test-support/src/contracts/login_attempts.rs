//! The contract of [`LoginAttempts`].

use std::future::Future;

use chrono::Duration;
use domain::ports::{FailedLogins, LoginAttempts};

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
}

async fn failures_count_up_restart_and_are_forgotten(attempts: &dyn LoginAttempts) {
    let ada = email("ada@example.com");
    assert_eq!(attempts.failures(&ada).await.unwrap(), None);
    attempts.forget(&ada).await.unwrap();
    let keep_all = at(0) - Duration::days(1);
    for minute in 1..=2 {
        attempts
            .record_failure(&ada, at(minute), false, keep_all)
            .await
            .unwrap();
    }
    assert_eq!(
        attempts.failures(&ada).await.unwrap(),
        Some(FailedLogins {
            count: 2,
            last_at: at(2)
        })
    );
    attempts
        .record_failure(&ada, at(3), true, keep_all)
        .await
        .unwrap();
    assert_eq!(
        attempts.failures(&ada).await.unwrap(),
        Some(FailedLogins {
            count: 1,
            last_at: at(3)
        }),
        "a restart counts from one"
    );
    attempts.forget(&ada).await.unwrap();
    assert_eq!(attempts.failures(&ada).await.unwrap(), None);
}

async fn addresses_are_counted_apart(attempts: &dyn LoginAttempts) {
    let ada = email("ada@example.com");
    let grace = email("grace@example.com");
    let keep_all = at(0) - Duration::days(1);
    attempts
        .record_failure(&ada, at(1), false, keep_all)
        .await
        .unwrap();
    assert_eq!(attempts.failures(&grace).await.unwrap(), None);
    attempts.forget(&grace).await.unwrap();
    assert_eq!(
        attempts.failures(&ada).await.unwrap().map(|f| f.count),
        Some(1)
    );
}

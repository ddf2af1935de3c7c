//! Failed logins per address and per trusted device, in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{AdapterError, AttemptKey, FailedLogins, LoginAttempts};

/// Above this many keys, forgotten entries are swept out when a failure is recorded.
const SWEEP_ABOVE: usize = 10_000;

/// The [`LoginAttempts`] port in memory. Counts live as long as the process and are per
/// instance: enough to slow a guesser to a crawl on the embedded single-instance
/// deployment (see `docs/security.md`). Never fails.
#[derive(Debug, Default)]
pub struct InMemoryLoginAttempts {
    failures: Mutex<HashMap<AttemptKey, FailedLogins>>,
}

impl InMemoryLoginAttempts {
    fn with_map<T>(&self, work: impl FnOnce(&mut HashMap<AttemptKey, FailedLogins>) -> T) -> T {
        // Every update below is a single assignment: a panic elsewhere while the lock
        // was held cannot have left an entry half-written.
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut map)
    }
}

#[async_trait]
impl LoginAttempts for InMemoryLoginAttempts {
    async fn failures(&self, key: &AttemptKey) -> Result<Option<FailedLogins>, AdapterError> {
        Ok(self.with_map(|map| map.get(key).copied()))
    }

    async fn record_failure(
        &self,
        key: &AttemptKey,
        at: DateTime<Utc>,
        restart: bool,
        forget_before: DateTime<Utc>,
    ) -> Result<(), AdapterError> {
        self.with_map(|map| {
            if map.len() > SWEEP_ABOVE {
                map.retain(|_, failures| failures.last_at >= forget_before);
            }
            let count = match map.get(key) {
                Some(failures) if !restart => failures.count.saturating_add(1),
                _ => 1,
            };
            map.insert(key.clone(), FailedLogins { count, last_at: at });
        });
        Ok(())
    }

    async fn forget(&self, key: &AttemptKey) -> Result<(), AdapterError> {
        self.with_map(|map| map.remove(key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use domain::Email;

    use super::*;

    #[tokio::test]
    async fn honours_the_login_attempts_contract() {
        test_support::contracts::login_attempts::run(|| async {
            Box::new(InMemoryLoginAttempts::default()) as Box<dyn LoginAttempts>
        })
        .await;
    }

    #[tokio::test]
    async fn a_crowd_of_addresses_is_swept_of_forgotten_ones() {
        let attempts = InMemoryLoginAttempts::default();
        let long_ago = Utc::now() - Duration::hours(2);
        for n in 0..=SWEEP_ABOVE {
            let email = Email::parse(&format!("u{n}@example.com")).unwrap();
            attempts
                .record_failure(&AttemptKey::anonymous(email), long_ago, false, long_ago)
                .await
                .unwrap();
        }
        let now = Utc::now();
        let ada = AttemptKey::anonymous(Email::parse("ada@example.com").unwrap());
        attempts
            .record_failure(&ada, now, false, now - Duration::minutes(30))
            .await
            .unwrap();
        let left: Vec<AttemptKey> = attempts.with_map(|map| map.keys().cloned().collect());
        assert_eq!(left, [ada]);
    }
}

//! Failed logins per address, in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use domain::Email;
use domain::ports::{FailedLogins, LoginAttempts};

/// Above this many addresses, forgotten entries are swept out on the next failure.
const SWEEP_ABOVE: usize = 10_000;

/// The [`LoginAttempts`] port in memory. Counts live as long as the process and are per
/// instance: enough to slow a guesser to a crawl; a deployment of several instances
/// multiplies the budget by their number (see `docs/security.md`).
#[derive(Debug, Default)]
pub struct InMemoryLoginAttempts {
    failures: Mutex<HashMap<String, FailedLogins>>,
}

impl InMemoryLoginAttempts {
    fn with_map<T>(&self, work: impl FnOnce(&mut HashMap<String, FailedLogins>) -> T) -> T {
        // A panic while holding the lock cannot leave a count half-written.
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut map)
    }
}

impl LoginAttempts for InMemoryLoginAttempts {
    fn failures(&self, email: &Email) -> Option<FailedLogins> {
        self.with_map(|map| map.get(email.as_ref()).copied())
    }

    fn record_failure(&self, email: &Email, at: DateTime<Utc>, forget_before: DateTime<Utc>) {
        self.with_map(|map| {
            if map.len() > SWEEP_ABOVE {
                map.retain(|_, failures| failures.last_at >= forget_before);
            }
            let entry = map
                .entry(email.as_ref().to_owned())
                .or_insert(FailedLogins {
                    count: 0,
                    last_at: at,
                });
            if entry.last_at < forget_before {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last_at = at;
        });
    }

    fn clear(&self, email: &Email) {
        self.with_map(|map| map.remove(email.as_ref()));
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn ada() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    #[test]
    fn failures_count_up_and_clear() {
        let attempts = InMemoryLoginAttempts::default();
        let now = Utc::now();
        assert_eq!(attempts.failures(&ada()), None);
        attempts.record_failure(&ada(), now, now - Duration::minutes(15));
        attempts.record_failure(&ada(), now, now - Duration::minutes(15));
        assert_eq!(
            attempts.failures(&ada()),
            Some(FailedLogins {
                count: 2,
                last_at: now
            })
        );
        attempts.clear(&ada());
        assert_eq!(attempts.failures(&ada()), None);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let attempts = InMemoryLoginAttempts::default();
        let long_ago = Utc::now() - Duration::hours(2);
        attempts.record_failure(&ada(), long_ago, long_ago - Duration::minutes(15));
        attempts.record_failure(&ada(), long_ago, long_ago - Duration::minutes(15));
        let now = Utc::now();
        attempts.record_failure(&ada(), now, now - Duration::minutes(15));
        assert_eq!(attempts.failures(&ada()).map(|f| f.count), Some(1));
    }

    #[test]
    fn a_crowd_of_addresses_is_swept() {
        let attempts = InMemoryLoginAttempts::default();
        let long_ago = Utc::now() - Duration::hours(2);
        for n in 0..=SWEEP_ABOVE {
            let email = Email::parse(&format!("u{n}@example.com")).unwrap();
            attempts.record_failure(&email, long_ago, long_ago);
        }
        let now = Utc::now();
        attempts.record_failure(&ada(), now, now - Duration::minutes(15));
        assert_eq!(attempts.with_map(|map| map.len()), 1);
    }
}

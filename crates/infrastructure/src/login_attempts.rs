//! Failed logins and password checks in progress per address, in process memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use domain::Email;
use domain::ports::{AttemptOutcome, AttemptState, FailedLogins, LoginAttempts};

/// Above this many addresses, forgotten entries are swept out when a check ends.
const SWEEP_ABOVE: usize = 10_000;

/// The [`LoginAttempts`] port in memory. Counts live as long as the process and are per
/// instance: enough to slow a guesser to a crawl; a deployment of several instances
/// multiplies the allowance by their number (see `docs/security.md`).
#[derive(Debug, Default)]
pub struct InMemoryLoginAttempts {
    entries: Mutex<HashMap<String, AttemptState>>,
}

impl InMemoryLoginAttempts {
    fn with_map<T>(&self, work: impl FnOnce(&mut HashMap<String, AttemptState>) -> T) -> T {
        // Every update below is a single assignment: a panic elsewhere while the lock
        // was held cannot have left an entry half-written.
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut map)
    }
}

impl LoginAttempts for InMemoryLoginAttempts {
    fn begin(&self, email: &Email) -> AttemptState {
        self.with_map(|map| {
            let entry = map.entry(email.as_ref().to_owned()).or_default();
            let before = *entry;
            entry.in_flight = entry.in_flight.saturating_add(1);
            before
        })
    }

    fn finish(&self, email: &Email, outcome: AttemptOutcome, forget_before: DateTime<Utc>) {
        self.with_map(|map| {
            if let Some(entry) = map.get_mut(email.as_ref()) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
                match outcome {
                    AttemptOutcome::Failed { at, restart } => {
                        let count = match entry.failures {
                            Some(failures) if !restart => failures.count.saturating_add(1),
                            _ => 1,
                        };
                        entry.failures = Some(FailedLogins { count, last_at: at });
                    }
                    AttemptOutcome::Succeeded => entry.failures = None,
                    AttemptOutcome::Abandoned => {}
                }
                if entry.in_flight == 0 && entry.failures.is_none() {
                    map.remove(email.as_ref());
                }
            }
            if map.len() > SWEEP_ABOVE {
                map.retain(|_, entry| {
                    entry.in_flight > 0
                        || entry
                            .failures
                            .is_some_and(|failures| failures.last_at >= forget_before)
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn ada() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    fn failed(at: DateTime<Utc>, restart: bool) -> AttemptOutcome {
        AttemptOutcome::Failed { at, restart }
    }

    #[test]
    fn concurrent_checks_see_each_other() {
        let attempts = InMemoryLoginAttempts::default();
        assert_eq!(attempts.begin(&ada()), AttemptState::default());
        assert_eq!(attempts.begin(&ada()).in_flight, 1);
        assert_eq!(attempts.begin(&ada()).in_flight, 2);
    }

    #[test]
    fn failures_count_up_and_a_success_clears_them() {
        let attempts = InMemoryLoginAttempts::default();
        let now = Utc::now();
        for _ in 0..2 {
            attempts.begin(&ada());
            attempts.finish(&ada(), failed(now, false), now);
        }
        let state = attempts.begin(&ada());
        assert_eq!(
            state.failures,
            Some(FailedLogins {
                count: 2,
                last_at: now
            })
        );
        assert_eq!(state.in_flight, 0);
        attempts.finish(&ada(), AttemptOutcome::Succeeded, now);
        assert_eq!(attempts.with_map(|map| map.len()), 0);
    }

    #[test]
    fn a_restart_counts_from_one_and_an_abandoned_check_records_nothing() {
        let attempts = InMemoryLoginAttempts::default();
        let now = Utc::now();
        for _ in 0..3 {
            attempts.begin(&ada());
            attempts.finish(&ada(), failed(now, false), now);
        }
        attempts.begin(&ada());
        attempts.finish(&ada(), AttemptOutcome::Abandoned, now);
        assert_eq!(attempts.begin(&ada()).failures.map(|f| f.count), Some(3));
        attempts.finish(&ada(), failed(now, true), now);
        assert_eq!(attempts.begin(&ada()).failures.map(|f| f.count), Some(1));
    }

    #[test]
    fn finishing_an_unknown_address_changes_nothing() {
        let attempts = InMemoryLoginAttempts::default();
        attempts.finish(&ada(), AttemptOutcome::Succeeded, Utc::now());
        assert_eq!(attempts.with_map(|map| map.len()), 0);
    }

    #[test]
    fn a_crowd_of_addresses_is_swept_but_checks_in_progress_stay() {
        let attempts = InMemoryLoginAttempts::default();
        let long_ago = Utc::now() - Duration::hours(2);
        for n in 0..=SWEEP_ABOVE {
            let email = Email::parse(&format!("u{n}@example.com")).unwrap();
            attempts.begin(&email);
            attempts.finish(&email, failed(long_ago, false), long_ago);
        }
        let busy = Email::parse("busy@example.com").unwrap();
        attempts.begin(&busy);
        let now = Utc::now();
        attempts.begin(&ada());
        attempts.finish(&ada(), failed(now, false), now - Duration::minutes(30));
        let left: Vec<String> = attempts.with_map(|map| map.keys().cloned().collect());
        assert_eq!(left.len(), 2, "{left:?}");
    }
}

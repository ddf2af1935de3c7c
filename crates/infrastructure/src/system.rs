//! The real clock and the real source of identifiers.

use chrono::{DateTime, SubsecRound as _, Utc};
use domain::ports::{Clock, IdSource};
use uuid::Uuid;

/// The operating system's clock, to the microsecond.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Now, truncated to the microsecond: PostgreSQL keeps no finer, so every instant
    /// Portico makes reads back from either backend exactly as it was handed out (a
    /// session's `last_used_at`, a message's `created_at`), and both backends behave the
    /// same.
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// Random (version 4) UUIDs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn new_id(&self) -> Uuid {
        Uuid::new_v4()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_the_clock_moves_forward() {
        assert_ne!(RandomIds.new_id(), RandomIds.new_id());
        let before = SystemClock.now();
        assert!(SystemClock.now() >= before);
        assert_eq!(
            SystemClock.now().timestamp_subsec_nanos() % 1_000,
            0,
            "microseconds, as PostgreSQL stores them"
        );
    }
}

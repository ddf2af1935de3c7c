//! The real clock and the real source of identifiers.

use chrono::{DateTime, Utc};
use domain::ports::{Clock, IdSource};
use uuid::Uuid;

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
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
    }
}

//! A clock a test moves by hand.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use domain::ports::Clock;

/// A [`Clock`] that stands still until the test moves it: time passes in a test by
/// [`ManualClock::advance`], never by sleeping.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at `now`.
    #[must_use]
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

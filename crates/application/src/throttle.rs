//! Throttling password guesses per address: after a few failures in a row the address
//! is locked for a while, doubling with each further failure; checks that run at the
//! same time count against the same allowance.

use std::sync::Arc;

use chrono::Duration;
use domain::Email;
use domain::ports::{AttemptOutcome, Clock, LoginAttempts};

/// How failed password checks against one address slow further checks down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottlePolicy {
    /// Failures in a row allowed before the address is locked.
    pub max_failures: u32,
    /// The first lockout; each further failure doubles it.
    pub lockout: Duration,
    /// The longest lockout. Failures are forgotten once this long has passed since the
    /// lockout they caused ended.
    pub max_lockout: Duration,
}

impl LoginThrottlePolicy {
    /// How long after the latest of `failures` failures the address stays locked.
    fn lockout_after(&self, failures: u32) -> Duration {
        let Some(excess) = failures.checked_sub(self.max_failures) else {
            return Duration::zero();
        };
        let factor = 1_i32.checked_shl(excess.min(30)).unwrap_or(i32::MAX);
        self.lockout
            .checked_mul(factor)
            .map_or(self.max_lockout, |lockout| lockout.min(self.max_lockout))
    }
}

/// Admits password checks against an address, or says when to come back.
pub struct LoginThrottle {
    /// The failures and checks in progress per address.
    pub attempts: Arc<dyn LoginAttempts>,
    /// The rule.
    pub policy: LoginThrottlePolicy,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// Whole seconds, rounded up, at least one.
fn whole_seconds(duration: Duration) -> i64 {
    ((duration.num_milliseconds() + 999).div_euclid(1000)).max(1)
}

impl LoginThrottle {
    /// Lets one password check against `email` go ahead, or refuses it with the seconds
    /// to wait. The check must be settled through the returned [`PasswordAttempt`];
    /// dropped unsettled (an error, a cancelled request), it records nothing.
    ///
    /// # Errors
    /// The number of seconds to wait when the address is locked, or when the checks
    /// already running against it use up its remaining allowance.
    pub fn admit(&self, email: &Email) -> Result<PasswordAttempt, i64> {
        let state = self.attempts.begin(email);
        let mut attempt = PasswordAttempt {
            attempts: Arc::clone(&self.attempts),
            email: email.clone(),
            restart: false,
            forget_before: self.clock.now() - self.policy.max_lockout * 2,
            settled: false,
        };
        let now = self.clock.now();
        let Some(failures) = state.failures else {
            return self.within_allowance(attempt, 0, state.in_flight);
        };
        let locked_until = failures.last_at + self.policy.lockout_after(failures.count);
        if now >= locked_until + self.policy.max_lockout {
            // Long enough ago: the next failure starts a new count.
            attempt.restart = true;
            return self.within_allowance(attempt, 0, state.in_flight);
        }
        if now < locked_until {
            return Err(whole_seconds(locked_until - now));
        }
        self.within_allowance(attempt, failures.count, state.in_flight)
    }

    /// Refuses a check when those in flight, were they all to fail, would already lock
    /// the address: a burst of parallel guesses gets no more than a sequence would.
    fn within_allowance(
        &self,
        attempt: PasswordAttempt,
        failures: u32,
        in_flight: u32,
    ) -> Result<PasswordAttempt, i64> {
        let allowance = self.policy.max_failures.saturating_sub(failures).max(1);
        if in_flight >= allowance {
            return Err(whole_seconds(self.policy.lockout));
        }
        Ok(attempt)
    }
}

/// One admitted password check. Settle it with [`PasswordAttempt::failed`] or
/// [`PasswordAttempt::succeeded`]; dropping it unsettled records nothing.
pub struct PasswordAttempt {
    attempts: Arc<dyn LoginAttempts>,
    email: Email,
    restart: bool,
    forget_before: chrono::DateTime<chrono::Utc>,
    settled: bool,
}

impl PasswordAttempt {
    fn settle(mut self, outcome: AttemptOutcome) {
        self.settled = true;
        self.attempts
            .finish(&self.email, outcome, self.forget_before);
    }

    /// The password was wrong, at `at`.
    pub fn failed(self, at: chrono::DateTime<chrono::Utc>) {
        let restart = self.restart;
        self.settle(AttemptOutcome::Failed { at, restart });
    }

    /// The password was right.
    pub fn succeeded(self) {
        self.settle(AttemptOutcome::Succeeded);
    }
}

impl Drop for PasswordAttempt {
    fn drop(&mut self) {
        if !self.settled {
            self.attempts
                .finish(&self.email, AttemptOutcome::Abandoned, self.forget_before);
        }
    }
}

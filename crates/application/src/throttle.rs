//! Throttling password guesses per address: after a few failures in a row the address
//! is locked for a while, doubling with each further failure; checks that run at the
//! same time count against the same allowance.
//!
//! A client presenting a valid device token for the address (it logged in to the
//! account before) is counted apart, on its own allowance under the same policy, so
//! strangers who lock the address out do not lock out its owner's devices (OWASP's
//! device cookies). A device that uses up its own allowance is untrusted until its
//! lockout ends: its checks are counted with the anonymous clients again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use domain::ports::{AdapterError, AttemptKey, Clock, DeviceTokens, LoginAttempts};
use domain::{DeviceId, DeviceToken, Email};

/// How failed password checks against one address (or one trusted device of it) slow
/// further checks down.
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
    attempts: Arc<dyn LoginAttempts>,
    device_tokens: Arc<dyn DeviceTokens>,
    policy: LoginThrottlePolicy,
    clock: Arc<dyn Clock>,
    in_flight: Arc<InFlight>,
}

/// Why a password check may not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The address is locked for this client (and so is its device, if it presented
    /// one), or the checks already running use up the allowance: retry after this many
    /// seconds (at least one).
    #[error("too many failed password checks; retry after {0} s")]
    Throttled(u64),
    /// The record of failures cannot be read. The check is refused: a guesser must not
    /// get free attempts while the record is down (the throttle fails closed).
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Whole seconds, rounded up, at least one.
fn whole_seconds(duration: Duration) -> u64 {
    let millis = u64::try_from(duration.num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

impl LoginThrottle {
    /// A throttle applying `policy` to the failures kept in `attempts`, trusting the
    /// devices whose tokens `device_tokens` verifies.
    #[must_use]
    pub fn new(
        attempts: Arc<dyn LoginAttempts>,
        device_tokens: Arc<dyn DeviceTokens>,
        policy: LoginThrottlePolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            attempts,
            device_tokens,
            policy,
            clock,
            in_flight: Arc::default(),
        }
    }

    /// Lets one password check against `email` go ahead, or refuses it. With a
    /// `device_token` that verifies for `email`, the check is counted against that
    /// device; otherwise (none, forged, expired, another address's) against the
    /// address's anonymous clients. A trusted device that is locked is counted with the
    /// anonymous clients instead. The check must be settled through the returned
    /// [`PasswordAttempt`]; dropped unsettled (an error, a cancelled request), it
    /// records nothing.
    ///
    /// # Errors
    /// [`AdmitError::Throttled`] with the seconds to wait when the client's allowance is
    /// used up (locked, or taken by the checks in flight); [`AdmitError::Adapter`] when
    /// the failures cannot be read.
    pub async fn admit(
        &self,
        email: &Email,
        device_token: Option<&DeviceToken>,
    ) -> Result<PasswordAttempt, AdmitError> {
        let anonymous = AttemptKey::anonymous(email.clone());
        let Some(device) = device_token.and_then(|token| self.trusted_device(token, email)) else {
            return self.admit_as(anonymous).await;
        };
        match self
            .admit_as(AttemptKey::trusted(email.clone(), device))
            .await
        {
            Err(AdmitError::Throttled(device_wait)) => {
                // OWASP: a device that is locked out is an untrusted client until its
                // lockout ends. It still gets what any stranger gets, no more: the
                // anonymous allowance, which its own failures then use up. The wait
                // given is the shorter one: after it, one of the two lets it try.
                self.admit_as(anonymous).await.map_err(|error| match error {
                    AdmitError::Throttled(anonymous_wait) => {
                        AdmitError::Throttled(device_wait.min(anonymous_wait))
                    }
                    other @ AdmitError::Adapter(_) => other,
                })
            }
            admitted_or_failed => admitted_or_failed,
        }
    }

    /// The device a presented token names, if it verifies for `email` now.
    fn trusted_device(&self, token: &DeviceToken, email: &Email) -> Option<DeviceId> {
        match self.device_tokens.verify(token, email, self.clock.now()) {
            Ok(device) => Some(device),
            Err(rejection) => {
                // Expected now and then (a token outlives its lifetime, a browser shared
                // by two accounts); many at once would say someone forges them.
                tracing::info!(%rejection, "device token not trusted; counted as anonymous");
                None
            }
        }
    }

    /// Admits a check counted against `key`, or refuses it.
    async fn admit_as(&self, key: AttemptKey) -> Result<PasswordAttempt, AdmitError> {
        // Counted in flight before the record is read, so that of many concurrent checks
        // each sees the others.
        let (in_flight, others) = InFlightGuard::enter(&self.in_flight, &key);
        let failures = self.attempts.failures(&key).await?;
        let now = self.clock.now();
        let mut attempt = PasswordAttempt {
            attempts: Arc::clone(&self.attempts),
            key,
            restart: false,
            forget_before: now - self.policy.max_lockout * 2,
            _in_flight: in_flight,
        };
        let Some(failures) = failures else {
            return self.within_allowance(attempt, 0, others);
        };
        let locked_until = failures.last_at + self.policy.lockout_after(failures.count);
        if now >= locked_until + self.policy.max_lockout {
            // Long enough ago: the next failure starts a new count.
            attempt.restart = true;
            return self.within_allowance(attempt, 0, others);
        }
        if now < locked_until {
            return Err(AdmitError::Throttled(whole_seconds(locked_until - now)));
        }
        self.within_allowance(attempt, failures.count, others)
    }

    /// Refuses a check when those in flight, were they all to fail, would already lock
    /// the key: a burst of parallel guesses gets no more than a sequence would.
    fn within_allowance(
        &self,
        attempt: PasswordAttempt,
        failures: u32,
        in_flight: u32,
    ) -> Result<PasswordAttempt, AdmitError> {
        let allowance = self.policy.max_failures.saturating_sub(failures).max(1);
        if in_flight >= allowance {
            return Err(AdmitError::Throttled(whole_seconds(self.policy.lockout)));
        }
        Ok(attempt)
    }
}

/// Password checks in progress per key (address, or trusted device of it), in this
/// process.
#[derive(Debug, Default)]
struct InFlight(Mutex<HashMap<AttemptKey, u32>>);

impl InFlight {
    fn with_map<T>(&self, work: impl FnOnce(&mut HashMap<AttemptKey, u32>) -> T) -> T {
        // Every update is a single assignment: a panic elsewhere while the lock was held
        // cannot have left a count half-written.
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut map)
    }
}

/// One check counted in flight until dropped.
struct InFlightGuard {
    in_flight: Arc<InFlight>,
    key: AttemptKey,
}

impl InFlightGuard {
    /// Counts a check against `key`; returns the guard and how many were in flight
    /// before it.
    fn enter(in_flight: &Arc<InFlight>, key: &AttemptKey) -> (Self, u32) {
        let key = key.clone();
        let before = in_flight.with_map(|map| {
            let count = map.entry(key.clone()).or_default();
            let before = *count;
            *count = count.saturating_add(1);
            before
        });
        let guard = Self {
            in_flight: Arc::clone(in_flight),
            key,
        };
        (guard, before)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.in_flight.with_map(|map| {
            // The guard's own count keeps the entry there while it lives.
            let left = map.get_mut(&self.key).map_or(0, |count| {
                *count = count.saturating_sub(1);
                *count
            });
            if left == 0 {
                map.remove(&self.key);
            }
        });
    }
}

/// One admitted password check. Settle it with [`PasswordAttempt::failed`] or
/// [`PasswordAttempt::succeeded`]; dropping it unsettled records nothing.
pub struct PasswordAttempt {
    attempts: Arc<dyn LoginAttempts>,
    /// What the check is counted against: the address's anonymous clients, or one
    /// trusted device.
    key: AttemptKey,
    restart: bool,
    forget_before: DateTime<Utc>,
    _in_flight: InFlightGuard,
}

impl PasswordAttempt {
    /// The password was wrong, at `at`. A failure to record it is logged, not returned:
    /// the answer to the guess is the same either way, and the next check against the
    /// address fails closed if the record is still down.
    pub async fn failed(self, at: DateTime<Utc>) {
        if let Err(error) = self
            .attempts
            .record_failure(&self.key, at, self.restart, self.forget_before)
            .await
        {
            tracing::warn!(error.cause_chain = ?error, "recording a failed password check failed");
        }
    }

    /// The password was right: the earlier failures of what the check was counted
    /// against are forgotten, and only those (logged if that fails; the owner is let in
    /// all the same). A trusted device's success leaves the anonymous failures alone, so
    /// the owner logging in from a known device does not hand strangers a fresh
    /// allowance.
    pub async fn succeeded(self) {
        if let Err(error) = self.attempts.forget(&self.key).await {
            tracing::warn!(error.cause_chain = ?error, "forgetting failed password checks failed");
        }
    }
}

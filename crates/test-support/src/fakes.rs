//! A mockall fake of every port, with the expectations the stories share.

use std::sync::Arc;

use domain::ports::RoomEvent;
use domain::ports::{
    DeviceTokenRejection, MockAccessTokens, MockClock, MockDeviceTokens, MockIdSource,
    MockLoginAttempts, MockMessageBus, MockPasswordHasher, MockPresenceRegistry,
    MockRefreshTokenMint, MockRoomStore, MockSessionRepository, MockStorageHealth,
    MockUserRepository, PasswordCheck, Ports, StoredCredentials,
};
use domain::{DeviceId, RefreshTokenRecord, SessionId};

use crate::fixtures::{
    ADA, SESSION, ada, device_token, digest_of, fresh_hash, minted, minted_device_token, now,
    presented, signed, stored_hash,
};

/// A fake of every port. [`Fakes::new`] sets no expectation but a clock stopped at
/// [`now`]: a call no expectation allows fails the test, so a story lists only the calls
/// that matter to it. [`Fakes::into_ports`] hands them over as the binary hands over
/// adapters.
pub struct Fakes {
    /// Where users live.
    pub users: MockUserRepository,
    /// Where sessions live.
    pub sessions: MockSessionRepository,
    /// Failed logins per address and per trusted device.
    pub login_attempts: MockLoginAttempts,
    /// Device tokens.
    pub device_tokens: MockDeviceTokens,
    /// Password hashing.
    pub hasher: MockPasswordHasher,
    /// Access tokens.
    pub access_tokens: MockAccessTokens,
    /// Refresh tokens.
    pub refresh_tokens: MockRefreshTokenMint,
    /// The time.
    pub clock: MockClock,
    /// Fresh identifiers.
    pub ids: MockIdSource,
    /// The storage's health.
    pub storage: MockStorageHealth,
    /// Where rooms, memberships and messages live.
    pub rooms: MockRoomStore,
    /// The message bus.
    pub bus: MockMessageBus,
    /// Who has a real-time connection open.
    pub presence: MockPresenceRegistry,
}

impl Default for Fakes {
    fn default() -> Self {
        Self::new()
    }
}

impl Fakes {
    /// Fakes with no expectation but a clock stopped at [`now`] and a hasher with room
    /// (it is never saturated; [`Fakes::hashing_is_saturated`] says otherwise).
    #[must_use]
    pub fn new() -> Self {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_is_saturated().return_const(false);
        Self {
            users: MockUserRepository::new(),
            sessions: MockSessionRepository::new(),
            login_attempts: MockLoginAttempts::new(),
            device_tokens: MockDeviceTokens::new(),
            hasher,
            access_tokens: MockAccessTokens::new(),
            refresh_tokens: MockRefreshTokenMint::new(),
            clock,
            ids: MockIdSource::new(),
            storage: MockStorageHealth::new(),
            rooms: MockRoomStore::new(),
            bus: MockMessageBus::new(),
            presence: MockPresenceRegistry::new(),
        }
    }

    /// The fakes as the ports the use cases are built from.
    #[must_use]
    pub fn into_ports(self) -> Ports {
        Ports {
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            login_attempts: Arc::new(self.login_attempts),
            device_tokens: Arc::new(self.device_tokens),
            hasher: Arc::new(self.hasher),
            access_tokens: Arc::new(self.access_tokens),
            refresh_tokens: Arc::new(self.refresh_tokens),
            clock: Arc::new(self.clock),
            ids: Arc::new(self.ids),
            storage: Arc::new(self.storage),
            rooms: Arc::new(self.rooms),
            bus: Arc::new(self.bus),
            presence: Arc::new(self.presence),
        }
    }

    /// No failed logins recorded anywhere; recording and forgetting them allowed.
    pub fn attempts_are_unremarkable(&mut self) {
        self.login_attempts
            .expect_failures()
            .returning(|_| Ok(None));
        self.login_attempts
            .expect_record_failure()
            .returning(|_, _, _, _| Ok(()));
        self.login_attempts.expect_forget().returning(|_| Ok(()));
    }

    /// The signer mints [`minted_device_token`] for any device of Ada's address, as often
    /// as asked.
    pub fn mints_device_tokens(&mut self) {
        self.device_tokens
            .expect_mint()
            .withf(|email, _, _| email.as_ref() == "ada@example.com")
            .returning(|_, device, at| minted_device_token(device, at));
    }

    /// The signer trusts the [`device_token`] of each of `devices` for Ada's address,
    /// and refuses as [`DeviceTokenRejection::Invalid`] anything else presented.
    pub fn trusts_adas_devices(&mut self, devices: &'static [DeviceId]) {
        self.device_tokens
            .expect_verify()
            .returning(move |presented, email, _| {
                devices
                    .iter()
                    .copied()
                    .find(|device| {
                        *presented == device_token(*device) && email.as_ref() == "ada@example.com"
                    })
                    .ok_or(DeviceTokenRejection::Invalid)
            });
    }

    /// The store knows Ada's address, with [`stored_hash`] as her hash.
    pub fn ada_is_registered(&mut self) {
        self.users
            .expect_find_credentials()
            .withf(|email| email.as_ref() == "ada@example.com")
            .times(1)
            .returning(|_| {
                Ok(Some(StoredCredentials {
                    user: ada(),
                    password_hash: stored_hash(),
                }))
            });
    }

    /// The hasher is saturated: it would refuse any hash or check asked for now, and
    /// none is.
    pub fn hashing_is_saturated(&mut self) {
        // Clears the standing "never saturated" (expectations match first-set first).
        self.hasher.checkpoint();
        self.hasher.expect_is_saturated().return_const(true);
        self.hasher.expect_verify().never();
        self.hasher.expect_hash().never();
    }

    /// Checking `typed` against [`stored_hash`] gives `check`, once.
    pub fn password_check_gives(&mut self, typed: &'static str, check: PasswordCheck) {
        self.hasher
            .expect_verify()
            .withf(move |password, stored| password.expose() == typed && *stored == stored_hash())
            .times(1)
            .returning(move |_, _| Ok(check));
    }

    /// The mint digests any token as [`digest_of`] does, as often as asked.
    pub fn digests_tokens(&mut self) {
        self.refresh_tokens.expect_digest().returning(digest_of);
    }

    /// The store holds `record` for [`presented`], once.
    pub fn presented_token_is(&mut self, record: Option<RefreshTokenRecord>) {
        self.sessions
            .expect_find_token()
            .withf(|digest| *digest == digest_of(&presented()))
            .times(1)
            .returning(move |_| Ok(record.clone()));
    }

    /// One pair is issued: the mint hands out [`minted`] and the signer signs with
    /// [`signed`], whatever the user, time and `jti`.
    pub fn issues_one_pair(&mut self) {
        self.refresh_tokens
            .expect_mint()
            .times(1)
            .returning(|| Ok(minted()));
        self.access_tokens
            .expect_issue()
            .times(1)
            .returning(|user, session, at, jti| Ok(signed(user, session, at, jti)));
    }

    /// A password change goes through, once: the new password is hashed as
    /// [`fresh_hash`], every session of the user is revoked (the store ends
    /// [`SESSION`]) and the hash is stored; the end of [`SESSION`] is announced.
    pub fn new_password_is_stored(&mut self) {
        self.hasher
            .expect_hash()
            .times(1)
            .returning(|_| Ok(fresh_hash()));
        self.sessions
            .expect_revoke_all_of_user()
            .withf(|user, except, _| *user == ADA && except.is_none())
            .times(1)
            .returning(|_, _, _| Ok(vec![SESSION]));
        self.announces_the_end_of(&[SESSION]);
        self.users
            .expect_update_password_hash()
            .times(1)
            .returning(|_, _, _, _| Ok(true));
    }

    /// The end of each of `sessions` is announced on the bus, once each, and nothing
    /// else is.
    pub fn announces_the_end_of(&mut self, sessions: &[SessionId]) {
        let expected: Vec<RoomEvent> = sessions
            .iter()
            .map(|&session| RoomEvent::SessionEnded { session })
            .collect();
        self.bus
            .expect_publish()
            .withf(move |event| expected.contains(event))
            .times(sessions.len())
            .returning(|_| Ok(()));
    }

    /// Ada's [`SESSION`] is live: the store answers Ada for it, once.
    pub fn adas_session_is_live(&mut self) {
        self.sessions
            .expect_find_live_user()
            .withf(|session, user, at| *session == SESSION && *user == ADA && *at == now())
            .times(1)
            .returning(|_, _, _| Ok(Some(ada())));
    }

    /// Nothing is minted, signed or stored for a session.
    pub fn issues_nothing(&mut self) {
        self.refresh_tokens.expect_mint().never();
        self.access_tokens.expect_issue().never();
        self.sessions.expect_start().never();
        self.sessions.expect_rotate().never();
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use domain::ports::{Clock as _, IdSource as _};

    use super::*;

    #[test]
    fn default_fakes_are_the_fakes_every_story_starts_from() {
        let fakes = Fakes::default();
        assert_eq!(fakes.clock.now(), now(), "a clock stopped at now()");
        assert_eq!(fakes.clock.now(), now(), "and it stays there");
        // Nothing else is expected: any other call fails the story that makes it.
        let unexpected = catch_unwind(AssertUnwindSafe(|| fakes.ids.new_id()));
        assert!(unexpected.is_err(), "an id nobody expected was handed out");
    }
}

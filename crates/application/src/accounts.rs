//! Accounts: registering, proving who you are with an access token, and changing your
//! profile or password.

use std::sync::Arc;

use crate::sessions::SessionEnds;
use crate::throttle::{AdmitError, LoginThrottle};
use domain::ports::{
    AccessTokens, AdapterError, Clock, HashReplacement, IdSource, InsertUserError, PasswordCheck,
    PasswordHasher, Ports, SessionRepository, TokenRejection, UserRepository,
};
use domain::{
    AccessClaims, DeviceToken, Email, NewUser, Password, PersonName, SessionId, User, UserId,
};

/// A registration: already-parsed fields.
#[derive(Debug, Clone)]
pub struct RegisterCommand {
    /// The login address.
    pub email: Email,
    /// The chosen password.
    pub password: Password,
    /// Given name (empty when not given).
    pub first_name: PersonName,
    /// Family name (empty when not given).
    pub last_name: PersonName,
}

/// Why a registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The address belongs to an existing account.
    #[error("e-mail address already registered")]
    EmailTaken,
    /// An adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Creates accounts.
pub struct Register {
    /// Where the user is stored.
    users: Arc<dyn UserRepository>,
    /// Hashes the password.
    hasher: Arc<dyn PasswordHasher>,
    /// The time.
    clock: Arc<dyn Clock>,
    /// Gives the user their id.
    ids: Arc<dyn IdSource>,
}

impl Register {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            hasher: Arc::clone(&ports.hasher),
            clock: Arc::clone(&ports.clock),
            ids: Arc::clone(&ports.ids),
        }
    }

    /// Hashes the password and stores the new user.
    ///
    /// # Errors
    /// [`RegisterError::EmailTaken`] when the address is registered already;
    /// [`RegisterError::Adapter`] when an adapter fails.
    #[tracing::instrument(name = "register", skip_all)]
    pub async fn execute(&self, command: RegisterCommand) -> Result<User, RegisterError> {
        let password_hash = self.hasher.hash(&command.password).await?;
        let now = self.clock.now();
        let user = User {
            id: UserId::from_uuid(self.ids.new_id()),
            email: command.email,
            first_name: command.first_name,
            last_name: command.last_name,
            created_at: now,
            updated_at: now,
        };
        let new_user = NewUser {
            user: user.clone(),
            password_hash,
        };
        match self.users.insert(new_user).await {
            Ok(()) => {
                tracing::info!(user_id = %user.id, "user registered");
                Ok(user)
            }
            Err(InsertUserError::EmailTaken) => Err(RegisterError::EmailTaken),
            Err(InsertUserError::Adapter(error)) => Err(error.into()),
        }
    }
}

/// Why an access token did not authenticate anyone.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// The token itself was refused.
    #[error(transparent)]
    Rejected(#[from] TokenRejection),
    /// The token is genuine but its session has ended (logout, deletion, reuse
    /// detection, password change, expiry) or its user no longer exists: one lookup
    /// answers both, and both mean the token proves nothing any more.
    #[error("the token's session has ended")]
    SessionEnded,
    /// An adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Who is calling: the user a live access token names, and the session it was issued
/// for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user, as stored now.
    pub user: User,
    /// The session (the token's `sid`), live when the token was checked.
    pub session: SessionId,
}

/// Turns a presented access token into the user it was issued to.
pub struct Authenticate {
    /// Verifies tokens.
    access_tokens: Arc<dyn AccessTokens>,
    /// Where the token's session and its user are read, together.
    sessions: Arc<dyn SessionRepository>,
    /// The time.
    clock: Arc<dyn Clock>,
}

impl Authenticate {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            access_tokens: Arc::clone(&ports.access_tokens),
            sessions: Arc::clone(&ports.sessions),
            clock: Arc::clone(&ports.clock),
        }
    }

    /// Verifies the token and reads its user through its session, so that a token
    /// outliving its session or its account authenticates no one and every handler sees
    /// the current profile.
    ///
    /// # Errors
    /// [`AuthenticateError::Rejected`] for a refused token,
    /// [`AuthenticateError::SessionEnded`] when its session ended or its user was
    /// deleted, [`AuthenticateError::Adapter`] when an adapter fails.
    pub async fn execute(&self, token: &str) -> Result<Caller, AuthenticateError> {
        let claims = self.verify(token)?;
        self.user_of(&claims).await
    }

    /// The first half of [`Authenticate::execute`]: checks the token alone (no I/O), for
    /// the edge that verifies a request's token once and uses the claims twice (budgets
    /// per user, then the handler).
    ///
    /// # Errors
    /// The [`TokenRejection`] of a refused token.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        self.access_tokens.verify(token)
    }

    /// The second half of [`Authenticate::execute`]: the user a verified token names,
    /// provided the token's session is live. One store call: the session's liveness is
    /// read with the user, not in a second round trip.
    ///
    /// # Errors
    /// [`AuthenticateError::SessionEnded`] when the session ended or the user was
    /// deleted, [`AuthenticateError::Adapter`] when the store fails.
    pub async fn user_of(&self, claims: &AccessClaims) -> Result<Caller, AuthenticateError> {
        let user = self
            .sessions
            .find_live_user(claims.session, claims.user_id, self.clock.now())
            .await?
            .ok_or(AuthenticateError::SessionEnded)?;
        Ok(Caller {
            user,
            session: claims.session,
        })
    }
}

/// The fields of a profile update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// A new given name.
    pub first_name: Option<PersonName>,
    /// A new family name.
    pub last_name: Option<PersonName>,
}

/// Why a profile update failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateProfileError {
    /// The user was deleted meanwhile.
    #[error("the user no longer exists")]
    UserGone,
    /// An adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Changes a user's names.
pub struct UpdateProfile {
    /// Where the user is updated.
    users: Arc<dyn UserRepository>,
    /// The time.
    clock: Arc<dyn Clock>,
}

impl UpdateProfile {
    pub(crate) fn new(ports: &Ports) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            clock: Arc::clone(&ports.clock),
        }
    }

    /// Applies the given changes on top of the current names and moves `updated_at`.
    ///
    /// # Errors
    /// [`UpdateProfileError::UserGone`] when the user no longer exists,
    /// [`UpdateProfileError::Adapter`] when an adapter fails.
    #[tracing::instrument(name = "update_profile", skip_all, fields(user_id = %user.id))]
    pub async fn execute(
        &self,
        user: &User,
        changes: ProfileChanges,
    ) -> Result<User, UpdateProfileError> {
        let first_name = changes
            .first_name
            .unwrap_or_else(|| user.first_name.clone());
        let last_name = changes.last_name.unwrap_or_else(|| user.last_name.clone());
        self.users
            .update_names(user.id, first_name, last_name, self.clock.now())
            .await?
            .ok_or(UpdateProfileError::UserGone)
    }
}

/// Why a password change failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password given is wrong.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many wrong passwords for this address: try again after this many seconds.
    #[error("too many failed password checks; retry in {0} s")]
    Throttled(u64),
    /// The user was deleted meanwhile.
    #[error("the user no longer exists")]
    UserGone,
    /// An adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Changes a user's password and ends their sessions.
pub struct ChangePassword {
    /// Where the hash is read and replaced.
    users: Arc<dyn UserRepository>,
    /// Where the user's sessions are revoked.
    sessions: Arc<dyn SessionRepository>,
    /// Tells the connections of the revoked sessions.
    ends: SessionEnds,
    /// Checks the current password, hashes the new one.
    hasher: Arc<dyn PasswordHasher>,
    /// The time.
    clock: Arc<dyn Clock>,
    /// The same allowance of guesses as logins: a stolen access token must not become
    /// a way to guess the password.
    throttle: Arc<LoginThrottle>,
}

impl ChangePassword {
    pub(crate) fn new(ports: &Ports, throttle: Arc<LoginThrottle>) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            ends: SessionEnds::new(ports),
            hasher: Arc::clone(&ports.hasher),
            clock: Arc::clone(&ports.clock),
            throttle,
        }
    }

    /// Checks `current`, stores the hash of `new` and revokes every session of the user,
    /// the caller's included: whoever learnt the old password (or stole a refresh or
    /// access token) is locked out at once, and the client logs in again with the new
    /// password. Each revoked session's connections are told to close.
    ///
    /// The check of `current` is counted like a login's: against the client's device
    /// when `device_token` is valid for the user's address, else against the address's
    /// anonymous clients. An access token proves a session, not the password, so it
    /// earns no allowance of its own; the device token lets the owner change the
    /// password while strangers hold the address locked.
    ///
    /// # Errors
    /// [`ChangePasswordError::InvalidCredentials`] when `current` is wrong (nothing
    /// changes), [`ChangePasswordError::Throttled`] when the client's allowance of
    /// password checks is used up, [`ChangePasswordError::UserGone`] when the user no
    /// longer exists, [`ChangePasswordError::Adapter`] when an adapter fails.
    #[tracing::instrument(name = "change_password", skip_all, fields(user_id = %user.id))]
    pub async fn execute(
        &self,
        user: &User,
        current: &Password,
        new: &Password,
        device_token: Option<&DeviceToken>,
    ) -> Result<(), ChangePasswordError> {
        let credentials = self
            .users
            .find_credentials(&user.email)
            .await?
            .filter(|credentials| credentials.user.id == user.id)
            .ok_or(ChangePasswordError::UserGone)?;
        let attempt = self.throttle.admit(&user.email, device_token).await?;
        let check = self
            .hasher
            .verify(current, &credentials.password_hash)
            .await?;
        if check == PasswordCheck::Mismatch {
            attempt.failed(self.clock.now()).await;
            return Err(ChangePasswordError::InvalidCredentials);
        }
        attempt.succeeded().await;
        let new_hash = self.hasher.hash(new).await?;
        let now = self.clock.now();
        // Sessions first: if storing the hash then fails, the user is logged out with
        // the old password still valid, which is safe; the other order could leave a
        // stolen session alive after the password changed.
        let ended = self.sessions.revoke_all_of_user(user.id, None, now).await?;
        self.ends.announce(&ended).await;
        if !self
            .users
            .update_password_hash(user.id, new_hash, now, HashReplacement::Changed)
            .await?
        {
            return Err(ChangePasswordError::UserGone);
        }
        tracing::info!("password changed; every session revoked");
        Ok(())
    }
}

impl From<AdmitError> for ChangePasswordError {
    fn from(error: AdmitError) -> Self {
        match error {
            AdmitError::Throttled(seconds) => Self::Throttled(seconds),
            AdmitError::Adapter(error) => Self::Adapter(error),
        }
    }
}

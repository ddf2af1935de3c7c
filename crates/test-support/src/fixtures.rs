//! The cast and props of every story: Ada, her password, her session and tokens, and the
//! instant the clock is stopped at.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::ports::AdapterError;
use domain::{
    AccessClaims, DeviceId, DeviceToken, Email, IssuedAccessToken, IssuedDeviceToken, Message,
    MessageBody, MessageId, Password, PasswordHash, PersonName, RefreshToken, RefreshTokenRecord,
    Replay, RoomName, RoomSummary, Sender, Seq, SessionId, TokenDigest, User, UserId,
};
use uuid::Uuid;

/// Ada, the registered user of every story.
pub const ADA: UserId = UserId::from_uuid(Uuid::from_u128(0xada));
/// Another user, who is not Ada.
pub const SOMEONE_ELSE: UserId = UserId::from_uuid(Uuid::from_u128(0xb0b));
/// Grace, who shares rooms with Ada. Her id sorts after Ada's.
pub const GRACE: UserId = UserId::from_uuid(Uuid::from_u128(0x6ace));
/// The session Ada's stored refresh tokens belong to.
pub const SESSION: SessionId = SessionId::from_uuid(Uuid::from_u128(0x5e55));
/// The `jti` of Ada's access token.
pub const JTI: Uuid = Uuid::from_u128(0x171);
/// The device Ada logged in from before: her laptop.
pub const ADAS_LAPTOP: DeviceId = DeviceId::from_uuid(Uuid::from_u128(0x1a97));
/// Another device Ada logged in from before: her phone.
pub const ADAS_PHONE: DeviceId = DeviceId::from_uuid(Uuid::from_u128(0xf0e));
/// The password Ada chose.
pub const ADAS_PASSWORD: &str = "analytical engine";
/// What a failing adapter says in [`adapter_failure`]: it must reach the log, never a
/// client.
pub const ADAPTER_SECRET: &str = "disk on fire SELECT * FROM users";

/// The instant the clock is stopped at.
#[must_use]
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 15, 9, 26).unwrap()
}

/// How long a refresh token lives in the stories.
#[must_use]
pub fn refresh_ttl() -> Duration {
    Duration::days(30)
}

/// How long the fake device-token signer makes a token live.
#[must_use]
pub fn device_ttl() -> Duration {
    Duration::days(90)
}

/// How long the fake signer makes an access token live.
#[must_use]
pub fn access_ttl() -> Duration {
    Duration::minutes(15)
}

/// A valid address.
#[must_use]
pub fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

/// A valid password.
#[must_use]
pub fn password(raw: &str) -> Password {
    Password::parse(raw).unwrap()
}

/// A valid name.
#[must_use]
pub fn name(raw: &str) -> PersonName {
    PersonName::parse(raw).unwrap()
}

/// Ada as the store holds her, registered a while before [`now`].
#[must_use]
pub fn ada() -> User {
    let registered = now() - Duration::days(90);
    User {
        id: ADA,
        email: email("ada@example.com"),
        first_name: name("Ada"),
        last_name: name("Lovelace"),
        created_at: registered,
        updated_at: registered,
    }
}

/// What Ada's verified access token says.
#[must_use]
pub fn adas_claims() -> AccessClaims {
    AccessClaims {
        user_id: ADA,
        email: email("ada@example.com"),
        session: SESSION,
        token_id: JTI,
        expires_at: now() + access_ttl(),
    }
}

/// The hash the store holds for Ada's password.
#[must_use]
pub fn stored_hash() -> PasswordHash {
    PasswordHash::new("$2b$12$stored".into())
}

/// A hash the hasher computes now.
#[must_use]
pub fn fresh_hash() -> PasswordHash {
    PasswordHash::new("$2b$12$fresh".into())
}

/// The hasher's hash of a password nobody has.
#[must_use]
pub fn dummy_hash() -> PasswordHash {
    PasswordHash::new("$2b$12$dummy".into())
}

/// An adapter failure; `context` says which, for failure messages.
#[must_use]
pub fn boom(context: &'static str) -> AdapterError {
    AdapterError::new(context, std::io::Error::other("boom"))
}

/// An adapter failure whose context and cause both carry [`ADAPTER_SECRET`].
#[must_use]
pub fn adapter_failure() -> AdapterError {
    AdapterError::new(ADAPTER_SECRET, std::io::Error::other(ADAPTER_SECRET))
}

/// `value`, or an adapter failure when `fails`: for tables where one step of a use
/// case fails at a time.
///
/// # Errors
/// [`boom`] when `fails`.
pub fn unless_failing<T>(fails: bool, value: T) -> Result<T, AdapterError> {
    if fails {
        Err(boom("failed on purpose"))
    } else {
        Ok(value)
    }
}

/// The refresh token the client presents.
#[must_use]
pub fn presented() -> RefreshToken {
    RefreshToken::new("presented-secret".into())
}

/// The refresh token the mint hands out next.
#[must_use]
pub fn minted() -> RefreshToken {
    RefreshToken::new("minted-secret".into())
}

/// The fake mint's digest: deterministic and different for different tokens.
#[must_use]
pub fn digest_of(token: &RefreshToken) -> TokenDigest {
    TokenDigest::new(format!("sha256({})", token.expose()))
}

/// The fake signer's access token.
#[must_use]
pub fn signed(
    user: &User,
    session: SessionId,
    issued_at: DateTime<Utc>,
    jti: Uuid,
) -> IssuedAccessToken {
    IssuedAccessToken {
        token: format!("jwt(sub={}, sid={session}, jti={jti})", user.id),
        expires_at: issued_at + access_ttl(),
    }
}

/// The fake device-token signer's token for `device`: what a client of that device
/// presents, and what the signer mints for it.
#[must_use]
pub fn device_token(device: DeviceId) -> DeviceToken {
    DeviceToken::new(format!("device-token({})", device.as_uuid()))
}

/// The fake device-token signer's answer to a mint of `device` at `issued_at`.
#[must_use]
pub fn minted_device_token(device: DeviceId, issued_at: DateTime<Utc>) -> IssuedDeviceToken {
    IssuedDeviceToken {
        token: device_token(device),
        expires_at: issued_at + device_ttl(),
    }
}

/// The stored record of [`presented`]: unspent, unexpired, its session live.
#[must_use]
pub fn live_record() -> RefreshTokenRecord {
    RefreshTokenRecord {
        session: SESSION,
        user_id: ADA,
        expires_at: now() + Duration::days(1),
        spent_at: None,
        session_revoked_at: None,
    }
}

/// The record of [`presented`] after it was exchanged once already.
#[must_use]
pub fn spent_record() -> RefreshTokenRecord {
    RefreshTokenRecord {
        spent_at: Some(now() - Duration::hours(1)),
        ..live_record()
    }
}

/// What the store may answer for a presented token that refreshes nothing, and is no
/// reuse either: each case named for the failure messages.
#[must_use]
pub fn dead_tokens() -> Vec<(&'static str, Option<RefreshTokenRecord>)> {
    let revoked = Some(now() - Duration::hours(1));
    vec![
        ("an unknown token", None),
        (
            "a token of a revoked session",
            Some(RefreshTokenRecord {
                session_revoked_at: revoked,
                ..live_record()
            }),
        ),
        (
            // The session is over already: nothing left to revoke for the reuse.
            "a spent token of a revoked session",
            Some(RefreshTokenRecord {
                session_revoked_at: revoked,
                ..spent_record()
            }),
        ),
        (
            "an expired token",
            Some(RefreshTokenRecord {
                expires_at: now() - Duration::seconds(1),
                ..live_record()
            }),
        ),
        (
            "a token expiring this very instant",
            Some(RefreshTokenRecord {
                expires_at: now(),
                ..live_record()
            }),
        ),
    ]
}

/// Grace as the store holds her.
#[must_use]
pub fn grace() -> User {
    User {
        id: GRACE,
        email: email("grace@example.com"),
        first_name: name("Grace"),
        last_name: name("Hopper"),
        ..ada()
    }
}

/// "general", the room most stories happen in.
#[must_use]
pub fn general() -> RoomName {
    RoomName::parse("general").unwrap()
}

/// A valid room name.
#[must_use]
pub fn room(raw: &str) -> RoomName {
    RoomName::parse(raw).unwrap()
}

/// Message `seq` of "general" as stored: sent by Ada at [`now`], with the id `m{seq}`
/// and the body `hello {seq}`.
#[must_use]
pub fn adas_message(seq: u64) -> Message {
    Message {
        room: general(),
        seq: Seq::new(seq),
        id: MessageId::parse(&format!("m{seq}")).unwrap(),
        sender: Sender::from(&ada()),
        body: MessageBody::parse(&format!("hello {seq}"), 1024).unwrap(),
        created_at: now(),
    }
}

/// What the store answers for a read of "general" above `after`: [`adas_message`]s
/// `seqs`, with the room's `last_seq`.
#[must_use]
pub fn replay_of(after: u64, seqs: impl IntoIterator<Item = u64>, last_seq: u64) -> Replay {
    Replay {
        after: Seq::new(after),
        messages: seqs.into_iter().map(adas_message).collect(),
        last_seq: Seq::new(last_seq),
    }
}

/// A member's standing in `room`: its `last_seq` and their cursor.
#[must_use]
pub fn standing(room: &RoomName, last_seq: u64, cursor: u64) -> RoomSummary {
    RoomSummary {
        room: room.clone(),
        last_seq: Seq::new(last_seq),
        cursor: Seq::new(cursor),
    }
}

/// The `seq`s of `messages`, in order.
#[must_use]
pub fn seqs_of(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|message| message.seq.get()).collect()
}

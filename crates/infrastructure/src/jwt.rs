//! Access tokens: HS256 JWTs shaped after RFC 9068 and verified per RFC 8725.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use domain::ports::{AccessTokens, AdapterError, Clock, TokenRejection};
use domain::{AccessClaims, Email, IssuedAccessToken, SessionId, User, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `typ` header of an access token (RFC 9068 §2.1): a refresh token, an ID token or
/// any other JWT signed with the same key is not an access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The fewest bytes an HS256 secret may have (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock difference tolerated on `exp`, `nbf` and `iat`.
///
/// Tokens are issued by one instance and verified by another, whose clocks may disagree.
/// NTP keeps healthy hosts within milliseconds, so this is for the unhealthy ones: a VM
/// resumed from a pause, a host whose time sync lapsed for a day (cheap oscillators drift
/// a few seconds a day). 30 s covers those and adds at most 3 % to a stolen token's
/// default 15-minute life; ending a session does not wait for `exp` at all. jsonwebtoken's
/// own default is 60 s: twice the window, for no case we expect.
pub const CLOCK_SKEW_LEEWAY: Duration = Duration::seconds(30);

/// Who signs and who may accept the tokens, and how long they live.
#[derive(Clone)]
pub struct JwtSettings {
    /// The HMAC key; at least [`MIN_SECRET_BYTES`] bytes.
    pub secret: Vec<u8>,
    /// The `iss` claim written and required.
    pub issuer: String,
    /// The `aud` claim written and required.
    pub audience: String,
    /// How long an access token lives.
    pub ttl: Duration,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    email: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: Uuid,
    /// The session (refresh-token family) the token was issued for. Required: a token
    /// without one could not be ended with its session.
    sid: Uuid,
    iss: String,
    aud: String,
}

/// The [`AccessTokens`] port over `jsonwebtoken`, pinned to HS256, reading time from a
/// [`Clock`].
pub struct JwtAccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: JwtSettings,
    clock: Arc<dyn Clock>,
}

/// Why [`JwtSettings`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtSettingsError {
    /// The secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("the JWT secret must be at least 32 bytes")]
    WeakSecret,
}

impl JwtAccessTokens {
    /// Builds the signer and the verifier; the verifier compares `exp`, `nbf` and `iat`
    /// with `clock`.
    ///
    /// # Errors
    /// [`JwtSettingsError::WeakSecret`] for a secret under [`MIN_SECRET_BYTES`].
    pub fn new(settings: JwtSettings, clock: Arc<dyn Clock>) -> Result<Self, JwtSettingsError> {
        if settings.secret.len() < MIN_SECRET_BYTES {
            return Err(JwtSettingsError::WeakSecret);
        }
        // `Validation::new` accepts exactly the one algorithm given: a token whose header
        // names `none`, RS256 or anything else is refused before its signature is read.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        // jsonwebtoken checks presence of these; `iat`, which it does not know, is required
        // by `Claims` having no default for it.
        validation.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
        // jsonwebtoken reads the system clock for `exp` and `nbf`; time is checked in
        // `verify` against the injected clock instead, so tests and every instance agree
        // on what "now" is, and expiry comes last: only a token genuine in every other
        // respect may be called expired.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Self {
            encoding: EncodingKey::from_secret(&settings.secret),
            decoding: DecodingKey::from_secret(&settings.secret),
            validation,
            settings,
            clock,
        })
    }
}

impl AccessTokens for JwtAccessTokens {
    fn issue(
        &self,
        user: &User,
        session: SessionId,
        issued_at: DateTime<Utc>,
        token_id: Uuid,
    ) -> Result<IssuedAccessToken, AdapterError> {
        let expires_at = issued_at + self.settings.ttl;
        let claims = Claims {
            sub: user.id.as_uuid(),
            email: user.email.to_string(),
            iat: issued_at.timestamp(),
            nbf: issued_at.timestamp(),
            exp: expires_at.timestamp(),
            jti: token_id,
            sid: session.as_uuid(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|error| AdapterError::new("signing an access token failed", error))?;
        Ok(IssuedAccessToken {
            token,
            // What the client reads back is whole seconds, like the claim.
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at),
        })
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        // One decode reads the header, checks the algorithm and the signature, then the
        // claims; the header's own checks follow on the header it read (decoding the
        // header separately first would decode it twice on every request). Every
        // refusal here is `Invalid`, so their order changes no verdict.
        let decoded = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenRejection::Invalid)?;
        if decoded.header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenRejection::Invalid);
        }
        // RFC 7515 §4.1.11: a recipient that does not understand every extension listed in
        // `crit` MUST refuse the token. We understand none, so any `crit` is refused, even
        // an empty list (which §4.1.11 forbids producers to send).
        if decoded.header.crit.is_some() {
            return Err(TokenRejection::Invalid);
        }
        let claims = decoded.claims;

        let now = self.clock.now();
        let claim_instant =
            |seconds| DateTime::from_timestamp(seconds, 0).ok_or(TokenRejection::Invalid);
        let issued_at = claim_instant(claims.iat)?;
        let not_before = claim_instant(claims.nbf)?;
        let expires_at = claim_instant(claims.exp)?;
        // Saturating, so that a test clock at the ends of time cannot overflow.
        let latest_acceptable_start = now
            .checked_add_signed(CLOCK_SKEW_LEEWAY)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let earliest_acceptable_end = now
            .checked_sub_signed(CLOCK_SKEW_LEEWAY)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        // A token stamped as issued, or valid from, later than now was not issued by this
        // service as its clocks stand: it is not one we would issue.
        if issued_at > latest_acceptable_start || not_before > latest_acceptable_start {
            return Err(TokenRejection::Invalid);
        }
        let claims = AccessClaims {
            user_id: UserId::from_uuid(claims.sub),
            email: Email::parse(&claims.email).map_err(|_| TokenRejection::Invalid)?,
            session: SessionId::from_uuid(claims.sid),
            token_id: claims.jti,
            expires_at,
        };
        // RFC 7519 §4.1.4: valid only *before* `exp`, so a clock reading exactly `exp` plus
        // the leeway is already too late.
        if expires_at <= earliest_acceptable_end {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use domain::PersonName;

    use super::*;

    const SECRET: &[u8; 32] = b"portico-test-secret-of-32-bytes!";
    const OTHER_SECRET: &[u8; 32] = b"someone-else-s-secret-32-bytes!!";
    const SESSION_ID: SessionId = SessionId::from_uuid(Uuid::from_u128(0x5e55));

    /// A clock that always reads the same instant, so that every verdict below is about
    /// the token and never about when the test runs.
    struct FixedClock(DateTime<Utc>);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    /// The instant the verifier's clock reads unless a test says otherwise.
    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn settings(secret: &[u8]) -> JwtSettings {
        JwtSettings {
            secret: secret.to_vec(),
            issuer: "portico".into(),
            audience: "portico".into(),
            ttl: Duration::minutes(15),
        }
    }

    /// Tokens whose verifier's clock reads `instant`.
    fn tokens_at(instant: DateTime<Utc>) -> JwtAccessTokens {
        JwtAccessTokens::new(settings(SECRET), Arc::new(FixedClock(instant))).unwrap()
    }

    /// Tokens whose verifier's clock reads [`now`].
    fn tokens() -> JwtAccessTokens {
        tokens_at(now())
    }

    fn ada() -> User {
        User {
            id: UserId::from_uuid(Uuid::new_v4()),
            email: Email::parse("ada@example.com").unwrap(),
            first_name: PersonName::parse("Ada").unwrap(),
            last_name: PersonName::parse("Lovelace").unwrap(),
            created_at: now(),
            updated_at: now(),
        }
    }

    /// Claims as [`JwtAccessTokens::issue`] would write them for `user` at `issued_at`.
    fn claims(user: &User, issued_at: DateTime<Utc>) -> Claims {
        Claims {
            sub: user.id.as_uuid(),
            email: user.email.to_string(),
            iat: issued_at.timestamp(),
            nbf: issued_at.timestamp(),
            exp: (issued_at + Duration::minutes(15)).timestamp(),
            jti: Uuid::new_v4(),
            sid: SESSION_ID.as_uuid(),
            iss: "portico".into(),
            aud: "portico".into(),
        }
    }

    /// Signs `claims` under `header`.
    fn sign_with(header: &Header, claims: &impl Serialize, secret: &[u8]) -> String {
        jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    /// Signs `claims` under a header naming `alg` and `typ`.
    fn sign(alg: Algorithm, typ: Option<&str>, claims: &impl Serialize, secret: &[u8]) -> String {
        let mut header = Header::new(alg);
        header.typ = typ.map(str::to_owned);
        sign_with(&header, claims, secret)
    }

    /// The header of an access token with `crit` listing `extensions`.
    fn critical(extensions: &[&str]) -> Header {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.crit = Some(extensions.iter().map(|&name| name.to_owned()).collect());
        header
    }

    fn segments(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn an_issued_token_verifies_to_its_claims() {
        let tokens = tokens();
        let user = ada();
        let token_id = Uuid::new_v4();

        let issued = tokens.issue(&user, SESSION_ID, now(), token_id).unwrap();
        let claims = tokens.verify(&issued.token).unwrap();

        let expires_at = now() + Duration::minutes(15);
        assert_eq!(issued.expires_at, expires_at);
        assert_eq!(
            claims,
            AccessClaims {
                user_id: user.id,
                email: user.email,
                session: SESSION_ID,
                token_id,
                expires_at,
            }
        );
    }

    #[test]
    fn an_issued_token_is_an_hs256_access_token_without_crit() {
        let issued = tokens()
            .issue(&ada(), SESSION_ID, now(), Uuid::new_v4())
            .unwrap();
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.crit, None);
    }

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused() {
        let clock = || -> Arc<dyn Clock> { Arc::new(FixedClock(now())) };
        let outcome = JwtAccessTokens::new(settings(&[7; 31]), clock());
        assert!(matches!(outcome, Err(JwtSettingsError::WeakSecret)));
        assert!(JwtAccessTokens::new(settings(&[7; 32]), clock()).is_ok());
    }

    #[test]
    fn the_settings_print_what_an_operator_checks_and_never_the_secret() {
        let printed = format!("{:?}", settings(SECRET));
        assert!(!printed.contains("portico-test-secret"), "{printed}");
        let shown = settings(SECRET);
        for part in [shown.issuer.as_str(), shown.audience.as_str(), "ttl"] {
            assert!(printed.contains(part), "{part} missing from {printed}");
        }
    }

    #[test]
    fn time_is_read_from_the_clock_not_the_system() {
        // Both instants are far from the machine's own time: the system clock would call
        // the first token long expired and the second not yet valid.
        for issued_at in [
            DateTime::parse_from_rfc3339("2001-09-09T01:46:40Z")
                .unwrap()
                .to_utc(),
            DateTime::parse_from_rfc3339("2286-11-20T17:46:39Z")
                .unwrap()
                .to_utc(),
        ] {
            let tokens = tokens_at(issued_at + Duration::minutes(1));
            let issued = tokens
                .issue(&ada(), SESSION_ID, issued_at, Uuid::new_v4())
                .unwrap();
            assert!(
                tokens.verify(&issued.token).is_ok(),
                "issued at {issued_at}"
            );
            let later = tokens_at(issued_at + Duration::hours(1));
            assert_eq!(
                later.verify(&issued.token),
                Err(TokenRejection::Expired),
                "issued at {issued_at}, verified an hour later"
            );
        }
    }

    #[test]
    fn a_token_is_expired_from_its_exp_plus_the_leeway() {
        let issued = tokens()
            .issue(&ada(), SESSION_ID, now(), Uuid::new_v4())
            .unwrap();
        let exp = issued.expires_at;
        let last_good_instant = exp + CLOCK_SKEW_LEEWAY - Duration::milliseconds(1);

        assert!(tokens_at(exp).verify(&issued.token).is_ok(), "at exp");
        assert!(
            tokens_at(last_good_instant).verify(&issued.token).is_ok(),
            "1 ms before exp + leeway"
        );
        assert_eq!(
            tokens_at(exp + CLOCK_SKEW_LEEWAY).verify(&issued.token),
            Err(TokenRejection::Expired),
            "at exp + leeway"
        );
        assert_eq!(
            tokens_at(exp + Duration::days(365)).verify(&issued.token),
            Err(TokenRejection::Expired),
            "a year after exp"
        );
    }

    #[test]
    fn a_token_from_a_clock_ahead_by_the_leeway_is_accepted_and_beyond_it_is_invalid() {
        // What another instance, its clock ahead of ours, would issue.
        let ahead_by = |skew: Duration| {
            tokens()
                .issue(&ada(), SESSION_ID, now() + skew, Uuid::new_v4())
                .unwrap()
                .token
        };
        assert!(tokens().verify(&ahead_by(CLOCK_SKEW_LEEWAY)).is_ok());
        assert_eq!(
            tokens().verify(&ahead_by(CLOCK_SKEW_LEEWAY + Duration::seconds(1))),
            Err(TokenRejection::Invalid)
        );
    }

    #[test]
    fn an_iat_or_nbf_in_the_future_beyond_the_leeway_is_invalid() {
        let user = ada();
        let beyond = (now() + CLOCK_SKEW_LEEWAY + Duration::seconds(1)).timestamp();
        let within = (now() + CLOCK_SKEW_LEEWAY).timestamp();
        let mut iat_ahead = claims(&user, now());
        iat_ahead.iat = beyond;
        let mut nbf_ahead = claims(&user, now());
        nbf_ahead.nbf = beyond;
        let mut iat_within = claims(&user, now());
        iat_within.iat = within;
        let mut nbf_within = claims(&user, now());
        nbf_within.nbf = within;
        let typ = Some(ACCESS_TOKEN_TYPE);
        let tokens = tokens();

        for (what, token_claims) in [("iat", &iat_ahead), ("nbf", &nbf_ahead)] {
            let token = sign(Algorithm::HS256, typ, token_claims, SECRET);
            assert_eq!(
                tokens.verify(&token),
                Err(TokenRejection::Invalid),
                "sent an {what} leeway + 1 s ahead"
            );
        }
        for (what, token_claims) in [("iat", &iat_within), ("nbf", &nbf_within)] {
            let token = sign(Algorithm::HS256, typ, token_claims, SECRET);
            assert!(
                tokens.verify(&token).is_ok(),
                "sent an {what} exactly the leeway ahead"
            );
        }
    }

    #[test]
    fn a_genuine_token_with_a_crit_header_is_invalid() {
        let tokens = tokens();
        let valid = claims(&ada(), now());
        // The control: another header parameter that is not critical changes nothing.
        let mut with_kid = critical(&[]);
        with_kid.crit = None;
        with_kid.kid = Some("key-1".into());
        assert!(tokens.verify(&sign_with(&with_kid, &valid, SECRET)).is_ok());

        for extensions in [&["exp"][..], &["b64"], &["x-portico", "kid"], &[]] {
            let token = sign_with(&critical(extensions), &valid, SECRET);
            assert_eq!(
                tokens.verify(&token),
                Err(TokenRejection::Invalid),
                "sent crit {extensions:?}"
            );
        }
    }

    #[test]
    fn forged_tampered_foreign_or_malformed_tokens_are_invalid() {
        let tokens = tokens();
        let user = ada();
        let now = now();
        let genuine = tokens
            .issue(&user, SESSION_ID, now, Uuid::new_v4())
            .unwrap()
            .token;
        let [header, payload, signature] = <[String; 3]>::try_from(segments(&genuine)).unwrap();

        let alg_none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#)
        );
        let mut tampered = payload.clone().into_bytes();
        let middle = tampered.len() / 2;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        let tampered = format!(
            "{header}.{}.{signature}",
            String::from_utf8(tampered).unwrap()
        );
        let mallory = tokens
            .issue(&ada(), SESSION_ID, now, Uuid::new_v4())
            .unwrap()
            .token;
        let swapped = format!("{header}.{}.{signature}", segments(&mallory)[1]);

        let mut wrong_issuer = claims(&user, now);
        wrong_issuer.iss = "elsewhere".into();
        let mut wrong_audience = claims(&user, now);
        wrong_audience.aud = "elsewhere".into();
        #[derive(Serialize)]
        struct WithoutExp {
            sub: Uuid,
            email: String,
            iat: i64,
            nbf: i64,
            jti: Uuid,
            sid: Uuid,
            iss: String,
            aud: String,
        }
        let without_exp = WithoutExp {
            sub: user.id.as_uuid(),
            email: user.email.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: Uuid::new_v4(),
            sid: SESSION_ID.as_uuid(),
            iss: "portico".into(),
            aud: "portico".into(),
        };
        #[derive(Serialize)]
        struct WithoutIat {
            sub: Uuid,
            email: String,
            nbf: i64,
            exp: i64,
            jti: Uuid,
            sid: Uuid,
            iss: String,
            aud: String,
        }
        let without_iat = WithoutIat {
            sub: user.id.as_uuid(),
            email: user.email.to_string(),
            nbf: now.timestamp(),
            exp: (now + Duration::minutes(15)).timestamp(),
            jti: Uuid::new_v4(),
            sid: SESSION_ID.as_uuid(),
            iss: "portico".into(),
            aud: "portico".into(),
        };
        // As tokens were issued before sessions could be ended: nothing to check them by.
        #[derive(Serialize)]
        struct WithoutSid {
            sub: Uuid,
            email: String,
            iat: i64,
            nbf: i64,
            exp: i64,
            jti: Uuid,
            iss: String,
            aud: String,
        }
        let without_sid = WithoutSid {
            sub: user.id.as_uuid(),
            email: user.email.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + Duration::minutes(15)).timestamp(),
            jti: Uuid::new_v4(),
            iss: "portico".into(),
            aud: "portico".into(),
        };
        let mut expired = claims(&user, now - Duration::hours(1));
        expired.exp = (now - Duration::minutes(45)).timestamp();
        let not_yet = tokens
            .issue(&user, SESSION_ID, now + Duration::hours(1), Uuid::new_v4())
            .unwrap()
            .token;
        let mut issued_tomorrow = claims(&user, now);
        issued_tomorrow.iat = (now + Duration::days(1)).timestamp();
        let mut bad_email = claims(&user, now);
        bad_email.email = "not an address".into();
        let typ = Some(ACCESS_TOKEN_TYPE);
        let valid = claims(&user, now);

        for (what, token) in [
            ("alg none", alg_none),
            (
                "another secret",
                sign(Algorithm::HS256, typ, &valid, OTHER_SECRET),
            ),
            (
                "HS384 with the same secret",
                sign(Algorithm::HS384, typ, &valid, SECRET),
            ),
            ("a changed payload character", tampered),
            ("another token's payload", swapped),
            (
                "another issuer",
                sign(Algorithm::HS256, typ, &wrong_issuer, SECRET),
            ),
            (
                "another audience",
                sign(Algorithm::HS256, typ, &wrong_audience, SECRET),
            ),
            ("no exp", sign(Algorithm::HS256, typ, &without_exp, SECRET)),
            ("no iat", sign(Algorithm::HS256, typ, &without_iat, SECRET)),
            ("no sid", sign(Algorithm::HS256, typ, &without_sid, SECRET)),
            ("an nbf an hour ahead", not_yet),
            (
                "an iat a day ahead",
                sign(Algorithm::HS256, typ, &issued_tomorrow, SECRET),
            ),
            (
                "a crit header",
                sign_with(&critical(&["exp"]), &valid, SECRET),
            ),
            (
                "expired and another secret",
                sign(Algorithm::HS256, typ, &expired, OTHER_SECRET),
            ),
            (
                "typ JWT",
                sign(Algorithm::HS256, Some("JWT"), &valid, SECRET),
            ),
            ("no typ", sign(Algorithm::HS256, None, &valid, SECRET)),
            (
                "an invalid email claim",
                sign(Algorithm::HS256, typ, &bad_email, SECRET),
            ),
            ("garbage", "not a token".to_owned()),
            ("three empty segments", "..".to_owned()),
            ("an empty string", String::new()),
            (
                "the genuine token with its signature cut",
                format!("{header}.{payload}."),
            ),
        ] {
            assert_eq!(
                tokens.verify(&token),
                Err(TokenRejection::Invalid),
                "sent {what}"
            );
        }
        // The genuine token itself still passes: the refusals above are about what changed.
        assert!(tokens.verify(&genuine).is_ok());
    }

    #[test]
    fn an_expired_token_that_is_not_genuine_otherwise_is_invalid_not_expired() {
        // `Expired` is for a genuine access token only: the client answers it by
        // refreshing. A token of another type, issuer or audience, with a critical
        // extension or a claim we would never write, was never one of ours, whatever
        // its age.
        let tokens = tokens();
        let user = ada();
        let an_hour_ago = now() - Duration::hours(1);
        let expired = claims(&user, an_hour_ago);
        let mut other_issuer = claims(&user, an_hour_ago);
        other_issuer.iss = "elsewhere".into();
        let mut other_audience = claims(&user, an_hour_ago);
        other_audience.aud = "elsewhere".into();
        let mut bad_email = claims(&user, an_hour_ago);
        bad_email.email = "not an address".into();
        let typ = Some(ACCESS_TOKEN_TYPE);

        let cases = [
            (
                "typ JWT",
                sign(Algorithm::HS256, Some("JWT"), &expired, SECRET),
            ),
            ("no typ", sign(Algorithm::HS256, None, &expired, SECRET)),
            (
                "another issuer",
                sign(Algorithm::HS256, typ, &other_issuer, SECRET),
            ),
            (
                "another audience",
                sign(Algorithm::HS256, typ, &other_audience, SECRET),
            ),
            (
                "a crit header",
                sign_with(&critical(&["exp"]), &expired, SECRET),
            ),
            (
                "an invalid email claim",
                sign(Algorithm::HS256, typ, &bad_email, SECRET),
            ),
        ];
        // Every case is checked before failing, so the message lists all that slip through.
        let wrong: Vec<_> = cases
            .iter()
            .map(|(what, token)| (*what, tokens.verify(token)))
            .filter(|(_, outcome)| *outcome != Err(TokenRejection::Invalid))
            .collect();
        assert!(
            wrong.is_empty(),
            "expired tokens not answered Invalid: {wrong:?}"
        );
        // The control: the same expired claims, genuinely signed, are expired.
        assert_eq!(
            tokens.verify(&sign(Algorithm::HS256, typ, &expired, SECRET)),
            Err(TokenRejection::Expired)
        );
    }
}

//! Access tokens: HS256 JWTs shaped after RFC 9068 and verified per RFC 8725.

use chrono::{DateTime, Duration, Utc};
use domain::ports::{AccessTokens, AdapterError, TokenRejection};
use domain::{AccessClaims, Email, IssuedAccessToken, User, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `typ` header of an access token (RFC 9068 §2.1): a refresh token, an ID token or
/// any other JWT signed with the same key is not an access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The fewest bytes an HS256 secret may have (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Seconds of clock difference tolerated on `exp` and `nbf`, for instances whose clocks
/// drift slightly apart.
const LEEWAY_SECONDS: u64 = 5;

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
    iss: String,
    aud: String,
}

/// The [`AccessTokens`] port over `jsonwebtoken`, pinned to HS256.
pub struct JwtAccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: JwtSettings,
}

/// Why [`JwtSettings`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtSettingsError {
    /// The secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("the JWT secret must be at least 32 bytes")]
    WeakSecret,
}

impl JwtAccessTokens {
    /// Builds the signer and the verifier.
    ///
    /// # Errors
    /// [`JwtSettingsError::WeakSecret`] for a secret under [`MIN_SECRET_BYTES`].
    pub fn new(settings: JwtSettings) -> Result<Self, JwtSettingsError> {
        if settings.secret.len() < MIN_SECRET_BYTES {
            return Err(JwtSettingsError::WeakSecret);
        }
        // `Validation::new` accepts exactly the one algorithm given: a token whose header
        // names `none`, RS256 or anything else is refused before its signature is read.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss", "aud"]);
        // Expiry is checked last, by hand: jsonwebtoken checks it before `iss` and `aud`,
        // and only a token that is genuine in every other respect may be called expired.
        validation.validate_exp = false;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Ok(Self {
            encoding: EncodingKey::from_secret(&settings.secret),
            decoding: DecodingKey::from_secret(&settings.secret),
            validation,
            settings,
        })
    }
}

impl AccessTokens for JwtAccessTokens {
    fn issue(
        &self,
        user: &User,
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
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenRejection::Invalid);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenRejection::Invalid)?
            .claims;
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        if claims.exp.saturating_add(LEEWAY_SECONDS.cast_signed()) < now {
            return Err(TokenRejection::Expired);
        }
        Ok(AccessClaims {
            user_id: UserId::from_uuid(claims.sub),
            email: Email::parse(&claims.email).map_err(|_| TokenRejection::Invalid)?,
            token_id: claims.jti,
            expires_at: DateTime::from_timestamp(claims.exp, 0).ok_or(TokenRejection::Invalid)?,
        })
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

    fn settings(secret: &[u8]) -> JwtSettings {
        JwtSettings {
            secret: secret.to_vec(),
            issuer: "portico".into(),
            audience: "portico".into(),
            ttl: Duration::minutes(15),
        }
    }

    fn tokens() -> JwtAccessTokens {
        JwtAccessTokens::new(settings(SECRET)).unwrap()
    }

    fn ada() -> User {
        User {
            id: UserId::from_uuid(Uuid::new_v4()),
            email: Email::parse("ada@example.com").unwrap(),
            first_name: PersonName::parse("Ada").unwrap(),
            last_name: PersonName::parse("Lovelace").unwrap(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    /// Claims as [`JwtAccessTokens::issue`] would write them for `user` at `now`.
    fn claims(user: &User, now: DateTime<Utc>) -> Claims {
        Claims {
            sub: user.id.as_uuid(),
            email: user.email.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + Duration::minutes(15)).timestamp(),
            jti: Uuid::new_v4(),
            iss: "portico".into(),
            aud: "portico".into(),
        }
    }

    /// Signs `claims` under a header naming `alg` and `typ`.
    fn sign(alg: Algorithm, typ: Option<&str>, claims: &impl Serialize, secret: &[u8]) -> String {
        let mut header = Header::new(alg);
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn segments(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn an_issued_token_verifies_to_its_claims() {
        let tokens = tokens();
        let user = ada();
        let now = Utc::now();
        let token_id = Uuid::new_v4();

        let issued = tokens.issue(&user, now, token_id).unwrap();
        let claims = tokens.verify(&issued.token).unwrap();

        let expires_at = DateTime::from_timestamp(now.timestamp() + 15 * 60, 0).unwrap();
        assert_eq!(issued.expires_at, expires_at);
        assert_eq!(
            claims,
            AccessClaims {
                user_id: user.id,
                email: user.email,
                token_id,
                expires_at,
            }
        );
    }

    #[test]
    fn an_issued_token_is_an_hs256_access_token() {
        let issued = tokens().issue(&ada(), Utc::now(), Uuid::new_v4()).unwrap();
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, Algorithm::HS256);
    }

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused() {
        let outcome = JwtAccessTokens::new(settings(&[7; 31]));
        assert!(matches!(outcome, Err(JwtSettingsError::WeakSecret)));
        assert!(JwtAccessTokens::new(settings(&[7; 32])).is_ok());
        assert!(!format!("{:?}", settings(SECRET)).contains("portico-test-secret"));
    }

    #[test]
    fn an_expired_genuine_token_is_expired() {
        let tokens = tokens();
        let issued = tokens
            .issue(&ada(), Utc::now() - Duration::hours(1), Uuid::new_v4())
            .unwrap();
        assert_eq!(tokens.verify(&issued.token), Err(TokenRejection::Expired));
    }

    #[test]
    fn forged_tampered_foreign_or_malformed_tokens_are_invalid() {
        let tokens = tokens();
        let user = ada();
        let now = Utc::now();
        let genuine = tokens.issue(&user, now, Uuid::new_v4()).unwrap().token;
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
        let mallory = tokens.issue(&ada(), now, Uuid::new_v4()).unwrap().token;
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
            iss: String,
            aud: String,
        }
        let without_exp = WithoutExp {
            sub: user.id.as_uuid(),
            email: user.email.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: Uuid::new_v4(),
            iss: "portico".into(),
            aud: "portico".into(),
        };
        let mut expired = claims(&user, now - Duration::hours(1));
        expired.exp = (now - Duration::minutes(45)).timestamp();
        let not_yet = tokens
            .issue(&user, now + Duration::hours(1), Uuid::new_v4())
            .unwrap()
            .token;
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
            ("an nbf an hour ahead", not_yet),
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
    fn an_expired_token_of_another_type_issuer_or_audience_is_invalid_not_expired() {
        // `Expired` is for a genuine access token only: the client answers it by
        // refreshing. A token of another type, issuer or audience was never one of ours,
        // whatever its age.
        let tokens = tokens();
        let user = ada();
        let an_hour_ago = Utc::now() - Duration::hours(1);
        let expired = claims(&user, an_hour_ago);
        let mut other_issuer = claims(&user, an_hour_ago);
        other_issuer.iss = "elsewhere".into();
        let mut other_audience = claims(&user, an_hour_ago);
        other_audience.aud = "elsewhere".into();
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
    }
}

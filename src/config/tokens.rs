//! Tokens: the environment that decides whether a JWT secret is required, the secret and
//! claims of access tokens, token lifetimes (device tokens' too), and whether refresh
//! tokens ride in a cookie.

use std::collections::BTreeSet;
use std::time::Duration;

use infrastructure::jwt::MIN_SECRET_BYTES;

use super::reader::{Reader, parse_bool, parse_duration, parse_either};

/// The fewest distinct byte values in a secret: refuses `aaaa…` and similar.
const MIN_DISTINCT_SECRET_BYTES: usize = 8;
/// The length of a secret generated for one run: twice the HS256 minimum.
const GENERATED_SECRET_BYTES: usize = 64;

/// The token settings, as read; [`super::Config`] documents each.
pub(super) struct Tokens {
    /// `JWT_SECRET`, or random bytes when it is absent outside production.
    pub(super) jwt_secret: Vec<u8>,
    /// Whether `jwt_secret` was generated.
    pub(super) jwt_secret_generated: bool,
    /// `JWT_ISSUER`.
    pub(super) jwt_issuer: String,
    /// `JWT_AUDIENCE`.
    pub(super) jwt_audience: String,
    /// `ACCESS_TOKEN_TTL`.
    pub(super) access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL`.
    pub(super) refresh_token_ttl: Duration,
    /// `REFRESH_COOKIE`.
    pub(super) refresh_cookie: bool,
    /// `DEVICE_TOKEN_TTL`.
    pub(super) device_token_ttl: Duration,
}

impl Tokens {
    /// Reads the token variables (and `PORTICO_ENV`), recording bad values in `reader`.
    pub(super) fn read(reader: &mut Reader<'_>) -> Self {
        let production = reader.get(
            "PORTICO_ENV",
            false,
            parse_either(("development", false), ("production", true)),
        );
        let configured_secret = reader.get("JWT_SECRET", None, |raw| parse_secret(raw).map(Some));
        // A secret that is present but bad has been reported already; saying it is also
        // missing would only confuse.
        if production && configured_secret.is_none() && !reader.has_reported("JWT_SECRET") {
            reader.report("JWT_SECRET", "is required when PORTICO_ENV=production");
        }
        let jwt_secret_generated = configured_secret.is_none();
        let jwt_secret = match configured_secret {
            Some(secret) => secret,
            None => random_secret(reader),
        };
        Self {
            jwt_secret,
            jwt_secret_generated,
            jwt_issuer: reader.get("JWT_ISSUER", "portico".to_owned(), |raw| Ok(raw.to_owned())),
            jwt_audience: reader.get("JWT_AUDIENCE", "portico".to_owned(), |raw| {
                Ok(raw.to_owned())
            }),
            access_token_ttl: reader.get(
                "ACCESS_TOKEN_TTL",
                Duration::from_secs(15 * 60),
                parse_duration,
            ),
            refresh_token_ttl: reader.get(
                "REFRESH_TOKEN_TTL",
                Duration::from_secs(7 * 86_400),
                parse_duration,
            ),
            refresh_cookie: reader.get("REFRESH_COOKIE", false, parse_bool),
            device_token_ttl: reader.get(
                "DEVICE_TOKEN_TTL",
                Duration::from_secs(90 * 86_400),
                parse_duration,
            ),
        }
    }
}

/// The secret's raw bytes, refused when too short or too repetitive to be a key.
fn parse_secret(raw: &str) -> Result<Vec<u8>, String> {
    let bytes = raw.as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "must be at least {MIN_SECRET_BYTES} bytes, got {}",
            bytes.len()
        ));
    }
    if bytes.iter().collect::<BTreeSet<_>>().len() < MIN_DISTINCT_SECRET_BYTES {
        return Err(
            "is too repetitive to be a secret; generate one with `openssl rand -base64 48`".into(),
        );
    }
    Ok(bytes.to_vec())
}

fn random_secret(reader: &mut Reader<'_>) -> Vec<u8> {
    let mut secret = vec![0_u8; GENERATED_SECRET_BYTES];
    // A failure is reported, so the configuration is refused and this secret never signs.
    if let Err(error) = getrandom::fill(&mut secret) {
        reader.report("JWT_SECRET", format!("cannot generate a secret: {error}")); // coverage: excluded: getrandom does not fail on a running Linux system
    }
    secret
}

#[cfg(test)]
mod tests {
    use std::env::VarError;

    use super::super::{Config, config_from};

    #[test]
    fn production_requires_a_jwt_secret() {
        let errors = config_from(&[("PORTICO_ENV", "production")]).unwrap_err();
        assert_eq!(errors.0[0].variable, "JWT_SECRET");
        let secret = "0123456789abcdefghijklmnopqrstuvwxyz";
        let config = config_from(&[("PORTICO_ENV", "Production"), ("JWT_SECRET", secret)]).unwrap();
        assert!(!config.jwt_secret_generated);
        assert_eq!(
            config_from(&[("PORTICO_ENV", "staging")]).unwrap_err().0[0].variable,
            "PORTICO_ENV"
        );
    }

    #[test]
    fn repetitive_secrets_are_refused() {
        let errors = config_from(&[("JWT_SECRET", &"a".repeat(64))]).unwrap_err();
        assert_eq!(errors.0[0].variable, "JWT_SECRET");
        assert!(errors.0[0].problem.contains("repetitive"));
    }

    #[test]
    fn a_secret_that_is_not_unicode_is_reported_once_even_in_production() {
        let lookup = |variable: &str| match variable {
            "PORTICO_ENV" => Ok("production".to_owned()),
            "JWT_SECRET" => Err(VarError::NotUnicode("not shown".into())),
            _ => Err(VarError::NotPresent),
        };
        let errors = Config::from_variables(&lookup).unwrap_err();
        let problems: Vec<(&str, &str)> = errors
            .0
            .iter()
            .map(|error| (error.variable, error.problem.as_str()))
            .collect();
        assert_eq!(problems, [("JWT_SECRET", "is not valid UTF-8")]);
    }
}

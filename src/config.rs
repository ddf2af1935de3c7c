//! Configuration from the environment, read once at start-up and checked whole: every
//! bad value is reported with the variable that holds it, then the process exits.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use infrastructure::hashing::HashPolicy;

use ::web::protection::CorsSettings;
use ::web::rate_limit::{Budget, ForwardingHeader, RateLimitSettings};
use actix_web::http::Method;
use actix_web::http::header::HeaderName;
use application::LoginThrottlePolicy;
use ipnet::IpNet;

use crate::telemetry::LogFormat;

/// Every setting of the service. Each field's documentation names its variable and
/// default; `docs/configuration.md` says the same.
#[derive(Clone)]
pub struct Config {
    /// `PORTICO_BIND` (`127.0.0.1:8080`): the address to listen on.
    pub bind: SocketAddr,
    /// `DATABASE_URL` (`sqlite://data/portico.db`): the SQLite file, created if missing.
    pub database_url: String,
    /// `DATABASE_POOL_SIZE` (`8`): pooled database connections.
    pub database_pool_size: u32,
    /// `JWT_SECRET` (random per run when absent in development; required when
    /// `PORTICO_ENV=production`): the HS256 key, at least 32 bytes.
    pub jwt_secret: Vec<u8>,
    /// Whether [`Config::jwt_secret`] was generated because `JWT_SECRET` was absent.
    pub jwt_secret_generated: bool,
    /// `JWT_ISSUER` (`portico`): the `iss` claim written and required.
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE` (`portico`): the `aud` claim written and required.
    pub jwt_audience: String,
    /// `ACCESS_TOKEN_TTL` (`15m`): lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL` (`7d`): lifetime of each refresh token.
    pub refresh_token_ttl: Duration,
    /// `PASSWORD_HASH` (`bcrypt`) with `BCRYPT_COST` (`12`) or `ARGON2_MEMORY_KIB`
    /// (`19456`), `ARGON2_ITERATIONS` (`2`), `ARGON2_PARALLELISM` (`1`).
    pub hash_policy: HashPolicy,
    /// `PASSWORD_HASH_CONCURRENCY` (number of CPUs): hashes computed at once.
    pub hash_concurrency: usize,
    /// `PASSWORD_HASH_QUEUE` (`32`): hashes allowed to wait for a slot; beyond it a login
    /// or registration is answered 503 with `Retry-After`.
    pub hash_queue: usize,
    /// `HTTP_WORKERS` (number of CPUs): actix worker threads.
    pub http_workers: usize,
    /// `HTTP_BODY_LIMIT` (`16384`): the largest request body, in bytes.
    pub body_limit: usize,
    /// `REFRESH_COOKIE` (`false`): also carry the refresh token in an HttpOnly cookie.
    pub refresh_cookie: bool,
    /// `SESSION_PRUNE_INTERVAL` (`1h`): how often expired and revoked sessions are deleted.
    pub session_prune_interval: Duration,
    /// `SHUTDOWN_GRACE` (`30s`): how long in-flight requests may finish after a stop signal.
    pub shutdown_grace: Duration,
    /// `LOG_FORMAT` (`pretty`): `pretty` or `json`.
    pub log_format: LogFormat,
    /// `CORS_ALLOWED_ORIGINS` (none), `CORS_ALLOWED_METHODS`
    /// (`GET,POST,PUT,PATCH,DELETE`), `CORS_ALLOWED_HEADERS`
    /// (`authorization,content-type`), `CORS_ALLOW_CREDENTIALS` (`false`).
    pub cors: CorsSettings,
    /// `RATE_LIMIT_ENABLED` (`true`), `RATE_LIMIT_PER_IP` (`600/1m`),
    /// `RATE_LIMIT_SESSION_ROUTES` (`20/1m`), `RATE_LIMIT_PER_USER` (`300/1m`),
    /// `TRUSTED_PROXIES` (none), `FORWARDED_HEADER` (`x-forwarded-for`).
    pub rate_limits: RateLimitSettings,
    /// `LOGIN_MAX_FAILURES` (`5`), `LOGIN_LOCKOUT` (`30s`), `LOGIN_LOCKOUT_MAX` (`15m`).
    pub login_throttle: LoginThrottlePolicy,
}

impl fmt::Debug for Config {
    // The secret never prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &self.database_url)
            .field("jwt_secret", &"[redacted]")
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("hash_policy", &self.hash_policy)
            .finish_non_exhaustive()
    }
}

/// One variable with a bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in &self.0 {
            writeln!(f, "  {}: {}", error.variable, error.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The fewest bytes of an HS256 secret (RFC 7518 §3.2).
const MIN_SECRET_BYTES: usize = 32;
/// The fewest distinct byte values in a secret: refuses `aaaa…` and similar.
const MIN_DISTINCT_SECRET_BYTES: usize = 8;

/// Reads variables through `lookup` and records each problem once.
struct Reader<F> {
    lookup: F,
    errors: Vec<ConfigError>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn raw(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable).filter(|value| !value.trim().is_empty())
    }

    /// The parsed value of `variable`, or `default` when it is unset (or on error, after
    /// recording the error).
    fn get<T>(
        &mut self,
        variable: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let Some(raw) = self.raw(variable) else {
            return default;
        };
        parse(raw.trim()).unwrap_or_else(|problem| {
            self.errors.push(ConfigError { variable, problem });
            default
        })
    }
}

fn parse_number<T>(min: T, max: T) -> impl FnOnce(&str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    move |raw| {
        let value: T = raw
            .parse()
            .map_err(|_| format!("expected a whole number, got {raw:?}"))?;
        if value < min || value > max {
            return Err(format!("must be between {min} and {max}, got {value}"));
        }
        Ok(value)
    }
}

/// Parses a duration: whole seconds (`900`) or a number with a unit suffix `s`, `m`,
/// `h` or `d` (`15m`, `7d`). Zero is refused.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let (digits, unit_seconds) = match raw.char_indices().last() {
        Some((at, 's')) => (&raw[..at], 1),
        Some((at, 'm')) => (&raw[..at], 60),
        Some((at, 'h')) => (&raw[..at], 3_600),
        Some((at, 'd')) => (&raw[..at], 86_400),
        _ => (raw, 1),
    };
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("expected a duration such as 900, 15m or 7d, got {raw:?}"))?;
    let seconds = amount
        .checked_mul(unit_seconds)
        .filter(|seconds| *seconds > 0 && *seconds <= 10 * 365 * 86_400)
        .ok_or_else(|| format!("must be between 1 second and 10 years, got {raw:?}"))?;
    Ok(Duration::from_secs(seconds))
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {raw:?}")),
    }
}

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

fn random_secret() -> Result<Vec<u8>, String> {
    let mut secret = vec![0_u8; 64];
    getrandom::fill(&mut secret).map_err(|error| format!("cannot generate a secret: {error}"))?;
    Ok(secret)
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every variable with a bad value.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|variable| std::env::var(variable).ok())
    }

    /// Reads variables through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every variable with a bad value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let mut reader = Reader {
            lookup,
            errors: Vec::new(),
        };
        let default_bind = SocketAddr::from(([127, 0, 0, 1], 8080));
        let bind = reader.get("PORTICO_BIND", default_bind, |raw| {
            raw.parse()
                .map_err(|_| format!("expected an address such as 127.0.0.1:8080, got {raw:?}"))
        });
        let database_url = reader.get(
            "DATABASE_URL",
            "sqlite://data/portico.db".to_owned(),
            |raw| {
                if raw.starts_with("sqlite:") || !raw.contains("://") {
                    Ok(raw.to_owned())
                } else {
                    Err(format!(
                        "only SQLite is supported (sqlite://PATH), got {raw:?}"
                    ))
                }
            },
        );
        let database_pool_size = reader.get("DATABASE_POOL_SIZE", 8, parse_number(1, 256));
        let production = reader.get("PORTICO_ENV", false, |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "development" => Ok(false),
                "production" => Ok(true),
                _ => Err(format!("expected development or production, got {raw:?}")),
            }
        });
        let configured_secret = reader.get("JWT_SECRET", None, |raw| parse_secret(raw).map(Some));
        if production && configured_secret.is_none() && reader.raw("JWT_SECRET").is_none() {
            reader.errors.push(ConfigError {
                variable: "JWT_SECRET",
                problem: "is required when PORTICO_ENV=production".into(),
            });
        }
        let jwt_secret_generated = configured_secret.is_none();
        let jwt_secret = match configured_secret {
            Some(secret) => secret,
            None => random_secret().unwrap_or_else(|problem| {
                reader.errors.push(ConfigError {
                    variable: "JWT_SECRET",
                    problem,
                });
                Vec::new()
            }),
        };
        let jwt_issuer = reader.get("JWT_ISSUER", "portico".to_owned(), |raw| Ok(raw.to_owned()));
        let jwt_audience = reader.get("JWT_AUDIENCE", "portico".to_owned(), |raw| {
            Ok(raw.to_owned())
        });
        let access_token_ttl = reader.get(
            "ACCESS_TOKEN_TTL",
            Duration::from_secs(15 * 60),
            parse_duration,
        );
        let refresh_token_ttl = reader.get(
            "REFRESH_TOKEN_TTL",
            Duration::from_secs(7 * 86_400),
            parse_duration,
        );
        let hash_policy = read_hash_policy(&mut reader);
        let hash_concurrency = reader.get("PASSWORD_HASH_CONCURRENCY", cpus, parse_number(1, 1024));
        let hash_queue = reader.get("PASSWORD_HASH_QUEUE", 32, parse_number(0, 100_000));
        let http_workers = reader.get("HTTP_WORKERS", cpus, parse_number(1, 1024));
        let body_limit = reader.get("HTTP_BODY_LIMIT", 16 * 1024, parse_number(64, 64 << 20));
        let refresh_cookie = reader.get("REFRESH_COOKIE", false, parse_bool);
        let session_prune_interval = reader.get(
            "SESSION_PRUNE_INTERVAL",
            Duration::from_secs(3_600),
            parse_duration,
        );
        let shutdown_grace = reader.get("SHUTDOWN_GRACE", Duration::from_secs(30), parse_duration);
        let log_format = reader.get("LOG_FORMAT", LogFormat::Pretty, |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("expected pretty or json, got {raw:?}")),
            }
        });
        let cors = read_cors(&mut reader);
        let rate_limits = read_rate_limits(&mut reader);
        let max_failures = reader.get("LOGIN_MAX_FAILURES", 5, parse_number(1, 1_000));
        let login_throttle = LoginThrottlePolicy {
            // RATE_LIMIT_ENABLED=false turns every limit off, this one included.
            max_failures: if rate_limits.enabled {
                max_failures
            } else {
                u32::MAX
            },
            lockout: chrono_duration(reader.get(
                "LOGIN_LOCKOUT",
                Duration::from_secs(30),
                parse_duration,
            )),
            max_lockout: chrono_duration(reader.get(
                "LOGIN_LOCKOUT_MAX",
                Duration::from_secs(15 * 60),
                parse_duration,
            )),
        };
        if !reader.errors.is_empty() {
            return Err(ConfigErrors(reader.errors));
        }
        Ok(Self {
            bind,
            database_url,
            database_pool_size,
            jwt_secret,
            jwt_secret_generated,
            jwt_issuer,
            jwt_audience,
            access_token_ttl,
            refresh_token_ttl,
            hash_policy,
            hash_concurrency,
            hash_queue,
            http_workers,
            body_limit,
            refresh_cookie,
            session_prune_interval,
            shutdown_grace,
            log_format,
            cors,
            rate_limits,
            login_throttle,
        })
    }
}

/// Durations are bounded to ten years by [`parse_duration`], well inside chrono's range.
fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn comma_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn read_cors<F: Fn(&str) -> Option<String>>(reader: &mut Reader<F>) -> CorsSettings {
    let allowed_origins = reader.get("CORS_ALLOWED_ORIGINS", Vec::new(), |raw| {
        comma_list(raw)
            .map(|origin| {
                let origin = origin.trim_end_matches('/');
                if origin == "*" || origin.starts_with("http://") || origin.starts_with("https://")
                {
                    Ok(origin.to_owned())
                } else {
                    Err(format!(
                        "expected origins such as https://app.example.com or *, got {origin:?}"
                    ))
                }
            })
            .collect()
    });
    let allowed_methods = reader.get(
        "CORS_ALLOWED_METHODS",
        ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .filter_map(|method| method.parse().ok())
            .collect(),
        |raw| {
            comma_list(raw)
                .map(|method| {
                    Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                        .map_err(|_| format!("not an HTTP method: {method:?}"))
                })
                .collect()
        },
    );
    let allowed_headers = reader.get(
        "CORS_ALLOWED_HEADERS",
        vec![
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
        ],
        |raw| {
            comma_list(raw)
                .map(|name| {
                    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|_| format!("not a header name: {name:?}"))
                })
                .collect()
        },
    );
    let allow_credentials = reader.get("CORS_ALLOW_CREDENTIALS", false, parse_bool);
    if allow_credentials && allowed_origins.iter().any(|origin| origin == "*") {
        reader.errors.push(ConfigError {
            variable: "CORS_ALLOW_CREDENTIALS",
            problem: "credentials need explicit origins; CORS_ALLOWED_ORIGINS contains *".into(),
        });
    }
    CorsSettings {
        allowed_origins,
        allowed_methods,
        allowed_headers,
        allow_credentials,
    }
}

fn read_rate_limits<F: Fn(&str) -> Option<String>>(reader: &mut Reader<F>) -> RateLimitSettings {
    let budget = |count: u32, seconds: u64| Budget {
        burst: std::num::NonZeroU32::new(count).unwrap_or(std::num::NonZeroU32::MIN),
        period: Duration::from_secs(seconds),
    };
    let parse_budget =
        |raw: &str| Budget::parse(raw, parse_duration).map_err(|error| error.to_string());
    RateLimitSettings {
        enabled: reader.get("RATE_LIMIT_ENABLED", true, parse_bool),
        per_ip: reader.get("RATE_LIMIT_PER_IP", budget(600, 60), parse_budget),
        session_routes: reader.get("RATE_LIMIT_SESSION_ROUTES", budget(20, 60), parse_budget),
        per_user: reader.get("RATE_LIMIT_PER_USER", budget(300, 60), parse_budget),
        trusted_proxies: reader.get("TRUSTED_PROXIES", Vec::new(), |raw| {
            comma_list(raw)
                .map(|entry| {
                    entry
                        .parse::<IpNet>()
                        .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| format!("expected IP addresses or CIDR blocks, got {entry:?}"))
                })
                .collect()
        }),
        forwarding_header: reader.get("FORWARDED_HEADER", ForwardingHeader::XForwardedFor, |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "x-forwarded-for" => Ok(ForwardingHeader::XForwardedFor),
                "forwarded" => Ok(ForwardingHeader::Forwarded),
                _ => Err(format!(
                    "expected x-forwarded-for or forwarded, got {raw:?}"
                )),
            }
        }),
    }
}

fn read_hash_policy<F: Fn(&str) -> Option<String>>(reader: &mut Reader<F>) -> HashPolicy {
    #[derive(Clone, Copy)]
    enum Algorithm {
        Bcrypt,
        Argon2id,
    }
    let algorithm = reader.get("PASSWORD_HASH", Algorithm::Bcrypt, |raw| {
        match raw.to_ascii_lowercase().as_str() {
            "bcrypt" => Ok(Algorithm::Bcrypt),
            "argon2id" => Ok(Algorithm::Argon2id),
            _ => Err(format!("expected bcrypt or argon2id, got {raw:?}")),
        }
    });
    let cost = reader.get(
        "BCRYPT_COST",
        HashPolicy::DEFAULT_BCRYPT_COST,
        parse_number(4, 31),
    );
    let memory_kib = reader.get(
        "ARGON2_MEMORY_KIB",
        HashPolicy::DEFAULT_ARGON2_MEMORY_KIB,
        parse_number(8, 4 * 1024 * 1024),
    );
    let iterations = reader.get(
        "ARGON2_ITERATIONS",
        HashPolicy::DEFAULT_ARGON2_ITERATIONS,
        parse_number(1, 100),
    );
    let parallelism = reader.get(
        "ARGON2_PARALLELISM",
        HashPolicy::DEFAULT_ARGON2_PARALLELISM,
        parse_number(1, 64),
    );
    match algorithm {
        Algorithm::Bcrypt => HashPolicy::Bcrypt { cost },
        Algorithm::Argon2id => HashPolicy::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        Config::from_lookup(|variable| map.get(variable).cloned())
    }

    #[test]
    fn with_nothing_set_the_defaults_serve_on_localhost_with_sqlite_under_data() {
        let config = config_from(&[]).unwrap();
        assert_eq!(config.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.database_url, "sqlite://data/portico.db");
        assert!(config.jwt_secret_generated);
        assert_eq!(config.jwt_secret.len(), 64);
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(604_800));
        assert_eq!(config.hash_policy, HashPolicy::Bcrypt { cost: 12 });
        assert_eq!(config.body_limit, 16_384);
        assert!(!config.refresh_cookie);
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert!(!format!("{config:?}").contains(&format!("{:?}", config.jwt_secret)));
    }

    #[test]
    fn every_variable_is_read() {
        let secret = "0123456789abcdefghijklmnopqrstuvwxyz";
        let config = config_from(&[
            ("PORTICO_BIND", "0.0.0.0:9000"),
            ("DATABASE_URL", "sqlite:///tmp/x.db"),
            ("DATABASE_POOL_SIZE", "3"),
            ("JWT_SECRET", secret),
            ("JWT_ISSUER", "issuer"),
            ("JWT_AUDIENCE", "audience"),
            ("ACCESS_TOKEN_TTL", "5m"),
            ("REFRESH_TOKEN_TTL", "2d"),
            ("PASSWORD_HASH", "argon2id"),
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_ITERATIONS", "3"),
            ("ARGON2_PARALLELISM", "2"),
            ("PASSWORD_HASH_CONCURRENCY", "4"),
            ("PASSWORD_HASH_QUEUE", "7"),
            ("HTTP_WORKERS", "3"),
            ("HTTP_BODY_LIMIT", "1024"),
            ("REFRESH_COOKIE", "true"),
            ("SESSION_PRUNE_INTERVAL", "10m"),
            ("SHUTDOWN_GRACE", "5s"),
            ("LOG_FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(config.bind.port(), 9000);
        assert_eq!(config.database_url, "sqlite:///tmp/x.db");
        assert_eq!(config.database_pool_size, 3);
        assert_eq!(config.jwt_secret, secret.as_bytes());
        assert!(!config.jwt_secret_generated);
        assert_eq!(
            (config.jwt_issuer.as_str(), config.jwt_audience.as_str()),
            ("issuer", "audience")
        );
        assert_eq!(config.access_token_ttl, Duration::from_secs(300));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(172_800));
        assert_eq!(
            config.hash_policy,
            HashPolicy::Argon2id {
                memory_kib: 65_536,
                iterations: 3,
                parallelism: 2
            }
        );
        assert_eq!((config.hash_concurrency, config.hash_queue), (4, 7));
        assert_eq!(config.http_workers, 3);
        assert_eq!(config.body_limit, 1024);
        assert!(config.refresh_cookie);
        assert_eq!(config.session_prune_interval, Duration::from_secs(600));
        assert_eq!(config.shutdown_grace, Duration::from_secs(5));
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn every_bad_value_is_reported_with_its_variable() {
        let errors = config_from(&[
            ("PORTICO_BIND", "localhost"),
            ("DATABASE_URL", "postgres://db/portico"),
            ("DATABASE_POOL_SIZE", "0"),
            ("JWT_SECRET", "short"),
            ("ACCESS_TOKEN_TTL", "15 minutes"),
            ("REFRESH_TOKEN_TTL", "0"),
            ("PASSWORD_HASH", "md5"),
            ("BCRYPT_COST", "3"),
            ("HTTP_BODY_LIMIT", "lots"),
            ("REFRESH_COOKIE", "maybe"),
            ("LOG_FORMAT", "xml"),
        ])
        .unwrap_err();
        let variables: Vec<&str> = errors.0.iter().map(|error| error.variable).collect();
        assert_eq!(
            variables,
            [
                "PORTICO_BIND",
                "DATABASE_URL",
                "DATABASE_POOL_SIZE",
                "JWT_SECRET",
                "ACCESS_TOKEN_TTL",
                "REFRESH_TOKEN_TTL",
                "PASSWORD_HASH",
                "BCRYPT_COST",
                "HTTP_BODY_LIMIT",
                "REFRESH_COOKIE",
                "LOG_FORMAT",
            ]
        );
        let message = errors.to_string();
        assert!(
            message.contains("JWT_SECRET: must be at least 32 bytes"),
            "{message}"
        );
    }

    #[test]
    fn turning_rate_limits_off_turns_the_login_throttle_off_too() {
        let on = config_from(&[("LOGIN_MAX_FAILURES", "3")]).unwrap();
        assert_eq!(on.login_throttle.max_failures, 3);
        let off =
            config_from(&[("LOGIN_MAX_FAILURES", "3"), ("RATE_LIMIT_ENABLED", "false")]).unwrap();
        assert!(!off.rate_limits.enabled);
        assert_eq!(off.login_throttle.max_failures, u32::MAX);
    }

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
    fn the_forwarding_header_is_chosen_by_name() {
        let config = config_from(&[("FORWARDED_HEADER", "Forwarded")]).unwrap();
        assert_eq!(
            config.rate_limits.forwarding_header,
            ForwardingHeader::Forwarded
        );
        assert_eq!(
            config_from(&[]).unwrap().rate_limits.forwarding_header,
            ForwardingHeader::XForwardedFor
        );
        assert!(config_from(&[("FORWARDED_HEADER", "via")]).is_err());
    }

    #[test]
    fn repetitive_secrets_are_refused() {
        let errors = config_from(&[("JWT_SECRET", &"a".repeat(64))]).unwrap_err();
        assert_eq!(errors.0[0].variable, "JWT_SECRET");
        assert!(errors.0[0].problem.contains("repetitive"));
    }

    #[test]
    fn durations_take_seconds_or_a_unit() {
        for (raw, seconds) in [
            ("900", 900),
            ("45s", 45),
            ("15m", 900),
            ("2h", 7_200),
            ("7d", 604_800),
        ] {
            assert_eq!(
                parse_duration(raw),
                Ok(Duration::from_secs(seconds)),
                "sent {raw:?}"
            );
        }
        for raw in [
            "",
            "m",
            "-5",
            "1.5h",
            "0",
            "0d",
            "5w",
            "99999999999999999999d",
            "4000d",
        ] {
            assert!(parse_duration(raw).is_err(), "sent {raw:?}");
        }
    }

    #[test]
    fn booleans_take_the_usual_spellings() {
        for raw in ["true", "TRUE", "1", "yes", "on"] {
            assert_eq!(parse_bool(raw), Ok(true), "sent {raw:?}");
        }
        for raw in ["false", "0", "no", "off"] {
            assert_eq!(parse_bool(raw), Ok(false), "sent {raw:?}");
        }
    }

    #[test]
    fn blank_values_count_as_unset() {
        let config = config_from(&[("PORTICO_BIND", "  "), ("JWT_SECRET", "")]).unwrap();
        assert_eq!(config.bind.port(), 8080);
        assert!(config.jwt_secret_generated);
    }
}

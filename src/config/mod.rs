//! Configuration from the environment, read once at start-up and checked whole: every
//! bad value is reported with the variable that holds it, then the process exits.
//!
//! One private module per concern reads its variables (`server`, `database`, `tokens`,
//! `hashing`, `rate_limits`, `cors`, `rooms`, `websocket`), in the order `docs/configuration.md`
//! lists them; `reader` fetches raw values and parses the kinds of value they share.

mod cors;
mod database;
mod hashing;
mod rate_limits;
mod reader;
mod rooms;
mod server;
mod tokens;
mod websocket;

use std::env::VarError;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use ::web::edge::EdgeSettings;
use ::web::protection::CorsSettings;
use ::web::rate_limit::RateLimitSettings;
use ::web::ws::WsSettings;
use application::{LoginThrottlePolicy, RoomPolicy};
use infrastructure::hashing::HashPolicy;

pub use self::reader::parse_duration;
use self::reader::{Lookup, Reader};
use crate::telemetry::LogFormat;

/// Every setting of the service. Each field's documentation names its variable and
/// default; `docs/configuration.md` says the same.
#[derive(Clone)]
pub struct Config {
    /// `PORTICO_BIND` (`127.0.0.1:8080`): the address to listen on.
    pub bind: SocketAddr,
    /// `DATABASE_URL` (`sqlite://data/portico.db`): the SQLite file, created if missing.
    pub database_url: infrastructure::storage::DatabaseUrl,
    /// `DATABASE_POOL_SIZE` (`8`): database connections for reads (SQLite opens at most
    /// one per core, plus one for writes).
    pub database_pool_size: u32,
    /// `SQLITE_SYNCHRONOUS` (`full`): `full` syncs every commit (it survives a power
    /// cut), `normal` only at checkpoints (it survives a process crash).
    pub sqlite_synchronous: infrastructure::storage::Synchronous,
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
    /// `DEVICE_TOKEN_TTL` (`90d`): how long the device token a login sets stays trusted.
    pub device_token_ttl: Duration,
    /// `SESSION_PRUNE_INTERVAL` (`1h`): how often expired and revoked sessions are deleted.
    pub session_prune_interval: Duration,
    /// `SHUTDOWN_GRACE` (`30s`): how long in-flight requests may finish after a stop signal.
    pub shutdown_grace: Duration,
    /// `HTTP_REQUEST_HEAD_TIMEOUT` (`5s`), `HTTP_BODY_READ_TIMEOUT` (`10s`),
    /// `HTTP_KEEP_ALIVE` (`5s`), `HTTP_WRITE_TIMEOUT` (`30s`), `HTTP_MAX_CONNECTIONS`
    /// (`10000`, lowered below the open-file limit), `HTTP_MAX_CONNECTIONS_PER_IP` (`128`):
    /// the bounds on slow and numerous clients.
    pub edge: EdgeSettings,
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
    /// `MESSAGE_MAX_BYTES` (`16384`): the largest message body, in bytes of UTF-8;
    /// `ROOM_RETENTION_COUNT` (`10000`) and `ROOM_RETENTION_AGE` (`30d`), either `off`:
    /// the messages a room keeps.
    pub rooms: RoomPolicy,
    /// `ROOM_PRUNE_INTERVAL` (`1m`): how often messages beyond retention are removed.
    pub room_prune_interval: Duration,
    /// `WS_HEARTBEAT_INTERVAL` (`15s`), `WS_HEARTBEAT_TIMEOUT` (`45s`),
    /// `WS_MAX_FRAME_BYTES` (`65536`), `WS_MAX_CONNECTIONS_PER_USER` (`8`),
    /// `WS_MESSAGE_RATE` (`20/2s`), `WS_SEND_QUEUE` (`256`); `WS_UPGRADE_RATE` (`30/1m`)
    /// is in [`Config::rate_limits`].
    pub websocket: WsSettings,
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

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every variable with a bad value, including a value that
    /// is not valid UTF-8.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_variables(&|variable: &str| std::env::var(variable))
    }

    /// Reads variables through `lookup` (the environment, or a map in tests); `None`
    /// means unset.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every variable with a bad value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        Self::from_variables(&|variable: &str| lookup(variable).ok_or(VarError::NotPresent))
    }

    /// Reads variables through `lookup`, which answers as [`std::env::var`] does, so a
    /// value that is not UTF-8 is reported rather than taken for unset.
    fn from_variables(lookup: Lookup<'_>) -> Result<Self, ConfigErrors> {
        let mut reader = Reader::new(lookup);
        // Read in the order docs/configuration.md lists the variables, so the errors are
        // printed in that order too.
        let server = server::Server::read(&mut reader);
        let database = database::Database::read(&mut reader);
        let tokens = tokens::Tokens::read(&mut reader);
        let hashing = hashing::Hashing::read(&mut reader);
        let limits = rate_limits::Limits::read(&mut reader);
        let cors = cors::read_cors(&mut reader);
        let rooms = rooms::Rooms::read(&mut reader);
        let websocket = websocket::WebSocket::read(
            &mut reader,
            rooms.policy.message_max_bytes,
            limits.rate_limits.enabled,
        );
        let mut limits = limits;
        limits.rate_limits.upgrades = websocket.upgrade_rate;
        let errors = reader.into_errors();
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Self {
            bind: server.bind,
            database_url: database.database_url,
            database_pool_size: database.database_pool_size,
            sqlite_synchronous: database.sqlite_synchronous,
            jwt_secret: tokens.jwt_secret,
            jwt_secret_generated: tokens.jwt_secret_generated,
            jwt_issuer: tokens.jwt_issuer,
            jwt_audience: tokens.jwt_audience,
            access_token_ttl: tokens.access_token_ttl,
            refresh_token_ttl: tokens.refresh_token_ttl,
            hash_policy: hashing.hash_policy,
            hash_concurrency: hashing.hash_concurrency,
            hash_queue: hashing.hash_queue,
            http_workers: server.http_workers,
            body_limit: server.body_limit,
            refresh_cookie: tokens.refresh_cookie,
            device_token_ttl: tokens.device_token_ttl,
            session_prune_interval: database.session_prune_interval,
            shutdown_grace: server.shutdown_grace,
            edge: server.edge,
            log_format: server.log_format,
            cors,
            rate_limits: limits.rate_limits,
            login_throttle: limits.login_throttle,
            rooms: rooms.policy,
            room_prune_interval: rooms.prune_interval,
            websocket: websocket.settings,
        })
    }
}

/// The default for the settings that scale with the machine. Two when the count is
/// unknown: enough to overlap one slow request with another.
fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The configuration that these variables give, the others unset: what every section's
/// tests start from.
#[cfg(test)]
fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    Config::from_lookup(|variable| map.get(variable).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_nothing_set_the_defaults_serve_on_localhost_with_sqlite_under_data() {
        let config = config_from(&[]).unwrap();
        assert_eq!(config.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.database_url.to_string(), "sqlite://data/portico.db");
        assert!(config.jwt_secret_generated);
        assert_eq!(config.jwt_secret.len(), 64);
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(604_800));
        assert_eq!(config.hash_policy, HashPolicy::Bcrypt { cost: 12 });
        assert_eq!(config.body_limit, 16_384);
        assert!(!config.refresh_cookie);
        assert_eq!(config.device_token_ttl, Duration::from_secs(90 * 86_400));
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert_eq!(
            config.sqlite_synchronous,
            infrastructure::storage::Synchronous::Full,
            "an ack means the message survives a power cut"
        );
        assert!(!format!("{config:?}").contains(&format!("{:?}", config.jwt_secret)));
    }

    #[test]
    fn every_variable_is_read() {
        let secret = "0123456789abcdefghijklmnopqrstuvwxyz";
        let config = config_from(&[
            ("PORTICO_BIND", "0.0.0.0:9000"),
            ("DATABASE_URL", "sqlite:///tmp/x.db"),
            ("DATABASE_POOL_SIZE", "3"),
            ("SQLITE_SYNCHRONOUS", "NORMAL"),
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
            ("DEVICE_TOKEN_TTL", "30d"),
            ("SESSION_PRUNE_INTERVAL", "10m"),
            ("SHUTDOWN_GRACE", "5s"),
            ("LOG_FORMAT", "json"),
            ("MESSAGE_MAX_BYTES", "2048"),
        ])
        .unwrap();
        assert_eq!(config.bind.port(), 9000);
        assert_eq!(config.database_url.to_string(), "sqlite:///tmp/x.db");
        assert_eq!(config.database_pool_size, 3);
        assert_eq!(
            config.sqlite_synchronous,
            infrastructure::storage::Synchronous::Normal
        );
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
        assert_eq!(config.device_token_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(config.session_prune_interval, Duration::from_secs(600));
        assert_eq!(config.shutdown_grace, Duration::from_secs(5));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.rooms.message_max_bytes, 2048);
    }

    #[test]
    fn a_postgres_url_selects_postgres_and_its_password_never_prints() {
        let config = config_from(&[(
            "DATABASE_URL",
            "postgresql://portico:s3cret@db.internal:5432/portico",
        )])
        .unwrap();
        assert!(matches!(
            config.database_url,
            infrastructure::storage::DatabaseUrl::Postgres(_)
        ));
        assert_eq!(
            config.database_url.to_string(),
            "postgresql://portico:***@db.internal:5432/portico"
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn every_bad_value_is_reported_with_its_variable() {
        let errors = config_from(&[
            ("PORTICO_BIND", "localhost"),
            ("DATABASE_URL", "postgres://db/portico?sslmode=require"),
            ("DATABASE_POOL_SIZE", "0"),
            ("SQLITE_SYNCHRONOUS", "off"),
            ("JWT_SECRET", "short"),
            ("ACCESS_TOKEN_TTL", "15 minutes"),
            ("REFRESH_TOKEN_TTL", "0"),
            ("PASSWORD_HASH", "md5"),
            ("BCRYPT_COST", "3"),
            ("HTTP_BODY_LIMIT", "lots"),
            ("REFRESH_COOKIE", "maybe"),
            ("DEVICE_TOKEN_TTL", "0"),
            ("LOG_FORMAT", "xml"),
            ("MESSAGE_MAX_BYTES", "0"),
        ])
        .unwrap_err();
        let variables: Vec<&str> = errors.0.iter().map(|error| error.variable).collect();
        assert_eq!(
            variables,
            // In the order docs/configuration.md lists them.
            [
                "PORTICO_BIND",
                "HTTP_BODY_LIMIT",
                "LOG_FORMAT",
                "DATABASE_URL",
                "DATABASE_POOL_SIZE",
                "SQLITE_SYNCHRONOUS",
                "JWT_SECRET",
                "ACCESS_TOKEN_TTL",
                "REFRESH_TOKEN_TTL",
                "REFRESH_COOKIE",
                "DEVICE_TOKEN_TTL",
                "PASSWORD_HASH",
                "BCRYPT_COST",
                "MESSAGE_MAX_BYTES",
            ]
        );
        let message = errors.to_string();
        assert!(
            message.contains("JWT_SECRET: must be at least 32 bytes"),
            "{message}"
        );
    }

    #[test]
    fn a_value_that_is_not_unicode_is_reported_with_its_variable() {
        let lookup = |variable: &str| match variable {
            "BCRYPT_COST" | "LOG_FORMAT" => Err(VarError::NotUnicode("not shown".into())),
            "DATABASE_POOL_SIZE" => Ok("0".to_owned()),
            _ => Err(VarError::NotPresent),
        };
        let errors = Config::from_variables(&lookup).unwrap_err();
        let message = errors.to_string();
        assert_eq!(
            message,
            "  LOG_FORMAT: is not valid UTF-8\n  \
               DATABASE_POOL_SIZE: must be between 1 and 256, got 0\n  \
               BCRYPT_COST: is not valid UTF-8\n"
        );
    }
}

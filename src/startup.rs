//! Wiring: adapters built from the configuration, handed to the use cases as
//! `Arc<dyn Port>`, served by actix-web.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use ::web::HttpSettings;
use ::web::edge::Edge;
use ::web::edge::server::{ServerSettings, serve};
use ::web::rate_limit::RateLimits;
use ::web::ws::WebSockets;
use actix_web::dev::Server;
use actix_web::web::Data;
use application::{Policies, PruneHistory, SessionPolicy, UseCases};
use domain::ports::{Clock, IdSource, Ports, SessionRepository};
use infrastructure::blocking::CpuLane;
use infrastructure::device_tokens::{DeviceTokenSettingsError, HmacDeviceTokens};
use infrastructure::hashing::{HashPolicyError, PasswordHashing};
use infrastructure::jwt::{JwtAccessTokens, JwtSettings, JwtSettingsError};
use infrastructure::refresh_tokens::RandomRefreshTokens;
use infrastructure::storage::{OpenError, Storage, StorageSettings, StorageShutdown};
use infrastructure::system::{RandomIds, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::Config;

/// The process's allocator. glibc's malloc keeps the memory of a connection flood after
/// the connections have closed (221 MiB for 10,000 slow clients, still held minutes
/// later); mimalloc returns it (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("cannot open the database")]
    Database(#[from] OpenError),
    /// The password hashing settings are unusable.
    #[error("invalid password hashing settings")]
    Hashing(#[from] HashPolicyError),
    /// The JWT settings are unusable.
    #[error("invalid JWT settings")]
    Jwt(#[from] JwtSettingsError),
    /// The device-token settings are unusable.
    #[error("invalid device-token settings")]
    DeviceTokens(#[from] DeviceTokenSettingsError),
    /// A duration does not fit the token arithmetic.
    #[error("a token lifetime is out of range")]
    Lifetime(#[from] chrono::OutOfRangeError),
    /// The listening socket could not be opened.
    #[error("cannot listen on the configured address")]
    Bind(#[from] std::io::Error),
}

/// Adapters a caller supplies instead of the real ones: an end-to-end test runs the real
/// app on a clock it moves itself, or with ids it chooses.
#[derive(Default, Clone)]
pub struct Overrides {
    /// The time, instead of the system clock.
    pub clock: Option<Arc<dyn Clock>>,
    /// Identifiers, instead of random UUIDs.
    pub ids: Option<Arc<dyn IdSource>>,
    /// Wraps the opened storage's ports: an end-to-end test puts a store that fails on
    /// purpose around the real one.
    pub wrap_storage: Option<Arc<dyn Fn(Storage) -> Storage + Send + Sync>>,
}

/// A built service: listening, not yet serving.
pub struct Application {
    server: Server,
    address: SocketAddr,
    sessions: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
    prune_interval: std::time::Duration,
    room_prune_interval: std::time::Duration,
    use_cases: Data<UseCases>,
    rate_limits: Arc<RateLimits>,
    storage_shutdown: Arc<dyn StorageShutdown>,
    shutdown: CancellationToken,
}

impl Application {
    /// Opens the storage (migrating it), builds every adapter and use case, and binds
    /// the listening socket (port 0 picks a free port: see [`Application::address`]).
    ///
    /// # Errors
    /// [`StartupError`] naming the part that failed.
    pub fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with(config, Overrides::default())
    }

    /// [`Application::build`], with some adapters replaced.
    ///
    /// # Errors
    /// [`StartupError`] naming the part that failed.
    pub fn build_with(config: Config, overrides: Overrides) -> Result<Self, StartupError> {
        let mut storage = Storage::open(
            &config.database_url,
            StorageSettings {
                pool_size: config.database_pool_size,
                sqlite_synchronous: config.sqlite_synchronous,
            },
        )?;
        if let Some(wrap) = &overrides.wrap_storage {
            storage = wrap(storage);
        }
        let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let ids = overrides.ids.unwrap_or_else(|| Arc::new(RandomIds));
        let ports = Ports {
            users: storage.users,
            sessions: Arc::clone(&storage.sessions),
            login_attempts: storage.login_attempts,
            hasher: Arc::new(PasswordHashing::new(
                config.hash_policy,
                CpuLane::new(config.hash_concurrency, config.hash_queue),
            )?),
            access_tokens: Arc::new(JwtAccessTokens::new(
                JwtSettings {
                    secret: config.jwt_secret.clone(),
                    issuer: config.jwt_issuer.clone(),
                    audience: config.jwt_audience.clone(),
                    ttl: chrono::Duration::from_std(config.access_token_ttl)?,
                },
                Arc::clone(&clock),
            )?),
            refresh_tokens: Arc::new(RandomRefreshTokens),
            // Keyed from JWT_SECRET under a purpose label of its own: one secret for the
            // operator to manage and rotate, never used as-is for two purposes.
            device_tokens: Arc::new(HmacDeviceTokens::derived_from(
                &config.jwt_secret,
                chrono::Duration::from_std(config.device_token_ttl)?,
            )?),
            clock: Arc::clone(&clock),
            ids,
            storage: storage.health,
            rooms: storage.rooms,
            // The storage's bus: in process on SQLite, between instances on PostgreSQL.
            bus: storage.bus,
            // The storage's registry: in process on SQLite, across instances (with
            // heartbeats) on PostgreSQL.
            presence: storage.presence,
        };
        let policies = Policies {
            session: SessionPolicy {
                refresh_token_ttl: chrono::Duration::from_std(config.refresh_token_ttl)?,
            },
            login_throttle: config.login_throttle,
            rooms: config.rooms,
        };
        let use_cases = Data::new(UseCases::new(&ports, policies));
        let retention_use_cases = use_cases.clone();
        let rate_limits = Arc::new(RateLimits::new(config.rate_limits.clone()));
        let shutdown = CancellationToken::new();
        let settings = HttpSettings {
            body_limit: config.body_limit,
            message_body_limit: HttpSettings::message_body_limit(
                config.rooms.message_max_bytes,
                config.body_limit,
            ),
            refresh_cookie: config.refresh_cookie,
            cors: config.cors.clone(),
            rate_limits: Arc::clone(&rate_limits),
            shutdown: shutdown.clone(),
            edge: Arc::new(Edge::new(config.edge.clone(), &config.rate_limits)),
            websockets: Arc::new(WebSockets::new(config.websocket.clone())),
        };

        let listener = TcpListener::bind(config.bind)?;
        let address = listener.local_addr()?;
        let server = serve(
            listener,
            ServerSettings {
                workers: config.http_workers,
                max_connections: connection_cap(&config),
                shutdown_grace: config.shutdown_grace,
            },
            use_cases,
            settings,
        )?; // coverage: excluded: registering a listener just bound fails only out of resources
        Ok(Self {
            server,
            address,
            sessions: ports.sessions,
            room_prune_interval: config.room_prune_interval,
            use_cases: retention_use_cases,
            clock,
            prune_interval: config.session_prune_interval,
            rate_limits,
            storage_shutdown: storage.shutdown,
            shutdown,
        })
    }

    /// The address the service listens on.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `stop` completes (the binary passes [`stop_signal`]), then stops
    /// accepting connections and lets in-flight requests finish within the configured
    /// grace period. Dead sessions are pruned in the background meanwhile.
    ///
    /// # Errors
    /// The I/O error that stopped the server.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()>) -> std::io::Result<()> {
        let handle = self.server.handle();
        let shutdown = self.shutdown.clone();
        let draining = async move {
            stop.await;
            tracing::info!("stop requested; draining in-flight requests");
            // Long-lived work is told first, so the drain waits only for requests.
            shutdown.cancel();
            // Asking is enough: the server's own future reports the end of the drain.
            drop(handle.stop(true));
        };
        let pruning = prune_periodically(
            self.sessions,
            self.clock,
            self.prune_interval,
            self.shutdown.clone(),
        );
        let announcing = announce_departures(self.use_cases.clone(), self.shutdown.clone());
        let retaining = apply_retention(
            self.use_cases,
            self.room_prune_interval,
            self.shutdown.clone(),
        );
        let forgetting = forget_idle_clients(self.rate_limits);
        let outcome = tokio::select! {
            outcome = self.server => outcome,
            // The drain ends with the server, whose own future reports the end.
            () = async { draining.await; std::future::pending().await } => Ok(()),
            // Pruning ends when the stop begins; the drain goes on without it.
            () = async { pruning.await; std::future::pending().await } => Ok(()),
            () = async { retaining.await; std::future::pending().await } => Ok(()),
            () = async { announcing.await; std::future::pending().await } => Ok(()),
            () = forgetting => Ok(()),
        };
        self.shutdown.cancel();
        // SQLite: every write into the main file; the pool closes as the process ends.
        if let Err(error) = self.storage_shutdown.close().await {
            tracing::warn!(error.cause_chain = ?error, "closing the storage failed");
        }
        tracing::info!("portico stopped");
        outcome
    }
}

/// Descriptors kept free of connections whatever the configuration: the listener, each
/// worker's poller and waker, standard streams, migrations and the odd file opened at
/// run time.
const SPARE_DESCRIPTORS: u64 = 64;

/// How many connections may be open at once: `HTTP_MAX_CONNECTIONS`, lowered so that
/// connections cannot take the descriptors the database and the server itself need.
/// Past the process's open-file limit `accept` fails, and so would opening the database.
///
/// The soft limit is first raised toward what the setting needs, within the hard limit
/// (as the Go runtime and most servers do): the soft limit is often a default of 1024
/// left from `select`'s day, not a decision.
fn connection_cap(config: &Config) -> usize {
    // Each SQLite connection holds the database, its WAL and its shared memory; there
    // are at most `database_pool_size` for reads and one for writes.
    let reserved = 3 * (u64::from(config.database_pool_size) + 1)
        + 2 * config.http_workers as u64
        + SPARE_DESCRIPTORS;
    let wanted = config.edge.max_connections as u64 + reserved;
    let limit = match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) => limit,
        // coverage: excluded-begin: getrlimit fails for no process that runs
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit; connections capped by HTTP_MAX_CONNECTIONS only");
            return config.edge.max_connections; // coverage: excluded-end
        }
    };
    let room = usize::try_from(limit.saturating_sub(reserved)).unwrap_or(usize::MAX);
    let cap = config.edge.max_connections.min(room).max(1);
    if cap < config.edge.max_connections {
        tracing::warn!(
            open_file_limit = limit,
            reserved,
            max_connections = cap,
            "HTTP_MAX_CONNECTIONS lowered to fit the open-file limit; raise `ulimit -n` (LimitNOFILE=) to allow more"
        );
    } else {
        tracing::info!(
            open_file_limit = limit,
            max_connections = cap,
            "connection cap"
        );
    }
    cap
}

/// Runs `work` every `interval`, the first time at once, until `shutdown` is
/// cancelled: a stop request is heard between two runs, never halfway through one.
async fn every<Work, Run>(
    interval: std::time::Duration,
    shutdown: &CancellationToken,
    mut work: Work,
) where
    Work: FnMut() -> Run,
    Run: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        work().await;
    }
}

/// Deletes expired tokens and ended sessions every `interval` until `shutdown` is
/// cancelled. The work runs on the database's blocking door, so requests never wait
/// for it.
async fn prune_periodically(
    sessions: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
    interval: std::time::Duration,
    shutdown: CancellationToken,
) {
    let (sessions, clock) = (&sessions, &clock);
    every(interval, &shutdown, || async move {
        match sessions.prune(clock.now()).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned expired and revoked sessions"),
            Err(error) => tracing::warn!(error.cause_chain = ?error, "pruning sessions failed"),
        }
    })
    .await;
}

/// Removes the messages retention no longer keeps, every `interval` (and once at
/// start-up), until `shutdown` is cancelled: in steps of [`PruneHistory::STEP`] that
/// follow one another while the backlog lasts, each its own short write, so publishers
/// interleave with a long first pass and a stop request is heard between two steps.
async fn apply_retention(
    use_cases: Data<UseCases>,
    interval: std::time::Duration,
    shutdown: CancellationToken,
) {
    let prune = &use_cases.prune_history;
    if prune.keeps_everything() {
        return;
    }
    let stopping = &shutdown;
    every(interval, &shutdown, || async move {
        let mut removed = 0;
        loop {
            match prune.step().await {
                Ok(step) => {
                    removed += step;
                    if step < u64::from(PruneHistory::STEP.get()) || stopping.is_cancelled() {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(error.cause_chain = ?error, "removing messages beyond retention failed");
                    break;
                }
            }
        }
        if removed > 0 {
            tracing::info!(messages = removed, "removed messages beyond retention");
        }
    })
    .await;
}

/// Tells the rooms of users whose connections died with another instance that they
/// left, as often as the presence registry asks, until `shutdown` is cancelled. A
/// registry of one process asks for nothing, and this returns at once.
async fn announce_departures(use_cases: Data<UseCases>, shutdown: CancellationToken) {
    let announce = &use_cases.announce_departures;
    let Some(interval) = announce.interval() else {
        return;
    };
    every(interval, &shutdown, || async move {
        match announce.execute().await {
            Ok(0) => {}
            Ok(users) => {
                tracing::info!(users, "announced the departure of another instance's users");
            }
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, "sweeping departed connections failed");
            }
        }
    })
    .await;
}

/// Drops the rate-limit state of clients whose budgets are full again, every minute.
async fn forget_idle_clients(rate_limits: Arc<RateLimits>) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        ticks.tick().await;
        rate_limits.forget_idle_clients();
    }
}

/// Completes at the first SIGINT (Ctrl-C) or SIGTERM: both mean "finish what you are
/// doing and stop".
pub async fn stop_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await; // coverage: excluded: the SIGINT handler installs in any process that runs
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await, // coverage: excluded: the SIGTERM handler installs in any process that runs
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::num::NonZeroU64;
    use std::sync::Arc;
    use std::time::Duration;

    use application::{LoginThrottlePolicy, RoomPolicy};
    use domain::Retention;
    use domain::ports::{MockSessionRepository, SessionRepository};
    use test_support::{Fakes, boom, now, refresh_ttl};

    use super::*;

    /// The configuration of the end-to-end tests, as the environment would give it.
    fn config() -> Config {
        let variables: HashMap<&str, &str> = [
            ("PORTICO_BIND", "127.0.0.1:0"),
            ("DATABASE_URL", "sqlite://unused.db"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("HTTP_WORKERS", "2"),
            ("DATABASE_POOL_SIZE", "4"),
        ]
        .into_iter()
        .collect();
        Config::from_lookup(|key| variables.get(key).map(|value| (*value).to_owned())).unwrap()
    }

    /// The use cases over `fakes`, rooms keeping `retention`.
    fn use_cases(fakes: Fakes, retention: Retention) -> Data<UseCases> {
        let policies = Policies {
            session: SessionPolicy {
                refresh_token_ttl: refresh_ttl(),
            },
            login_throttle: LoginThrottlePolicy {
                max_failures: 5,
                lockout: chrono::Duration::seconds(30),
                max_lockout: chrono::Duration::minutes(15),
            },
            rooms: RoomPolicy {
                retention,
                ..RoomPolicy::default()
            },
        };
        Data::new(UseCases::new(&fakes.into_ports(), policies))
    }

    /// Keep a room's newest hundred messages.
    fn keep_a_hundred() -> Retention {
        Retention {
            max_messages: NonZeroU64::new(100),
            max_age: None,
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_connection_cap_beyond_the_open_file_limit_is_lowered_to_fit_under_it() {
        let mut config = config();
        config.edge.max_connections = 1 << 40;

        let cap = connection_cap(&config);

        // Some connections, and descriptors left free under the hard limit.
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert!(cap >= 1 && (cap as u64) < hard, "{cap} of {hard}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_prune_of_sessions_is_tried_again_at_the_next_interval() {
        let shutdown = CancellationToken::new();
        let mut sessions = MockSessionRepository::new();
        sessions
            .expect_prune()
            .times(1)
            .returning(|_| Err(boom("prune")));
        let stop = shutdown.clone();
        sessions.expect_prune().times(1).returning(move |_| {
            stop.cancel();
            Ok(0)
        });
        let sessions: Arc<dyn SessionRepository> = Arc::new(sessions);

        // Returns once the second prune has stopped it; the fake checks both ran.
        prune_periodically(sessions, Arc::new(SystemClock), MINUTE, shutdown).await;
    }

    #[tokio::test(start_paused = true)]
    async fn retention_that_keeps_everything_removes_nothing_and_ends_at_once() {
        let mut fakes = Fakes::new();
        fakes.rooms.expect_prune().never();

        // Not cancelled: only keeping everything ends it.
        apply_retention(
            use_cases(fakes, Retention::KEEP_EVERYTHING),
            MINUTE,
            CancellationToken::new(),
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn retention_steps_on_while_steps_come_back_full_and_a_failed_step_waits_for_the_next_interval()
     {
        let shutdown = CancellationToken::new();
        let mut fakes = Fakes::new();
        let full = u64::from(PruneHistory::STEP.get());
        let mut answers: Vec<Result<u64, domain::ports::AdapterError>> =
            vec![Ok(full), Ok(full), Ok(7), Err(boom("prune")), Ok(0)];
        answers.reverse();
        let answers = std::sync::Mutex::new(answers);
        let stop = shutdown.clone();
        fakes
            .rooms
            .expect_prune()
            .withf(|retention, at, step| {
                *retention == keep_a_hundred() && *at == now() && *step == PruneHistory::STEP
            })
            .times(5)
            .returning(move |_, _, _| {
                let mut answers = answers.lock().unwrap();
                let answer = answers.pop().unwrap();
                if answers.is_empty() {
                    stop.cancel();
                }
                answer
            });

        // First interval: two full steps, then one that is not (three calls); second:
        // the failure ends it; third: nothing left. Five calls in all.
        apply_retention(use_cases(fakes, keep_a_hundred()), MINUTE, shutdown).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_sweep_of_departed_connections_is_tried_again_at_the_next_interval() {
        let shutdown = CancellationToken::new();
        let mut fakes = Fakes::new();
        fakes
            .presence
            .expect_sweep_interval()
            .return_const(Some(MINUTE));
        fakes
            .presence
            .expect_sweep_departed()
            .times(1)
            .returning(|| Err(boom("sweep")));
        let stop = shutdown.clone();
        fakes
            .presence
            .expect_sweep_departed()
            .times(1)
            .returning(move || {
                stop.cancel();
                Ok(Vec::new())
            });

        announce_departures(use_cases(fakes, Retention::KEEP_EVERYTHING), shutdown).await;
    }
}

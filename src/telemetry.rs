//! Logging: one subscriber for the process, human-readable or JSON lines, that a client
//! cannot flood.
//!
//! - **A client's bad input is not a server error.** actix-http logs every connection
//!   that ends on a malformed request as an ERROR (`stream error: …`): one line per bad
//!   request head, as fast as a client can send them. Those lines are logged again at
//!   DEBUG, as `connection ended on a client error`; the edge's own close after a refusal
//!   (which actix reports as a response body error) is dropped, as the refusal itself is
//!   already logged.
//! - **Repeats are sampled.** Each call site may write [`SAMPLE_BURST`] lines per
//!   [`SAMPLE_WINDOW`]; beyond that its lines are counted, not written, and when the
//!   window ends one line says how many were suppressed. The access log (one line per
//!   request, `portico_web::telemetry`) is not sampled: its volume is the traffic's,
//!   which the rate limits bound.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Multi-line, coloured, for a developer's terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Lines one call site may write per [`SAMPLE_WINDOW`] before the rest are counted.
pub const SAMPLE_BURST: u32 = 20;
/// The window over which [`SAMPLE_BURST`] applies.
pub const SAMPLE_WINDOW: Duration = Duration::from_secs(60);
/// The target of the lines that report suppressed repeats.
pub const SAMPLING_TARGET: &str = "portico::log_sampling";
/// The target of actix-http's client errors, logged again at DEBUG.
pub const CLIENT_ERROR_TARGET: &str = "portico::http";

/// Targets never sampled: the access log, and the sampler's own reports.
const UNSAMPLED_TARGETS: [&str; 2] = ["portico_web::telemetry", SAMPLING_TARGET];
/// Where actix-http logs the end of a connection.
const ACTIX_DISPATCHER: &str = "actix_http::h1::dispatcher";

/// Installs the global subscriber, filtered by `RUST_LOG` (default `info`). Returns
/// whether this call installed it: a second call (several tests in one process) leaves
/// the first subscriber in place and returns `false`.
pub fn init(format: LogFormat) -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let sampler = Arc::new(Sampler::new(SAMPLE_BURST, SAMPLE_WINDOW));
    let installed = subscriber(format, filter, std::io::stdout, Arc::clone(&sampler))
        .try_init()
        .is_ok();
    if installed {
        report_suppressed_periodically(sampler);
    }
    installed
}

/// The subscriber [`init`] installs, writing to `writer`.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    sampler: Arc<Sampler>,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(FloodGuard { sampler });
    match format {
        LogFormat::Pretty => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .pretty()
                    .with_writer(writer),
            ),
        ),
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(writer),
            ),
        ),
    }
}

/// Reports call sites whose window ended while they were suppressed, even when nothing
/// else is logged after the flood.
fn report_suppressed_periodically(sampler: Arc<Sampler>) {
    let spawned = std::thread::Builder::new()
        .name("log-sampling".into())
        .spawn(move || {
            loop {
                std::thread::sleep(SAMPLE_WINDOW / 4);
                emit_all(sampler.close_windows(Instant::now()));
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the log sampling reporter; reports wait for the next line"); // coverage: excluded: needs the process's thread limit exhausted
    }
}

/// The layer that downgrades actix-http's client errors and samples repeats. It decides
/// in `event_enabled`, so a refused line reaches no writer.
struct FloodGuard {
    sampler: Arc<Sampler>,
}

impl<S: Subscriber> Layer<S> for FloodGuard {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if metadata.target() == ACTIX_DISPATCHER && *metadata.level() <= Level::WARN {
            let message = message_of(event);
            if message.contains("ClosedAfterRefusal") {
                return false;
            }
            if message.starts_with("stream error") {
                tracing::debug!(target: CLIENT_ERROR_TARGET, error = %message, "connection ended on a client error");
                return false;
            }
        }
        if UNSAMPLED_TARGETS.contains(&metadata.target()) {
            return true;
        }
        let (admitted, reports) = self.sampler.admit(metadata, Instant::now());
        // Emitted after the sampler's lock is released: a report is itself an event.
        emit_all(reports);
        admitted
    }
}

/// The `message` field of an event.
fn message_of(event: &Event<'_>) -> String {
    struct Message(String);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                value.clone_into(&mut self.0);
            }
        }
    }
    let mut message = Message(String::new());
    event.record(&mut message);
    message.0
}

/// Per call site: how many lines passed in the current window, how many were held back.
struct Site {
    metadata: &'static Metadata<'static>,
    window_start: Instant,
    passed: u32,
    suppressed: u64,
}

/// Lines held back at one call site during a window that has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Suppressed {
    level: Level,
    target: &'static str,
    location: String,
    count: u64,
}

impl Suppressed {
    fn emit(&self) {
        macro_rules! report {
            ($level:expr) => {
                tracing::event!(
                    target: SAMPLING_TARGET,
                    $level,
                    suppressed = self.count,
                    site.target = self.target,
                    site.location = %self.location,
                    "repeated log lines suppressed"
                )
            };
        }
        match self.level {
            Level::ERROR => report!(Level::ERROR),
            Level::WARN => report!(Level::WARN),
            Level::INFO => report!(Level::INFO),
            Level::DEBUG => report!(Level::DEBUG),
            Level::TRACE => report!(Level::TRACE),
        }
    }
}

/// Writes `reports`; called with no lock held, since each is itself an event.
fn emit_all(reports: Vec<Suppressed>) {
    for report in reports {
        report.emit();
    }
}

/// The first `burst` lines of each call site per `window`; counts of the rest.
struct Sampler {
    burst: u32,
    window: Duration,
    sites: Mutex<HashMap<Identifier, Site>>,
}

impl Sampler {
    fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst,
            window,
            sites: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a line from `metadata`'s call site may be written at `now`, and the
    /// reports of windows that have ended, to emit once the lock is released.
    fn admit(&self, metadata: &'static Metadata<'static>, now: Instant) -> (bool, Vec<Suppressed>) {
        // Every critical section leaves the counts consistent, so a poisoned lock holds
        // nothing half-done.
        let mut sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        let reports = Self::close_ended(&mut sites, self.window, now);
        // Call sites are static: the map holds at most one entry per line of code.
        let site = sites.entry(metadata.callsite()).or_insert(Site {
            metadata,
            window_start: now,
            passed: 0,
            suppressed: 0,
        });
        let admitted = if site.passed < self.burst {
            site.passed += 1;
            true
        } else {
            site.suppressed += 1;
            false
        };
        (admitted, reports)
    }

    /// Ends every window that is over at `now`, reporting those that held lines back.
    fn close_windows(&self, now: Instant) -> Vec<Suppressed> {
        let mut sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        Self::close_ended(&mut sites, self.window, now)
    }

    fn close_ended(
        sites: &mut HashMap<Identifier, Site>,
        window: Duration,
        now: Instant,
    ) -> Vec<Suppressed> {
        let mut reports = Vec::new();
        for site in sites.values_mut() {
            if now.saturating_duration_since(site.window_start) < window {
                continue;
            }
            if site.suppressed > 0 {
                reports.push(Suppressed {
                    level: *site.metadata.level(),
                    target: site.metadata.target(),
                    location: format!(
                        "{}:{}",
                        site.metadata.file().unwrap_or("?"),
                        site.metadata.line().unwrap_or(0)
                    ),
                    count: site.suppressed,
                });
            }
            site.window_start = now;
            site.passed = 0;
            site.suppressed = 0;
        }
        // Quiet call sites are forgotten; a busy one is re-added at its next line.
        sites.retain(|_, site| site.passed > 0 || site.suppressed > 0);
        reports
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt::writer::MutexGuardWriter;

    use super::*;

    /// A writer into a shared buffer, to read what the subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        }
    }

    impl<'writer> MakeWriter<'writer> for Captured {
        type Writer = MutexGuardWriter<'writer, Vec<u8>>;
        fn make_writer(&'writer self) -> Self::Writer {
            self.0.make_writer()
        }
    }

    fn capture(
        filter: &str,
        sampler: Arc<Sampler>,
    ) -> (Box<dyn Subscriber + Send + Sync>, Captured) {
        let captured = Captured::default();
        let subscriber = subscriber(
            LogFormat::Json,
            EnvFilter::new(filter),
            captured.clone(),
            sampler,
        );
        (subscriber, captured)
    }

    #[test]
    fn installing_a_subscriber_twice_keeps_the_first_and_does_not_panic() {
        // The only test in this binary that installs the global subscriber.
        assert!(
            init(LogFormat::Json),
            "the first call installs the subscriber"
        );
        assert!(
            !init(LogFormat::Pretty),
            "a second call must leave the first subscriber in place"
        );
    }

    #[test]
    fn a_call_site_writes_its_burst_then_one_report_of_the_rest_per_window() {
        use tracing::Callsite as _;
        let sampler = Sampler::new(3, Duration::from_secs(60));
        let callsite = tracing::callsite!(
            name: "a line",
            kind: tracing::metadata::Kind::EVENT,
            level: Level::WARN,
            fields: []
        );
        let metadata = callsite.metadata();
        let start = Instant::now();
        let admitted: Vec<bool> = (0..10)
            .map(|second| {
                sampler
                    .admit(metadata, start + Duration::from_secs(second))
                    .0
            })
            .collect();
        assert_eq!(
            admitted,
            [
                true, true, true, false, false, false, false, false, false, false
            ]
        );
        assert!(
            sampler
                .close_windows(start + Duration::from_secs(59))
                .is_empty(),
            "window not over"
        );
        let reports = sampler.close_windows(start + Duration::from_secs(60));
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].count, 7);
        let (admitted, reports) = sampler.admit(metadata, start + Duration::from_secs(61));
        assert!(admitted, "a new window starts with a new burst");
        assert!(reports.is_empty(), "the window was reported once");
    }

    #[test]
    fn a_flood_from_one_call_site_is_cut_to_the_burst_and_the_report_counts_the_rest() {
        let sampler = Arc::new(Sampler::new(5, SAMPLE_WINDOW));
        let (subscriber, captured) = capture("info", Arc::clone(&sampler));
        tracing::subscriber::with_default(subscriber, || {
            for attempt in 0..1000 {
                tracing::warn!(attempt, "the same complaint");
            }
            tracing::info!(target: "portico_web::telemetry", "request completed");
            // What the reporter thread does once the window is over.
            emit_all(sampler.close_windows(Instant::now() + SAMPLE_WINDOW));
        });
        let lines = captured.lines();
        let complaints = lines
            .iter()
            .filter(|line| line["message"] == "the same complaint")
            .count();
        assert_eq!(complaints, 5);
        let report = lines
            .iter()
            .find(|line| line["message"] == "repeated log lines suppressed")
            .expect("a report line");
        assert_eq!(report["suppressed"], 995);
        assert_eq!(report["level"], "WARN");
        assert!(
            lines
                .iter()
                .any(|line| line["message"] == "request completed")
        );
    }

    #[test]
    fn a_report_is_written_at_the_level_of_the_lines_it_counts() {
        let sampler = Arc::new(Sampler::new(1, SAMPLE_WINDOW));
        let (subscriber, captured) = capture("trace", Arc::clone(&sampler));
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..3 {
                tracing::error!("an error again");
                tracing::warn!("a warning again");
                tracing::info!("a notice again");
                tracing::debug!("a detail again");
                tracing::trace!("a trace again");
            }
            // What the reporter thread does once the window is over.
            emit_all(sampler.close_windows(Instant::now() + SAMPLE_WINDOW));
        });
        let mut reported: Vec<(String, u64)> = captured
            .lines()
            .iter()
            .filter(|line| line["message"] == "repeated log lines suppressed")
            .map(|line| {
                (
                    line["level"].as_str().unwrap_or_default().to_owned(),
                    line["suppressed"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        reported.sort();
        assert_eq!(
            reported,
            [
                ("DEBUG".to_owned(), 2),
                ("ERROR".to_owned(), 2),
                ("INFO".to_owned(), 2),
                ("TRACE".to_owned(), 2),
                ("WARN".to_owned(), 2)
            ]
        );
    }

    #[test]
    fn actix_client_errors_and_the_close_after_a_refusal_never_reach_the_error_log() {
        // The DEBUG line they become is emitted from inside the subscriber, which tracing
        // only allows under the global subscriber (under a scoped one, as here, a nested
        // event goes nowhere): tests/api/edge.rs reads it from the real binary.
        let (subscriber, captured) = capture("debug", Arc::new(Sampler::new(100, SAMPLE_WINDOW)));
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..3 {
                tracing::error!(target: "actix_http::h1::dispatcher", "stream error: request parse error: invalid Header provided");
            }
            tracing::error!(target: "actix_http::h1::dispatcher", "Response payload stream error: ClosedAfterRefusal");
            // The same, with the message recorded as a string field rather than arguments.
            tracing::error!(target: "actix_http::h1::dispatcher", message = "stream error: request parse error: invalid Header provided");
            tracing::error!(target: "actix_http::h1::dispatcher", "Internal server error: unexpected eof");
        });
        let messages: Vec<String> = captured
            .lines()
            .iter()
            .map(|line| line["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        // A server-side fault from the same module is still an error.
        assert_eq!(messages, ["Internal server error: unexpected eof"]);
    }
}

//! Logging: one subscriber for the process, human-readable or JSON lines.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Multi-line, coloured, for a developer's terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber, filtered by `RUST_LOG` (default `info`). A second
/// call (several tests in one process) leaves the first subscriber in place.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Pretty => builder.pretty().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_a_subscriber_twice_keeps_the_first_and_does_not_panic() {
        use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Pretty};
        type JsonLines = tracing_subscriber::fmt::Subscriber<JsonFields, Format<Json>, EnvFilter>;
        type PrettyLines = tracing_subscriber::fmt::Subscriber<Pretty, Format<Pretty>, EnvFilter>;

        init(LogFormat::Json);
        init(LogFormat::Pretty);

        assert!(tracing::dispatcher::has_been_set(), "no global subscriber");
        tracing::dispatcher::get_default(|dispatch| {
            assert!(
                dispatch.is::<JsonLines>(),
                "the JSON subscriber was not kept"
            );
            assert!(
                !dispatch.is::<PrettyLines>(),
                "the second call replaced the first"
            );
        });
        if std::env::var_os("RUST_LOG").is_none() {
            // Without RUST_LOG the filter is `info`.
            assert!(tracing::enabled!(tracing::Level::INFO));
            assert!(!tracing::enabled!(tracing::Level::DEBUG));
        }
    }
}

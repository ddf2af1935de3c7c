//! The server: where it listens, how many workers serve, how large a body may be, how long
//! a stop may take, and how the log is written.

use std::net::SocketAddr;
use std::time::Duration;

use super::available_cpus;
use super::reader::{Reader, parse_duration, parse_either, parse_number};
use crate::telemetry::LogFormat;

/// The server's settings, as read; [`super::Config`] documents each.
pub(super) struct Server {
    /// `PORTICO_BIND`.
    pub(super) bind: SocketAddr,
    /// `HTTP_WORKERS`.
    pub(super) http_workers: usize,
    /// `HTTP_BODY_LIMIT`.
    pub(super) body_limit: usize,
    /// `SHUTDOWN_GRACE`.
    pub(super) shutdown_grace: Duration,
    /// `LOG_FORMAT`.
    pub(super) log_format: LogFormat,
}

impl Server {
    /// Reads the server's variables, recording bad values in `reader`.
    pub(super) fn read(reader: &mut Reader<'_>) -> Self {
        let default_bind = SocketAddr::from(([127, 0, 0, 1], 8080));
        Self {
            bind: reader.get("PORTICO_BIND", default_bind, |raw| {
                raw.parse()
                    .map_err(|_| format!("expected an address such as 127.0.0.1:8080, got {raw:?}"))
            }),
            http_workers: reader.get("HTTP_WORKERS", available_cpus(), parse_number(1, 1024)),
            body_limit: reader.get("HTTP_BODY_LIMIT", 16 * 1024, parse_number(64, 64 << 20)),
            shutdown_grace: reader.get("SHUTDOWN_GRACE", Duration::from_secs(30), parse_duration),
            log_format: reader.get(
                "LOG_FORMAT",
                LogFormat::Pretty,
                parse_either(("pretty", LogFormat::Pretty), ("json", LogFormat::Json)),
            ),
        }
    }
}

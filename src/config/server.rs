//! The server: where it listens, how many workers serve, how large a body may be, how long
//! a stop may take, how slow or numerous clients are bounded, and how the log is written.

use std::net::SocketAddr;
use std::time::Duration;

use ::web::edge::EdgeSettings;

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
    /// `HTTP_REQUEST_HEAD_TIMEOUT`, `HTTP_BODY_READ_TIMEOUT`, `HTTP_KEEP_ALIVE`,
    /// `HTTP_WRITE_TIMEOUT`, `HTTP_MAX_CONNECTIONS`, `HTTP_MAX_CONNECTIONS_PER_IP`.
    pub(super) edge: EdgeSettings,
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
            edge: read_edge(reader),
            log_format: reader.get(
                "LOG_FORMAT",
                LogFormat::Pretty,
                parse_either(("pretty", LogFormat::Pretty), ("json", LogFormat::Json)),
            ),
        }
    }
}

/// The most connections the settings may ask for; the open-file limit lowers it further.
const MAX_CONNECTIONS: usize = 1_000_000;

/// Reads the limits on slow and numerous clients.
fn read_edge(reader: &mut Reader<'_>) -> EdgeSettings {
    EdgeSettings {
        head_timeout: reader.get(
            "HTTP_REQUEST_HEAD_TIMEOUT",
            EdgeSettings::DEFAULT_HEAD_TIMEOUT,
            parse_duration,
        ),
        body_read_timeout: reader.get(
            "HTTP_BODY_READ_TIMEOUT",
            EdgeSettings::DEFAULT_BODY_READ_TIMEOUT,
            parse_duration,
        ),
        keep_alive: reader.get(
            "HTTP_KEEP_ALIVE",
            EdgeSettings::DEFAULT_KEEP_ALIVE,
            parse_duration,
        ),
        write_timeout: reader.get(
            "HTTP_WRITE_TIMEOUT",
            EdgeSettings::DEFAULT_WRITE_TIMEOUT,
            parse_duration,
        ),
        max_connections: reader.get(
            "HTTP_MAX_CONNECTIONS",
            EdgeSettings::DEFAULT_MAX_CONNECTIONS,
            parse_number(1, MAX_CONNECTIONS),
        ),
        max_connections_per_ip: reader.get(
            "HTTP_MAX_CONNECTIONS_PER_IP",
            EdgeSettings::DEFAULT_MAX_CONNECTIONS_PER_IP,
            parse_number(1, MAX_CONNECTIONS),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::config_from;

    #[test]
    fn the_edge_limits_default_to_the_documented_values_and_are_read() {
        let defaults = config_from(&[]).unwrap().edge;
        assert_eq!(defaults.head_timeout, Duration::from_secs(5));
        assert_eq!(defaults.body_read_timeout, Duration::from_secs(10));
        assert_eq!(defaults.keep_alive, Duration::from_secs(5));
        assert_eq!(defaults.write_timeout, Duration::from_secs(30));
        assert_eq!(defaults.max_connections, 10_000);
        assert_eq!(defaults.max_connections_per_ip, 128);
        let edge = config_from(&[
            ("HTTP_REQUEST_HEAD_TIMEOUT", "2s"),
            ("HTTP_BODY_READ_TIMEOUT", "3"),
            ("HTTP_KEEP_ALIVE", "1m"),
            ("HTTP_WRITE_TIMEOUT", "7s"),
            ("HTTP_MAX_CONNECTIONS", "500"),
            ("HTTP_MAX_CONNECTIONS_PER_IP", "9"),
        ])
        .unwrap()
        .edge;
        assert_eq!(edge.head_timeout, Duration::from_secs(2));
        assert_eq!(edge.body_read_timeout, Duration::from_secs(3));
        assert_eq!(edge.keep_alive, Duration::from_secs(60));
        assert_eq!(edge.write_timeout, Duration::from_secs(7));
        assert_eq!(
            (edge.max_connections, edge.max_connections_per_ip),
            (500, 9)
        );
    }

    #[test]
    fn a_zero_cap_or_timeout_is_refused_naming_its_variable() {
        let errors = config_from(&[
            ("HTTP_BODY_READ_TIMEOUT", "0"),
            ("HTTP_MAX_CONNECTIONS_PER_IP", "0"),
        ])
        .unwrap_err();
        let variables: Vec<&str> = errors.0.iter().map(|error| error.variable).collect();
        assert_eq!(
            variables,
            ["HTTP_BODY_READ_TIMEOUT", "HTTP_MAX_CONNECTIONS_PER_IP"]
        );
    }
}

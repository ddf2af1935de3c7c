//! WebSockets: the heartbeat, the outbound queue, frame sizes and the limits on
//! connections and frames (`WS_*`, SPEC §2).

use std::time::Duration;

use ::web::rate_limit::Budget;
use ::web::ws::WsSettings;

use super::reader::{Reader, parse_duration, parse_number};

/// The largest `WS_MAX_FRAME_BYTES` accepted: 16 MiB. A frame is read whole before it
/// is decoded, once per connection at a time.
const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// The WebSocket settings and the upgrade budget, as read.
pub(super) struct WebSocket {
    /// Everything but the upgrade budget.
    pub(super) settings: WsSettings,
    /// `WS_UPGRADE_RATE`, charged per client IP by the rate limiter.
    pub(super) upgrade_rate: Budget,
}

impl WebSocket {
    /// 30 upgrades per minute per address: a reconnecting client needs a few.
    pub(super) const DEFAULT_UPGRADE_RATE: Budget = Budget {
        burst: match std::num::NonZeroU32::new(30) {
            Some(burst) => burst,
            None => std::num::NonZeroU32::MIN,
        },
        period: Duration::from_secs(60),
    };

    /// Reads the `WS_*` variables, recording bad values in `reader`. `message_max_bytes`
    /// and `limits_enabled` come from `MESSAGE_MAX_BYTES` and `RATE_LIMIT_ENABLED`.
    pub(super) fn read(
        reader: &mut Reader<'_>,
        message_max_bytes: usize,
        limits_enabled: bool,
    ) -> Self {
        let defaults = WsSettings::default();
        let parse_budget =
            |raw: &str| Budget::parse(raw, parse_duration).map_err(|error| error.to_string());
        let settings = WsSettings {
            heartbeat_interval: reader.get(
                "WS_HEARTBEAT_INTERVAL",
                defaults.heartbeat_interval,
                parse_duration,
            ),
            heartbeat_timeout: reader.get(
                "WS_HEARTBEAT_TIMEOUT",
                defaults.heartbeat_timeout,
                parse_duration,
            ),
            max_frame_bytes: reader.get(
                "WS_MAX_FRAME_BYTES",
                defaults.max_frame_bytes,
                parse_number(1024, MAX_FRAME_BYTES),
            ),
            max_connections_per_user: reader.get(
                "WS_MAX_CONNECTIONS_PER_USER",
                defaults.max_connections_per_user,
                parse_number(1, 10_000),
            ),
            message_rate: reader.get("WS_MESSAGE_RATE", defaults.message_rate, parse_budget),
            send_queue: reader.get(
                "WS_SEND_QUEUE",
                defaults.send_queue,
                parse_number(1, 1_000_000),
            ),
            message_max_bytes,
            limits_enabled,
        };
        let upgrade_rate = reader.get("WS_UPGRADE_RATE", Self::DEFAULT_UPGRADE_RATE, parse_budget);
        if settings.heartbeat_timeout <= settings.heartbeat_interval {
            reader.report(
                "WS_HEARTBEAT_TIMEOUT",
                format!(
                    "must be longer than WS_HEARTBEAT_INTERVAL ({}s), got {}s",
                    settings.heartbeat_interval.as_secs(),
                    settings.heartbeat_timeout.as_secs()
                ),
            );
        }
        Self {
            settings,
            upgrade_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::config_from;

    #[test]
    fn websockets_default_to_the_spec_and_every_variable_is_read() {
        let defaults = config_from(&[]).unwrap().websocket;
        assert_eq!(defaults.heartbeat_interval, Duration::from_secs(15));
        assert_eq!(defaults.heartbeat_timeout, Duration::from_secs(45));
        assert_eq!(defaults.max_frame_bytes, 65_536);
        assert_eq!(defaults.message_max_bytes, 16_384);
        assert!(defaults.limits_enabled);

        let config = config_from(&[
            ("WS_HEARTBEAT_INTERVAL", "1s"),
            ("WS_HEARTBEAT_TIMEOUT", "3s"),
            ("WS_MAX_FRAME_BYTES", "2048"),
            ("WS_MAX_CONNECTIONS_PER_USER", "2"),
            ("WS_MESSAGE_RATE", "5/1s"),
            ("WS_SEND_QUEUE", "4"),
            ("WS_UPGRADE_RATE", "3/1m"),
            ("RATE_LIMIT_ENABLED", "false"),
        ])
        .unwrap();
        let ws = &config.websocket;
        assert_eq!(ws.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(ws.heartbeat_timeout, Duration::from_secs(3));
        assert_eq!(ws.max_frame_bytes, 2048);
        assert_eq!(ws.max_connections_per_user, 2);
        assert_eq!(ws.message_rate.burst.get(), 5);
        assert_eq!(ws.send_queue, 4);
        assert!(!ws.limits_enabled, "RATE_LIMIT_ENABLED=false lifts them");
        assert_eq!(config.rate_limits.upgrades.burst.get(), 3);
    }

    #[test]
    fn a_timeout_not_longer_than_the_interval_is_refused() {
        let errors = config_from(&[
            ("WS_HEARTBEAT_INTERVAL", "30s"),
            ("WS_HEARTBEAT_TIMEOUT", "30s"),
        ])
        .unwrap_err();
        assert_eq!(errors.0[0].variable, "WS_HEARTBEAT_TIMEOUT");
        for (variable, raw) in [
            ("WS_MAX_FRAME_BYTES", "10"),
            ("WS_SEND_QUEUE", "0"),
            ("WS_MESSAGE_RATE", "fast"),
            ("WS_UPGRADE_RATE", "0/1m"),
            ("WS_MAX_CONNECTIONS_PER_USER", "0"),
        ] {
            let errors = config_from(&[(variable, raw)]).unwrap_err();
            assert_eq!(errors.0[0].variable, variable, "sent {raw}");
        }
    }
}

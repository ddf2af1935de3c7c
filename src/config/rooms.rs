//! Rooms: how large one message may be, and how long messages are kept.

use std::num::NonZeroU64;
use std::time::Duration;

use application::RoomPolicy;
use domain::Retention;

use super::reader::{Reader, chrono_duration, or_off, parse_duration, parse_number};

/// The largest `MESSAGE_MAX_BYTES` accepted: 1 MiB. A message travels in one WebSocket
/// frame and is held once per member connection's queue, so larger ones belong in a
/// file store, not a chat message.
const MAX_MESSAGE_MAX_BYTES: usize = 1024 * 1024;

/// `ROOM_RETENTION_COUNT`'s default: enough history for any reader scrolling back, a
/// bound on what one room can hold.
const DEFAULT_RETENTION_COUNT: u64 = 10_000;

/// `ROOM_RETENTION_AGE`'s default: a member away for a month still gets everything.
const DEFAULT_RETENTION_AGE: Duration = Duration::from_secs(30 * 86_400);

/// The rooms' settings, as read; [`super::Config`] documents each.
pub(super) struct Rooms {
    /// `MESSAGE_MAX_BYTES`, `ROOM_RETENTION_COUNT`, `ROOM_RETENTION_AGE`.
    pub(super) policy: RoomPolicy,
    /// `ROOM_PRUNE_INTERVAL`.
    pub(super) prune_interval: Duration,
}

impl Rooms {
    /// Reads the rooms' variables, recording bad values in `reader`.
    pub(super) fn read(reader: &mut Reader<'_>) -> Self {
        let defaults = RoomPolicy::default();
        let message_max_bytes = reader.get(
            "MESSAGE_MAX_BYTES",
            defaults.message_max_bytes,
            parse_number(1, MAX_MESSAGE_MAX_BYTES),
        );
        let max_messages = reader.get(
            "ROOM_RETENTION_COUNT",
            Some(NonZeroU64::new(DEFAULT_RETENTION_COUNT)),
            // At least 1, so `new` always gives a value.
            or_off(|raw| parse_number(1, u64::MAX)(raw).map(NonZeroU64::new)),
        );
        let max_age = reader.get(
            "ROOM_RETENTION_AGE",
            Some(DEFAULT_RETENTION_AGE),
            or_off(parse_duration),
        );
        let prune_interval = reader.get(
            "ROOM_PRUNE_INTERVAL",
            Duration::from_secs(60),
            parse_duration,
        );
        Self {
            policy: RoomPolicy {
                message_max_bytes,
                retention: Retention {
                    max_messages: max_messages.flatten(),
                    max_age: max_age.map(chrono_duration),
                },
                ..defaults
            },
            prune_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config_from;
    use super::*;

    #[test]
    fn messages_default_to_sixteen_kib_and_take_one_byte_to_one_mib() {
        assert_eq!(config_from(&[]).unwrap().rooms.message_max_bytes, 16_384);
        for (raw, bytes) in [("1", 1), ("4096", 4_096), ("1048576", 1_048_576)] {
            let config = config_from(&[("MESSAGE_MAX_BYTES", raw)]).unwrap();
            assert_eq!(config.rooms.message_max_bytes, bytes, "sent {raw}");
        }
        for raw in ["0", "1048577", "16k", "-1"] {
            let errors = config_from(&[("MESSAGE_MAX_BYTES", raw)]).unwrap_err();
            assert_eq!(errors.0[0].variable, "MESSAGE_MAX_BYTES", "sent {raw}");
        }
    }

    #[test]
    fn rooms_keep_ten_thousand_messages_for_thirty_days_pruned_every_minute_by_default() {
        let config = config_from(&[]).unwrap();
        assert_eq!(
            config.rooms.retention,
            Retention {
                max_messages: NonZeroU64::new(10_000),
                max_age: Some(chrono::TimeDelta::days(30)),
            }
        );
        assert_eq!(config.room_prune_interval, Duration::from_secs(60));
    }

    #[test]
    fn either_retention_limit_may_be_set_or_turned_off() {
        let config = config_from(&[
            ("ROOM_RETENTION_COUNT", "500"),
            ("ROOM_RETENTION_AGE", "off"),
            ("ROOM_PRUNE_INTERVAL", "5s"),
        ])
        .unwrap();
        assert_eq!(config.rooms.retention.max_messages, NonZeroU64::new(500));
        assert_eq!(config.rooms.retention.max_age, None);
        assert_eq!(config.room_prune_interval, Duration::from_secs(5));

        let config = config_from(&[
            ("ROOM_RETENTION_COUNT", "Off"),
            ("ROOM_RETENTION_AGE", "7d"),
        ])
        .unwrap();
        assert_eq!(config.rooms.retention.max_messages, None);
        assert_eq!(
            config.rooms.retention.max_age,
            Some(chrono::TimeDelta::days(7))
        );
    }

    #[test]
    fn a_bad_retention_value_names_its_variable() {
        for (variable, raw) in [
            ("ROOM_RETENTION_COUNT", "0"),
            ("ROOM_RETENTION_COUNT", "many"),
            ("ROOM_RETENTION_AGE", "0"),
            ("ROOM_RETENTION_AGE", "never"),
            ("ROOM_PRUNE_INTERVAL", "off"),
        ] {
            let errors = config_from(&[(variable, raw)]).unwrap_err();
            assert_eq!(errors.0[0].variable, variable, "sent {raw}");
        }
    }
}

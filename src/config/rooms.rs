//! Rooms: how large one message may be.

use application::RoomPolicy;

use super::reader::{Reader, parse_number};

/// The largest `MESSAGE_MAX_BYTES` accepted: 1 MiB. A message travels in one WebSocket
/// frame and is held once per member connection's queue, so larger ones belong in a
/// file store, not a chat message.
const MAX_MESSAGE_MAX_BYTES: usize = 1024 * 1024;

/// Reads the rooms' variables, recording bad values in `reader`.
pub(super) fn read_room_policy(reader: &mut Reader<'_>) -> RoomPolicy {
    let defaults = RoomPolicy::default();
    RoomPolicy {
        message_max_bytes: reader.get(
            "MESSAGE_MAX_BYTES",
            defaults.message_max_bytes,
            parse_number(1, MAX_MESSAGE_MAX_BYTES),
        ),
        ..defaults
    }
}

#[cfg(test)]
mod tests {
    use super::super::config_from;

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
}

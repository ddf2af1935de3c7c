//! The WebSocket side of the adapter: the protocol's frames (SPEC §5, [`protocol`]), the
//! upgrade at `GET /ws` ([`upgrade`]), one task per connection ([`connection`]) and
//! the framing it reads and writes through ([`socket`]).

pub mod connection;
pub mod protocol;
pub mod socket;
pub mod upgrade;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use domain::UserId;

use crate::rate_limit::Budget;

/// The limits and timings of WebSocket connections (`WS_*`; `docs/configuration.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsSettings {
    /// `WS_SEND_QUEUE`: frames held for one connection before it counts as a slow
    /// consumer and is closed with 4009.
    pub send_queue: usize,
    /// `WS_HEARTBEAT_INTERVAL`: how often the server pings; a connection silent for
    /// this long is idle.
    pub heartbeat_interval: Duration,
    /// `WS_HEARTBEAT_TIMEOUT`: a connection silent for this long is closed with 4002.
    pub heartbeat_timeout: Duration,
    /// `WS_MAX_FRAME_BYTES`: the largest text frame taken; larger ones are refused with
    /// `too_large` (and close the connection with 1009 when repeated).
    pub max_frame_bytes: usize,
    /// `MESSAGE_MAX_BYTES`: the largest message body.
    pub message_max_bytes: usize,
    /// `WS_MESSAGE_RATE`: every client frame spends one token of this budget.
    pub message_rate: Budget,
    /// `WS_MAX_CONNECTIONS_PER_USER`: open connections per user; beyond it the
    /// upgrade is refused with 429.
    pub max_connections_per_user: usize,
    /// `RATE_LIMIT_ENABLED`: when `false`, none of the limits above applies (sizes
    /// still do: they protect memory, not fairness).
    pub limits_enabled: bool,
}

impl WsSettings {
    /// 256 frames.
    pub const DEFAULT_SEND_QUEUE: usize = 256;
    /// 15 s.
    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
    /// 45 s.
    pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(45);
    /// 64 KiB.
    pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;
    /// 8 connections: a few devices and tabs.
    pub const DEFAULT_MAX_CONNECTIONS_PER_USER: usize = 8;
    /// 20 frames per 2 s.
    pub const DEFAULT_MESSAGE_RATE: Budget = Budget {
        burst: match std::num::NonZeroU32::new(20) {
            Some(burst) => burst,
            None => std::num::NonZeroU32::MIN,
        },
        period: Duration::from_secs(2),
    };
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            send_queue: Self::DEFAULT_SEND_QUEUE,
            heartbeat_interval: Self::DEFAULT_HEARTBEAT_INTERVAL,
            heartbeat_timeout: Self::DEFAULT_HEARTBEAT_TIMEOUT,
            max_frame_bytes: Self::DEFAULT_MAX_FRAME_BYTES,
            message_max_bytes: domain::DEFAULT_MESSAGE_MAX_BYTES,
            message_rate: Self::DEFAULT_MESSAGE_RATE,
            max_connections_per_user: Self::DEFAULT_MAX_CONNECTIONS_PER_USER,
            limits_enabled: true,
        }
    }
}

/// The WebSocket settings and the count of open connections per user, shared by every
/// worker.
#[derive(Debug, Default)]
pub struct WebSockets {
    settings: WsSettings,
    // A plain mutex, held for one map operation and never across an await.
    open: Mutex<HashMap<UserId, usize>>,
}

impl WebSockets {
    /// No connection open yet.
    #[must_use]
    pub fn new(settings: WsSettings) -> Self {
        Self {
            settings,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &WsSettings {
        &self.settings
    }

    /// A slot for one more connection of `user`, or `None` when they hold their
    /// share already. The slot is given back when dropped.
    #[must_use]
    pub fn admit(self: &Arc<Self>, user: UserId) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user).or_insert(0);
        if self.settings.limits_enabled && *count >= self.settings.max_connections_per_user {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            sockets: Arc::clone(self),
            user,
        })
    }
}

/// One open connection of a user, counted until dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    sockets: Arc<WebSockets>,
    user: UserId,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .sockets
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The guard's own count keeps the entry there while it lives.
        let left = open.get_mut(&self.user).map_or(0, |count| {
            *count = count.saturating_sub(1);
            *count
        });
        if left == 0 {
            open.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn a_user_holds_at_most_their_share_of_connections_and_a_closed_one_frees_its_slot() {
        let sockets = Arc::new(WebSockets::new(WsSettings {
            max_connections_per_user: 2,
            ..WsSettings::default()
        }));
        let first = sockets.admit(user(1));
        let second = sockets.admit(user(1));
        assert!(first.is_some() && second.is_some());
        assert!(sockets.admit(user(1)).is_none(), "a third is refused");
        assert!(
            sockets.admit(user(2)).is_some(),
            "another user has their own share"
        );
        drop(first);
        assert!(
            sockets.admit(user(1)).is_some(),
            "a closed one gave its slot back"
        );
    }

    #[test]
    fn with_limits_off_a_user_may_open_any_number() {
        let sockets = Arc::new(WebSockets::new(WsSettings {
            max_connections_per_user: 1,
            limits_enabled: false,
            ..WsSettings::default()
        }));
        let slots: Vec<_> = (0..5).filter_map(|_| sockets.admit(user(1))).collect();
        assert_eq!(slots.len(), 5);
    }
}

//! The in-process presence registry: the connections open on this instance, per user,
//! in a map behind a mutex.
//!
//! The mutex is held for a few map operations and never across an await, so callers
//! never wait on one another for long. Serves one instance, so it never has departed
//! connections to sweep: they die with it (the cluster's registry is
//! `postgres::PgPresence`).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{AdapterError, PresenceRegistry, PresentUser};
use domain::{ConnectionId, PresenceState, UserId};

/// Each present user's open connections and their states. A user with no connection
/// has no entry, so the map holds only present users.
type Connections = HashMap<UserId, HashMap<ConnectionId, PresenceState>>;

/// Of `users`, those `state_of` finds present, in the order asked, each once: how every
/// registry answers `present_among` once it knows who is present.
pub(crate) fn in_order_asked(
    users: &[UserId],
    state_of: impl Fn(UserId) -> Option<PresenceState>,
) -> Vec<PresentUser> {
    let mut answered = HashSet::with_capacity(users.len());
    users
        .iter()
        .filter(|user| answered.insert(**user))
        .filter_map(|user| {
            Some(PresentUser {
                user: *user,
                state: state_of(*user)?,
            })
        })
        .collect()
}

/// The [`PresenceRegistry`] port within one process.
#[derive(Debug, Default)]
pub struct InProcessPresence {
    connections: Mutex<Connections>,
}

impl InProcessPresence {
    fn connections(&self) -> MutexGuard<'_, Connections> {
        // Every change under the lock is one map operation that cannot panic halfway,
        // so a poisoned map is still a consistent one.
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl PresenceRegistry for InProcessPresence {
    async fn register(&self, user: UserId, connection: ConnectionId) -> Result<bool, AdapterError> {
        let mut connections = self.connections();
        let of_user = connections.entry(user).or_default();
        let first = of_user.is_empty();
        Ok(of_user.insert(connection, PresenceState::Active).is_none() && first)
    }

    async fn unregister(
        &self,
        user: UserId,
        connection: ConnectionId,
    ) -> Result<bool, AdapterError> {
        let mut connections = self.connections();
        let Some(of_user) = connections.get_mut(&user) else {
            return Ok(false);
        };
        if of_user.remove(&connection).is_none() {
            return Ok(false);
        }
        let last = of_user.is_empty();
        if last {
            connections.remove(&user);
        }
        Ok(last)
    }

    async fn set_state(
        &self,
        user: UserId,
        connection: ConnectionId,
        state: PresenceState,
    ) -> Result<(), AdapterError> {
        if let Some(current) = self
            .connections()
            .get_mut(&user)
            .and_then(|of_user| of_user.get_mut(&connection))
        {
            *current = state;
        }
        Ok(())
    }

    async fn present_among(&self, users: &[UserId]) -> Result<Vec<PresentUser>, AdapterError> {
        let connections = self.connections();
        Ok(in_order_asked(users, |user| {
            PresenceState::of_user(connections.get(&user)?.values().copied())
        }))
    }

    fn sweep_interval(&self) -> Option<Duration> {
        None
    }

    async fn sweep_departed(&self) -> Result<Vec<UserId>, AdapterError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn honours_the_presence_registry_contract() {
        test_support::contracts::presence::run(|| async {
            Box::new(InProcessPresence::default()) as Box<dyn PresenceRegistry>
        })
        .await;
    }

    #[tokio::test]
    async fn a_user_whose_last_connection_closed_leaves_nothing_behind() {
        let registry = InProcessPresence::default();
        let ada = UserId::from_uuid(uuid::Uuid::from_u128(0xada));
        let laptop = ConnectionId::from_uuid(uuid::Uuid::from_u128(1));
        registry.register(ada, laptop).await.unwrap();
        registry.unregister(ada, laptop).await.unwrap();

        assert!(registry.connections().is_empty());
    }

    #[tokio::test]
    async fn one_process_has_no_departed_instance_to_sweep_for() {
        // Its connections end with it: nobody is ever left registered by a dead
        // instance, so the server schedules no sweep.
        let registry = InProcessPresence::default();
        assert_eq!(registry.sweep_interval(), None);
        assert_eq!(registry.sweep_departed().await.unwrap(), Vec::new());
    }
}

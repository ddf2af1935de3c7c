//! Counting what each address holds at once (connections, requests in flight), with a
//! slot that gives its place back when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// How many of something each address holds, up to a cap, shared by every worker.
#[derive(Debug)]
pub struct PeerCounts {
    cap: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

impl PeerCounts {
    /// Counts capped at `cap` per address.
    #[must_use]
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for `ip`, or `None` when it already holds `cap`.
    #[must_use]
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        // A panic while the lock was held cannot leave a count half-updated: every
        // critical section is one map operation.
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.get(&ip).copied().unwrap_or(0);
        if count >= self.cap {
            return None;
        }
        held.insert(ip, count + 1);
        Some(PeerSlot {
            counts: Arc::clone(self),
            ip,
        })
    }

    /// How many slots `ip` holds now.
    #[must_use]
    pub fn held_by(&self, ip: IpAddr) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&ip).copied().unwrap_or(0)
    }

    /// How many addresses hold a slot: the map never keeps an address holding none, so
    /// its size is bounded by what is open, not by what was ever seen.
    #[must_use]
    pub fn addresses(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One place held by one address; dropping it gives the place back.
#[derive(Debug)]
pub struct PeerSlot {
    counts: Arc<PeerCounts>,
    ip: IpAddr,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut held = self
            .counts
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The slot's own count keeps the entry there while it lives.
        let left = held.get_mut(&self.ip).map_or(0, |count| {
            *count = count.saturating_sub(1);
            *count
        });
        if left == 0 {
            held.remove(&self.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_cap_and_its_places_back_when_slots_drop() {
        let counts = Arc::new(PeerCounts::new(2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = counts.try_acquire(a).expect("first of two");
        let second = counts.try_acquire(a).expect("second of two");
        assert!(counts.try_acquire(a).is_none(), "a third from one address");
        assert!(
            counts.try_acquire(b).is_some(),
            "another address is not affected"
        );
        assert_eq!(counts.addresses(), 1, "only the first address holds places");
        drop(first);
        let third = counts.try_acquire(a).expect("a place was given back");
        assert_eq!(counts.held_by(a), 2);
        drop((second, third));
        assert_eq!(counts.held_by(a), 0);
        assert_eq!(
            counts.addresses(),
            0,
            "no address is remembered once it holds nothing"
        );
    }
}

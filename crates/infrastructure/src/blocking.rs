//! The door for CPU-heavy work: a bounded lane onto tokio's blocking pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use domain::ports::AdapterError;
use tokio::sync::Semaphore;

/// Runs CPU-bound closures (password hashing) on the blocking pool, at most `capacity`
/// at a time. Up to `max_waiting` further callers wait here, asynchronously, holding no
/// thread; beyond that a call is refused at once with an overloaded [`AdapterError`]. A
/// login storm thus queues (or is shed) in this lane and leaves the async workers, the
/// database and every other route free.
#[derive(Debug, Clone)]
pub struct CpuLane {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// Decrements the waiting count however the wait ends (including cancellation).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CpuLane {
    /// A lane that runs at most `capacity` closures at once (at least one) and lets at
    /// most `max_waiting` more wait for a slot.
    #[must_use]
    pub fn new(capacity: usize, max_waiting: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(capacity.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
        }
    }

    /// Runs `work` on the blocking pool once a slot is free, keeping the caller's
    /// tracing span.
    ///
    /// # Errors
    /// An overloaded [`AdapterError`] when `max_waiting` callers already wait; a plain
    /// one when the work panicked or the runtime is shutting down.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AdapterError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(AdapterError::overloaded("password hashing is saturated"));
                }
                let _waiting = Waiting(&self.waiting);
                Arc::clone(&self.permits)
                    .acquire_owned()
                    .await
                    .map_err(|closed| AdapterError::new("cpu lane closed", closed))?
            }
        };
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await
        .map_err(|join| AdapterError::new("blocking task failed", join))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn runs_work_and_returns_its_value() {
        let lane = CpuLane::new(0, 0);
        assert_eq!(lane.run(|| 6 * 7).await.ok(), Some(42));
    }

    #[tokio::test]
    async fn a_panicking_task_becomes_an_error() {
        let lane = CpuLane::new(1, 0);
        let outcome = lane.run(|| -> u8 { panic!("boom") }).await;
        assert!(outcome.is_err_and(|error| !error.is_overloaded()));
        // The slot is released: the lane still works.
        assert_eq!(lane.run(|| 1).await.ok(), Some(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_queue_bound_work_is_refused_at_once() {
        let lane = CpuLane::new(1, 1);
        let (release, blocked) = mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        // One task holds the only slot until released.
        let busy = {
            let lane = lane.clone();
            tokio::spawn(async move {
                lane.run(move || {
                    let _ = started_tx.send(());
                    blocked.recv().ok()
                })
                .await
            })
        };
        started.await.unwrap();
        // One caller may wait...
        let queued = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.run(|| 2).await })
        };
        while lane.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        // ...the next is shed.
        let shed = lane.run(|| 3).await;
        assert!(shed.is_err_and(|error| error.is_overloaded()));

        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap().ok(), Some(2));
        assert_eq!(lane.waiting.load(Ordering::Acquire), 0);
    }
}

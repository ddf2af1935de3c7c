//! The door for CPU-heavy work: a bounded lane onto tokio's blocking pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use domain::ports::AdapterError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
        let permit = self.slot().await?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await
        .map_err(|join| AdapterError::new("blocking task failed", join))
    }

    /// A slot on the lane: at once when one is free; otherwise after waiting for one,
    /// unless `max_waiting` callers already wait.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, AdapterError> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(AdapterError::overloaded("password hashing is saturated"));
        }
        let _waiting = Waiting(&self.waiting);
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|closed| AdapterError::new("cpu lane closed", closed))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use futures_util::FutureExt as _;

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

    /// A lane whose only slot is taken until the returned sender is used or dropped,
    /// and the task holding it.
    async fn busy_lane(
        max_waiting: usize,
    ) -> (
        CpuLane,
        mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<Option<()>, AdapterError>>,
    ) {
        let lane = CpuLane::new(1, max_waiting);
        let (release, blocked) = mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
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
        (lane, release, busy)
    }

    #[tokio::test]
    async fn beyond_the_queue_bound_work_is_refused_at_once() {
        let (lane, release, busy) = busy_lane(1).await;
        // One caller may wait: polled once, it takes its place in the queue...
        let mut queued = Box::pin(lane.run(|| 2));
        assert!(
            (&mut queued).now_or_never().is_none(),
            "the second caller waits for the slot"
        );
        // ...the next is shed.
        let shed = lane.run(|| 3).await;
        assert!(shed.is_err_and(|error| error.is_overloaded()));

        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert_eq!(queued.await.ok(), Some(2));
        assert_eq!(lane.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_gives_its_place_in_the_queue_back() {
        let (lane, release, busy) = busy_lane(1).await;
        let mut gave_up = Box::pin(lane.run(|| 2));
        assert!((&mut gave_up).now_or_never().is_none(), "it waits");
        drop(gave_up);
        // Its place is free again: the next caller waits instead of being shed.
        let mut queued = Box::pin(lane.run(|| 3));
        assert!(
            (&mut queued).now_or_never().is_none(),
            "the next caller waits"
        );

        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert_eq!(queued.await.ok(), Some(3));
    }
}

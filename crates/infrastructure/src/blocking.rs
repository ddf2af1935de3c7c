//! The door for CPU-heavy work: a bounded lane onto tokio's blocking pool.

use std::sync::Arc;

use domain::ports::AdapterError;
use tokio::sync::Semaphore;

/// Runs CPU-bound closures (password hashing) on the blocking pool, at most `capacity`
/// at a time. Callers beyond that wait here, asynchronously, holding no thread: a login
/// storm queues in this lane and leaves the async workers and the database free.
#[derive(Debug, Clone)]
pub struct CpuLane {
    permits: Arc<Semaphore>,
}

impl CpuLane {
    /// A lane that runs at most `capacity` closures at once (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(capacity.max(1))),
        }
    }

    /// Runs `work` on the blocking pool once a slot is free, keeping the caller's
    /// tracing span.
    ///
    /// # Errors
    /// [`AdapterError`] when the work panicked or the runtime is shutting down.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AdapterError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|closed| AdapterError::new("cpu lane closed", closed))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|join| AdapterError::new("blocking task failed", join))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_returns_its_value() {
        let lane = CpuLane::new(0);
        assert_eq!(lane.run(|| 6 * 7).await.ok(), Some(42));
    }

    #[tokio::test]
    async fn a_panicking_task_becomes_an_error() {
        let lane = CpuLane::new(1);
        let outcome = lane.run(|| -> u8 { panic!("boom") }).await;
        assert!(outcome.is_err());
        // The slot is released: the lane still works.
        assert_eq!(lane.run(|| 1).await.ok(), Some(1));
    }
}

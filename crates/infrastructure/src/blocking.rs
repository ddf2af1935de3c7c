//! The door for CPU-heavy work: a bounded lane onto threads of its own, which run on the
//! CPU time the threads answering requests leave (and a minimal share besides).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use domain::ports::AdapterError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Where the lane's threads cannot run under `SCHED_IDLE` (systems other than Linux),
/// how much lower they run than the rest of the process, as a nice increment.
#[cfg(all(unix, not(target_os = "linux")))]
const LANE_NICENESS: i32 = 10;

/// Runs CPU-bound closures (password hashing) on threads of its own, at most `capacity`
/// at a time. Up to `max_waiting` further callers wait here, asynchronously, holding no
/// thread; beyond that a call is refused at once with an overloaded [`AdapterError`]. A
/// login storm thus queues (or is shed) in this lane and leaves the async workers, the
/// database and every other route free. The threads start on first use, one per slot,
/// below every other thread ([`lower_priority`]), and stop when the last clone of the
/// lane is dropped.
#[derive(Debug, Clone)]
pub struct CpuLane {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    threads: Arc<LaneThreads>,
}

/// A closure handed to a lane thread.
type Job = Box<dyn FnOnce() + Send>;

/// The lane's threads: started on demand up to one per slot, all taking jobs from one
/// queue. The semaphore admits at most one job per thread, so the queue never holds
/// more than `capacity` jobs.
#[derive(Debug)]
struct LaneThreads {
    capacity: usize,
    started: AtomicUsize,
    jobs: mpsc::Sender<Job>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
}

impl LaneThreads {
    fn new(capacity: usize) -> Self {
        let (jobs, queue) = mpsc::channel();
        Self {
            capacity,
            started: AtomicUsize::new(0),
            jobs,
            queue: Arc::new(Mutex::new(queue)),
        }
    }

    /// Starts one more thread unless every slot has one already.
    fn ensure_started(&self) -> Result<(), AdapterError> {
        // Claims a slot; when two callers race for the last one, `fetch_update` retries
        // the loser, who then finds every slot taken.
        let claimed = self
            .started
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |started| {
                (started < self.capacity).then_some(started + 1)
            });
        let Ok(started) = claimed else {
            return Ok(());
        };
        let queue = Arc::clone(&self.queue);
        std::thread::Builder::new()
            .name(format!("cpu-lane-{started}"))
            .spawn(move || serve(&queue))
            .map(drop)
            .map_err(|error| {
                // coverage: excluded-begin: needs the process's thread limit exhausted
                self.started.fetch_sub(1, Ordering::AcqRel);
                AdapterError::new("starting a cpu lane thread failed", error)
            }) // coverage: excluded-end
    }
}

/// A lane thread: lowers its priority, then runs jobs until the lane is dropped.
fn serve(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        // The lock is held only to take a job, never while one runs.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// Puts the calling thread below every other: on Linux under `SCHED_IDLE`, so that it
/// runs on CPU time no other thread of the system wants (and a minimal share besides),
/// and a thread answering requests that wakes takes its core at once. At nice +10, a login flood's hashes still
/// took enough of that time to triple the reads' p99 (`docs/benchmarks.md`, the flood);
/// with cores to spare the hashes still get all of them. Lowering a thread's priority
/// needs no privilege, so it does not fail; were it to, the lane would still work, at
/// the same priority as the rest.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    let _ = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        thread_priority::ThreadPriority::Min,
        thread_priority::ThreadSchedulePolicy::Normal(
            thread_priority::NormalThreadSchedulePolicy::Idle,
        ),
    );
    #[cfg(all(unix, not(target_os = "linux")))]
    let _ = rustix::process::nice(LANE_NICENESS);
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
        let capacity = capacity.max(1);
        Self {
            permits: Arc::new(Semaphore::new(capacity)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            threads: Arc::new(LaneThreads::new(capacity)),
        }
    }

    /// Runs `work` on a lane thread once a slot is free, keeping the caller's tracing
    /// span.
    ///
    /// # Errors
    /// An overloaded [`AdapterError`] when `max_waiting` callers already wait; a plain
    /// one when the work panicked or no lane thread could be started.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AdapterError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.slot().await?;
        self.threads.ensure_started()?;
        let span = tracing::Span::current();
        let (done, outcome) = oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| span.in_scope(work)));
            // The slot is free before the caller hears back, so it can run again at once.
            drop(permit);
            let _ = done.send(outcome.ok());
        });
        // The lane holds the queue's receiver, so the send cannot fail; were the job
        // dropped unrun, the caller would hear of it below all the same.
        let _ = self.threads.jobs.send(job);
        match outcome.await {
            Ok(Some(value)) => Ok(value),
            Ok(None) | Err(_) => Err(AdapterError::new(
                "blocking task failed",
                "the work panicked",
            )),
        }
    }

    /// Whether [`run`](Self::run), called now, would be refused: every slot busy and
    /// `max_waiting` callers waiting already.
    #[must_use]
    pub fn is_saturated(&self) -> bool {
        self.permits.available_permits() == 0
            && self.waiting.load(Ordering::Acquire) >= self.max_waiting
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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn work_runs_only_on_cpu_time_no_other_thread_wants() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};

        let lane = CpuLane::new(1, 0);
        let policy = || thread_priority::thread_schedule_policy().unwrap();
        let worker = lane.run(policy).await.unwrap();
        assert_eq!(
            worker,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
        assert_eq!(
            policy(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
            "the caller's thread is left as it was"
        );
    }

    #[tokio::test]
    async fn a_lane_starts_one_thread_per_slot_at_most() {
        let lane = CpuLane::new(2, 8);
        let names: std::collections::HashSet<String> =
            futures_util::future::join_all((0..8).map(|_| {
                lane.run(|| std::thread::current().name().unwrap_or_default().to_owned())
            }))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert!(!names.is_empty() && names.len() <= 2, "{names:?}");
        assert_eq!(
            lane.threads.started.load(Ordering::Acquire),
            2,
            "one thread per slot, once every slot has been asked for"
        );
        assert!(
            names.iter().all(|name| name.starts_with("cpu-lane-")),
            "{names:?}"
        );
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
    async fn a_lane_is_saturated_exactly_while_it_would_refuse() {
        let idle = CpuLane::new(1, 0);
        assert!(!idle.is_saturated());
        let (busy, release, held) = busy_lane(0).await;
        assert!(
            busy.is_saturated(),
            "its one slot is taken and none may wait"
        );
        let (roomy, roomy_release, roomy_held) = busy_lane(1).await;
        assert!(!roomy.is_saturated(), "a caller may still wait");
        release.send(()).unwrap();
        roomy_release.send(()).unwrap();
        held.await.unwrap().unwrap();
        roomy_held.await.unwrap().unwrap();
        assert!(!busy.is_saturated(), "the slot is free again");
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

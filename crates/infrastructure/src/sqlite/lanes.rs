//! The database's own threads: a [`Lane`] is a few threads, each owning one SQLite
//! connection for its whole life, that take jobs from one bounded queue.
//!
//! Why not tokio's blocking pool and a connection pool: a lookup by key takes SQLite a
//! few microseconds, while `spawn_blocking` plus a pool checkout cost a wake-up of a
//! pool thread per query (its queue's lock and condition variable), the pool's own lock
//! and condition variable, and a semaphore, so a profile of `GET /users/me` spent about
//! 40 % of the server's samples in the kernel switching threads (`docs/benchmarks.md`).
//! Here a thread that finishes a job takes the next one without sleeping, a sleeping
//! thread is woken only when the queue outgrows what the threads between jobs drain
//! ([`JOBS_PER_AWAKE_THREAD`]), and no thread ever waits for a connection: it has one.
//! Callers still never block: they wait asynchronously for room in the queue and for
//! the answer.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use diesel::sqlite::SqliteConnection;
use tokio::sync::{Semaphore, oneshot};

/// A job: what a caller wants done with a connection; it sends its own answer.
type Job = Box<dyn FnOnce(&mut SqliteConnection) + Send>;

/// Opens a connection for a thread whose connection can no longer be trusted (a job
/// panicked, perhaps inside a transaction).
pub(super) type Reconnect =
    Arc<dyn Fn() -> Result<SqliteConnection, super::ConnectError> + Send + Sync>;

/// How many jobs may wait per thread looking for work (awake, between jobs) before
/// another thread is woken. A cached lookup takes about 5–10 µs, so a job waits at most
/// a few tens of microseconds behind its queue, far less than the wake-up it saves (a
/// futex call and a context switch on each side). A thread inside a job is not counted:
/// the job may be long (a page of history, a thousand members' names), and the jobs
/// behind it must not wait for it while another thread sleeps.
const JOBS_PER_AWAKE_THREAD: usize = 4;

/// How many jobs per thread may be queued or running; callers past that wait
/// (asynchronously) for room. Bounded, so that a burst cannot grow memory without limit.
const QUEUED_PER_THREAD: usize = 32;

/// The job ended without an answer: it panicked, or the lane has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the database thread gave no answer (the job panicked or the database is closed)")]
pub(crate) struct NoAnswer;

/// Threads owning one connection each, fed by one bounded queue. Dropping the lane
/// stops its threads once the queued jobs are done.
pub(super) struct Lane {
    shared: Arc<Shared>,
    room: Arc<Semaphore>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Threads still running (not ended after a failed reconnect).
    threads: usize,
    /// Threads not waiting for work: running a job, looking for one, or woken and on
    /// their way.
    awake: usize,
    /// Of the awake threads, those inside a job (which may be a long one).
    running: usize,
    /// Threads waiting for work (woken ones included until they leave the wait).
    idle: usize,
    /// Wake-ups given and not yet taken by a waiting thread.
    notified: usize,
    closed: bool,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Lane")
            .field("threads", &state.threads)
            .field("queued", &state.jobs.len())
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The lock is never held while a job runs, so a panic cannot leave the state
    // half-changed.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lane {
    /// Starts one thread per connection, named `name-N`.
    pub(super) fn start(
        name: &str,
        connections: Vec<SqliteConnection>,
        reconnect: &Reconnect,
    ) -> std::io::Result<Self> {
        let threads = connections.len();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                threads,
                awake: threads,
                ..State::default()
            }),
            wake: Condvar::new(),
        });
        let lane = Self {
            shared: Arc::clone(&shared),
            room: Arc::new(Semaphore::new(QUEUED_PER_THREAD * threads.max(1))),
        };
        for (number, connection) in connections.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let reconnect = Arc::clone(reconnect);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{number}"))
                .spawn(move || work(&shared, connection, &reconnect));
            if let Err(error) = spawned {
                // coverage: excluded-begin: needs the process's thread limit exhausted
                // Dropping the lane stops the threads already started.
                lock(&lane.shared.state).threads = number;
                return Err(error); // coverage: excluded-end
            }
        }
        Ok(lane)
    }

    /// Runs `job` with one of the lane's connections and returns its answer, waiting
    /// asynchronously for room in the queue and for the answer.
    pub(super) async fn run<T, F>(&self, job: F) -> Result<T, NoAnswer>
    where
        F: FnOnce(&mut SqliteConnection) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.room)
            .acquire_owned()
            .await
            .map_err(|_| NoAnswer)?;
        let (reply, answer) = oneshot::channel();
        self.push(Box::new(move |connection| {
            let answer = job(connection);
            drop(permit);
            // The caller may have gone (its request was cancelled): nobody to tell.
            let _ = reply.send(answer);
        }));
        answer.await.map_err(|_| NoAnswer)
    }

    fn push(&self, job: Job) {
        let mut state = lock(&self.shared.state);
        if state.closed {
            // Dropped unrun: the caller's answer channel closes and it hears NoAnswer.
            return;
        }
        state.jobs.push_back(job);
        let looking = state.awake - state.running;
        if state.idle > state.notified && state.jobs.len() > looking * JOBS_PER_AWAKE_THREAD {
            state.notified += 1;
            state.awake += 1;
            drop(state);
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.room.close();
        self.shared.wake.notify_all();
    }
}

/// A thread's life: take the next job, or sleep until woken; after the lane is dropped,
/// finish the queue and end.
fn work(shared: &Shared, mut connection: SqliteConnection, reconnect: &Reconnect) {
    let mut state = lock(&shared.state);
    loop {
        if let Some(job) = state.jobs.pop_front() {
            state.running += 1;
            drop(state);
            if catch_unwind(AssertUnwindSafe(|| job(&mut connection))).is_err() {
                // The job may have left a transaction open, which diesel would then
                // nest into: the connection is replaced, as a pool discards one
                // returned by a panicking thread.
                match reconnect() {
                    Ok(fresh) => connection = fresh,
                    Err(error) => {
                        tracing::error!(
                            error.cause_chain = ?error,
                            "a database thread cannot reconnect after a panic and ends"
                        );
                        let mut state = lock(&shared.state);
                        state.running -= 1;
                        end_thread(shared, state);
                        return;
                    }
                }
            }
            state = lock(&shared.state);
            state.running -= 1;
            continue;
        }
        if state.closed {
            state.awake -= 1;
            state.threads -= 1;
            return;
        }
        state.awake -= 1;
        state.idle += 1;
        // A wake-up with no job and no close (spurious, or a notification another thread
        // took first) sleeps again inside `wait_while`; a job is taken before a close.
        state = shared
            .wake
            .wait_while(state, |state| state.notified == 0 && !state.closed)
            .unwrap_or_else(PoisonError::into_inner);
        let notified = state.notified > 0;
        if notified {
            state.notified -= 1;
        }
        state.idle -= 1;
        if !notified {
            state.awake += 1;
        }
    }
}

/// Accounts for a thread that ends early; the last one to end turns callers away
/// rather than leave them waiting, and otherwise queued jobs still find a thread.
fn end_thread(shared: &Shared, mut state: MutexGuard<'_, State>) {
    state.awake -= 1;
    state.threads -= 1;
    if state.threads == 0 {
        state.closed = true;
        // Their answer channels close: each caller hears NoAnswer.
        state.jobs.clear();
    } else if !state.jobs.is_empty() && state.awake == 0 && state.idle > state.notified {
        state.notified += 1;
        state.awake += 1;
        drop(state);
        shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use diesel::connection::SimpleConnection as _;

    use super::*;
    use crate::sqlite::{Synchronous, connect};

    /// A lane of `threads` connections to a fresh file, and the folder keeping it.
    fn lane(threads: usize) -> (Lane, tempfile::TempDir) {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("lane.db");
        let reconnect: Reconnect = Arc::new(move || connect(&path, Synchronous::Normal));
        let connections = (0..threads).map(|_| reconnect().unwrap()).collect();
        (
            Lane::start("test-lane", connections, &reconnect).unwrap(),
            folder,
        )
    }

    /// Polls `future` once, as an executor would on its first turn.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_job_of_a_burst_is_answered_once() {
        let (lane, _folder) = lane(2);
        let lane = Arc::new(lane);
        let callers: Vec<_> = (0..2_000_u32)
            .map(|number| {
                let lane = Arc::clone(&lane);
                tokio::spawn(async move {
                    lane.run(move |connection| {
                        connection.batch_execute("SELECT 1").map(|()| number)
                    })
                    .await
                })
            })
            .collect();
        for (number, caller) in (0_u32..).zip(callers) {
            let answer = tokio::time::timeout(Duration::from_secs(30), caller)
                .await
                .expect("answered within 30 s")
                .unwrap();
            assert_eq!(answer.unwrap().unwrap(), number);
        }
    }

    #[tokio::test]
    async fn a_job_that_panics_gets_no_answer_and_its_thread_goes_on_with_a_new_connection() {
        let (lane, _folder) = lane(1);
        lane.run(|connection| connection.batch_execute("CREATE TEMP TABLE marker (x)"))
            .await
            .unwrap()
            .unwrap();

        let panicked = lane
            .run(|connection| {
                connection.batch_execute("BEGIN").unwrap();
                panic!("a bug inside a transaction");
            })
            .await;

        assert!(panicked.is_err());
        // The same thread answers, on a connection without the first one's temporary
        // table or open transaction.
        let fresh = lane
            .run(|connection| connection.batch_execute("SELECT x FROM marker"))
            .await
            .unwrap();
        assert!(fresh.is_err(), "the connection of the panic was kept");
        lane.run(|connection| connection.batch_execute("BEGIN; COMMIT;"))
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_job_does_not_hold_up_the_jobs_behind_it() {
        let (lane, _folder) = lane(2);
        let lane = Arc::new(lane);
        let (started, has_started) = oneshot::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let long = {
            let lane = Arc::clone(&lane);
            tokio::spawn(async move {
                lane.run(move |_| {
                    let _ = started.send(());
                    released.recv().is_ok()
                })
                .await
            })
        };
        has_started.await.unwrap();

        let short = tokio::time::timeout(Duration::from_secs(10), lane.run(|_| 1)).await;

        assert_eq!(short.expect("answered while the long job ran").unwrap(), 1);
        release.send(()).unwrap();
        assert!(long.await.unwrap().unwrap());
    }

    #[test]
    fn the_queue_is_bounded_and_callers_past_it_wait_for_room() {
        let (lane, _folder) = lane(1);
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Mutex::new(released);
        // The thread is held in this job until the test lets it go.
        let mut held = pin!(lane.run(move |_| released.lock().unwrap().recv().is_ok()));
        assert!(poll_once(held.as_mut()).is_pending());
        let mut queued: Vec<_> = (1..QUEUED_PER_THREAD)
            .map(|_| Box::pin(lane.run(|_| true)))
            .collect();
        for caller in &mut queued {
            assert!(poll_once(caller.as_mut()).is_pending());
        }
        let mut waiting = pin!(lane.run(|_| true));

        assert!(poll_once(waiting.as_mut()).is_pending());

        // The held job running or about to, the others queued; the last caller waits
        // outside the queue.
        let in_queue = lock(&lane.shared.state).jobs.len();
        assert!(in_queue <= QUEUED_PER_THREAD, "{in_queue} jobs queued");
        assert_eq!(lane.room.available_permits(), 0);
        release.send(()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert!(held.await.unwrap());
            for caller in queued {
                assert!(caller.await.unwrap());
            }
            assert!(waiting.await.unwrap());
        });
    }

    #[tokio::test]
    async fn when_the_last_thread_cannot_reconnect_later_callers_hear_no_answer_at_once() {
        let folder = tempfile::tempdir().unwrap();
        let connection = connect(&folder.path().join("lane.db"), Synchronous::Normal).unwrap();
        // The thread holds the way to reconnect until it ends; then this sender goes.
        let (alive, ended) = std::sync::mpsc::channel::<()>();
        let reconnect: Reconnect = Arc::new(move || {
            let _alive = &alive;
            Err(super::super::ConnectError::Open(
                diesel::ConnectionError::BadConnection("the disk is gone".to_owned()),
            ))
        });
        let lane = Lane::start("test-lane", vec![connection], &reconnect).unwrap();
        drop(reconnect);

        let panicked = lane.run(|_| -> u8 { panic!("a bug") }).await;

        assert!(panicked.is_err());
        assert_eq!(
            ended.recv_timeout(Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
            "the thread could not reconnect and ended"
        );
        // Rather than queue for a thread that will never come, the next caller is
        // answered at once.
        assert!(
            lane.run(|_| 1).await.is_err(),
            "a job was queued on no thread"
        );
        assert!(format!("{lane:?}").contains("threads: 0"), "{lane:?}");
    }

    #[test]
    fn a_thread_that_ends_wakes_a_sleeping_one_only_for_jobs_nobody_else_takes() {
        // Two threads and a queued job; the one ending was awake. The other sleeps (and
        // is woken for the job) or is awake too (and takes it without a wake-up).
        for (other_sleeps, woken) in [(true, 1), (false, 0)] {
            let shared = Shared {
                state: Mutex::new(State {
                    threads: 2,
                    awake: if other_sleeps { 1 } else { 2 },
                    idle: usize::from(other_sleeps),
                    ..State::default()
                }),
                wake: Condvar::new(),
            };
            lock(&shared.state).jobs.push_back(Box::new(|_| {}));

            end_thread(&shared, lock(&shared.state));

            let state = lock(&shared.state);
            let story = if other_sleeps { "asleep" } else { "awake" };
            assert_eq!(state.threads, 1, "the other {story}");
            assert_eq!(state.notified, woken, "the other {story}: wake-ups");
            assert_eq!(state.awake, 1, "the other {story}: awake, or on its way");
            assert!(!state.closed, "the other {story}");
            assert_eq!(
                state.jobs.len(),
                1,
                "the other {story}: the job waits for it"
            );
        }
    }

    #[tokio::test]
    async fn dropping_the_lane_ends_its_threads() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("lane.db");
        // Each thread holds the way to reconnect until it ends; the last to end drops
        // this sender, which the test hears.
        let (alive, ended) = std::sync::mpsc::channel::<()>();
        let reconnect: Reconnect = Arc::new(move || {
            let _alive = &alive;
            connect(&path, Synchronous::Normal)
        });
        let connections = (0..2).map(|_| reconnect().unwrap()).collect();
        let lane = Lane::start("test-lane", connections, &reconnect).unwrap();
        drop(reconnect);
        let shared = Arc::clone(&lane.shared);
        assert_eq!(lane.run(|_| 7).await.unwrap(), 7);

        drop(lane);

        assert_eq!(
            ended.recv_timeout(Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
            "the lane's threads ended"
        );
        assert_eq!(lock(&shared.state).threads, 0);
    }
}

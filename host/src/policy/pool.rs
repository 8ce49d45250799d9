//! The evaluation pool: decisions run on a few threads of their own, never on the async
//! runtime's workers, behind a bounded queue (as Kubewarden's policy-server does).
//!
//! A decision is synchronous wasm (and the synchronous WASI bindings, whose calls block their
//! thread): on an async worker it would stall every other task of that worker, and WASI's
//! blocking calls cannot run there at all. Here a slow module takes one pool thread for at most
//! its deadline, while the runtime keeps answering `/healthz`, other requests and timers. When
//! every thread is busy and the queue is full, a decision is refused at once ([`Error::Busy`],
//! never an allow) rather than waiting without bound.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// Why a job did not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Every thread is busy and the queue is full.
    #[error(
        "policy evaluation is at capacity ({waiting} decisions waiting for {threads} threads); \
         retry later"
    )]
    Busy {
        /// The queue limit.
        waiting: usize,
        /// The pool's threads.
        threads: usize,
    },
    /// The job panicked (a defect: decisions fail closed instead of panicking).
    #[error("policy evaluation failed unexpectedly")]
    Lost,
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads running jobs from a bounded queue. Dropping the pool lets its
/// threads finish the queued jobs and end.
#[derive(Debug)]
pub struct EvaluationPool {
    queue: SyncSender<Job>,
    threads: usize,
    waiting: usize,
}

impl EvaluationPool {
    /// The number of threads a pool gets by default: one per core.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
    }

    /// How many jobs may wait by default: enough for a burst of 256 concurrent clients with
    /// room to spare, few enough that a queued decision waits seconds, not minutes, behind
    /// slow modules.
    pub const DEFAULT_WAITING: usize = 512;

    /// A pool of `threads` threads (at least one) and a queue of at most `waiting` jobs.
    pub fn new(threads: usize, waiting: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (queue, jobs) = std::sync::mpsc::sync_channel::<Job>(waiting);
        let jobs = Arc::new(Mutex::new(jobs));
        for index in 0..threads {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("wicket-policy-{index}"))
                .spawn(move || work(&jobs))?;
        }
        Ok(Self {
            queue,
            threads,
            waiting,
        })
    }

    /// Queues `job` for a pool thread now (or refuses it at once when the queue is full); the
    /// future resolves to its result.
    pub fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> impl Future<Output = Result<R, Error>> + Send + 'static {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (a dropped connection): nobody to tell.
            let _ = done.send(job());
        });
        let queued = match self.queue.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::Busy {
                waiting: self.waiting,
                threads: self.threads,
            }),
            Err(TrySendError::Disconnected(_)) => Err(Error::Lost),
        };
        async move {
            queued?;
            result.await.map_err(|_| Error::Lost)
        }
    }
}

/// A pool thread: runs jobs until the pool is dropped. A panicking job is contained (its
/// caller sees [`Error::Lost`]) and the thread goes on.
fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a policy evaluation panicked; it was refused");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use super::*;

    #[tokio::test]
    async fn runs_jobs_off_the_runtime_and_refuses_when_the_queue_is_full() {
        let pool = EvaluationPool::new(1, 1).expect("a pool");
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await;
        assert_eq!(name, Ok(Some("wicket-policy-0".to_owned())));

        // One job holds the only thread, one waits in the queue: a third is refused at once.
        let (started, has_started) = channel();
        let (release, released) = channel::<()>();
        let holding = pool.run(move || {
            started.send(()).expect("the test waits");
            released.recv().expect("the test releases");
            1
        });
        has_started.recv().expect("the first job started");
        let waiting = pool.run(|| 2);
        assert_eq!(
            pool.run(|| 3).await,
            Err(Error::Busy {
                waiting: 1,
                threads: 1
            })
        );
        release.send(()).expect("the job waits");
        assert_eq!(holding.await, Ok(1));
        assert_eq!(waiting.await, Ok(2));
    }

    #[tokio::test]
    async fn a_panicking_job_is_lost_and_the_thread_goes_on() {
        let pool = EvaluationPool::new(1, 4).expect("a pool");
        let panicked = pool.run(|| -> u8 { panic!("a defect") }).await;
        assert_eq!(panicked, Err(Error::Lost));
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }
}

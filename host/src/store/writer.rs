//! The single writer and its group commit.
//!
//! Every change goes through the one write connection, a synchronous SQLite connection
//! (rusqlite) behind a lock. A caller queues a job (the statements of one change, as a closure
//! over a [`Tx`]) and then tries to take the lock: whoever gets it is the *leader* and runs
//! every job that is waiting (up to [`MAX_BATCH`] per transaction, its own included) in ONE
//! `BEGIN IMMEDIATE` transaction, commits once, and only then answers each caller; the others
//! wait for their answer. So a lone write runs on its caller's thread with no hand-over at
//! all (on this project's 2-core VM each thread wake-up costs ~100 µs, which is what made a
//! write through sqlx's worker thread cost 600 µs), and under concurrent load one commit
//! carries many changes, while writers never queue on SQLite's busy handler behind each other.
//!
//! - When a batch holds more than one job, each runs under its own `SAVEPOINT`: a job that fails
//!   (or panics) is rolled back to it and answered with its own error, and the others are
//!   committed. A lone job that fails rolls back the transaction.
//! - The audit chain's head is read when the batch begins and carried from job to job
//!   (`Tx::chain` and `Tx::append` in `audit_log.rs` move it); a job rolled back to its
//!   savepoint gives the head back. The events of a batch are thus chained in the order its
//!   jobs ran, and those of one job in the order it appended them.
//! - If the transaction itself fails (`BEGIN`, a savepoint, `COMMIT`), every job of the batch
//!   gets the error and nothing of the batch is stored.
//! - A caller is answered only after the commit, so an answered change is in the WAL and
//!   survives a crash of the process. A caller that stops waiting does not cancel its job.
//! - The leader never blocks its thread on another process's lock: it tries `BEGIN IMMEDIATE`
//!   without waiting, and when the database is locked by someone else (a second replica, an
//!   operator's `sqlite3` shell) it hands the batch to a blocking thread, which waits with the
//!   busy timeout while async tasks carry on.
//! - A leader runs at most [`LEAD_BATCHES`] batches for others before it hands what is still
//!   waiting to a blocking thread and goes back to its own caller.
//! - The write connection does not checkpoint the WAL itself (`wal_autocheckpoint=0`), which
//!   would stall the batch that crosses the threshold: every [`CHECKPOINT_EVERY`] commits the
//!   writer asks a checkpoint thread, with a connection of its own, to run a `PASSIVE`
//!   checkpoint beside the writer. A thread rather than a task, so checkpoints run even when
//!   no task ever yields to the runtime (every write answered inline).
//! - A passive checkpoint never lets the WAL start over while writes keep coming: the writer
//!   restarts it from its first frame only when every frame was copied back before its next
//!   transaction, and under sustained writes a new commit always lands first, so the WAL grew
//!   by every commit, without end (27 MB after seconds of a benchmark), and every commit
//!   extended the file. When a passive checkpoint leaves more than [`RESTART_FRAMES`] frames
//!   in the WAL, the checkpoint thread runs a `RESTART` one: it takes the write lock (writes
//!   arriving meanwhile wait on a blocking thread, as for any other lock holder), copies the
//!   few frames left and makes the next commit start the WAL over; the WAL is then truncated
//!   to [`super::WAL_SIZE_LIMIT`] if it was longer. It waits at most [`RESTART_WAIT`] for a
//!   reader of older frames, since writers wait as long.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension};
use tokio::sync::oneshot;

use super::{Error, Result};
use crate::audit::chain::GENESIS_HASH;

/// The most jobs one transaction carries.
const MAX_BATCH: usize = 256;

/// Batches a leader runs before it hands the rest to a blocking thread.
const LEAD_BATCHES: usize = 4;

/// Commits between two WAL checkpoints.
const CHECKPOINT_EVERY: u32 = 128;

/// WAL frames (pages) a passive checkpoint may leave before the WAL is restarted: ~64 MiB.
/// A restart holds the write lock through two `fsync`s, a stall of milliseconds for the
/// writes that arrive meanwhile, so it is rare (every ~5000 commits of a denied request under
/// sustained load); a WAL that starts over is then overwritten in place, in pages the kernel
/// already holds, which is cheaper than extending the file.
const RESTART_FRAMES: i64 = 16 << 10;

/// How long a `RESTART` checkpoint waits for the write lock and then for readers of older
/// frames to finish. It holds the write lock while it waits for readers, so a long read (an
/// audit export) would stall every write for as long: it gives up instead, after at most this,
/// having copied what it could, and the next checkpoint tries again.
pub(super) const RESTART_WAIT: Duration = Duration::from_millis(200);

/// How long a blocking leader waits for another process's write lock.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The newest event of the audit chain, as the open transaction sees it.
#[derive(Debug, Clone)]
pub(super) struct Head {
    /// Its sequence number (0 before the first event).
    pub seq: i64,
    /// Its hash ([`GENESIS_HASH`] before the first event).
    pub hash: String,
}

/// The open write transaction, as a job sees it.
#[derive(Debug)]
pub(super) struct Tx {
    /// The write connection, inside the batch's transaction.
    pub conn: Connection,
    /// The audit chain's head, moved by every append.
    pub head: Head,
}

/// A job with its caller's answer channel, its result type erased.
trait Job: Send {
    /// Runs the job's statements in the open transaction; whether they are to be kept, and
    /// how to answer the caller once the batch's fate is known.
    fn run(self: Box<Self>, tx: &mut Tx) -> Ran;
    /// Answers the caller with `error` without running the job.
    fn refuse(self: Box<Self>, error: Error);
}

/// What a job left behind for the end of its batch.
struct Ran {
    /// Whether its changes are to be committed.
    kept: bool,
    /// Answers its caller with the batch's fate.
    answer: Box<dyn FnOnce(Result<(), Arc<rusqlite::Error>>) + Send>,
}

struct Pending<T, F> {
    work: F,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut Tx) -> Ran {
        let Self { work, reply } = *self;
        // A panicking job is a failed job: rolled back and answered, the writer carries on.
        let outcome =
            catch_unwind(AssertUnwindSafe(|| work(tx))).unwrap_or_else(|_| Err(Error::Panicked));
        Ran {
            kept: outcome.is_ok(),
            answer: Box::new(move |fate| {
                let answer = outcome.and_then(|value| fate.map(|()| value).map_err(Error::Write));
                // A caller that stopped waiting needs no answer.
                let _ = reply.send(answer);
            }),
        }
    }

    fn refuse(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Err(error));
    }
}

/// How much the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions the writer ran or is running (each carrying one or more writes).
    pub batches: u64,
    /// Writes it ran (kept or rolled back); `writes / batches` is the group commit factor.
    pub writes: u64,
}

/// Jobs waiting for a leader.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Box<dyn Job>>,
    /// Set by [`Writer::close`]: no job is queued after it.
    closed: bool,
}

/// What every clone of the writer shares.
struct Shared {
    queue: Mutex<Queue>,
    /// The connection; `None` once closed. Whoever holds this lock is the leader.
    tx: Mutex<Option<Tx>>,
    /// A blocking thread leads (or is about to): async callers leave the jobs to it.
    handed_off: AtomicBool,
    batches: AtomicU64,
    writes: AtomicU64,
    commits: AtomicU32,
    /// Wakes the checkpoint thread; it stops when this is dropped.
    checkpoint: std::sync::mpsc::SyncSender<()>,
}

/// The handle every clone of the store shares: where jobs go.
#[derive(Clone)]
pub(super) struct Writer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Locks `mutex`, whatever a panic left behind: every critical section here leaves its data
/// consistent (an open transaction is rolled back by the next batch).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a batch ended.
enum Outcome {
    /// Committed or rolled back, every caller answered.
    Done,
    /// The database was locked by another process and the leader may not wait: the jobs, not
    /// run, to queue again.
    Busy(Vec<Box<dyn Job>>),
}

impl Writer {
    /// Starts the writer on `conn` (which must have `wal_autocheckpoint=0` and no busy
    /// timeout) and its checkpoint thread on `checkpoints`.
    pub(super) fn start(conn: Connection, checkpoints: Connection) -> std::io::Result<Self> {
        let (checkpoint, requests) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("wicket-checkpoint".into())
            .spawn(move || checkpointer(&checkpoints, &requests))?;
        let tx = Tx {
            conn,
            head: Head {
                seq: 0,
                hash: GENESIS_HASH.to_owned(),
            },
        };
        Ok(Self {
            shared: Arc::new(Shared {
                queue: Mutex::default(),
                tx: Mutex::new(Some(tx)),
                handed_off: AtomicBool::new(false),
                batches: AtomicU64::new(0),
                writes: AtomicU64::new(0),
                commits: AtomicU32::new(0),
                checkpoint,
            }),
        })
    }

    /// What the writer has done so far.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            batches: self.shared.batches.load(Ordering::Relaxed),
            writes: self.shared.writes.load(Ordering::Relaxed),
        }
    }

    /// Jobs queued and not yet taken by a leader.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }

    /// Runs `work` in the next batch (under a savepoint when it shares the batch) and returns
    /// its result once the batch is committed.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = lock(&self.shared.queue);
            if queue.closed {
                return Err(Error::Closed);
            }
            queue.jobs.push_back(Box::new(Pending { work, reply }));
        }
        self.shared.lead(false);
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Lets the jobs already queued finish, then closes the write connection. Writes asked
    /// for later fail with [`Error::Closed`].
    pub(super) async fn close(&self) {
        lock(&self.shared.queue).closed = true;
        let shared = self.shared.clone();
        let closed = tokio::task::spawn_blocking(move || {
            let mut guard = lock(&shared.tx);
            if let Some(tx) = guard.as_mut() {
                // Blocking, so never `Busy`: every queued job is run and answered.
                while !lock(&shared.queue).jobs.is_empty() {
                    if let Outcome::Busy(jobs) = shared.run_waiting(tx, true) {
                        jobs.into_iter().for_each(|job| job.refuse(Error::Closed));
                    }
                }
            }
            guard
                .take()
                .and_then(|tx| tx.conn.close().err().map(|(_, error)| error))
        })
        .await;
        if let Ok(Some(error)) = closed {
            tracing::warn!(%error, "cannot close the database write connection");
        }
    }
}

impl Shared {
    /// Becomes the leader if nobody is, and runs what is queued. `blocking`: this thread may
    /// wait (for the lock, for another process's write lock); otherwise it is an async
    /// caller's, which leaves the work to the current leader or hands it to a blocking thread.
    fn lead(self: &Arc<Self>, blocking: bool) {
        loop {
            if !blocking && self.handed_off.load(Ordering::SeqCst) {
                return;
            }
            let mut guard = if blocking {
                lock(&self.tx)
            } else {
                match self.tx.try_lock() {
                    Ok(guard) => guard,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    // The leader takes our job too (it re-checks the queue after unlocking).
                    Err(TryLockError::WouldBlock) => return,
                }
            };
            let Some(tx) = guard.as_mut() else {
                // Closed: nothing can be queued any more, but refuse what raced the close.
                drop(guard);
                self.refuse_all();
                return;
            };
            for _ in 0..LEAD_BATCHES {
                match self.run_waiting(tx, blocking) {
                    Outcome::Done => {}
                    Outcome::Busy(jobs) => {
                        let mut queue = lock(&self.queue);
                        for job in jobs.into_iter().rev() {
                            queue.jobs.push_front(job);
                        }
                        break;
                    }
                }
                if lock(&self.queue).jobs.is_empty() {
                    break;
                }
            }
            drop(guard);
            if blocking {
                self.handed_off.store(false, Ordering::SeqCst);
            }
            // A job queued after our last look found the lock taken: it is ours.
            if lock(&self.queue).jobs.is_empty() {
                return;
            }
            if !blocking {
                self.hand_off();
                return;
            }
        }
    }

    /// Lets a blocking thread lead (unless one already does).
    fn hand_off(self: &Arc<Self>) {
        if !self.handed_off.swap(true, Ordering::SeqCst) {
            let shared = self.clone();
            tokio::task::spawn_blocking(move || shared.lead(true));
        }
    }

    fn refuse_all(&self) {
        let jobs: Vec<_> = lock(&self.queue).jobs.drain(..).collect();
        for job in jobs {
            job.refuse(Error::Closed);
        }
    }

    /// Takes up to [`MAX_BATCH`] waiting jobs and runs them in one transaction.
    fn run_waiting(&self, tx: &mut Tx, blocking: bool) -> Outcome {
        let jobs: Vec<_> = {
            let mut queue = lock(&self.queue);
            let n = queue.jobs.len().min(MAX_BATCH);
            queue.jobs.drain(..n).collect()
        };
        if jobs.is_empty() {
            return Outcome::Done;
        }
        let count = |shared: &Self| {
            shared.batches.fetch_add(1, Ordering::Relaxed);
            shared
                .writes
                .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        };
        let begun = if blocking {
            // Counted before `BEGIN`, which may wait for another process.
            count(self);
            tx.begin(BUSY_TIMEOUT)
        } else {
            match tx.begin(Duration::ZERO) {
                Err(error) if is_busy(&error) => return Outcome::Busy(jobs),
                begun => {
                    count(self);
                    begun
                }
            }
        };
        tx.batch(jobs, begun.map_err(Arc::new));
        let commits = self.commits.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if commits.is_multiple_of(CHECKPOINT_EVERY) {
            // One pending request is enough: a full channel means one is coming.
            let _ = self.checkpoint.try_send(());
        }
        Outcome::Done
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

/// Runs a `PASSIVE` checkpoint each time the writer asks, and a `RESTART` one when the WAL
/// has grown past [`RESTART_FRAMES`], until the writer is dropped.
fn checkpointer(conn: &Connection, requests: &std::sync::mpsc::Receiver<()>) {
    while requests.recv().is_ok() {
        let restart = match checkpoint(conn, "PASSIVE") {
            Ok(frames) => frames > RESTART_FRAMES,
            Err(error) => {
                tracing::warn!(%error, "cannot checkpoint the database WAL");
                false
            }
        };
        if restart && let Err(error) = checkpoint(conn, "RESTART") {
            tracing::warn!(%error, "cannot restart the database WAL");
        }
    }
}

/// Runs a checkpoint in `mode`; the frames in the WAL.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        row.get(1)
    })
}

impl Tx {
    /// `BEGIN IMMEDIATE` (waiting up to `busy` for another process's write lock) and the
    /// audit chain's head. A transaction left open by a panic is rolled back first.
    fn begin(&mut self, busy: Duration) -> rusqlite::Result<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        if !busy.is_zero() {
            self.conn.busy_timeout(busy)?;
        }
        let begun = self.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([]);
        if !busy.is_zero() {
            self.conn.busy_timeout(Duration::ZERO)?;
        }
        begun?;
        let head = self
            .conn
            .prepare_cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")?
            .query_row([], |row| {
                Ok(Head {
                    seq: row.get(0)?,
                    hash: row.get(1)?,
                })
            })
            .optional();
        match head {
            Ok(head) => {
                self.head = head.unwrap_or_else(|| Head {
                    seq: 0,
                    hash: GENESIS_HASH.to_owned(),
                });
                Ok(())
            }
            Err(error) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(error)
            }
        }
    }

    /// Runs `jobs` in the transaction `begun` opened (or refuses them all if it failed), and
    /// answers each of them.
    fn batch(&mut self, jobs: Vec<Box<dyn Job>>, begun: Result<(), Arc<rusqlite::Error>>) {
        let savepoints = jobs.len() > 1;
        let mut failure = begun.err();
        let mut ran = Vec::with_capacity(jobs.len());
        let mut kept = false;
        for job in jobs {
            if let Some(error) = &failure {
                job.refuse(Error::Write(error.clone()));
                continue;
            }
            if savepoints && let Err(error) = self.exec("SAVEPOINT job") {
                job.refuse(Error::Write(error.clone()));
                failure = Some(error);
                continue;
            }
            let head = self.head.clone();
            let done = job.run(self);
            if done.kept {
                kept = true;
                if savepoints && let Err(error) = self.exec("RELEASE job") {
                    failure = Some(error);
                }
            } else {
                self.head = head;
                if savepoints
                    && let Err(error) = self
                        .exec("ROLLBACK TO job")
                        .and_then(|()| self.exec("RELEASE job"))
                {
                    failure = Some(error);
                }
            }
            ran.push(done);
        }
        let fate = match failure {
            Some(error) => Err(error),
            None if kept => self.exec("COMMIT"),
            // Nothing to keep (a lone job failed): its answer is its own error.
            None => self.exec("ROLLBACK"),
        };
        if fate.is_err() && !self.conn.is_autocommit() {
            // Whatever is left of the transaction goes.
            let _ = self.exec("ROLLBACK");
        }
        for done in ran {
            (done.answer)(fate.clone());
        }
    }

    /// Runs one transaction-control statement, prepared once (parsing it was ~1 µs of every
    /// write).
    fn exec(&self, sql: &str) -> Result<(), Arc<rusqlite::Error>> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(drop)
            .map_err(Arc::new)
    }
}

//! The single writer task and its group commit.
//!
//! Every change goes to one task that owns the write connection, over a channel: a caller
//! sends a job (the statements of one change, as a closure over a [`Tx`]) with a reply
//! channel and waits for its answer. The task takes every job that is waiting (up to
//! [`MAX_BATCH`]) and runs them in ONE `BEGIN IMMEDIATE` transaction, commits once (one
//! `fsync`), and only then answers each caller. Under concurrent load one commit carries
//! many changes; writers never queue on SQLite's busy handler behind each other.
//!
//! - The transaction begins by taking the database's write lock (`BEGIN IMMEDIATE`) and then
//!   reading the audit chain's head (`seq`, `hash` of the newest event): another process may
//!   have moved it since this task's previous batch. Jobs move the head in the transaction's
//!   [`Tx::head`] (`Tx::chain` and `Tx::append` in `audit_log.rs`); nothing of it outlives
//!   the transaction.
//! - When a batch holds more than one job, each runs under its own `SAVEPOINT`: a job that
//!   fails (or panics) is rolled back to it, gives the head back and is answered with its own
//!   error, and the others are committed. A lone job that fails rolls back the transaction.
//!   Savepoints are not released (one round trip less per job): each job's nests in the one
//!   before, `ROLLBACK TO` undoes only the newest, and `COMMIT` keeps them all.
//! - If the transaction itself fails (`BEGIN`, a savepoint, `COMMIT`), every job of the batch
//!   gets the error and nothing of the batch is stored.
//! - A caller is answered only after the commit. A caller that stops waiting after its job was
//!   sent does not cancel it.
//! - SQLite waits for another process's lock (up to the busy timeout) on the connection's own
//!   thread, never on a runtime worker; checkpoints are SQLite's automatic ones.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Error, Result, StoreFuture};
use crate::audit::chain::GENESIS_HASH;

/// The most jobs one transaction carries.
const MAX_BATCH: usize = 256;

/// Jobs that may wait for the writer; a caller beyond waits to send its job.
const QUEUE: usize = 4 * MAX_BATCH;

/// The newest event of the audit chain, as the open transaction sees it.
#[derive(Debug, Clone)]
pub(super) struct Head {
    /// Its sequence number (0 before the first event).
    pub seq: i64,
    /// Its hash ([`GENESIS_HASH`] before the first event).
    pub hash: String,
}

/// A write connection the writer task runs its batches on: SQLite's [`Tx`], PostgreSQL's
/// `postgres::PgTx`.
pub(super) trait Session: Send + 'static {
    /// Begins a transaction that holds the right to append to the audit chain (SQLite's write
    /// lock, PostgreSQL's chain lock), with [`Session::head`] read as the database has it now.
    /// On failure nothing is left open.
    fn begin(&mut self) -> impl Future<Output = std::result::Result<(), sqlx::Error>> + Send;
    /// Runs one transaction-control statement (`SAVEPOINT job`, `COMMIT`, ...).
    fn exec(
        &mut self,
        sql: &'static str,
    ) -> impl Future<Output = std::result::Result<(), sqlx::Error>> + Send;
    /// The audit chain's head, as the open transaction sees it.
    fn head(&mut self) -> &mut Head;
    /// The batch's transaction failed (`error`): whatever is left of it goes.
    fn abandon(&mut self) -> impl Future<Output = ()> + Send;
    /// Closes the connection (the writer stops).
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// The open write transaction, as a job sees it.
#[derive(Debug)]
pub(super) struct Tx {
    /// The write connection, inside the batch's transaction.
    pub conn: SqliteConnection,
    /// The audit chain's head, read when the transaction began and moved by every append.
    pub head: Head,
}

/// The transaction's fate, as each of its jobs is told.
type Fate = std::result::Result<(), Arc<sqlx::Error>>;

/// A job with its caller's answer channel, its result type erased.
trait Job<S>: Send {
    /// Runs the job's statements in the open transaction; whether they are to be kept, and
    /// how to answer the caller once the batch's fate is known.
    fn run(self: Box<Self>, tx: &mut S) -> Pin<Box<dyn Future<Output = Ran> + Send + '_>>;
    /// Answers the caller with `error` without running the job.
    fn refuse(self: Box<Self>, error: Error);
}

/// What a job left behind for the end of its batch.
struct Ran {
    /// Whether its changes are to be committed.
    kept: bool,
    /// Answers its caller with the batch's fate.
    answer: Box<dyn FnOnce(Fate) + Send>,
}

struct Pending<T, F> {
    work: F,
    reply: oneshot::Sender<Result<T>>,
}

impl<S, T, F> Job<S> for Pending<T, F>
where
    S: Send,
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut S) -> StoreFuture<'t, T> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut S) -> Pin<Box<dyn Future<Output = Ran> + Send + '_>> {
        let Self { work, reply } = *self;
        Box::pin(async move {
            // A panicking job is a failed job: rolled back and answered, the writer carries on.
            let outcome = match catch_unwind(AssertUnwindSafe(|| work(tx))) {
                Ok(future) => Unwinding(future).await.unwrap_or(Err(Error::Panicked)),
                Err(_) => Err(Error::Panicked),
            };
            Ran {
                kept: outcome.is_ok(),
                answer: Box::new(move |fate: Fate| {
                    let answer =
                        outcome.and_then(|value| fate.map(|()| value).map_err(Error::Write));
                    // A caller that stopped waiting needs no answer.
                    let _ = reply.send(answer);
                }),
            }
        })
    }

    fn refuse(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Err(error));
    }
}

/// A job's future, a panic in any of its polls caught: `None`.
struct Unwinding<'t, T>(StoreFuture<'t, T>);

impl<T> Future for Unwinding<'_, T> {
    type Output = Option<Result<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Some(result)),
            Err(_) => Poll::Ready(None),
        }
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

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    writes: AtomicU64,
}

/// What every clone of the writer shares. The task holds none of it but the counters, so
/// that it ends once every handle is gone (or [`Writer::close`] took the sender).
struct Shared<S> {
    /// Where jobs go; `None` once closed.
    jobs: Mutex<Option<mpsc::Sender<Box<dyn Job<S>>>>>,
    /// The task, until [`Writer::close`] waits for it.
    task: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

/// The handle every clone of the store shares: where jobs go, to run on a session `S`.
pub(super) struct Writer<S = Tx> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for Writer<S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Writer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Locks `mutex`, whatever a panic left behind (its data is a handle, always consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tx {
    /// The SQLite session on `conn`.
    pub(super) fn new(conn: SqliteConnection) -> Self {
        Self {
            conn,
            head: Head::genesis(),
        }
    }
}

impl Head {
    /// The head of an empty chain.
    pub(super) fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl<S: Session> Writer<S> {
    /// Starts the writer task on `session`, on the current tokio runtime.
    pub(super) fn start(session: S) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(session, receiver, counters.clone()));
        Self {
            shared: Arc::new(Shared {
                jobs: Mutex::new(Some(sender)),
                task: Mutex::new(Some(task)),
                counters,
            }),
        }
    }
}

impl<S> Writer<S> {
    /// What the writer has done so far.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            batches: self.shared.counters.batches.load(Ordering::Relaxed),
            writes: self.shared.counters.writes.load(Ordering::Relaxed),
        }
    }

    /// Jobs sent and not yet taken by the task.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        lock(&self.shared.jobs)
            .as_ref()
            .map_or(0, |jobs| jobs.max_capacity() - jobs.capacity())
    }

    /// Runs `work` in the next batch (under a savepoint when it shares the batch) and returns
    /// its result once the batch is committed.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        S: Send,
        F: for<'t> FnOnce(&'t mut S) -> StoreFuture<'t, T> + Send + 'static,
    {
        let jobs = lock(&self.shared.jobs).clone().ok_or(Error::Closed)?;
        let (reply, answer) = oneshot::channel();
        jobs.send(Box::new(Pending { work, reply }))
            .await
            .map_err(|_| Error::Closed)?;
        drop(jobs);
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Lets the jobs already sent finish, then closes the write connection. Writes asked for
    /// later fail with [`Error::Closed`].
    pub(super) async fn close(&self) {
        drop(lock(&self.shared.jobs).take());
        let task = lock(&self.shared.task).take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "the database writer stopped abnormally");
        }
    }
}

/// The writer task: runs what is waiting, batch after batch, until every sender is gone.
/// When a batch cannot begin (the database is unreachable, or locked past the busy timeout),
/// the jobs that waited meanwhile are refused with the same error rather than each waiting
/// that long again.
async fn run<S: Session>(
    mut session: S,
    mut jobs: mpsc::Receiver<Box<dyn Job<S>>>,
    counters: Arc<Counters>,
) {
    loop {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
            break;
        }
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Some(error) = batch_on(&mut session, batch).await {
            while let Ok(job) = jobs.try_recv() {
                job.refuse(Error::Write(error.clone()));
            }
        }
    }
    session.close().await;
}

impl Session for Tx {
    /// `BEGIN IMMEDIATE` (SQLite waits up to the busy timeout for another process's write
    /// lock) and the audit chain's head as the database has it now.
    async fn begin(&mut self) -> std::result::Result<(), sqlx::Error> {
        self.exec("BEGIN IMMEDIATE").await?;
        let head = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut self.conn)
            .await
            .and_then(|row| {
                row.map(|row| {
                    Ok(Head {
                        seq: row.try_get(0)?,
                        hash: row.try_get(1)?,
                    })
                })
                .transpose()
            });
        match head {
            Ok(head) => {
                self.head = head.unwrap_or_else(Head::genesis);
                Ok(())
            }
            Err(error) => {
                let _ = self.exec("ROLLBACK").await;
                Err(error)
            }
        }
    }

    /// Runs one transaction-control statement (prepared once, by sqlx's statement cache).
    async fn exec(&mut self, sql: &'static str) -> std::result::Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&mut self.conn).await.map(drop)
    }

    fn head(&mut self) -> &mut Head {
        &mut self.head
    }

    async fn abandon(&mut self) {
        // An error if nothing is left of the transaction.
        let _ = self.exec("ROLLBACK").await;
    }

    async fn close(self) {
        if let Err(error) = self.conn.close().await {
            tracing::warn!(%error, "cannot close the database write connection");
        }
    }
}

/// Runs `jobs` in one transaction on `session`, and answers each of them. Returns the error
/// if the transaction could not begin.
async fn batch_on<S: Session>(
    session: &mut S,
    jobs: Vec<Box<dyn Job<S>>>,
) -> Option<Arc<sqlx::Error>> {
    let began = session.begin().await.err().map(Arc::new);
    let mut failure = began.clone();
    let savepoints = jobs.len() > 1;
    let mut ran = Vec::with_capacity(jobs.len());
    let mut kept = false;
    for job in jobs {
        if let Some(error) = &failure {
            job.refuse(Error::Write(error.clone()));
            continue;
        }
        if savepoints && let Err(error) = session.exec("SAVEPOINT job").await.map_err(Arc::new) {
            job.refuse(Error::Write(error.clone()));
            failure = Some(error);
            continue;
        }
        let head = session.head().clone();
        let done = job.run(session).await;
        if done.kept {
            kept = true;
        } else {
            *session.head() = head;
            if savepoints && let Err(error) = session.exec("ROLLBACK TO job").await {
                failure = Some(Arc::new(error));
            }
        }
        ran.push(done);
    }
    let fate = match failure {
        // Nothing is open when `begin` failed.
        Some(error) if began.is_some() => Err(error),
        Some(error) => {
            session.abandon().await;
            Err(error)
        }
        None if kept => match session.exec("COMMIT").await {
            Ok(()) => Ok(()),
            Err(error) => {
                session.abandon().await;
                Err(Arc::new(error))
            }
        },
        // Nothing to keep (a lone job failed): its answer is its own error.
        None => match session.exec("ROLLBACK").await {
            Ok(()) => Ok(()),
            Err(error) => {
                session.abandon().await;
                Err(Arc::new(error))
            }
        },
    };
    for done in ran {
        (done.answer)(fate.clone());
    }
    began
}

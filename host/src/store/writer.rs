//! The single writer and its group commit.
//!
//! Every change goes through one task that owns the only write connection. A caller hands it
//! a job (the statements of one change, as a closure over a [`Tx`]) and waits. The writer takes
//! every job that is waiting (up to [`MAX_BATCH`]), runs them in ONE `BEGIN IMMEDIATE`
//! transaction, commits once, and only then answers each caller. So under concurrent load one
//! commit carries many changes, and writers never queue on SQLite's busy handler behind each
//! other (which sleeps in steps of milliseconds).
//!
//! - When a batch holds more than one job, each runs under its own `SAVEPOINT`: a job that fails
//!   is rolled back to it and answered with its own error, and the others are committed. A lone
//!   job that fails rolls back the transaction. A job that sends all its statements in one
//!   round trip opens and releases its savepoint in that same round trip
//!   ([`Writer::write_wrapped`], [`Tx::wrap`]), which saves two round trips to SQLite's
//!   worker thread per job: the writer then only rolls back to it when the job failed. When
//!   such a job is the last of its batch, its round trip also carries the `COMMIT`.
//! - The audit chain's head is read when the batch begins (in the same round trip as `BEGIN`)
//!   and carried from job to job (`Tx::chain` and `Tx::append` in `audit_log.rs` move it); a
//!   job rolled back to its savepoint gives the head back. The events of a batch are thus chained in the order
//!   its jobs ran, and those of one job in the order it appended them.
//! - If the transaction itself fails (`BEGIN`, a savepoint, `COMMIT`), every job of the batch
//!   gets the error and nothing of the batch is stored.
//! - A caller is answered only after the commit, so an answered change is in the WAL and
//!   survives a crash of the process. A caller that stops waiting does not cancel its job.
//! - A job that panics stops the writer: every later write fails with `Error::Closed`.
//! - The write connection does not checkpoint the WAL itself (`wal_autocheckpoint=0`), which
//!   would stall the batch that crosses the threshold: every [`CHECKPOINT_EVERY`] commits the
//!   writer asks a helper task to run a `PASSIVE` checkpoint on a pooled connection, beside
//!   the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::{Error, Result};
use crate::audit::chain::GENESIS_HASH;
use crate::workflow::BoxFuture;

/// The most jobs one transaction carries.
const MAX_BATCH: usize = 256;

/// Jobs that may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 1024;

/// Commits between two WAL checkpoints.
const CHECKPOINT_EVERY: u32 = 128;

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
    pub conn: SqliteConnection,
    /// The audit chain's head, moved by every append.
    pub head: Head,
    /// Whether the job running now is the last of its batch and nothing failed before it.
    last: bool,
    /// Whether that job's round trip carries the batch's `COMMIT` ([`Tx::wrap`]).
    commit_sent: bool,
}

/// What a job left behind for the end of its batch.
struct Ran {
    /// Whether its changes are to be committed.
    kept: bool,
    /// Answers its caller with the batch's fate.
    answer: Box<dyn FnOnce(Result<(), Arc<sqlx::Error>>) + Send>,
}

/// A job with its caller's answer channel, its result type erased.
trait Job: Send {
    /// Whether the job opens and releases its own savepoint ([`Tx::wrap`]).
    fn wrapped(&self) -> bool;
    /// Runs the job's statements in the open transaction.
    fn run<'t>(self: Box<Self>, tx: &'t mut Tx) -> BoxFuture<'t, Ran>;
    /// Answers the caller without running the job.
    fn refuse(self: Box<Self>, error: Arc<sqlx::Error>);
}

struct Pending<T, F> {
    work: F,
    wrapped: bool,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    fn wrapped(&self) -> bool {
        self.wrapped
    }

    fn run<'t>(self: Box<Self>, tx: &'t mut Tx) -> BoxFuture<'t, Ran> {
        let Self { work, reply, .. } = *self;
        Box::pin(async move {
            let outcome = work(tx).await;
            Ran {
                kept: outcome.is_ok(),
                answer: Box::new(move |fate| {
                    let answer =
                        outcome.and_then(|value| fate.map(|()| value).map_err(Error::Write));
                    // A caller that stopped waiting needs no answer.
                    let _ = reply.send(answer);
                }),
            }
        })
    }

    fn refuse(self: Box<Self>, error: Arc<sqlx::Error>) {
        let _ = self.reply.send(Err(Error::Write(error)));
    }
}

enum Message {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// How much the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions the writer ran (each carrying one or more writes).
    pub batches: u64,
    /// Writes it ran (kept or rolled back); `writes / batches` is the group commit factor.
    pub writes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    writes: AtomicU64,
}

/// The handle every clone of the store shares: where jobs go.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    inbox: mpsc::Sender<Message>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer task on `conn` (which must have `wal_autocheckpoint=0`) and its
    /// checkpoint helper on `pool`.
    pub(super) fn start(conn: SqliteConnection, pool: SqlitePool) -> Self {
        let (inbox, jobs) = mpsc::channel(QUEUE);
        let (checkpoint, checkpoints) = mpsc::channel(1);
        let counters = Arc::new(Counters::default());
        tokio::spawn(checkpointer(pool, checkpoints));
        tokio::spawn(run(conn, jobs, checkpoint, counters.clone()));
        Self { inbox, counters }
    }

    /// What the writer has done so far.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    /// Jobs handed over and not yet taken by the writer.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        QUEUE - self.inbox.capacity()
    }

    /// Runs `work` in the next batch (under a savepoint when it shares the batch) and returns
    /// its result once the batch is committed.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        self.send(work, false).await
    }

    /// Like [`Writer::write`] for `work` that sends all its statements in one round trip,
    /// wrapped by [`Tx::wrap`].
    pub(super) async fn write_wrapped<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        self.send(work, true).await
    }

    async fn send<T, F>(&self, work: F, wrapped: bool) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            work,
            wrapped,
            reply,
        };
        self.inbox
            .send(Message::Job(Box::new(job)))
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Lets the jobs already handed over finish, then closes the write connection.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.inbox.send(Message::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

async fn run(
    conn: SqliteConnection,
    mut inbox: mpsc::Receiver<Message>,
    checkpoint: mpsc::Sender<()>,
    counters: Arc<Counters>,
) {
    let mut tx = Tx {
        conn,
        head: Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        },
        last: false,
        commit_sent: false,
    };
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut commits = 0u32;
    let mut closed = None;
    while closed.is_none() && inbox.recv_many(&mut messages, MAX_BATCH).await > 0 {
        let mut jobs = Vec::with_capacity(messages.len());
        for message in messages.drain(..) {
            match message {
                Message::Job(job) if closed.is_none() => jobs.push(job),
                // Handed over after the close: dropped, its caller gets `Error::Closed`.
                Message::Job(_) => {}
                Message::Close(done) => closed = closed.or(Some(done)),
            }
        }
        if !jobs.is_empty() {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters
                .writes
                .fetch_add(jobs.len() as u64, Ordering::Relaxed);
            tx.batch(jobs).await;
            commits = commits.wrapping_add(1);
            if commits.is_multiple_of(CHECKPOINT_EVERY) {
                // One pending request is enough: a full channel means one is coming.
                let _ = checkpoint.try_send(());
            }
        }
    }
    inbox.close();
    if let Err(error) = tx.conn.close().await {
        tracing::warn!(%error, "cannot close the database write connection");
    }
    if let Some(done) = closed {
        let _ = done.send(());
    }
}

/// Runs a `PASSIVE` checkpoint each time the writer asks, until the writer stops.
async fn checkpointer(pool: SqlitePool, mut requests: mpsc::Receiver<()>) {
    while requests.recv().await.is_some() {
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(%error, "cannot checkpoint the database WAL");
        }
    }
}

impl Tx {
    /// `statements` (`;`-separated) between `SAVEPOINT job` and `RELEASE job`, and then the
    /// batch's `COMMIT` when this job is its last: the one round trip of a job handed over
    /// with [`Writer::write_wrapped`]. Such a job fails only with that round trip (never
    /// after it succeeded, when the batch may be committed).
    pub(super) fn wrap(&mut self, statements: &str) -> String {
        self.commit_sent = self.last;
        let commit = if self.last { "; COMMIT" } else { "" };
        format!("SAVEPOINT job; {statements}; RELEASE job{commit}")
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), Arc<sqlx::Error>> {
        sqlx::query(sql)
            .execute(&mut self.conn)
            .await
            .map(drop)
            .map_err(Arc::new)
    }

    /// `BEGIN IMMEDIATE` and the audit chain's head, in one round trip.
    async fn begin(&mut self) -> Result<(), Arc<sqlx::Error>> {
        let head = sqlx::query(
            "BEGIN IMMEDIATE; SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&mut self.conn)
        .await
        .map_err(Arc::new)?;
        self.head = match head {
            Some(row) => Head {
                seq: row.try_get("seq").map_err(Arc::new)?,
                hash: row.try_get("hash").map_err(Arc::new)?,
            },
            None => Head {
                seq: 0,
                hash: GENESIS_HASH.to_owned(),
            },
        };
        Ok(())
    }

    /// Runs `jobs` in one transaction and answers each of them.
    async fn batch(&mut self, jobs: Vec<Box<dyn Job>>) {
        let savepoints = jobs.len() > 1;
        let mut failure = self.begin().await.err();
        let mut ran = Vec::with_capacity(jobs.len());
        let mut kept = false;
        let mut committed = false;
        let count = jobs.len();
        for (index, job) in jobs.into_iter().enumerate() {
            if let Some(error) = &failure {
                job.refuse(error.clone());
                continue;
            }
            // A wrapped job opens its savepoint itself, even when alone.
            let wrapped = job.wrapped();
            if savepoints
                && !wrapped
                && let Err(error) = self.exec("SAVEPOINT job").await
            {
                job.refuse(error.clone());
                failure = Some(error);
                continue;
            }
            let head = self.head.clone();
            self.last = index + 1 == count;
            self.commit_sent = false;
            let done = job.run(self).await;
            if done.kept && self.commit_sent {
                // Its round trip released its savepoint and committed the batch.
                kept = true;
                committed = true;
            } else if done.kept {
                kept = true;
                if savepoints
                    && !wrapped
                    && let Err(error) = self.exec("RELEASE job").await
                {
                    failure = Some(error);
                }
            } else {
                self.head = head;
                if (savepoints || wrapped)
                    && let Err(error) = self.exec("ROLLBACK TO job; RELEASE job").await
                {
                    failure = Some(error);
                }
            }
            ran.push(done);
        }
        let fate = match failure {
            Some(error) => Err(error),
            None if committed => Ok(()),
            None if kept => self.exec("COMMIT").await,
            // Nothing to keep (a lone job failed): its answer is its own error.
            None => self.exec("ROLLBACK").await,
        };
        if fate.is_err() {
            // Whatever is left of the transaction goes; it may already be gone.
            let _ = self.exec("ROLLBACK").await;
        }
        for done in ran {
            (done.answer)(fate.clone());
        }
    }
}

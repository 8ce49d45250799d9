//! The writer's session on PostgreSQL: each batch of changes is one transaction on a pooled
//! connection, begun by taking the audit chain's lock and reading the chain's head.
//!
//! The chain lock is a transaction-level advisory lock ([`CHAIN_LOCK`]): every replica's
//! writer takes it first thing in each transaction, so appends are serialised across replicas
//! and each transaction reads the head its predecessor committed (PostgreSQL releases the lock
//! only once the commit is visible). One batch carries many changes, so under load the lock
//! and the commit's WAL flush are shared by all of them, as on SQLite. Whatever a writer does,
//! the schema refuses a fork (`UNIQUE (seq)`, `UNIQUE (prev_hash)`).

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnection;
use sqlx::{PgPool, Postgres, Row};

use crate::store::writer::{Head, Session};

/// The advisory lock key of the audit chain (`wicket` in ASCII, then `chain`).
pub(super) const CHAIN_LOCK: i64 = 0x7769_636b_6574_0001;

/// The writer's connection (taken from the pool when a batch begins, kept while it works) and
/// the open transaction's view of the chain.
#[derive(Debug)]
pub(in crate::store) struct PgTx {
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
    head: Head,
}

impl PgTx {
    pub(super) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            conn: None,
            head: Head::genesis(),
        }
    }

    /// The connection of the open transaction.
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_deref_mut()
            .expect("a job runs inside a begun transaction")
    }

    /// The open transaction's head of the chain.
    pub(super) fn head_mut(&mut self) -> &mut Head {
        &mut self.head
    }
}

impl Session for PgTx {
    async fn begin(&mut self) -> Result<(), sqlx::Error> {
        if self.conn.is_none() {
            // Waits up to the pool's acquire timeout (`connect_timeout`).
            self.conn = Some(self.pool.acquire().await?);
        }
        let conn = self.conn();
        let began = async {
            sqlx::query("BEGIN").execute(&mut *conn).await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(CHAIN_LOCK)
                .execute(&mut *conn)
                .await?;
            sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| {
                    Ok::<_, sqlx::Error>(Head {
                        seq: row.try_get(0)?,
                        hash: row.try_get(1)?,
                    })
                })
                .transpose()
        }
        .await;
        match began {
            Ok(head) => {
                self.head = head.unwrap_or_else(Head::genesis);
                Ok(())
            }
            Err(error) => {
                self.abandon().await;
                Err(error)
            }
        }
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(self.conn()).await.map(drop)
    }

    fn head(&mut self) -> &mut Head {
        &mut self.head
    }

    async fn abandon(&mut self) {
        // The connection may be broken (the server went away): the next batch takes another,
        // and this one is closed rather than put back with a transaction open.
        if let Some(mut conn) = self.conn.take()
            && sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()
        {
            conn.close_on_drop();
        }
    }

    async fn close(mut self) {
        drop(self.conn.take());
    }
}

//! Claims on due timers and named leases, on SQLite: what lets several processes (replicas)
//! share one database and still fire each timer once, somewhere (see [`super::Store::claim_due`]).
//!
//! Every claim is a compare-and-set in the writer's transaction (`BEGIN IMMEDIATE`: one
//! writer at a time across processes), so of two replicas claiming the same row exactly one
//! gets it. The columns (`claimed_by`, `claim_until`) and the `leases` table are migration
//! 0010's.

use jiff::Timestamp;
use sqlx::{Row, SqlitePool};

use super::{DueTimer, Result, SqliteStore, parse_state, timestamp};

/// Who claims due work, when, and until when the claim holds unless renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    /// The replica claiming (its id, the same for all its claims).
    pub replica: &'a str,
    /// Now, as the claimer sees it: a row is due when its `due_at` is at or before it, and a
    /// claim is expired when its `claim_until` is.
    pub now: Timestamp,
    /// When the claim expires unless renewed.
    pub until: Timestamp,
}

/// The states whose requests have a timer (the `state IN (..)` of every query on timers).
macro_rules! timer_states {
    () => {
        "('received', 'approved', 'provisioning', 'active', 'revoking', 'expiring')"
    };
}
pub(super) use timer_states;

/// A row another replica holds no live claim on: free, expired, or this replica's (`?1` the
/// replica, `?2` now).
macro_rules! claimable {
    () => {
        "(claimed_by IS NULL OR claim_until <= ?2 OR claimed_by = ?1)"
    };
}

/// A `(id, state, due_at)` row, on either engine.
pub(super) fn due_timer<'r, R>(row: &'r R) -> Result<DueTimer>
where
    R: Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(DueTimer {
        id: row.try_get("id")?,
        state: parse_state(&row.try_get::<String, _>("state")?)?,
        due_at: timestamp(row.try_get("due_at")?)?,
    })
}

/// [`super::Store::claim_due`] on SQLite: a read first (on the pool, no write lock) so that a
/// poll that finds nothing due costs no transaction.
pub(super) async fn claim_due(
    store: &SqliteStore,
    pool: &SqlitePool,
    claim: Claim<'_>,
    limit: u32,
) -> Result<Vec<DueTimer>> {
    let (replica, now, until) = (
        claim.replica.to_owned(),
        claim.now.as_millisecond(),
        claim.until.as_millisecond(),
    );
    let any: bool = sqlx::query_scalar(concat!(
        "SELECT EXISTS (SELECT 1 FROM requests
          WHERE due_at <= ?2 AND state IN ",
        timer_states!(),
        " AND ",
        claimable!(),
        ")"
    ))
    .bind(&replica)
    .bind(now)
    .fetch_one(pool)
    .await?;
    if !any {
        return Ok(Vec::new());
    }
    store
        .write(move |tx| {
            Box::pin(async move {
                let rows = sqlx::query(concat!(
                    "UPDATE requests SET claimed_by = ?1, claim_until = ?3
                     WHERE id IN (SELECT id FROM requests
                                  WHERE due_at <= ?2 AND state IN ",
                    timer_states!(),
                    " AND ",
                    claimable!(),
                    " ORDER BY due_at LIMIT ?4)
                     RETURNING id, state, due_at"
                ))
                .bind(&replica)
                .bind(now)
                .bind(until)
                .bind(i64::from(limit))
                .fetch_all(&mut tx.conn)
                .await?;
                let mut claimed = rows.iter().map(due_timer).collect::<Result<Vec<_>>>()?;
                claimed.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
                Ok(claimed)
            })
        })
        .await
}

/// [`super::Store::claim_timer`] on SQLite.
pub(super) async fn claim_timer(
    store: &SqliteStore,
    id: &str,
    claim: Claim<'_>,
) -> Result<Option<DueTimer>> {
    let (id, replica, now, until) = (
        id.to_owned(),
        claim.replica.to_owned(),
        claim.now.as_millisecond(),
        claim.until.as_millisecond(),
    );
    store
        .write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(concat!(
                    "UPDATE requests SET claimed_by = ?1, claim_until = ?3
                     WHERE id = ?4 AND due_at IS NOT NULL AND state IN ",
                    timer_states!(),
                    " AND ",
                    claimable!(),
                    " RETURNING id, state, due_at"
                ))
                .bind(&replica)
                .bind(now)
                .bind(until)
                .bind(&id)
                .fetch_optional(&mut tx.conn)
                .await?;
                row.as_ref().map(due_timer).transpose()
            })
        })
        .await
}

/// [`super::Store::renew_claims`] on SQLite.
pub(super) async fn renew_claims(
    store: &SqliteStore,
    ids: &[String],
    claim: Claim<'_>,
) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(ids).map_err(|e| super::Error::Corrupt(e.to_string()))?;
    let (replica, until) = (claim.replica.to_owned(), claim.until.as_millisecond());
    store
        .write(move |tx| {
            Box::pin(async move {
                let mut held: Vec<String> = sqlx::query_scalar(
                    "UPDATE requests SET claim_until = ?2
                     WHERE claimed_by = ?1 AND id IN (SELECT value FROM json_each(?3))
                     RETURNING id",
                )
                .bind(&replica)
                .bind(until)
                .bind(&ids)
                .fetch_all(&mut tx.conn)
                .await?;
                held.sort();
                Ok(held)
            })
        })
        .await
}

/// [`super::Store::release_claim`] on SQLite.
pub(super) async fn release_claim(store: &SqliteStore, id: &str, replica: &str) -> Result<bool> {
    let (id, replica) = (id.to_owned(), replica.to_owned());
    store
        .write(move |tx| {
            Box::pin(async move {
                let released = sqlx::query(
                    "UPDATE requests SET claimed_by = NULL, claim_until = NULL
                     WHERE id = ? AND claimed_by = ?",
                )
                .bind(&id)
                .bind(&replica)
                .execute(&mut tx.conn)
                .await?
                .rows_affected();
                Ok(released == 1)
            })
        })
        .await
}

/// [`super::Store::hold_deadlines`] on SQLite.
pub(super) async fn hold_deadlines(
    store: &SqliteStore,
    ids: &[String],
    claim: Claim<'_>,
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let ids = serde_json::to_string(ids).map_err(|e| super::Error::Corrupt(e.to_string()))?;
    let (replica, now, until) = (
        claim.replica.to_owned(),
        claim.now.as_millisecond(),
        claim.until.as_millisecond(),
    );
    store
        .write(move |tx| {
            Box::pin(async move {
                let held = sqlx::query(concat!(
                    "UPDATE requests SET due_at = ?3, claimed_by = NULL, claim_until = NULL
                     WHERE id IN (SELECT value FROM json_each(?4))
                       AND state IN ('received', 'approved', 'provisioning')
                       AND ",
                    claimable!()
                ))
                .bind(&replica)
                .bind(now)
                .bind(until)
                .bind(&ids)
                .execute(&mut tx.conn)
                .await?
                .rows_affected();
                Ok(held)
            })
        })
        .await
}

/// [`super::Store::acquire_lease`] on SQLite.
pub(super) async fn acquire_lease(
    store: &SqliteStore,
    name: &str,
    claim: Claim<'_>,
) -> Result<bool> {
    let (name, replica, now, until) = (
        name.to_owned(),
        claim.replica.to_owned(),
        claim.now.as_millisecond(),
        claim.until.as_millisecond(),
    );
    store
        .write(move |tx| {
            Box::pin(async move {
                let taken = sqlx::query(
                    "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?4)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                                                      until = excluded.until
                     WHERE leases.holder = ?2 OR leases.until <= ?3",
                )
                .bind(&name)
                .bind(&replica)
                .bind(now)
                .bind(until)
                .execute(&mut tx.conn)
                .await?
                .rows_affected();
                Ok(taken == 1)
            })
        })
        .await
}

/// [`super::Store::release_lease`] on SQLite.
pub(super) async fn release_lease(store: &SqliteStore, name: &str, holder: &str) -> Result<bool> {
    let (name, holder) = (name.to_owned(), holder.to_owned());
    store
        .write(move |tx| {
            Box::pin(async move {
                let released = sqlx::query("DELETE FROM leases WHERE name = ? AND holder = ?")
                    .bind(&name)
                    .bind(&holder)
                    .execute(&mut tx.conn)
                    .await?
                    .rows_affected();
                Ok(released == 1)
            })
        })
        .await
}

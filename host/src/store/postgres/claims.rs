//! Claims on due timers and named leases on PostgreSQL (SQLite's `store/claims.rs`). None of
//! them carries an audit event, so each is one statement on the pool, outside the writer and
//! its chain lock: rows another replica is claiming at the same moment are skipped
//! (`FOR UPDATE SKIP LOCKED`), never waited for, and each due timer goes to one replica.

use sqlx::PgPool;

use crate::store::claims::{due_timer, timer_states};
use crate::store::{Claim, DueTimer, Result};

/// A row another replica holds no live claim on: free, expired, or this replica's (`$1` the
/// replica, `$2` now).
macro_rules! claimable {
    () => {
        "(claimed_by IS NULL OR claim_until <= $2 OR claimed_by = $1)"
    };
}

/// [`crate::store::Store::claim_due`] on PostgreSQL.
pub(super) async fn claim_due(
    pool: &PgPool,
    claim: Claim<'_>,
    limit: u32,
) -> Result<Vec<DueTimer>> {
    let rows = sqlx::query(concat!(
        "UPDATE requests SET claimed_by = $1, claim_until = $3
         WHERE id IN (SELECT id FROM requests
                      WHERE due_at <= $2 AND state IN ",
        timer_states!(),
        " AND ",
        claimable!(),
        " ORDER BY due_at LIMIT $4
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, state, due_at"
    ))
    .bind(claim.replica)
    .bind(claim.now.as_millisecond())
    .bind(claim.until.as_millisecond())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut claimed = rows.iter().map(due_timer).collect::<Result<Vec<_>>>()?;
    claimed.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
    Ok(claimed)
}

/// [`crate::store::Store::claim_timer`] on PostgreSQL.
pub(super) async fn claim_timer(
    pool: &PgPool,
    id: &str,
    claim: Claim<'_>,
) -> Result<Option<DueTimer>> {
    let row = sqlx::query(concat!(
        "UPDATE requests SET claimed_by = $1, claim_until = $3
         WHERE id = $4 AND due_at IS NOT NULL AND state IN ",
        timer_states!(),
        " AND ",
        claimable!(),
        " RETURNING id, state, due_at"
    ))
    .bind(claim.replica)
    .bind(claim.now.as_millisecond())
    .bind(claim.until.as_millisecond())
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(due_timer).transpose()
}

/// [`crate::store::Store::renew_claims`] on PostgreSQL.
pub(super) async fn renew_claims(
    pool: &PgPool,
    ids: &[String],
    claim: Claim<'_>,
) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut held: Vec<String> = sqlx::query_scalar(
        "UPDATE requests SET claim_until = $2
         WHERE claimed_by = $1 AND id = ANY($3::text[])
         RETURNING id",
    )
    .bind(claim.replica)
    .bind(claim.until.as_millisecond())
    .bind(ids)
    .fetch_all(pool)
    .await?;
    held.sort();
    Ok(held)
}

/// [`crate::store::Store::release_claim`] on PostgreSQL.
pub(super) async fn release_claim(pool: &PgPool, id: &str, replica: &str) -> Result<bool> {
    let released = sqlx::query(
        "UPDATE requests SET claimed_by = NULL, claim_until = NULL
         WHERE id = $1 AND claimed_by = $2",
    )
    .bind(id)
    .bind(replica)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(released == 1)
}

/// [`crate::store::Store::hold_deadlines`] on PostgreSQL.
pub(super) async fn hold_deadlines(pool: &PgPool, ids: &[String], claim: Claim<'_>) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let held = sqlx::query(concat!(
        "UPDATE requests SET due_at = $3, claimed_by = NULL, claim_until = NULL
         WHERE id = ANY($4::text[])
           AND state IN ('received', 'approved', 'provisioning')
           AND ",
        claimable!()
    ))
    .bind(claim.replica)
    .bind(claim.now.as_millisecond())
    .bind(claim.until.as_millisecond())
    .bind(ids)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(held)
}

/// [`crate::store::Store::acquire_lease`] on PostgreSQL.
pub(super) async fn acquire_lease(pool: &PgPool, name: &str, claim: Claim<'_>) -> Result<bool> {
    let taken = sqlx::query(
        "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4)
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
         WHERE leases.holder = $2 OR leases.until <= $3",
    )
    .bind(name)
    .bind(claim.replica)
    .bind(claim.now.as_millisecond())
    .bind(claim.until.as_millisecond())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// [`crate::store::Store::release_lease`] on PostgreSQL.
pub(super) async fn release_lease(pool: &PgPool, name: &str, holder: &str) -> Result<bool> {
    let released = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(released == 1)
}

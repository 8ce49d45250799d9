//! Due timers on PostgreSQL (SQLite's `timers.rs`): `due_at` of each request a timer guards.

use jiff::Timestamp;
use sqlx::PgPool;

use super::PgStore;
use crate::audit::{Actor, Details};
use crate::domain::RequestState;
use crate::store::audit_log::Prepared;
use crate::store::claims::{due_timer, timer_states};
use crate::store::{DueTimer, Error, Result, timestamp};

/// [`crate::store::Store::reschedule`] on PostgreSQL.
pub(super) async fn reschedule(
    store: &PgStore,
    id: &str,
    state: RequestState,
    due_at: Timestamp,
    actor: &Actor,
    details: &Details,
) -> Result<bool> {
    let event = Prepared::new(actor, details)?;
    let id = id.to_owned();
    store
        .write(move |tx| {
            Box::pin(async move {
                let moved = sqlx::query(
                    "UPDATE requests SET due_at = $1, claimed_by = NULL, claim_until = NULL
                     WHERE id = $2 AND state = $3",
                )
                .bind(due_at.as_millisecond())
                .bind(&id)
                .bind(state.as_str())
                .execute(tx.conn())
                .await?
                .rows_affected();
                if moved == 0 {
                    return Ok(false);
                }
                tx.append(Some(&id), event).await?;
                Ok(true)
            })
        })
        .await
}

/// Every armed timer of a live request, soonest first.
pub(super) async fn due_timers(pool: &PgPool) -> Result<Vec<DueTimer>> {
    let rows = sqlx::query(concat!(
        "SELECT id, state, due_at FROM requests WHERE due_at IS NOT NULL AND state IN ",
        timer_states!(),
        " ORDER BY due_at, id"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(due_timer).collect()
}

/// The timer of request `id`, if it has one.
pub(super) async fn due_at(pool: &PgPool, id: &str) -> Result<Option<Timestamp>> {
    let due: Option<Option<i64>> = sqlx::query_scalar("SELECT due_at FROM requests WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    due.ok_or_else(|| Error::NotFound(id.to_owned()))?
        .map(timestamp)
        .transpose()
}

//! Due timers: each request a timer guards carries that timer's time in `due_at` (migration
//! 0008), written in the same statement as the state it guards, so that a restart (or another
//! process) finds every timer to arm again. `received`, `approved`, `provisioning` → a deadline
//! the process working on it keeps moving ahead ([`super::Store::hold_deadlines`]), after which
//! the abandoned work is failed and rolled back; `active` → `expires_at`; `revoking` and
//! `expiring` → the next teardown attempt. Every other state has none. Writing a timer clears
//! its claim (`claims.rs`).

use jiff::Timestamp;
use sqlx::SqlitePool;

use super::audit_log::Prepared;
use super::{Error, Result, SqliteStore, timestamp};
use crate::audit::{Actor, Details};
use crate::domain::RequestState;

/// A request's timer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    /// The request.
    pub id: String,
    /// The state the timer guards.
    pub state: RequestState,
    /// When it fires.
    pub due_at: Timestamp,
}

/// [`super::Store::reschedule`] on SQLite.
pub(super) async fn reschedule(
    store: &SqliteStore,
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
                    "UPDATE requests SET due_at = ?, claimed_by = NULL, claim_until = NULL
                     WHERE id = ? AND state = ?",
                )
                .bind(due_at.as_millisecond())
                .bind(&id)
                .bind(state.as_str())
                .execute(&mut tx.conn)
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
pub(super) async fn due_timers(pool: &SqlitePool) -> Result<Vec<DueTimer>> {
    let rows = sqlx::query(concat!(
        "SELECT id, state, due_at FROM requests
         WHERE due_at IS NOT NULL AND state IN ",
        super::claims::timer_states!(),
        " ORDER BY due_at"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(super::claims::due_timer).collect()
}

/// The timer of request `id`, if it has one.
pub(super) async fn due_at(pool: &SqlitePool, id: &str) -> Result<Option<Timestamp>> {
    let due: Option<Option<i64>> = sqlx::query_scalar("SELECT due_at FROM requests WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    due.ok_or_else(|| Error::NotFound(id.to_owned()))?
        .map(timestamp)
        .transpose()
}

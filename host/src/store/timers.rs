//! Due timers: each request a timer guards carries that timer's time in `due_at` (migration
//! 0008), written in the same statement as the state it guards, so that a restart (or another
//! process) finds every timer to arm again. `provisioning` → the deadline after which an
//! abandoned provisioning is rolled back; `active` → `expires_at`; `revoking` and `expiring` →
//! the next teardown attempt. Every other state has none.

use jiff::Timestamp;
use rusqlite::OptionalExtension;
use sqlx::Row;

use super::audit_log::Prepared;
use super::requests::{conflict, read_request};
use super::{
    Error, RequestRecord, RequestState, Result, Store, Transition, now, parse_state, timestamp,
};
use crate::audit::{Actor, Details};

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

impl Store {
    /// [`Store::transition`] that also sets the request's timer to `due_at` (`None` clears it)
    /// in the same statement: a state that needs a timer is never stored without it.
    pub async fn transition_due(
        &self,
        t: Transition<'_>,
        due_at: Option<Timestamp>,
    ) -> Result<RequestRecord> {
        if !t.from.can_move_to(t.to) {
            return Err(Error::InvalidTransition {
                from: t.from,
                to: t.to,
            });
        }
        let error = (t.to == RequestState::Failed)
            .then_some(t.note)
            .flatten()
            .map(str::to_owned);
        let (id, from, to) = (t.id.to_owned(), t.from, t.to);
        let event = Prepared::new(
            t.actor,
            &Details::StateChanged {
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
                note: t.detail.or(t.note).map(str::to_owned),
            },
        )?;
        let expires_at = t.expires_at.map(|at| at.as_millisecond());
        let due_at = due_at.map(|at| at.as_millisecond());
        self.write(move |tx| {
            let updated = tx
                .conn
                .prepare_cached(
                    "UPDATE requests SET state = ?, updated_at = ?,
                        expires_at = COALESCE(?, expires_at), error = COALESCE(?, error),
                        due_at = ?
                     WHERE id = ? AND state = ? RETURNING *",
                )?
                .query_row(
                    rusqlite::params![
                        to.as_str(),
                        now().as_millisecond(),
                        expires_at,
                        error,
                        due_at,
                        id,
                        from.as_str()
                    ],
                    |row| Ok(read_request(row)),
                )
                .optional()?;
            let Some(record) = updated else {
                return Err(conflict(&tx.conn, &id, from));
            };
            let record = record?;
            tx.append(Some(&id), event)?;
            Ok(record)
        })
        .await
    }

    /// Moves the timer of request `id` to `due_at` if the request is still in `state`, with
    /// the audit event `details` by `actor` (why it fires again) in the same transaction.
    /// Returns whether the request was still in `state` (nothing is written otherwise).
    pub async fn reschedule(
        &self,
        id: &str,
        state: RequestState,
        due_at: Timestamp,
        actor: &Actor,
        details: &Details,
    ) -> Result<bool> {
        let event = Prepared::new(actor, details)?;
        let id = id.to_owned();
        self.write(move |tx| {
            let moved = tx
                .conn
                .prepare_cached("UPDATE requests SET due_at = ? WHERE id = ? AND state = ?")?
                .execute(rusqlite::params![
                    due_at.as_millisecond(),
                    id,
                    state.as_str()
                ])?;
            if moved == 0 {
                return Ok(false);
            }
            tx.append(Some(&id), event)?;
            Ok(true)
        })
        .await
    }

    /// Every armed timer of a live request, soonest first.
    pub async fn due_timers(&self) -> Result<Vec<DueTimer>> {
        let rows = sqlx::query(
            "SELECT id, state, due_at FROM requests
             WHERE due_at IS NOT NULL
               AND state IN ('provisioning', 'active', 'revoking', 'expiring')
             ORDER BY due_at",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueTimer {
                    id: row.try_get("id")?,
                    state: parse_state(&row.try_get::<String, _>("state")?)?,
                    due_at: timestamp(row.try_get("due_at")?)?,
                })
            })
            .collect()
    }

    /// The timer of request `id`, if it has one.
    pub async fn due_at(&self, id: &str) -> Result<Option<Timestamp>> {
        let due: Option<Option<i64>> =
            sqlx::query_scalar("SELECT due_at FROM requests WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        due.ok_or_else(|| Error::NotFound(id.to_owned()))?
            .map(timestamp)
            .transpose()
    }
}

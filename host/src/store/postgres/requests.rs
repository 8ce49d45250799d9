//! Access requests on PostgreSQL: the same statements as SQLite's (`store/requests.rs`), with
//! PostgreSQL's parameters, and `NULLS FIRST` where SQLite sorts a missing expiry first.

use jiff::Timestamp;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{PgPool, Row};

use super::PgStore;
use crate::domain::{ModuleVerdict, RequestState};
use crate::store::requests::{
    Cursor, DecidedRow, StoredAccess, TransitionRow, is_unique_violation, prepare_decided,
    prepare_transition,
};
use crate::store::{
    Decided, Error, ListFilter, Page, RequestRecord, Result, Transition, from_json, now,
    parse_state, timestamp,
};

/// Every column of a request, in the order [`read_request`] reads them.
macro_rules! request_columns {
    () => {
        "id, requester_subject, requester_issuer, cluster, namespaces, access, duration_seconds,
         reason, context, state, verdict, grant_json, expires_at, error, created_at, updated_at"
    };
}

/// A `SELECT` of every request column, followed by `$tail`.
macro_rules! select_request {
    ($tail:literal) => {
        concat!("SELECT ", request_columns!(), " FROM requests ", $tail)
    };
}

/// The requests in one live state, through the partial index `requests_live_by_state_expiry`.
const LIVE_IN_STATE: &str = select_request!(
    "WHERE state IN ('received', 'pending-approval', 'approved', 'provisioning', 'active',
                     'revoking', 'expiring')
       AND state = $1 ORDER BY expires_at NULLS FIRST, created_at, id"
);

/// Stores a decided request in one change (see [`crate::store::Store::insert_decided`]).
pub(super) async fn insert_decided(store: &PgStore, d: Decided<'_>) -> Result<RequestRecord> {
    let DecidedRow {
        record,
        duration,
        columns,
        modules,
        due_at,
        events,
    } = prepare_decided(d)?;
    store
        .write(move |tx| {
            Box::pin(async move {
                let (namespaces, access, context, verdict, grant) = &columns;
                let inserted = sqlx::query(
                    "INSERT INTO requests (id, requester_subject, requester_issuer, cluster,
                            namespaces, access, duration_seconds, reason, context, state, verdict,
                            grant_json, modules, created_at, updated_at, due_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                                 $16)",
                )
                .bind(&record.id)
                .bind(&record.subject)
                .bind(&record.issuer)
                .bind(&record.cluster)
                .bind(namespaces)
                .bind(access)
                .bind(duration)
                .bind(&record.reason)
                .bind(context)
                .bind(record.state.as_str())
                .bind(verdict)
                .bind(grant)
                .bind(&modules)
                .bind(record.created_at.as_millisecond())
                .bind(record.updated_at.as_millisecond())
                .bind(due_at)
                .execute(tx.conn())
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(Error::Duplicate(record.id));
                    }
                    inserted => inserted?,
                };
                let chained = tx.chain(Some(&record.id), events);
                tx.insert_events(Some(&record.id), &chained).await?;
                Ok(record)
            })
        })
        .await
}

/// Moves a request by compare-and-set on its state; with `due` also sets its timer.
pub(super) async fn transition(
    store: &PgStore,
    t: Transition<'_>,
    due: Option<Option<Timestamp>>,
) -> Result<RequestRecord> {
    let TransitionRow {
        id,
        from,
        to,
        event,
        expires_at,
        error,
        set_due,
        due_at,
    } = prepare_transition(t, due)?;
    store
        .write(move |tx| {
            Box::pin(async move {
                let updated = sqlx::query(concat!(
                    "UPDATE requests SET state = $1, updated_at = $2,
                            expires_at = COALESCE($3, expires_at), error = COALESCE($4, error),
                            due_at = CASE WHEN $5 THEN $6 ELSE due_at END,
                            claimed_by = CASE WHEN $5 THEN NULL ELSE claimed_by END,
                            claim_until = CASE WHEN $5 THEN NULL ELSE claim_until END
                         WHERE id = $7 AND state = $8 RETURNING ",
                    request_columns!()
                ))
                .bind(to.as_str())
                .bind(now().as_millisecond())
                .bind(expires_at)
                .bind(error)
                .bind(set_due)
                .bind(due_at)
                .bind(&id)
                .bind(from.as_str())
                .fetch_optional(tx.conn())
                .await?;
                let Some(row) = updated else {
                    return Err(conflict(tx.conn(), &id, from).await);
                };
                let record = read_request(&row)?;
                tx.append(Some(&id), event).await?;
                Ok(record)
            })
        })
        .await
}

/// The request with this id.
pub(super) async fn get_request(pool: &PgPool, id: &str) -> Result<RequestRecord> {
    let row = sqlx::query(select_request!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(id.to_owned()))?;
    read_request(&row)
}

/// Each module's part in the request's verdict, in chain order.
pub(super) async fn module_verdicts(pool: &PgPool, id: &str) -> Result<Vec<ModuleVerdict>> {
    let modules: String = sqlx::query_scalar("SELECT modules FROM requests WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(id.to_owned()))?;
    from_json("modules", &modules)
}

/// Every request in `state`, soonest `expires_at` first (none first, as on SQLite).
pub(super) async fn requests_in_state(
    pool: &PgPool,
    state: RequestState,
) -> Result<Vec<RequestRecord>> {
    let sql = if state.is_final() {
        select_request!("WHERE state = $1 ORDER BY expires_at NULLS FIRST, created_at, id")
    } else {
        LIVE_IN_STATE
    };
    let rows = sqlx::query(sql)
        .bind(state.as_str())
        .fetch_all(pool)
        .await?;
    rows.iter().map(read_request).collect()
}

/// One page of requests matching `filter`, newest first by `(created_at, id)`.
pub(super) async fn list_requests(
    pool: &PgPool,
    filter: &ListFilter,
) -> Result<Page<RequestRecord>> {
    let limit = match filter.limit {
        0 => 50,
        n => n.min(500),
    };
    let cursor = filter.cursor.as_deref().map(Cursor::parse).transpose()?;
    let mut query = sqlx::query(sqlx::AssertSqlSafe(list_sql(filter, cursor.is_some())));
    if let Some((issuer, subject)) = &filter.requester {
        query = query.bind(issuer).bind(subject);
    }
    if let Some(cluster) = &filter.cluster {
        query = query.bind(cluster);
    }
    if let Some(state) = filter.state {
        query = query.bind(state.as_str());
    }
    if let Some(cursor) = cursor {
        query = query.bind(cursor.created_at).bind(cursor.id);
    }
    let rows = query.bind(i64::from(limit) + 1).fetch_all(pool).await?;
    let mut items = rows.iter().map(read_request).collect::<Result<Vec<_>>>()?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| {
            Cursor {
                created_at: last.created_at.as_millisecond(),
                id: last.id.clone(),
            }
            .to_string()
        })
    } else {
        None
    };
    Ok(Page { items, next })
}

/// The list query for `filter`, naming only the filters it has; parameters numbered in the
/// order of the terms. Built from literals and numbers only.
fn list_sql(filter: &ListFilter, after: bool) -> String {
    let mut sql = String::from(select_request!("WHERE true"));
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if filter.requester.is_some() {
        let (issuer, subject) = (next(), next());
        sql.push_str(&format!(
            " AND requester_issuer = ${issuer} AND requester_subject = ${subject}"
        ));
    }
    if filter.cluster.is_some() {
        sql.push_str(&format!(" AND cluster = ${}", next()));
    }
    if filter.state.is_some() {
        sql.push_str(&format!(" AND state = ${}", next()));
    }
    if after {
        let (at, id) = (next(), next());
        sql.push_str(&format!(" AND (created_at, id) < (${at}, ${id})"));
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT ${}",
        next()
    ));
    sql
}

/// Why a compare-and-set on `id`'s state failed: it is in another state, or gone.
async fn conflict(conn: &mut PgConnection, id: &str, expected: RequestState) -> Error {
    let state: std::result::Result<Option<String>, _> =
        sqlx::query_scalar("SELECT state FROM requests WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await;
    match state {
        Ok(Some(state)) => match parse_state(&state) {
            Ok(actual) => Error::StateConflict {
                id: id.to_owned(),
                expected,
                actual,
            },
            Err(error) => error,
        },
        Ok(None) => Error::NotFound(id.to_owned()),
        Err(error) => error.into(),
    }
}

fn read_request(row: &PgRow) -> Result<RequestRecord> {
    let text = |column: &str| -> Result<String> { Ok(row.try_get(column)?) };
    let optional = |column: &str| -> Result<Option<String>> { Ok(row.try_get(column)?) };
    let access: StoredAccess = from_json("access", &text("access")?)?;
    Ok(RequestRecord {
        id: text("id")?,
        subject: text("requester_subject")?,
        issuer: text("requester_issuer")?,
        cluster: text("cluster")?,
        namespaces: from_json("namespaces", &text("namespaces")?)?,
        access: access.access,
        cluster_rules: access.cluster_rules,
        duration_seconds: u64::try_from(row.try_get::<i64, _>("duration_seconds")?)
            .map_err(|_| Error::Corrupt("negative duration".to_owned()))?,
        reason: text("reason")?,
        context: from_json("context", &text("context")?)?,
        state: parse_state(&text("state")?)?,
        verdict: optional("verdict")?
            .map(|v| from_json("verdict", &v))
            .transpose()?,
        grant: optional("grant_json")?
            .map(|g| from_json("grant_json", &g))
            .transpose()?,
        expires_at: row
            .try_get::<Option<i64>, _>("expires_at")?
            .map(timestamp)
            .transpose()?,
        error: optional("error")?,
        created_at: timestamp(row.try_get("created_at")?)?,
        updated_at: timestamp(row.try_get("updated_at")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_are_numbered_in_the_order_they_are_bound() {
        let all = ListFilter {
            requester: Some(("iss".into(), "sub".into())),
            cluster: Some("prod".into()),
            state: Some(RequestState::Active),
            ..ListFilter::default()
        };
        let sql = list_sql(&all, true);
        assert!(
            sql.contains("requester_issuer = $1 AND requester_subject = $2"),
            "{sql}"
        );
        assert!(sql.contains("cluster = $3 AND state = $4"), "{sql}");
        assert!(sql.contains("(created_at, id) < ($5, $6)"), "{sql}");
        assert!(sql.ends_with("LIMIT $7"), "{sql}");
        assert!(list_sql(&ListFilter::default(), false).ends_with("LIMIT $1"));
    }
}

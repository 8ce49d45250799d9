//! Access requests: a decided request stored in one change, state transitions
//! (compare-and-set, with their audit event in the same transaction), reads and paged lists.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Row, SqlitePool};

use super::audit_log::Prepared;
use super::{Error, Result, SqliteStore, from_json, now, parse_state, timestamp, to_json};
use crate::audit::{Actor, Details};
use crate::domain::{Access, AccessRequest, Grant, Identity, ModuleVerdict, RequestState, Rule};
use crate::policy::Verdict;

/// A stored access request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// The request's id.
    pub id: String,
    /// The requester's `sub`.
    pub subject: String,
    /// The requester's `iss`.
    pub issuer: String,
    /// Target cluster.
    pub cluster: String,
    /// Namespaces asked for.
    pub namespaces: Vec<String>,
    /// What was asked for in them.
    pub access: Access,
    /// Cluster-scoped rules asked for.
    pub cluster_rules: Vec<Rule>,
    /// Duration asked for, in seconds.
    pub duration_seconds: u64,
    /// The requester's reason.
    pub reason: String,
    /// The requester's context.
    pub context: BTreeMap<String, String>,
    /// Where it stands.
    pub state: RequestState,
    /// The policy chain's combined decision, once made (each module's approval apart).
    pub verdict: Option<Verdict>,
    /// What is (to be) provisioned: the grant of an allowing or approval-needing verdict.
    pub grant: Option<Grant>,
    /// When the grant ends, once active.
    pub expires_at: Option<Timestamp>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it was received.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A move of one request from one state to another.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    /// The request.
    pub id: &'a str,
    /// The state the caller saw; the move only happens if the request is still in it.
    pub from: RequestState,
    /// The state to move to.
    pub to: RequestState,
    /// Who moves it.
    pub actor: &'a Actor,
    /// Why; stored as the request's error when moving to `failed` (its requester reads it).
    pub note: Option<&'a str>,
    /// What the audit event says instead of `note` when it must say more than the requester
    /// may read (the cause of a failure, in the cluster's words); `None`: the same as `note`.
    pub detail: Option<&'a str>,
    /// When the grant ends; set when moving to `active`.
    pub expires_at: Option<Timestamp>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only requests by this issuer's subject (set both for "own requests").
    pub requester: Option<(String, String)>,
    /// Only requests for this cluster.
    pub cluster: Option<String>,
    /// Only requests in this state.
    pub state: Option<RequestState>,
    /// Page size; 0 means the default (50), capped at 500.
    pub limit: u32,
    /// Continue after this cursor (from [`Page::next`]).
    pub cursor: Option<String>,
}

/// One page of a list, newest first by `(created_at, id)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// Every column of a request, in the order [`read_request`] reads them.
macro_rules! request_columns {
    () => {
        "id, requester_subject, requester_issuer, cluster, namespaces, access, duration_seconds,
         reason, context, state, verdict, grant_json, expires_at, error, created_at, updated_at"
    };
}

/// A `SELECT` of every request column, followed by `$tail` (a `WHERE`/`ORDER BY` literal).
macro_rules! select_request {
    ($tail:literal) => {
        concat!("SELECT ", request_columns!(), " FROM requests ", $tail)
    };
}

/// The requests in one live state, through the partial index
/// `requests_live_by_state_expiry` (migration 0008), whose `WHERE` term it repeats.
pub(super) const LIVE_IN_STATE: &str = select_request!(
    "WHERE state IN ('received', 'pending-approval', 'approved', 'provisioning', 'active',
                     'revoking', 'expiring')
       AND state = ? ORDER BY expires_at, created_at, id"
);

/// The `access` column: what was asked for in the namespaces, and the cluster rules.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredAccess {
    pub(super) access: Access,
    pub(super) cluster_rules: Vec<Rule>,
}

/// A new request with the policy chain's verdict on it, as [`super::Store::insert_decided`]
/// stores it.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    /// The request.
    pub request: &'a AccessRequest,
    /// Who asked.
    pub requester: &'a Identity,
    /// The chain's combined decision.
    pub decision: &'a Verdict,
    /// Each module's part, in chain order.
    pub modules: &'a [ModuleVerdict],
    /// Where the verdict puts it: `approved`, `pending-approval`, `denied` or `failed`.
    pub to: RequestState,
    /// Who decided (the policy chain).
    pub actor: &'a Actor,
    /// Further events about the decision, appended after it (shadow evaluation differences).
    pub also: &'a [Details],
    /// The timer of state `to`, if it has one: an `approved` request's deadline (see
    /// [`super::Store::hold_deadlines`]).
    pub due_at: Option<Timestamp>,
}

/// A decided request as it is stored: its record, its columns and its events.
pub(super) struct DecidedRow {
    pub(super) record: RequestRecord,
    pub(super) duration: i64,
    /// `namespaces`, `access`, `context`, `verdict`, `grant_json`.
    pub(super) columns: (String, String, String, String, Option<String>),
    pub(super) modules: String,
    /// `due_at`, Unix milliseconds.
    pub(super) due_at: Option<i64>,
    pub(super) events: Vec<Prepared>,
}

/// Checks and prepares a decided request for storing (on any engine).
pub(super) fn prepare_decided(d: Decided<'_>) -> Result<DecidedRow> {
    let from = RequestState::Received;
    if !from.can_move_to(d.to) {
        return Err(Error::InvalidTransition { from, to: d.to });
    }
    let request = d.request;
    let created = Timestamp::from_millisecond(request.requested_at.as_millisecond())
        .map_err(|e| Error::Corrupt(e.to_string()))?;
    let duration = i64::try_from(request.duration_seconds)
        .map_err(|_| Error::Corrupt("duration is out of range".to_owned()))?;
    let grant = d.decision.grant().cloned();
    let columns = (
        to_json(&request.namespaces)?,
        to_json(&StoredAccess {
            access: request.access.clone(),
            cluster_rules: request.cluster_rules.clone(),
        })?,
        to_json(&request.context)?,
        to_json(d.decision)?,
        grant.as_ref().map(to_json).transpose()?,
    );
    let modules = to_json(&d.modules)?;
    let due_at = d.due_at.map(|at| at.as_millisecond());
    let record = RequestRecord {
        id: request.id.clone(),
        subject: d.requester.subject.clone(),
        issuer: d.requester.issuer.clone(),
        cluster: request.cluster.clone(),
        namespaces: request.namespaces.clone(),
        access: request.access.clone(),
        cluster_rules: request.cluster_rules.clone(),
        duration_seconds: request.duration_seconds,
        reason: request.reason.clone(),
        context: request.context.clone(),
        state: d.to,
        verdict: Some(d.decision.clone()),
        grant,
        expires_at: None,
        error: None,
        created_at: created,
        updated_at: now(),
    };
    let requester = Actor::user(d.requester);
    let received = Details::RequestReceived {
        cluster: request.cluster.clone(),
        namespaces: request.namespaces.clone(),
        access: request.access.clone(),
        cluster_rules: request.cluster_rules.clone(),
        duration_seconds: request.duration_seconds,
        reason: request.reason.clone(),
        context: request.context.clone(),
        identity: Some(d.requester.clone()),
        requested_at: Some(request.requested_at),
    };
    let verdict = Details::Verdict {
        decision: d.decision.clone(),
        modules: d.modules.to_vec(),
    };
    let changed = Details::StateChanged {
        from: from.as_str().to_owned(),
        to: d.to.as_str().to_owned(),
        note: None,
    };
    let events = [
        (&requester, &received),
        (d.actor, &verdict),
        (d.actor, &changed),
    ]
    .into_iter()
    .chain(d.also.iter().map(|also| (d.actor, also)))
    .map(|(actor, details)| Prepared::new(actor, details))
    .collect::<Result<Vec<_>>>()?;
    Ok(DecidedRow {
        record,
        duration,
        columns,
        modules,
        due_at,
        events,
    })
}

/// Stores a decided request in one change (see [`super::Store::insert_decided`]).
pub(super) async fn insert_decided(store: &SqliteStore, d: Decided<'_>) -> Result<RequestRecord> {
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
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                .execute(&mut tx.conn)
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

/// Moves a request by compare-and-set on its state (see [`super::Store::transition`]); with
/// `due` also sets its timer to `due` (`Some(None)` clears it) and clears its claim in the same
/// statement ([`super::Store::transition_due`]), else leaves the timer as it is. A final state
/// never keeps a timer.
pub(super) async fn transition(
    store: &SqliteStore,
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
                    "UPDATE requests SET state = ?1, updated_at = ?2,
                            expires_at = COALESCE(?3, expires_at), error = COALESCE(?4, error),
                            due_at = CASE WHEN ?5 THEN ?6 ELSE due_at END,
                            claimed_by = CASE WHEN ?5 THEN NULL ELSE claimed_by END,
                            claim_until = CASE WHEN ?5 THEN NULL ELSE claim_until END
                         WHERE id = ?7 AND state = ?8 RETURNING ",
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
                .fetch_optional(&mut tx.conn)
                .await?;
                let Some(row) = updated else {
                    return Err(conflict(&mut tx.conn, &id, from).await);
                };
                let record = read_request(&row)?;
                tx.append(Some(&id), event).await?;
                Ok(record)
            })
        })
        .await
}

/// A move as it is written: the compare-and-set's values and its event.
pub(super) struct TransitionRow {
    pub(super) id: String,
    pub(super) from: RequestState,
    pub(super) to: RequestState,
    pub(super) event: Prepared,
    pub(super) expires_at: Option<i64>,
    pub(super) error: Option<String>,
    /// Whether `due_at` is set (to `due_at`, `None` clearing it).
    pub(super) set_due: bool,
    pub(super) due_at: Option<i64>,
}

/// Checks and prepares a move (on any engine); `due` as for [`transition`].
pub(super) fn prepare_transition(
    t: Transition<'_>,
    due: Option<Option<Timestamp>>,
) -> Result<TransitionRow> {
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
    // A final state has no timer, and so no claim.
    let due = if to.is_final() { Some(None) } else { due };
    let (set_due, due_at) = (due.is_some(), due.flatten().map(|at| at.as_millisecond()));
    Ok(TransitionRow {
        id,
        from,
        to,
        event,
        expires_at,
        error,
        set_due,
        due_at,
    })
}

/// The request with this id.
pub(super) async fn get_request(pool: &SqlitePool, id: &str) -> Result<RequestRecord> {
    let row = sqlx::query(select_request!("WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(id.to_owned()))?;
    read_request(&row)
}

/// Each module's part in the request's verdict, in chain order.
pub(super) async fn module_verdicts(pool: &SqlitePool, id: &str) -> Result<Vec<ModuleVerdict>> {
    let modules: String = sqlx::query_scalar("SELECT modules FROM requests WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(id.to_owned()))?;
    from_json("modules", &modules)
}

/// Every request in `state`, soonest `expires_at` first.
pub(super) async fn requests_in_state(
    pool: &SqlitePool,
    state: RequestState,
) -> Result<Vec<RequestRecord>> {
    let sql = if state.is_final() {
        // Final states are not in the index of live requests: a full scan, which no
        // service path needs.
        select_request!("WHERE state = ? ORDER BY expires_at, created_at, id")
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
    pool: &SqlitePool,
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

/// Why a compare-and-set on `id`'s state failed: it is in another state, or gone.
async fn conflict(conn: &mut SqliteConnection, id: &str, expected: RequestState) -> Error {
    let state: std::result::Result<Option<String>, _> =
        sqlx::query_scalar("SELECT state FROM requests WHERE id = ?")
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

/// Whether a write failed on a `UNIQUE` or `PRIMARY KEY` constraint.
pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// The list query for `filter`, naming only the filters it has (so that SQLite can seek
/// `requests_by_requester` for one requester's requests), newest first by `(created_at, id)`
/// (an index of each, migration 0009); `after` adds the cursor: rows before the
/// `(created_at, id)` it names. Built from literals only: every value is a bound parameter,
/// in the order of the terms.
pub(super) fn list_sql(filter: &ListFilter, after: bool) -> String {
    let mut sql = String::from(select_request!("WHERE true"));
    if filter.requester.is_some() {
        sql.push_str(" AND requester_issuer = ? AND requester_subject = ?");
    }
    if filter.cluster.is_some() {
        sql.push_str(" AND cluster = ?");
    }
    if filter.state.is_some() {
        sql.push_str(" AND state = ?");
    }
    if after {
        sql.push_str(" AND (created_at, id) < (?, ?)");
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
    sql
}

/// Where a page ends: the `(created_at, id)` of its last request. Written `<created_at
/// ms>.<id>`, the form cursors always had, so that cursors handed out before still page on;
/// callers treat it as opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cursor {
    pub(super) created_at: i64,
    pub(super) id: String,
}

impl Cursor {
    pub(super) fn parse(cursor: &str) -> Result<Self> {
        cursor
            .split_once('.')
            .and_then(|(at, id)| {
                let created_at = at.parse::<i64>().ok()?;
                (!id.is_empty()).then(|| Self {
                    created_at,
                    id: id.to_owned(),
                })
            })
            .ok_or_else(|| Error::BadCursor(cursor.to_owned()))
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.created_at, self.id)
    }
}

fn read_request(row: &SqliteRow) -> Result<RequestRecord> {
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

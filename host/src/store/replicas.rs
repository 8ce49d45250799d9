//! The replica registry and the reload generation (migration 0011): each replica's heartbeat
//! (what it serves, when it was last seen) and the one reload generation every replica follows.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::{Row, SqlitePool};

use super::{Error, Result, SqliteStore, from_json, now, timestamp, to_json};

/// A replica not seen for this long is forgotten (its row deleted) by the next heartbeat of
/// any replica: pods come and go under new names at every rollout.
pub const FORGET_REPLICAS_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The modules a replica serves: per cluster, each chain entry's name and module digest, in
/// chain order.
pub type PolicyDigests = BTreeMap<String, Vec<EntryDigest>>;

/// One chain entry's active module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDigest {
    /// The entry's name.
    pub entry: String,
    /// The digest of the module serving it.
    pub digest: String,
}

/// A replica as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaRecord {
    /// The replica's id.
    pub id: String,
    /// When it started.
    pub started_at: Timestamp,
    /// When its last heartbeat was stored (the store's clock; ignored when writing one).
    pub last_seen: Timestamp,
    /// The reload generation it has applied.
    pub generation: u64,
    /// The generation of its own policy set (moves whenever its chains change).
    pub serving: u64,
    /// The modules it serves.
    pub digests: PolicyDigests,
}

/// The current reload generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadGeneration {
    /// 1 for the first, one more each time one is published.
    pub generation: u64,
    /// The replica that published it.
    pub replica: String,
    /// What made it publish (`api`, `promote`, `watch`, `start`, ...).
    pub trigger: String,
    /// The modules that replica served then: every replica should serve the same.
    pub digests: PolicyDigests,
    /// When it was published.
    pub published_at: Timestamp,
}

fn to_u64(column: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("column `{column}`: `{value}`")))
}

pub(super) fn to_i64(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::Corrupt(format!("generation `{value}` is too large")))
}

/// [`super::Store::heartbeat`] on SQLite.
pub(super) async fn heartbeat(store: &SqliteStore, replica: &ReplicaRecord) -> Result<()> {
    let digests = to_json(&replica.digests)?;
    let (generation, serving) = (to_i64(replica.generation)?, to_i64(replica.serving)?);
    let (id, started_at) = (replica.id.clone(), replica.started_at.as_millisecond());
    store
        .write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO replicas (id, started_at, last_seen, generation, serving, digests)
                     VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (id) DO UPDATE
                     SET started_at = excluded.started_at, last_seen = excluded.last_seen,
                         generation = excluded.generation, serving = excluded.serving,
                         digests = excluded.digests",
                )
                .bind(&id)
                .bind(started_at)
                .bind(now().as_millisecond())
                .bind(generation)
                .bind(serving)
                .bind(&digests)
                .execute(&mut tx.conn)
                .await?;
                sqlx::query("DELETE FROM replicas WHERE last_seen < ?")
                    .bind((now() - FORGET_REPLICAS_AFTER).as_millisecond())
                    .execute(&mut tx.conn)
                    .await?;
                Ok(())
            })
        })
        .await
}

/// [`super::Store::replicas`] on SQLite.
pub(super) async fn replicas(
    pool: &SqlitePool,
    seen_since: Timestamp,
) -> Result<Vec<ReplicaRecord>> {
    let rows = sqlx::query(
        "SELECT id, started_at, last_seen, generation, serving, digests FROM replicas
         WHERE last_seen >= ? ORDER BY id",
    )
    .bind(seen_since.as_millisecond())
    .fetch_all(pool)
    .await?;
    rows.iter().map(replica).collect()
}

/// A `replicas` row, on either engine.
pub(super) fn replica<'r, R>(row: &'r R) -> Result<ReplicaRecord>
where
    R: Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ReplicaRecord {
        id: row.try_get("id")?,
        started_at: timestamp(row.try_get("started_at")?)?,
        last_seen: timestamp(row.try_get("last_seen")?)?,
        generation: to_u64("generation", row.try_get("generation")?)?,
        serving: to_u64("serving", row.try_get("serving")?)?,
        digests: from_json("digests", &row.try_get::<String, _>("digests")?)?,
    })
}

/// [`super::Store::remove_replica`] on SQLite.
pub(super) async fn remove_replica(store: &SqliteStore, id: &str) -> Result<bool> {
    let id = id.to_owned();
    store
        .write(move |tx| {
            Box::pin(async move {
                let removed = sqlx::query("DELETE FROM replicas WHERE id = ?")
                    .bind(&id)
                    .execute(&mut tx.conn)
                    .await?
                    .rows_affected();
                Ok(removed > 0)
            })
        })
        .await
}

/// [`super::Store::publish_generation`] on SQLite: the row is moved inside the writer's
/// transaction, which holds the database's write lock, so two publishers never get the same
/// generation.
pub(super) async fn publish_generation(
    store: &SqliteStore,
    replica: &str,
    trigger: &str,
    digests: &PolicyDigests,
) -> Result<ReloadGeneration> {
    let text = to_json(digests)?;
    let (replica, trigger) = (replica.to_owned(), trigger.to_owned());
    store
        .write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "INSERT INTO reload_generation
                         (singleton, generation, replica, trigger, digests, published_at)
                     VALUES (1, 1, ?, ?, ?, ?)
                     ON CONFLICT (singleton) DO UPDATE
                     SET generation = generation + 1, replica = excluded.replica,
                         trigger = excluded.trigger, digests = excluded.digests,
                         published_at = excluded.published_at
                     RETURNING generation, replica, trigger, digests, published_at",
                )
                .bind(&replica)
                .bind(&trigger)
                .bind(&text)
                .bind(now().as_millisecond())
                .fetch_one(&mut tx.conn)
                .await?;
                generation(&row)
            })
        })
        .await
}

/// [`super::Store::reload_generation`] on SQLite.
pub(super) async fn reload_generation(pool: &SqlitePool) -> Result<Option<ReloadGeneration>> {
    sqlx::query("SELECT generation, replica, trigger, digests, published_at FROM reload_generation")
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(generation)
        .transpose()
}

/// The `reload_generation` row, on either engine.
pub(super) fn generation<'r, R>(row: &'r R) -> Result<ReloadGeneration>
where
    R: Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ReloadGeneration {
        generation: to_u64("generation", row.try_get("generation")?)?,
        replica: row.try_get("replica")?,
        trigger: row.try_get("trigger")?,
        digests: from_json("digests", &row.try_get::<String, _>("digests")?)?,
        published_at: timestamp(row.try_get("published_at")?)?,
    })
}

//! The replica registry and the reload generation on PostgreSQL (SQLite's
//! `store/replicas.rs`). No audit event goes with them: each is a statement (or, for a
//! heartbeat, a transaction) on the pool, outside the writer and its chain lock.

use jiff::Timestamp;
use sqlx::PgPool;

use crate::store::replicas::{FORGET_REPLICAS_AFTER, generation, replica, to_i64};
use crate::store::{PolicyDigests, ReloadGeneration, ReplicaRecord, Result, now, to_json};

/// [`crate::store::Store::heartbeat`] on PostgreSQL.
pub(super) async fn heartbeat(pool: &PgPool, record: &ReplicaRecord) -> Result<()> {
    let digests = to_json(&record.digests)?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO replicas (id, started_at, last_seen, generation, serving, digests)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE
         SET started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen,
             generation = EXCLUDED.generation, serving = EXCLUDED.serving,
             digests = EXCLUDED.digests",
    )
    .bind(&record.id)
    .bind(record.started_at.as_millisecond())
    .bind(now().as_millisecond())
    .bind(to_i64(record.generation)?)
    .bind(to_i64(record.serving)?)
    .bind(&digests)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM replicas WHERE last_seen < $1")
        .bind((now() - FORGET_REPLICAS_AFTER).as_millisecond())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// [`crate::store::Store::replicas`] on PostgreSQL.
pub(super) async fn replicas(pool: &PgPool, seen_since: Timestamp) -> Result<Vec<ReplicaRecord>> {
    let rows = sqlx::query(
        "SELECT id, started_at, last_seen, generation, serving, digests FROM replicas
         WHERE last_seen >= $1 ORDER BY id",
    )
    .bind(seen_since.as_millisecond())
    .fetch_all(pool)
    .await?;
    rows.iter().map(replica).collect()
}

/// [`crate::store::Store::remove_replica`] on PostgreSQL.
pub(super) async fn remove_replica(pool: &PgPool, id: &str) -> Result<bool> {
    let removed = sqlx::query("DELETE FROM replicas WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(removed > 0)
}

/// [`crate::store::Store::publish_generation`] on PostgreSQL: the upsert's row lock
/// serialises publishers, and each re-reads the row it increments.
pub(super) async fn publish_generation(
    pool: &PgPool,
    replica: &str,
    trigger: &str,
    digests: &PolicyDigests,
) -> Result<ReloadGeneration> {
    let row = sqlx::query(
        "INSERT INTO reload_generation
             (singleton, generation, replica, trigger, digests, published_at)
         VALUES (1, 1, $1, $2, $3, $4)
         ON CONFLICT (singleton) DO UPDATE
         SET generation = reload_generation.generation + 1, replica = EXCLUDED.replica,
             trigger = EXCLUDED.trigger, digests = EXCLUDED.digests,
             published_at = EXCLUDED.published_at
         RETURNING generation, replica, trigger, digests, published_at",
    )
    .bind(replica)
    .bind(trigger)
    .bind(to_json(digests)?)
    .bind(now().as_millisecond())
    .fetch_one(pool)
    .await?;
    generation(&row)
}

/// [`crate::store::Store::reload_generation`] on PostgreSQL.
pub(super) async fn reload_generation(pool: &PgPool) -> Result<Option<ReloadGeneration>> {
    sqlx::query("SELECT generation, replica, trigger, digests, published_at FROM reload_generation")
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(generation)
        .transpose()
}

//! Provisioned objects and promoted policies on PostgreSQL (SQLite's `objects.rs` and
//! `promotions.rs`).

use std::path::PathBuf;

use sqlx::{PgPool, Row};

use super::PgStore;
use crate::audit::{Actor, Details};
use crate::domain::{ObjectRef, UnknownKind};
use crate::policy::set::Promotion;
use crate::store::audit_log::Prepared;
use crate::store::{Error, ProvisionedObject, Result, now, timestamp};

/// Records `object` for `request_id` with its `object_created` event, unless recorded already.
pub(super) async fn record_object(
    store: &PgStore,
    request_id: &str,
    object: &ObjectRef,
    actor: &Actor,
) -> Result<bool> {
    let request_id = request_id.to_owned();
    let object = object.clone();
    let event = Prepared::new(
        actor,
        &Details::ObjectCreated {
            object: object.clone(),
        },
    )?;
    store
        .write(move |tx| {
            Box::pin(async move {
                let inserted = sqlx::query(
                    "INSERT INTO provisioned_objects (request_id, kind, namespace, name, created_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (request_id, kind, namespace, name) DO NOTHING",
                )
                .bind(&request_id)
                .bind(object.kind.as_str())
                .bind(object.namespace.as_deref().unwrap_or_default())
                .bind(&object.name)
                .bind(now().as_millisecond())
                .execute(tx.conn())
                .await?
                .rows_affected()
                    == 1;
                if inserted {
                    tx.append(Some(&request_id), event).await?;
                }
                Ok(inserted)
            })
        })
        .await
}

/// Records that `object` was deleted, with an `object_deleted` event (written even for an
/// object never recorded); returns whether it was recorded.
pub(super) async fn record_object_deleted(
    store: &PgStore,
    request_id: &str,
    object: &ObjectRef,
    actor: &Actor,
) -> Result<bool> {
    let request_id = request_id.to_owned();
    let object = object.clone();
    let event = Prepared::new(
        actor,
        &Details::ObjectDeleted {
            object: object.clone(),
        },
    )?;
    store
        .write(move |tx| {
            Box::pin(async move {
                let known = sqlx::query(
                    "UPDATE provisioned_objects SET deleted_at = $1
                     WHERE request_id = $2 AND kind = $3 AND namespace = $4 AND name = $5
                       AND deleted_at IS NULL",
                )
                .bind(now().as_millisecond())
                .bind(&request_id)
                .bind(object.kind.as_str())
                .bind(object.namespace.as_deref().unwrap_or_default())
                .bind(&object.name)
                .execute(tx.conn())
                .await?
                .rows_affected()
                    == 1;
                tx.append(Some(&request_id), event).await?;
                Ok(known)
            })
        })
        .await
}

/// The objects recorded for a request, in the order they were recorded.
pub(super) async fn objects_of(
    pool: &PgPool,
    request_id: &str,
    include_deleted: bool,
) -> Result<Vec<ProvisionedObject>> {
    let rows = sqlx::query(
        "SELECT kind, namespace, name, created_at, deleted_at FROM provisioned_objects
         WHERE request_id = $1 AND ($2 OR deleted_at IS NULL) ORDER BY position",
    )
    .bind(request_id)
    .bind(include_deleted)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let namespace: String = row.try_get("namespace")?;
            Ok(ProvisionedObject {
                object: ObjectRef {
                    kind: row
                        .try_get::<String, _>("kind")?
                        .parse()
                        .map_err(|e: UnknownKind| Error::Corrupt(e.to_string()))?,
                    namespace: (!namespace.is_empty()).then_some(namespace),
                    name: row.try_get("name")?,
                },
                created_at: timestamp(row.try_get("created_at")?)?,
                deleted_at: row
                    .try_get::<Option<i64>, _>("deleted_at")?
                    .map(timestamp)
                    .transpose()?,
            })
        })
        .collect()
}

/// Records `promotion` (replacing one of the same cluster and entry) with its event.
pub(super) async fn save_promotion(
    store: &PgStore,
    promotion: &Promotion,
    actor: &Actor,
) -> Result<()> {
    let candidate = promotion.candidate.display().to_string();
    let event = Prepared::new(
        actor,
        &Details::PolicyPromoted {
            cluster: promotion.cluster.clone(),
            entry: promotion.entry.clone(),
            candidate: candidate.clone(),
        },
    )?;
    let (cluster, entry) = (promotion.cluster.clone(), promotion.entry.clone());
    store
        .write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO policy_promotions (cluster, entry, candidate, promoted_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (cluster, entry) DO UPDATE
                     SET candidate = excluded.candidate, promoted_at = excluded.promoted_at",
                )
                .bind(&cluster)
                .bind(&entry)
                .bind(&candidate)
                .bind(now().as_millisecond())
                .execute(tx.conn())
                .await?;
                tx.append(None, event).await?;
                Ok(())
            })
        })
        .await
}

/// Every recorded promotion, oldest first.
pub(super) async fn promotions(pool: &PgPool) -> Result<Vec<Promotion>> {
    let rows = sqlx::query(
        "SELECT cluster, entry, candidate FROM policy_promotions
         ORDER BY promoted_at, cluster, entry",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Promotion {
                cluster: row.try_get("cluster")?,
                entry: row.try_get("entry")?,
                candidate: PathBuf::from(row.try_get::<String, _>("candidate")?),
            })
        })
        .collect()
}

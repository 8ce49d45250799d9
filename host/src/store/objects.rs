//! The Kubernetes objects provisioned for each request, so that teardown, rollback and the
//! reconciler know what exists without asking the cluster first.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::{Row, SqlitePool};

use super::audit_log::Prepared;
use super::{Error, Result, SqliteStore, now, timestamp};
use crate::audit::{Actor, Details};

use crate::domain::{ObjectRef, UnknownKind};

/// An object recorded for a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvisionedObject {
    /// The object.
    pub object: ObjectRef,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// When it was deleted, if it was.
    pub deleted_at: Option<Timestamp>,
}

/// Records that `object` was created for request `request_id`, with an `object_created`
/// event, unless it was recorded already (returns whether it was new).
pub(super) async fn record_object(
    store: &SqliteStore,
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
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (request_id, kind, namespace, name) DO NOTHING",
                )
                .bind(&request_id)
                .bind(object.kind.as_str())
                .bind(object.namespace.as_deref().unwrap_or_default())
                .bind(&object.name)
                .bind(now().as_millisecond())
                .execute(&mut tx.conn)
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

/// Records that `object` of request `request_id` was deleted, with an `object_deleted` event
/// (written even for an object never recorded); returns whether it was recorded.
pub(super) async fn record_object_deleted(
    store: &SqliteStore,
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
                    "UPDATE provisioned_objects SET deleted_at = ?
                     WHERE request_id = ? AND kind = ? AND namespace = ? AND name = ?
                       AND deleted_at IS NULL",
                )
                .bind(now().as_millisecond())
                .bind(&request_id)
                .bind(object.kind.as_str())
                .bind(object.namespace.as_deref().unwrap_or_default())
                .bind(&object.name)
                .execute(&mut tx.conn)
                .await?
                .rows_affected()
                    == 1;
                tx.append(Some(&request_id), event).await?;
                Ok(known)
            })
        })
        .await
}

/// The objects recorded for a request, in the order they were recorded; deleted ones only
/// when `include_deleted`.
pub(super) async fn objects_of(
    pool: &SqlitePool,
    request_id: &str,
    include_deleted: bool,
) -> Result<Vec<ProvisionedObject>> {
    let rows = sqlx::query(
        "SELECT kind, namespace, name, created_at, deleted_at FROM provisioned_objects
         WHERE request_id = ? AND (? OR deleted_at IS NULL) ORDER BY rowid",
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

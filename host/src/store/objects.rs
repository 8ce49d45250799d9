//! The Kubernetes objects provisioned for each request, so that teardown, rollback and the
//! reconciler know what exists without asking the cluster first.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;

use super::audit_log::Prepared;
use super::{Result, Store, now, timestamp};
use crate::audit::{Actor, Details};

pub use crate::domain::ObjectRef;

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

impl Store {
    /// Records that `object` was created for request `request_id`, with an `object_created`
    /// event. Recording the same object again (a retried step) changes nothing and returns
    /// `false`.
    pub async fn record_object(
        &self,
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
        self.write(move |tx| {
            let inserted = tx
                .conn
                .prepare_cached(
                    "INSERT INTO provisioned_objects (request_id, kind, namespace, name, created_at)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (request_id, kind, namespace, name) DO NOTHING",
                )?
                .execute(rusqlite::params![
                    request_id,
                    object.kind,
                    object.namespace.as_deref().unwrap_or_default(),
                    object.name,
                    now().as_millisecond(),
                ])?
                == 1;
            if inserted {
                tx.append(Some(&request_id), event)?;
            }
            Ok(inserted)
        })
        .await
    }

    /// Records that `object` of request `request_id` was deleted, with an `object_deleted`
    /// event. The event is written even for an object that was never recorded (the
    /// reconciler deleting an orphan found by its labels); returns whether it was recorded.
    pub async fn record_object_deleted(
        &self,
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
        self.write(move |tx| {
            let known = tx
                .conn
                .prepare_cached(
                    "UPDATE provisioned_objects SET deleted_at = ?
                     WHERE request_id = ? AND kind = ? AND namespace = ? AND name = ?
                       AND deleted_at IS NULL",
                )?
                .execute(rusqlite::params![
                    now().as_millisecond(),
                    request_id,
                    object.kind,
                    object.namespace.as_deref().unwrap_or_default(),
                    object.name,
                ])?
                == 1;
            tx.append(Some(&request_id), event)?;
            Ok(known)
        })
        .await
    }

    /// The objects recorded for a request, in the order they were created; deleted ones
    /// only when `include_deleted`.
    pub async fn objects_of(
        &self,
        request_id: &str,
        include_deleted: bool,
    ) -> Result<Vec<ProvisionedObject>> {
        let rows = sqlx::query(
            "SELECT kind, namespace, name, created_at, deleted_at FROM provisioned_objects
             WHERE request_id = ? AND (? OR deleted_at IS NULL) ORDER BY rowid",
        )
        .bind(request_id)
        .bind(include_deleted)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let namespace: String = row.try_get("namespace")?;
                Ok(ProvisionedObject {
                    object: ObjectRef {
                        kind: row.try_get("kind")?,
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
}

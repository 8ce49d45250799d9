//! Promotions of candidate policy modules: kept so that a restart applies them again.

use std::path::PathBuf;

use sqlx::{Row, SqlitePool};

use super::audit_log::Prepared;
use super::{Result, SqliteStore, now};
use crate::audit::{Actor, Details};
use crate::policy::set::Promotion;

/// Records `promotion` (replacing an earlier one of the same cluster and entry) with its
/// `policy_promoted` event, in one transaction.
pub(super) async fn save_promotion(
    store: &SqliteStore,
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
                     VALUES (?, ?, ?, ?)
                     ON CONFLICT (cluster, entry) DO UPDATE
                     SET candidate = excluded.candidate, promoted_at = excluded.promoted_at",
                )
                .bind(&cluster)
                .bind(&entry)
                .bind(&candidate)
                .bind(now().as_millisecond())
                .execute(&mut tx.conn)
                .await?;
                tx.append(None, event).await?;
                Ok(())
            })
        })
        .await
}

/// Every recorded promotion, oldest first.
pub(super) async fn promotions(pool: &SqlitePool) -> Result<Vec<Promotion>> {
    let rows = sqlx::query(
        "SELECT cluster, entry, candidate FROM policy_promotions ORDER BY promoted_at, cluster, entry",
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

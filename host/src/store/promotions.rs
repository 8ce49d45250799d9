//! Promotions of candidate policy modules: kept so that a restart applies them again.

use std::path::PathBuf;

use sqlx::Row;

use super::audit_log::Prepared;
use super::{Result, Store, now};
use crate::audit::{Actor, Details};
use crate::policy::set::Promotion;

impl Store {
    /// Records `promotion` (replacing an earlier one of the same cluster and entry) with its
    /// `policy_promoted` event, in one transaction.
    pub async fn save_promotion(&self, promotion: &Promotion, actor: &Actor) -> Result<()> {
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
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO policy_promotions (cluster, entry, candidate, promoted_at)
                     VALUES (?, ?, ?, ?)
                     ON CONFLICT (cluster, entry) DO UPDATE
                     SET candidate = excluded.candidate, promoted_at = excluded.promoted_at",
                )?
                .execute(rusqlite::params![
                    cluster,
                    entry,
                    candidate,
                    now().as_millisecond()
                ])?;
            tx.append(None, event)?;
            Ok(())
        })
        .await
    }

    /// Every recorded promotion, oldest first.
    pub async fn promotions(&self) -> Result<Vec<Promotion>> {
        let rows = sqlx::query(
            "SELECT cluster, entry, candidate FROM policy_promotions ORDER BY promoted_at, cluster, entry",
        )
        .fetch_all(self.pool())
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
}

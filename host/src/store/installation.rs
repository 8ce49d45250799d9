//! The installation id: made once by migration `0007_installation.sql`, read when the store
//! opens, and the same for every process that uses this database.

use sqlx::SqlitePool;

use super::{Error, Result};

/// Reads the installation id. A missing or malformed one is refused: every selector of the
/// reconciler and teardown names it, so it must never be empty or differ between reads.
pub(super) async fn read(pool: &SqlitePool) -> Result<String> {
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM installation WHERE singleton = 1")
        .fetch_optional(pool)
        .await?;
    match id {
        Some(id) if is_installation_id(&id) => Ok(id),
        Some(id) => Err(Error::Corrupt(format!(
            "installation id `{id}` is malformed"
        ))),
        None => Err(Error::Corrupt("the installation id is missing".to_owned())),
    }
}

/// 32 lowercase hex digits.
fn is_installation_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteStore, Store};

    #[tokio::test]
    async fn the_id_is_made_once_and_shared_by_every_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wicket.db");
        let first = SqliteStore::open(&path).await.unwrap();
        let second = SqliteStore::open(&path).await.unwrap();
        assert!(
            is_installation_id(first.installation()),
            "{}",
            first.installation()
        );
        assert_eq!(first.installation(), second.installation());
        first.close().await;
        second.close().await;
        let reopened = SqliteStore::open(&path).await.unwrap();
        assert_eq!(reopened.installation(), second.installation());
        let other = SqliteStore::open(&dir.path().join("other.db"))
            .await
            .unwrap();
        assert_ne!(
            other.installation(),
            reopened.installation(),
            "another database, another id"
        );
    }

    #[tokio::test]
    async fn a_missing_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wicket.db");
        let store = SqliteStore::open(&path).await.unwrap();
        sqlx::query("DELETE FROM installation")
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "stored data is invalid: the installation id is missing"
        );
    }

    #[test]
    fn ids_are_lowercase_hex_label_values() {
        assert!(is_installation_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_installation_id("0123456789ABCDEF0123456789ABCDEF"));
        assert!(!is_installation_id("0123456789abcdef"));
        assert!(!is_installation_id(""));
    }
}

//! What GitHub said that never changes, kept in the job database so every replica and every
//! restart shares it ([`ObjectCache`]: blobs by SHA, commit indexes by commit), at most
//! [`OBJECT_CACHE_BYTES`], the least recently used first out; and the plan comment of each pull
//! request with a hash of its body, so a later plan edits it without listing the comments, and
//! an unchanged plan costs no request at all.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, now_ms};
use crate::event::RepoRef;
use crate::github::cache::{BoxFuture, ObjectCache};

/// The object cache's bound.
pub const OBJECT_CACHE_BYTES: i64 = 256 << 20;

impl Store {
    async fn object(&self, key: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let row = sqlx::query("SELECT bytes, used_at FROM objects WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        // Recency to the minute: a hit is a (synced) write only once a minute per object.
        let now = now_ms();
        if now - row.get::<i64, _>("used_at") > 60_000 {
            sqlx::query("UPDATE objects SET used_at = $1 WHERE key = $2")
                .bind(now)
                .bind(key)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(row.get("bytes")))
    }

    async fn put_object(&self, key: &str, bytes: &[u8]) -> Result<(), sqlx::Error> {
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        if size > OBJECT_CACHE_BYTES {
            return Ok(());
        }
        sqlx::query("INSERT INTO objects (key, bytes, size, used_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(key)
            .bind(bytes)
            .bind(size)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        let total: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM objects")
            .fetch_one(&self.pool)
            .await?;
        if total > OBJECT_CACHE_BYTES {
            // Oldest first, until a tenth of the bound is free.
            sqlx::query(
                "DELETE FROM objects WHERE key IN (SELECT key FROM
                 (SELECT key, SUM(size) OVER (ORDER BY used_at DESC, key) AS newer FROM objects) AS ranked
                 WHERE newer > $1)",
            )
            .bind(OBJECT_CACHE_BYTES - OBJECT_CACHE_BYTES / 10)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// How many objects are kept and their bytes.
    pub async fn object_usage(&self) -> Result<(i64, i64), sqlx::Error> {
        let row = sqlx::query("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM objects")
            .fetch_one(&self.pool)
            .await?;
        Ok((row.get("n"), row.get("bytes")))
    }

    /// The plan comment remembered for pull request `number` and the hash of its body.
    pub async fn plan_comment(&self, repo: &RepoRef, number: u64) -> Result<Option<(u64, String)>, sqlx::Error> {
        let row = sqlx::query("SELECT comment_id, body_sha FROM plan_comments WHERE pull = $1")
            .bind(pull_key(repo, number))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| {
            (
                u64::try_from(r.get::<i64, _>("comment_id")).unwrap_or(0),
                r.get("body_sha"),
            )
        }))
    }

    /// Remembers pull request `number`'s plan comment and its `body`.
    pub async fn set_plan_comment(&self, repo: &RepoRef, number: u64, id: u64, body: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO plan_comments (pull, comment_id, body_sha) VALUES ($1, $2, $3) \
             ON CONFLICT (pull) DO UPDATE SET comment_id = excluded.comment_id, body_sha = excluded.body_sha",
        )
        .bind(pull_key(repo, number))
        .bind(i64::try_from(id).unwrap_or(i64::MAX))
        .bind(body_hash(body))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets pull request `number`'s plan comment (it was deleted).
    pub async fn forget_plan_comment(&self, repo: &RepoRef, number: u64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM plan_comments WHERE pull = $1")
            .bind(pull_key(repo, number))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn pull_key(repo: &RepoRef, number: u64) -> String {
    format!("{repo}#{number}")
}

/// The hash a remembered comment body is compared by.
pub fn body_hash(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

impl ObjectCache for Store {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            self.object(key)
                .await
                .inspect_err(|e| tracing::warn!("object cache: cannot read {key}: {e}"))
                .ok()
                .flatten()
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.put_object(key, bytes).await {
                tracing::warn!("object cache: cannot keep {key}: {e}");
            }
        })
    }
}

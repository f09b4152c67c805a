//! The idempotency port on SQLite: checkout keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::CustomerId;
use orders_core::ports::{IdempotencyClaim, IdempotencyState, IdempotencyStore, StoreError};

use super::SqliteStore;
use super::inline::Stmt;
use crate::codec::{Get, ts};
use crate::rows;
use crate::statements::{self, Bind};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn begin_idempotent(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyState, StoreError> {
        // One statement claims a new key or takes over one gone stale; only
        // when it did neither (the key is completed, or in progress) is the
        // key read, to say which.
        let data = (claim.clone(), ts(now), ts(stale_before));
        self.batcher
            .one("idempotency_key", data, |conn, (claim, now, stale_before)| {
                let claimed = Stmt::new(
                    "INSERT INTO orders_idempotency_keys (customer_id, key, fingerprint, started_at, order_id)
                     VALUES (?1, ?2, ?3, ?4, NULL)
                     ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
                     started_at = excluded.started_at
                     WHERE orders_idempotency_keys.order_id IS NULL
                       AND orders_idempotency_keys.started_at < ?5
                     RETURNING 1",
                )
                .text(claim.customer_id.as_str())
                .text(&claim.key)
                .text(&claim.fingerprint)
                .text(now)
                .text(stale_before)
                .fetch_optional(conn)?;
                if claimed.is_some() {
                    return Ok(IdempotencyState::Claimed);
                }
                let row = Stmt::new(
                    "SELECT fingerprint, order_id FROM orders_idempotency_keys WHERE customer_id = ? AND key = ?",
                )
                .text(claim.customer_id.as_str())
                .text(&claim.key)
                .fetch_optional(conn)?
                .ok_or_else(|| StoreError::Backend("the idempotency key vanished".into()))?;
                Ok(rows::found_state(
                    row.text("fingerprint")?,
                    row.opt_text("order_id")?,
                )?)
            })
            .await
    }

    async fn release_idempotent(
        &self,
        customer_id: &CustomerId,
        key: &str,
    ) -> Result<(), StoreError> {
        self.batcher
            .one(
                "record",
                (customer_id.clone(), key.to_owned()),
                |conn, (customer_id, key)| {
                    statements::release_key(Stmt::new(statements::RELEASE_KEY), customer_id, key)
                        .execute(conn)?;
                    Ok(())
                },
            )
            .await
    }
}

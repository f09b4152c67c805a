//! The idempotency port on SQLite: checkout keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::CustomerId;
use orders_core::ports::{IdempotencyClaim, IdempotencyState, IdempotencyStore, StoreError};
use sqlx::Sqlite;

use super::SqliteStore;
use crate::codec::{Get, ts};
use crate::error::Fail;
use crate::{rows, statements};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn begin_idempotent(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyState, StoreError> {
        write_one!(self, "idempotency_key", |conn| {
            async {
                let row = sqlx::query(
                    "SELECT fingerprint, started_at, order_id FROM orders_idempotency_keys WHERE customer_id = ? AND key = ?",
                )
                .bind(claim.customer_id.as_str())
                .bind(&claim.key)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(row) = row {
                    let fingerprint = row.text("fingerprint")?;
                    let order_id = row.opt_text("order_id")?;
                    // Completed, or in progress since the key went stale.
                    if order_id.is_some() || row.text("started_at")? >= ts(stale_before) {
                        return Ok(rows::found_state(fingerprint, order_id)?);
                    }
                }
                sqlx::query(
                    "INSERT INTO orders_idempotency_keys (customer_id, key, fingerprint, started_at, order_id)
                     VALUES (?, ?, ?, ?, NULL)
                     ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
                     started_at = excluded.started_at",
                )
                .bind(claim.customer_id.as_str())
                .bind(&claim.key)
                .bind(&claim.fingerprint)
                .bind(ts(now))
                .execute(&mut *conn)
                .await?;
                Ok::<_, Fail>(IdempotencyState::Claimed)
            }
        })
    }

    async fn release_idempotent(
        &self,
        customer_id: &CustomerId,
        key: &str,
    ) -> Result<(), StoreError> {
        write_one!(self, "record", |conn| async {
            statements::release_key::<Sqlite>(customer_id, key)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })
    }
}

//! The idempotency port on PostgreSQL: checkout keys, claimed alone or
//! together with the cart's read.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{CartId, CustomerId};
use orders_core::ports::{
    ClaimAndCart, IdempotencyClaim, IdempotencyState, IdempotencyStore, StoreError,
};
use sqlx::Postgres;

use super::carts::cart_product_ids;
use super::{ATTEMPTS, PgStore, RELEASE_CLAIM_WAIT};
use crate::codec::{self, Get, ts};
use crate::error;
use crate::{rows, statements};

/// Claims a key ($1 customer, $2 key, $3 fingerprint, $4 now) if it is new,
/// or in progress since before $5 (stale); one row when claimed. The
/// conflicting row is locked and its condition re-checked, so two claims of
/// one key never both win.
const CLAIM_KEY: &str =
    "INSERT INTO orders_idempotency_keys (customer_id, key, fingerprint, started_at, order_id)
     VALUES ($1, $2, $3, $4, NULL)
     ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,
         started_at = EXCLUDED.started_at
     WHERE orders_idempotency_keys.order_id IS NULL AND orders_idempotency_keys.started_at < $5
     RETURNING 1";

/// Makes the current transaction commit without waiting for its WAL flush
/// (`synchronous_commit = off`, for this transaction only).
///
/// Claims use it, and lose nothing by it. A claim only fences off
/// concurrent checkouts with its key while one charges the card; what makes
/// a key's outcome permanent is the placement, which commits synchronously,
/// and whose flush writes out every earlier record of the WAL, the claim's
/// included. A claim lost in a crash of the database is a claim released:
/// the checkout that held it failed with the database anyway (and voided
/// its charge), and a retry claims the key again at once, where a claim
/// that survived would answer "in progress" until it went stale. So each
/// checkout waits for one flush fewer, which is a large part of a journey's
/// time on PostgreSQL.
const ASYNC_COMMIT: &str = "set_config('synchronous_commit', 'off', true)";

/// [`CLAIM_KEY`] with an asynchronous commit ([`ASYNC_COMMIT`]): always one
/// row, `claimed` true when the key was claimed.
static CLAIM_KEY_ASYNC: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH k AS ({CLAIM_KEY}) SELECT {ASYNC_COMMIT} AS lazy, EXISTS (SELECT 1 FROM k) AS claimed"
    )
});

/// The state of a key ($1 customer, $2 key): its fingerprint and order.
const KEY_STATE: &str =
    "SELECT fingerprint, order_id FROM orders_idempotency_keys WHERE customer_id = $1 AND key = $2";

/// [`IdempotencyStore::begin_idempotent_with_cart`] in one statement: the
/// claim's upsert (as in `begin_idempotent`), the key's row as it was
/// before, and the cart with its products, outer-joined to one row so that
/// an unknown cart still returns the claim; committed asynchronously
/// ([`ASYNC_COMMIT`]).
static CLAIM_WITH_CART: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let (ctes, select) = codec::cart_with_products_parts("$6", &cart_product_ids(None));
    format!(
        "WITH k AS ({CLAIM_KEY}),
         found AS ({KEY_STATE}),
         {ctes},
         cw AS ({select})
         SELECT EXISTS (SELECT 1 FROM k) AS idem_claimed,
                (SELECT fingerprint FROM found) AS idem_fingerprint,
                (SELECT order_id FROM found) AS idem_order, cw.*
         FROM (SELECT {ASYNC_COMMIT}) AS one LEFT JOIN cw ON true"
    )
});

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn begin_idempotent(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyState, StoreError> {
        // The upsert claims a new or stale key atomically (the conflicting
        // row is locked and its condition re-checked); otherwise the state is
        // read. A row released in between is simply claimed on the next turn.
        for _ in 0..ATTEMPTS {
            let claimed = kept!(
                self,
                fetch_one,
                sqlx::query(sqlx::AssertSqlSafe(CLAIM_KEY_ASYNC.as_str()))
                    .bind(claim.customer_id.as_str())
                    .bind(&claim.key)
                    .bind(&claim.fingerprint)
                    .bind(ts(now))
                    .bind(ts(stale_before))
            )
            .map_err(|e| error::db(e, "idempotency_key"))?;
            if claimed.flag("claimed")? {
                return Ok(IdempotencyState::Claimed);
            }
            let row = kept!(
                self,
                fetch_optional,
                sqlx::query(KEY_STATE)
                    .bind(claim.customer_id.as_str())
                    .bind(&claim.key)
            )
            .map_err(error::any)?;
            let Some(row) = row else { continue };
            return rows::found_state(row.text("fingerprint")?, row.opt_text("order_id")?);
        }
        Err(StoreError::Conflict)
    }

    /// One statement (`CLAIM_WITH_CART`); as in `begin_idempotent`, a key
    /// neither claimed nor found (its claimer committed after this
    /// statement's snapshot) is tried again.
    async fn begin_idempotent_with_cart(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        cart_id: &CartId,
    ) -> Result<ClaimAndCart, StoreError> {
        for _ in 0..ATTEMPTS {
            let rows = kept!(
                self,
                fetch_all,
                sqlx::query(sqlx::AssertSqlSafe(CLAIM_WITH_CART.as_str()))
                    .bind(claim.customer_id.as_str())
                    .bind(&claim.key)
                    .bind(&claim.fingerprint)
                    .bind(ts(now))
                    .bind(ts(stale_before))
                    .bind(cart_id.as_str())
            )
            .map_err(|e| error::db(e, "idempotency_key"))?;
            let Some(first) = rows.first() else {
                return Err(StoreError::Backend("the claim returned no row".into()));
            };
            let state = if first.flag("idem_claimed")? {
                IdempotencyState::Claimed
            } else {
                let Some(fingerprint) = first.opt_text("idem_fingerprint")? else {
                    continue;
                };
                rows::found_state(fingerprint, first.opt_text("idem_order")?)?
            };
            let cart = codec::cart_with_products(&rows)?;
            return Ok(ClaimAndCart { claim: state, cart });
        }
        Err(StoreError::Conflict)
    }

    async fn release_idempotent(
        &self,
        customer_id: &CustomerId,
        key: &str,
    ) -> Result<(), StoreError> {
        // Called after a failure, often because the database is away: a
        // short wait, so the caller's error is not delayed by a second
        // acquire timeout. A claim left behind goes stale after the lease.
        kept!(
            self,
            within RELEASE_CLAIM_WAIT,
            execute,
            statements::release_key(
                sqlx::query::<Postgres>(statements::RELEASE_KEY),
                customer_id,
                key
            )
        )
        .map_err(error::any)?;
        Ok(())
    }
}

//! The cart port on SQLite.

use super::SqliteStore;
use super::inline::Stmt;
use crate::codec;
use crate::error::{self, Fail};
use crate::statements::{self, Bind};
use async_trait::async_trait;
use orders_core::cart::Cart;
use orders_core::catalogue::Product;
use orders_core::ids::{CartId, CustomerId, ProductId};
use orders_core::money::Currency;
use orders_core::ports::{CartClaim, CartStore, StoreError};

#[async_trait]
impl CartStore for SqliteStore {
    async fn insert_cart(&self, cart: &Cart) -> Result<(), StoreError> {
        self.batcher
            .one("cart", cart.clone(), |conn, cart| {
                statements::insert_cart(Stmt::new(statements::INSERT_CART), cart)?.execute(conn)?;
                Ok(())
            })
            .await
    }

    async fn cart(&self, id: &CartId) -> Result<Option<Cart>, StoreError> {
        let sql = statements::CART_BY_ID.as_str();
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        row.as_ref().map(codec::cart).transpose()
    }

    /// One statement, as on PostgreSQL: the cart (columns prefixed
    /// `cart_`) on every row, joined to the products of its lines and of
    /// `extra`.
    async fn cart_with_products(
        &self,
        id: &CartId,
        extra: &[ProductId],
    ) -> Result<Option<(Cart, Vec<Product>)>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            codec::cart_with_products_sql(
                "?1",
                "SELECT json_extract(l.value, '$.product_id') AS id FROM c, json_each(c.cart_lines) AS l
                 UNION SELECT value FROM json_each(?2)",
            )
        });
        let extra: Vec<&str> = extra.iter().map(ProductId::as_str).collect();
        let extra =
            serde_json::to_string(&extra).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
            .bind(id.as_str())
            .bind(extra)
            .fetch_all(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        codec::cart_with_products(&rows)
    }

    async fn update_cart(&self, cart: &Cart, expected_version: u64) -> Result<(), StoreError> {
        self.batcher
            .one(
                "cart",
                (cart.clone(), expected_version),
                |conn, (cart, expected_version)| compare_and_set(conn, cart, *expected_version),
            )
            .await
    }

    async fn open_cart(
        &self,
        customer: &CustomerId,
        currency: Option<Currency>,
    ) -> Result<Option<Cart>, StoreError> {
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(statements::OPEN_CART.as_str()))
            .bind(customer.as_str())
            .bind(currency.map(|c| c.code()))
            .fetch_optional(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        row.as_ref().map(codec::cart).transpose()
    }

    /// Both compare-and-sets in one `BEGIN IMMEDIATE` transaction.
    async fn claim_cart(&self, claim: &CartClaim) -> Result<(), StoreError> {
        self.batcher
            .several("cart", claim.clone(), |conn, claim| {
                compare_and_set(conn, &claim.guest, claim.guest_version)?;
                if let Some((into, version)) = &claim.into {
                    compare_and_set(conn, into, *version)?;
                }
                Ok(())
            })
            .await
    }
}

/// Replaces the stored cart if it is at `expected_version`: `Conflict` if
/// it is at another, `NotFound` if there is none.
fn compare_and_set(
    conn: &rusqlite::Connection,
    cart: &Cart,
    expected_version: u64,
) -> Result<(), Fail> {
    let done = statements::cart_fields(Stmt::new(statements::UPDATE_CART_SET), cart)?
        .text(cart.id().as_str())
        .int(codec::to_i64(expected_version)?)
        .execute(conn)?;
    if done == 1 {
        return Ok(());
    }
    let exists = Stmt::new("SELECT 1 FROM orders_carts WHERE id = ?")
        .text(cart.id().as_str())
        .fetch_optional(conn)?;
    Err(if exists.is_some() {
        StoreError::Conflict
    } else {
        StoreError::NotFound
    }
    .into())
}

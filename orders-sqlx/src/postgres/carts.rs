//! The cart port on PostgreSQL.

use async_trait::async_trait;
use orders_core::cart::Cart;
use orders_core::catalogue::Product;
use orders_core::ids::{CartId, ProductId};
use orders_core::ports::{CartStore, StoreError};
use sqlx::Postgres;

use super::PgStore;
use crate::codec;
use crate::error;
use crate::statements::{self, Bind};

#[async_trait]
impl CartStore for PgStore {
    async fn insert_cart(&self, cart: &Cart) -> Result<(), StoreError> {
        kept!(self, execute, statements::insert_cart::<Postgres>(cart)?)
            .map_err(|e| error::db(e, "cart"))?;
        Ok(())
    }

    async fn cart(&self, id: &CartId) -> Result<Option<Cart>, StoreError> {
        let sql = statements::CART_BY_ID.as_str();
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str())
        )
        .map_err(error::any)?;
        row.as_ref().map(codec::cart).transpose()
    }

    /// One statement: the cart (its columns prefixed `cart_`) on every row,
    /// joined to the products of its lines and of `extra`; no row for an
    /// unknown cart, one row with null product columns when there are no
    /// products.
    async fn cart_with_products(
        &self,
        id: &CartId,
        extra: &[ProductId],
    ) -> Result<Option<(Cart, Vec<Product>)>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            codec::cart_with_products_sql("$1", &cart_product_ids(Some("$2::text[]")))
        });
        let extra: Vec<&str> = extra.iter().map(ProductId::as_str).collect();
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
                .bind(id.as_str())
                .bind(&extra)
        )
        .map_err(error::any)?;
        codec::cart_with_products(&rows)
    }

    async fn update_cart(&self, cart: &Cart, expected_version: u64) -> Result<(), StoreError> {
        let found: Option<bool> = kept!(
            self,
            fetch_optional,
            statements::cart_fields(
                sqlx::query_scalar::<Postgres, bool>(
                    "WITH u AS (UPDATE orders_carts SET customer_id = $1, currency = $2, lines = $3, discount_code = $4,
                     status = $5, version = $6, created_at = $7, updated_at = $8 WHERE id = $9 AND version = $10
                     RETURNING 1)
                     SELECT EXISTS (SELECT 1 FROM u) FROM orders_carts WHERE id = $9",
                ),
                cart,
            )?
            .text(cart.id.as_str())
            .int(codec::to_i64(expected_version)?)
        )
        .map_err(error::any)?;
        match found {
            Some(true) => Ok(()),
            Some(false) => Err(StoreError::Conflict),
            None => Err(StoreError::NotFound),
        }
    }
}

/// The ids of the products of `c`'s lines (`c` as in
/// [`codec::cart_with_products_parts`]), and of the `extra` text array.
pub(super) fn cart_product_ids(extra: Option<&str>) -> String {
    let lines =
        "SELECT l->>'product_id' AS id FROM c, jsonb_array_elements(c.cart_lines::jsonb) AS l";
    match extra {
        Some(extra) => format!("{lines} UNION SELECT unnest({extra})"),
        None => lines.to_owned(),
    }
}

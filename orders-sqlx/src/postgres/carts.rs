//! The cart port on PostgreSQL.

use async_trait::async_trait;
use orders_core::cart::Cart;
use orders_core::catalogue::Product;
use orders_core::ids::{CartId, CustomerId, ProductId};
use orders_core::money::Currency;
use orders_core::ports::{CartClaim, CartStore, StoreError};
use sqlx::Postgres;

use super::PgStore;
use crate::codec;
use crate::error::{self, Fail};
use crate::statements::{self, Bind};

#[async_trait]
impl CartStore for PgStore {
    async fn insert_cart(&self, cart: &Cart) -> Result<(), StoreError> {
        kept!(
            self,
            execute,
            statements::insert_cart(sqlx::query::<Postgres>(statements::INSERT_CART), cart)?
        )
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
            compare_and_set(cart, expected_version)?
        )
        .map_err(error::any)?;
        outcome(found)
    }

    async fn open_cart(
        &self,
        customer: &CustomerId,
        currency: Option<Currency>,
    ) -> Result<Option<Cart>, StoreError> {
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(statements::OPEN_CART.as_str()))
                .bind(customer.as_str())
                .bind(currency.map(|c| c.code()))
        )
        .map_err(error::any)?;
        row.as_ref().map(codec::cart).transpose()
    }

    /// Both compare-and-sets in one transaction: the first locks the
    /// guest cart's row, so a second claim of it waits, then finds its
    /// version moved on and gets `Conflict`.
    async fn claim_cart(&self, claim: &CartClaim) -> Result<(), StoreError> {
        pg_tx!(self, "cart", |conn| {
            async {
                let found = compare_and_set(&claim.guest, claim.guest_version)?
                    .fetch_optional(&mut *conn)
                    .await?;
                outcome(found)?;
                if let Some((into, version)) = &claim.into {
                    let found = compare_and_set(into, *version)?
                        .fetch_optional(&mut *conn)
                        .await?;
                    outcome(found)?;
                }
                Ok::<_, Fail>(())
            }
        })
    }
}

/// The compare-and-set of `cart` at `expected_version`: `Some(true)` when
/// it wrote, `Some(false)` when the cart is at another version, no row for
/// an unknown cart.
fn compare_and_set(
    cart: &Cart,
    expected_version: u64,
) -> Result<
    sqlx::query::QueryScalar<'static, Postgres, bool, sqlx::postgres::PgArguments>,
    StoreError,
> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH u AS ({} RETURNING 1) SELECT EXISTS (SELECT 1 FROM u) FROM orders_carts WHERE id = $10",
            statements::UPDATE_CART_SET
        )
    });
    Ok(statements::cart_fields(
        sqlx::query_scalar::<Postgres, bool>(sqlx::AssertSqlSafe(SQL.as_str())),
        cart,
    )?
    .text(cart.id().as_str())
    .int(codec::to_i64(expected_version)?))
}

/// What [`compare_and_set`] found, as the port's answer.
fn outcome(found: Option<bool>) -> Result<(), StoreError> {
    match found {
        Some(true) => Ok(()),
        Some(false) => Err(StoreError::Conflict),
        None => Err(StoreError::NotFound),
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

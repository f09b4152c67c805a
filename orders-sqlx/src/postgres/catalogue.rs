//! The catalogue port on PostgreSQL: products.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::catalogue::{Product, ProductPatch, ProductQuery};
use orders_core::ids::ProductId;
use orders_core::ports::{CatalogueStore, Page, PageRequest, StoreError};
use sqlx::Postgres;

use super::PgStore;
use crate::codec;
use crate::error::{self, Fail};
use crate::{rows, statements};

#[async_trait]
impl CatalogueStore for PgStore {
    async fn insert_product(&self, p: &Product) -> Result<(), StoreError> {
        kept!(
            self,
            execute,
            statements::insert_product(sqlx::query::<Postgres>(statements::INSERT_PRODUCT), p)?
        )
        .map_err(|e| error::db(e, "sku"))?;
        Ok(())
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Product, StoreError> {
        pg_tx!(self, "sku", |conn| {
            async {
                let sql = format!("{} FOR UPDATE", statements::PRODUCT_BY_ID.as_str());
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_str())
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let stored = codec::product(&row)?;
                let product = patch.applied_to(&stored, expected_version, now)?;
                statements::update_product(
                    sqlx::query::<Postgres>(statements::UPDATE_PRODUCT),
                    id,
                    &product,
                )?
                .execute(&mut *conn)
                .await?;
                Ok::<_, Fail>(product)
            }
        })
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let sql = statements::PRODUCT_BY_ID.as_str();
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str())
        )
        .map_err(error::any)?;
        row.as_ref().map(codec::product).transpose()
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
        let sql = format!(
            "SELECT {} FROM orders_products WHERE id = ANY($1)",
            codec::PRODUCT_COLUMNS
        );
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&ids)
        )
        .map_err(error::any)?;
        rows.iter().map(codec::product).collect()
    }

    async fn list_products(
        &self,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        let filter = if active_only { "AND active" } else { "" };
        self.seq_page(
            "orders_products",
            codec::PRODUCT_COLUMNS,
            filter,
            page,
            codec::product,
        )
        .await
    }

    async fn search_products(
        &self,
        query: &ProductQuery,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        let filter = if active_only { "AND active" } else { "" };
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let sql = statements::search_page(filter);
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(before)
                .bind(limit as i64 + 1)
                .bind(query.like_pattern())
        )
        .map_err(error::any)?;
        let (rows, next_cursor) = rows::page_cut(rows, limit, "seq")?;
        let items = rows.iter().map(codec::product).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

/// Fills the search text of the products stored before it existed
/// (migration 14 leaves it NULL: only Rust folds it as
/// [`Product::search_text`] says), a batch at a time.
pub(super) async fn fill_search_text(pool: &sqlx::Pool<Postgres>) -> Result<(), sqlx::Error> {
    let select = format!(
        "SELECT {} FROM orders_products WHERE search_text IS NULL ORDER BY seq LIMIT 200",
        codec::PRODUCT_COLUMNS
    );
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
            .fetch_all(pool)
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = pool.begin().await?;
        for row in &rows {
            let product = codec::product(row).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            sqlx::query("UPDATE orders_products SET search_text = $1 WHERE id = $2")
                .bind(product.search_text())
                .bind(product.id().as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
}

//! The catalogue port on SQLite: products.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::catalogue::{Product, ProductPatch, ProductQuery};
use orders_core::ids::ProductId;
use orders_core::ports::CatalogueStore;
use orders_core::ports::{Page, PageRequest, StoreError};
use sqlx::Sqlite;

use super::SqliteStore;
use super::inline::Stmt;
use crate::codec;
use crate::error;
use crate::statements::Bind;
use crate::{rows, statements};

#[async_trait]
impl CatalogueStore for SqliteStore {
    async fn insert_product(&self, p: &Product) -> Result<(), StoreError> {
        self.batcher
            .one("sku", p.clone(), |conn, p| {
                statements::insert_product(Stmt::new(statements::INSERT_PRODUCT), p)?
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Product, StoreError> {
        let data = (id.clone(), patch.clone(), expected_version, now);
        self.batcher
            .one("sku", data, |conn, (id, patch, expected_version, now)| {
                let row = Stmt::new(statements::PRODUCT_BY_ID.as_str())
                    .text(id.as_str())
                    .fetch_optional(conn)?
                    .ok_or(StoreError::NotFound)?;
                let stored = codec::product(&row)?;
                let product = patch.applied_to(&stored, *expected_version, *now)?;
                statements::update_product(Stmt::new(statements::UPDATE_PRODUCT), id, &product)?
                    .execute(conn)?;
                Ok(product)
            })
            .await
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let sql = statements::PRODUCT_BY_ID.as_str();
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(error::any)?;
        row.as_ref().map(codec::product).transpose()
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
        let json = serde_json::to_string(&ids).map_err(|e| StoreError::Backend(e.to_string()))?;
        let sql = format!(
            "SELECT {} FROM orders_products WHERE id IN (SELECT value FROM json_each(?))",
            codec::PRODUCT_COLUMNS
        );
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(json)
            .fetch_all(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        rows.iter().map(codec::product).collect()
    }

    async fn list_products(
        &self,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        let filter = if active_only { "AND active = 1" } else { "" };
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
        let filter = if active_only { "AND active = 1" } else { "" };
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let sql = statements::search_page(filter);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before)
            .bind(limit as i64 + 1)
            .bind(query.like_pattern())
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        let (rows, next_cursor) = rows::page_cut(rows, limit, "seq")?;
        let items = rows.iter().map(codec::product).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

/// Fills the search text of the products stored before it existed
/// (migration 10 leaves it NULL: only Rust folds it as
/// [`Product::search_text`] says), a batch at a time.
pub(super) async fn fill_search_text(pool: &sqlx::Pool<Sqlite>) -> Result<(), sqlx::Error> {
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

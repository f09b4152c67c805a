//! The discount port on SQLite.

use async_trait::async_trait;
use orders_core::discount::{Discount, DiscountCode};
use orders_core::ports::{DiscountStore, Page, PageRequest, StoreError};

use super::SqliteStore;
use super::inline::Stmt;
use crate::codec;
use crate::error::{self, Fail};
use crate::statements::{self, Bind};

#[async_trait]
impl DiscountStore for SqliteStore {
    async fn insert_discount(&self, discount: &Discount) -> Result<(), StoreError> {
        self.batcher
            .one("code", discount.clone(), |conn, discount| {
                statements::insert_discount(Stmt::new(statements::INSERT_DISCOUNT), discount)
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    async fn discount(&self, code: &DiscountCode) -> Result<Option<Discount>, StoreError> {
        let sql = statements::DISCOUNT_BY_CODE.as_str();
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(code.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        row.as_ref().map(codec::discount).transpose()
    }

    async fn list_discounts(&self, page: &PageRequest) -> Result<Page<Discount>, StoreError> {
        self.seq_page(
            "orders_discounts",
            codec::DISCOUNT_COLUMNS,
            "",
            page,
            codec::discount,
        )
        .await
    }

    async fn set_discount_active(
        &self,
        code: &DiscountCode,
        active: bool,
    ) -> Result<Discount, StoreError> {
        let sql = statements::SET_DISCOUNT_ACTIVE.as_str();
        self.batcher
            .one(
                "discount",
                (code.clone(), active),
                move |conn, (code, active)| {
                    let row = Stmt::new(sql)
                        .flag(*active)
                        .text(code.as_str())
                        .fetch_optional(conn)?;
                    match row {
                        Some(row) => Ok(codec::discount(&row)?),
                        None => Err(Fail::from(StoreError::NotFound)),
                    }
                },
            )
            .await
    }
}

//! The discount port on PostgreSQL.

use async_trait::async_trait;
use orders_core::discount::{Discount, DiscountCode};
use orders_core::ports::{DiscountStore, Page, PageRequest, StoreError};
use sqlx::Postgres;

use super::PgStore;
use crate::codec;
use crate::error;
use crate::statements;

#[async_trait]
impl DiscountStore for PgStore {
    async fn insert_discount(&self, discount: &Discount) -> Result<(), StoreError> {
        kept!(
            self,
            execute,
            statements::insert_discount(
                sqlx::query::<Postgres>(statements::INSERT_DISCOUNT),
                discount,
            )
        )
        .map_err(|e| error::db(e, "code"))?;
        Ok(())
    }

    async fn discount(&self, code: &DiscountCode) -> Result<Option<Discount>, StoreError> {
        let sql = statements::DISCOUNT_BY_CODE.as_str();
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(code.as_str())
        )
        .map_err(error::any)?;
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
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(active)
                .bind(code.as_str())
        )
        .map_err(error::any)?;
        row.as_ref()
            .map(codec::discount)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }
}

//! The order port and the event log on PostgreSQL: orders, their lines
//! and events, listing, status changes.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{EventId, OrderId};
use orders_core::order::{Order, OrderEvent, StatusChange};
use orders_core::ports::{
    EventLog, OrderFilter, OrderPlacement, OrderStore, Page, PageRequest, Placed, StoreError,
};
use sqlx::Postgres;
use sqlx::postgres::PgRow;

use super::place::place;
use super::{ATTEMPTS, PgStore};
use crate::codec::{self, Get, ts};
use crate::error::{self, Fail};
use crate::{aftersale, rows, statements};

impl PgStore {
    async fn load_orders(&self, heads: Vec<PgRow>) -> Result<Vec<Order>, StoreError> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = heads
            .iter()
            .map(|r| r.text("id"))
            .collect::<Result<_, _>>()?;
        let sql = format!(
            "SELECT {} FROM orders_order_lines WHERE order_id = ANY($1) ORDER BY order_id, position",
            codec::LINE_COLUMNS
        );
        let lines = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&ids)
        )
        .map_err(error::any)?;
        let records = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(RECORDS.as_str())).bind(&ids)
        )
        .map_err(error::any)?;
        rows::orders_with_lines(
            heads.iter().zip(ids.iter().map(String::as_str)),
            &lines,
            &records,
        )
    }

    /// The order that has the record `id` (`sql` reads its order id).
    async fn order_by_record(
        &self,
        sql: &'static str,
        id: &str,
    ) -> Result<Option<Order>, StoreError> {
        let order: Option<String> =
            kept!(self, fetch_optional, sqlx::query_scalar(sql).bind(id)).map_err(error::any)?;
        match order {
            None => Ok(None),
            Some(order) => {
                let order =
                    OrderId::parse(&order).map_err(|e| StoreError::Backend(e.to_string()))?;
                self.order(&order).await
            }
        }
    }

    /// Writes `change`, compare-and-set on its expected version and status,
    /// and applies it to `order`, which MUST be the order as stored at that
    /// version; `None` when the compare-and-set missed (nothing written).
    async fn write_change(
        &self,
        mut order: Order,
        change: &StatusChange,
    ) -> Result<Option<(Order, OrderEvent)>, StoreError> {
        let id = if aftersale::writes_records(change) {
            match self.change_with_records(change, order.payment()).await {
                Err(StoreError::Conflict) => None,
                other => other?,
            }
        } else {
            self.change_alone(change, order.payment()).await?
        };
        let Some(id) = id else {
            return Ok(None);
        };
        // The compare-and-set succeeded only if the order was still at the
        // version `order` was read (or written) at, so applying the change
        // to it gives what is stored.
        let id = u64::try_from(id).map_err(|_| StoreError::Backend("bad event id".into()))?;
        let event = change.apply(&mut order, EventId::new(id));
        Ok(Some((order, event)))
    }

    /// A status change that writes no records: [`CHANGE`], one statement
    /// (its own transaction), sent again after a deadlock. The new event's
    /// id, or `None` when the compare-and-set missed.
    async fn change_alone(
        &self,
        change: &StatusChange,
        stored: &orders_core::order::PaymentSummary,
    ) -> Result<Option<i64>, StoreError> {
        let mut attempt = 0;
        let row = loop {
            attempt += 1;
            let result = kept!(
                self,
                fetch_one,
                statements::event_fields(
                    statements::status_change(
                        sqlx::query(sqlx::AssertSqlSafe(CHANGE.as_str())),
                        change,
                        stored,
                    )?
                    .bind(change.from().as_str())
                    .bind(codec::restock_json(change)?),
                    change,
                )
            )
            .map_err(Fail::Db);
            match result {
                Ok(row) => break row,
                Err(fail) if fail.is_retryable() && attempt < ATTEMPTS => continue,
                Err(fail) => return Err(fail.into_store("order")),
            }
        };
        row.opt_int("event_id")
    }

    /// A status change that writes records: the compare-and-set statement
    /// and the records' writes in one transaction.
    async fn change_with_records(
        &self,
        change: &StatusChange,
        stored: &orders_core::order::PaymentSummary,
    ) -> Result<Option<i64>, StoreError> {
        pg_tx!(self, "order", |conn| async {
            let row = statements::event_fields(
                statements::status_change(
                    sqlx::query(sqlx::AssertSqlSafe(CHANGE.as_str())),
                    change,
                    stored,
                )?
                .bind(change.from().as_str())
                .bind(codec::restock_json(change)?),
                change,
            )
            .fetch_one(&mut *conn)
            .await?;
            let Some(id) = row.opt_int("event_id")? else {
                return Err(StoreError::Conflict.into());
            };
            for write in aftersale::writes(change, sqlx::query::<Postgres>)? {
                write.execute(&mut *conn).await?;
            }
            Ok::<_, Fail>(Some(id))
        })
    }
}

/// The records of the orders whose ids are in the array `$1`.
static RECORDS: LazyLock<String> =
    LazyLock::new(|| aftersale::select_records("order_id = ANY($1)"));

/// A status change in one statement (its own transaction): compare-and-set
/// on version and status ([`statements::CHANGE_ORDER`], `$1` to `$13`, and
/// the status `$14`, compared with `IS NOT DISTINCT FROM`, which no index
/// serves, so that the order is always found by its unique id: with `=`,
/// on a table without statistics, the planner walked the status index
/// through every order of that status), the restock (`$15`, a JSON array of
/// `{product_id, quantity}`; rows locked in id order) and the
/// event (actor `$16`, note `$17`, kind `$18`, data `$19`; announced after
/// commit, by the notifier).
static CHANGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
WITH o AS (
    {} AND status IS NOT DISTINCT FROM $14 RETURNING id),
want AS (
    SELECT x->>'product_id' AS id, sum((x->>'quantity')::int8)::int8 AS qty
    FROM jsonb_array_elements($15::jsonb) AS x
    WHERE EXISTS (SELECT 1 FROM o) GROUP BY 1),
locked AS MATERIALIZED (
    SELECT p.id FROM orders_products p WHERE p.id IN (SELECT id FROM want) ORDER BY p.id FOR UPDATE),
r AS (
    UPDATE orders_products p SET stock = LEAST(p.stock + want.qty, 4294967295), version = p.version + 1
    FROM want, locked
    WHERE p.id = want.id AND locked.id = want.id RETURNING p.id),
e AS (
    INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note, kind, data)
    SELECT id, $14, $1, $11, $16, $17, $18, $19 FROM o RETURNING id)
SELECT (SELECT id FROM e) AS event_id, (SELECT count(*) FROM r) AS restocked",
        statements::CHANGE_ORDER
    )
});

#[async_trait]
impl OrderStore for PgStore {
    async fn place_order(&self, placement: OrderPlacement) -> Result<Placed, StoreError> {
        // One call, its own transaction: a deadlock or serialization
        // failure rolled all of it back, so it is simply sent again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match place(&self.conns, &placement).await {
                Ok(placed) => return Ok(placed),
                Err(fail) if fail.is_retryable() && attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(attempt as u64 * 2)).await;
                }
                Err(fail) => return Err(fail.into_store("order")),
            }
        }
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let sql = statements::ORDER_BY_ID.as_str();
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str())
        )
        .map_err(error::any)?;
        match row {
            None => Ok(None),
            Some(row) => Ok(self.load_orders(vec![row]).await?.pop()),
        }
    }

    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let mut q = statements::list_orders::<Postgres>(filter, before, limit, "strpos");
        let rows = kept!(self, fetch_all, q.build()).map_err(error::any)?;
        let (rows, next_cursor) = rows::page_cut(rows, limit, "number")?;
        let items = self.load_orders(rows).await?;
        Ok(Page { items, next_cursor })
    }

    async fn change_status(
        &self,
        change: &StatusChange,
    ) -> Result<(Order, OrderEvent), StoreError> {
        let order = self
            .order(change.order_id())
            .await?
            .ok_or(StoreError::NotFound)?;
        if order.version() != change.expected_version() || order.status() != change.from() {
            return Err(StoreError::Conflict);
        }
        self.write_change(order, change)
            .await?
            .ok_or(StoreError::Conflict)
    }

    /// No read when `known` is the order `change` was planned on: the
    /// compare-and-set alone decides, and only when it misses is the order
    /// read (through `change_status`) to tell a conflict from an unknown
    /// order. A write after a write (the capture recorded after the
    /// placement) is then one statement instead of four.
    async fn change_status_of(
        &self,
        known: &Order,
        change: &StatusChange,
    ) -> Result<(Order, OrderEvent), StoreError> {
        if !change.planned_on(known) {
            return self.change_status(change).await;
        }
        match self.write_change(known.clone(), change).await? {
            Some(changed) => Ok(changed),
            None => self.change_status(change).await,
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn order_events(&self, id: &OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let sql = statements::EVENTS_OF_ORDER.as_str();
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str())
        )
        .map_err(error::any)?;
        rows.iter().map(codec::event).collect()
    }

    async fn order_by_fulfilment(
        &self,
        id: &orders_core::ids::FulfilmentId,
    ) -> Result<Option<Order>, StoreError> {
        self.order_by_record(statements::ORDER_OF_FULFILMENT, id.as_str())
            .await
    }

    async fn order_by_return(
        &self,
        id: &orders_core::ids::ReturnId,
    ) -> Result<Option<Order>, StoreError> {
        self.order_by_record(statements::ORDER_OF_RETURN, id.as_str())
            .await
    }

    async fn order_by_refund(
        &self,
        id: &orders_core::ids::RefundId,
    ) -> Result<Option<Order>, StoreError> {
        self.order_by_record(statements::ORDER_OF_REFUND, id.as_str())
            .await
    }

    async fn order_by_payment_reference(
        &self,
        reference: &str,
    ) -> Result<Option<Order>, StoreError> {
        let sql = statements::ORDER_BY_PAYMENT_REFERENCE.as_str();
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(reference)
        )
        .map_err(error::any)?;
        match row {
            None => Ok(None),
            Some(row) => Ok(self.load_orders(vec![row]).await?.pop()),
        }
    }

    async fn awaiting_payment(
        &self,
        placed_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let sql = statements::AWAITING_PAYMENT.as_str();
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ts(placed_before))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        )
        .map_err(error::any)?;
        self.load_orders(rows).await
    }

    async fn provider_event_seen(
        &self,
        provider: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let seen: i64 = kept!(
            self,
            fetch_one,
            sqlx::query_scalar(statements::PROVIDER_EVENT_SEEN)
                .bind(provider)
                .bind(event_id)
        )
        .map_err(error::any)?;
        Ok(seen > 0)
    }

    async fn record_provider_event(
        &self,
        provider: &str,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = kept!(
            self,
            execute,
            sqlx::query(statements::RECORD_PROVIDER_EVENT)
                .bind(provider)
                .bind(event_id)
                .bind(ts(at))
        )
        .map_err(error::any)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl EventLog for PgStore {
    async fn events_after(
        &self,
        after: Option<EventId>,
        order: Option<&OrderId>,
        limit: usize,
    ) -> Result<Vec<OrderEvent>, StoreError> {
        let after = after.map_or(Ok(0), |a| codec::to_i64(a.get()))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {} FROM orders_order_events WHERE id > $1 AND ($2::text IS NULL OR order_id = $2) ORDER BY id LIMIT $3",
            codec::EVENT_COLUMNS
        );
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(order.map(OrderId::as_str))
                .bind(limit)
        )
        .map_err(error::any)?;
        rows.iter().map(codec::event).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::CHANGE;
    use crate::postgres::scratch::Scratch;

    /// A status change finds its order by id, the unique key, on a fresh
    /// database (no statistics, as on a server whose autovacuum is off, or
    /// a young table): with `status = $14` the planner took the status
    /// index, as cheap on an empty table, and walked every order of that
    /// status for each change once the table had grown (3,260 orders for
    /// one capture, 3.4 ms, after 10 s of checkouts).
    #[tokio::test]
    async fn a_status_change_finds_its_order_by_id() {
        let Some(db) = Scratch::create().await else {
            return;
        };
        let none: Option<&str> = None;
        let plan: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {}", *CHANGE)))
                .bind("paid")
                .bind(none)
                .bind("captured")
                .bind(none)
                .bind(none)
                .bind(none)
                .bind(0_i64)
                .bind(0_i64)
                .bind(0_i64)
                .bind(none)
                .bind("2026-12-07T00:00:00Z")
                .bind("01a24ec5952b75458866b36a3ac17a3e")
                .bind(1_i64)
                .bind("paid")
                .bind("[]")
                .bind("system")
                .bind(none)
                .bind("status")
                .bind(none)
                .fetch_all(db.store.pool())
                .await
                .expect("explain");
        db.drop_database().await;
        let plan = plan.join("\n");
        assert!(plan.contains("orders_orders_id_key"), "{plan}");
        assert!(!plan.contains("orders_orders_status_number"), "{plan}");
    }
}

//! The order port and the event log on SQLite: orders, their lines and
//! events, listing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{EventId, OrderId};
use orders_core::order::{Order, OrderEvent, StatusChange};
use orders_core::ports::{
    EventLog, OrderFilter, OrderPlacement, OrderStore, Page, PageRequest, Placed, StoreError,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, SqliteConnection};

use super::SqliteStore;
use super::inline::Stmt;
use super::place::place;
use crate::codec::{self, Get, ts};
use crate::error;
use crate::statements::Bind;
use crate::{aftersale, rows, statements};

async fn order_lines(
    conn: &mut SqliteConnection,
    orders: &[(SqliteRow, OrderId)],
) -> Result<Vec<Order>, StoreError> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = orders.iter().map(|(_, id)| id.as_str()).collect();
    let json = serde_json::to_string(&ids).map_err(|e| StoreError::Backend(e.to_string()))?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(LINES.as_str()))
        .bind(&json)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let records = sqlx::query(sqlx::AssertSqlSafe(RECORDS.as_str()))
        .bind(&json)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    rows::orders_with_lines(
        orders.iter().map(|(row, id)| (row, id.as_str())),
        &rows,
        &records,
    )
}

/// The lines of the orders whose ids are in the JSON array `?`.
static LINES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {} FROM orders_order_lines WHERE order_id IN (SELECT value FROM json_each(?)) ORDER BY order_id, position",
        codec::LINE_COLUMNS
    )
});

/// The records of the orders whose ids are in the JSON array `$1`.
static RECORDS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    aftersale::select_records("order_id IN (SELECT value FROM json_each($1))")
});

/// The order that has the record `id` in `table`.
async fn order_by_record(
    store: &SqliteStore,
    sql: &'static str,
    id: &str,
) -> Result<Option<Order>, StoreError> {
    let mut conn = store.reader.acquire().await.map_err(error::any)?;
    let order: Option<String> = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(error::any)?;
    match order {
        None => Ok(None),
        Some(order) => {
            let order = OrderId::parse(&order).map_err(|e| StoreError::Backend(e.to_string()))?;
            load_order(&mut conn, &order).await
        }
    }
}

/// A status change's compare-and-set ([`statements::CHANGE_ORDER`], `$1`
/// to `$13`, and the status `$14` it expects), then its event (actor
/// `$15`, note `$16`, kind `$17`, data `$18`) inserted only if the
/// compare-and-set changed the order, returning the event's id: no row
/// when it missed.
static CHANGE_THEN_EVENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} AND status = $14;
         INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note, kind, data)
         SELECT $12, $14, $1, $11, $15, $16, $17, $18 WHERE changes() = 1 RETURNING id",
        statements::CHANGE_ORDER
    )
});

async fn load_order(
    conn: &mut SqliteConnection,
    id: &OrderId,
) -> Result<Option<Order>, StoreError> {
    let sql = statements::ORDER_BY_ID.as_str();
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(error::any)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(order_lines(conn, &[(row, id.clone())]).await?.pop()),
    }
}

/// As [`load_order`], in a write run inline (see `super::inline`).
fn load_order_inline(
    conn: &rusqlite::Connection,
    id: &OrderId,
) -> Result<Option<Order>, StoreError> {
    let Some(head) = Stmt::new(statements::ORDER_BY_ID.as_str())
        .text(id.as_str())
        .fetch_optional(conn)
        .map_err(|e| e.into_store("record"))?
    else {
        return Ok(None);
    };
    let json =
        serde_json::to_string(&[id.as_str()]).map_err(|e| StoreError::Backend(e.to_string()))?;
    let read = |sql: &'static str| {
        Stmt::new(sql)
            .text(&json)
            .fetch_all(conn)
            .map_err(|e| e.into_store("record"))
    };
    let lines = read(LINES.as_str())?;
    let records = read(RECORDS.as_str())?;
    Ok(rows::orders_with_lines([(&head, id.as_str())], &lines, &records)?.pop())
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn place_order(&self, placement: OrderPlacement) -> Result<Placed, StoreError> {
        self.batcher.several("order", placement, place).await
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(error::any)?;
        load_order(&mut conn, id).await
    }

    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let mut q = statements::list_orders::<Sqlite>(filter, before, limit, "instr");
        let mut conn = self.reader.acquire().await.map_err(error::any)?;
        let rows = q.build().fetch_all(&mut *conn).await.map_err(error::any)?;
        let (rows, next_cursor) = rows::page_cut(rows, limit, "number")?;
        let heads = rows
            .into_iter()
            .map(|row| {
                let id = OrderId::parse(&row.text("id")?)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                Ok((row, id))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let items = order_lines(&mut conn, &heads).await?;
        Ok(Page { items, next_cursor })
    }

    async fn change_status(
        &self,
        change: &StatusChange,
    ) -> Result<(Order, OrderEvent), StoreError> {
        self.batcher
            .several("order", change.clone(), |conn, change| {
                let mut order =
                    load_order_inline(conn, change.order_id())?.ok_or(StoreError::NotFound)?;
                if order.version() != change.expected_version() || order.status() != change.from() {
                    return Err(StoreError::Conflict.into());
                }
                let updated = statements::status_change(
                    Stmt::new(statements::CHANGE_ORDER),
                    change,
                    order.payment(),
                )?
                .execute(conn)?;
                if updated != 1 {
                    return Err(StoreError::Conflict.into());
                }
                if !change.restock().is_empty() {
                    Stmt::new(
                        "UPDATE orders_products SET stock = MIN(stock + l.q, 4294967295), version = version + 1
                         FROM (SELECT json_extract(value, '$.product_id') AS product_id,
                                      SUM(json_extract(value, '$.quantity')) AS q
                               FROM json_each(?) GROUP BY 1) AS l
                         WHERE orders_products.id = l.product_id",
                    )
                    .text(&codec::restock_json(change)?)
                    .execute(conn)?;
                }
                if aftersale::writes_records(change) {
                    for write in aftersale::writes(change, Stmt::new)? {
                        write.execute(conn)?;
                    }
                }
                let row = statements::event_fields(
                    Stmt::new(
                        "INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note, kind, data)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    )
                    .text(change.order_id().as_str())
                    .text(change.from().as_str())
                    .text(change.to().as_str())
                    .text(&ts(change.at())),
                    change,
                )
                .fetch_optional(conn)?
                .ok_or_else(|| StoreError::Backend("the event was not inserted".into()))?;
                let id = u64::try_from(row.first_int()?)
                    .map_err(|_| StoreError::Backend("negative event id".into()))?;
                let event = change.apply(&mut order, EventId::new(id));
                Ok((order, event))
            })
            .await
    }

    /// The change planned on `known`, written in one trip to the writer:
    /// the compare-and-set, then the event only if it hit (`changes()`),
    /// with no read of the order. A change that restocks or writes
    /// after-sale records, a `known` that is not the order `change`
    /// expects, and a compare-and-set that missed all take
    /// [`change_status`](OrderStore::change_status)'s way, which reads.
    async fn change_status_of(
        &self,
        known: &Order,
        change: &StatusChange,
    ) -> Result<(Order, OrderEvent), StoreError> {
        if !change.planned_on(known)
            || !change.restock().is_empty()
            || aftersale::writes_records(change)
        {
            return self.change_status(change).await;
        }
        let data = (change.clone(), known.payment().clone());
        let id: Option<i64> = self
            .batcher
            .several("order", data, |conn, (change, stored)| {
                let row = statements::event_fields(
                    statements::status_change(
                        Stmt::new(CHANGE_THEN_EVENT.as_str()),
                        change,
                        stored,
                    )?
                    .text(change.from().as_str()),
                    change,
                )
                .fetch_optional(conn)?;
                Ok(row.map(|row| row.first_int()).transpose()?)
            })
            .await?;
        let Some(id) = id else {
            return self.change_status(change).await;
        };
        let id = u64::try_from(id).map_err(|_| StoreError::Backend("negative event id".into()))?;
        let mut order = known.clone();
        let event = change.apply(&mut order, EventId::new(id));
        Ok((order, event))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn order_events(&self, id: &OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let sql = statements::EVENTS_OF_ORDER.as_str();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        rows.iter().map(codec::event).collect()
    }

    async fn order_by_fulfilment(
        &self,
        id: &orders_core::ids::FulfilmentId,
    ) -> Result<Option<Order>, StoreError> {
        order_by_record(self, statements::ORDER_OF_FULFILMENT, id.as_str()).await
    }

    async fn order_by_return(
        &self,
        id: &orders_core::ids::ReturnId,
    ) -> Result<Option<Order>, StoreError> {
        order_by_record(self, statements::ORDER_OF_RETURN, id.as_str()).await
    }

    async fn order_by_refund(
        &self,
        id: &orders_core::ids::RefundId,
    ) -> Result<Option<Order>, StoreError> {
        order_by_record(self, statements::ORDER_OF_REFUND, id.as_str()).await
    }

    async fn order_by_payment_reference(
        &self,
        reference: &str,
    ) -> Result<Option<Order>, StoreError> {
        let sql = statements::ORDER_BY_PAYMENT_REFERENCE.as_str();
        let mut conn = self.reader.acquire().await.map_err(error::any)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(reference)
            .fetch_optional(&mut *conn)
            .await
            .map_err(error::any)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id =
            OrderId::parse(&row.text("id")?).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(order_lines(&mut conn, &[(row, id)]).await?.pop())
    }

    async fn awaiting_payment(
        &self,
        placed_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let sql = statements::AWAITING_PAYMENT.as_str();
        let mut conn = self.reader.acquire().await.map_err(error::any)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ts(placed_before))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await
            .map_err(error::any)?;
        let heads = rows
            .into_iter()
            .map(|row| {
                let id = OrderId::parse(&row.text("id")?)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                Ok((row, id))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        order_lines(&mut conn, &heads).await
    }

    async fn provider_event_seen(
        &self,
        provider: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let seen: i64 = sqlx::query_scalar(statements::PROVIDER_EVENT_SEEN)
            .bind(provider)
            .bind(event_id)
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        Ok(seen > 0)
    }

    async fn record_provider_event(
        &self,
        provider: &str,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let data = (provider.to_owned(), event_id.to_owned(), ts(at));
        self.batcher
            .one("payment event", data, |conn, (provider, event_id, at)| {
                let done = Stmt::new(statements::RECORD_PROVIDER_EVENT)
                    .text(provider)
                    .text(event_id)
                    .text(at)
                    .execute(conn)?;
                Ok(done == 1)
            })
            .await
    }
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn events_after(
        &self,
        after: Option<EventId>,
        order: Option<&OrderId>,
        limit: usize,
    ) -> Result<Vec<OrderEvent>, StoreError> {
        let after = after.map_or(Ok(0), |a| codec::to_i64(a.get()))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match order {
            Some(order) => {
                let sql = format!(
                    "SELECT {} FROM orders_order_events WHERE order_id = ? AND id > ? ORDER BY id LIMIT ?",
                    codec::EVENT_COLUMNS
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(order.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.reader)
                    .await
            }
            None => {
                let sql = format!(
                    "SELECT {} FROM orders_order_events WHERE id > ? ORDER BY id LIMIT ?",
                    codec::EVENT_COLUMNS
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.reader)
                    .await
            }
        }
        .map_err(error::any)?;
        rows.iter().map(codec::event).collect()
    }
}

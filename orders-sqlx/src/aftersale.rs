//! An order's fulfilments, returns, refunds and notes: the statements both
//! backends run to write them with a status change, the query that reads
//! them with their orders, and their rows decoded.
//!
//! Each kind has its table (`orders_fulfilments`, `orders_returns`,
//! `orders_refunds`, `orders_notes`); a record's units are a JSON array in
//! its `lines` column, read and written only with the record. A record
//! keeps its `position` among its order's records of its kind, so lists
//! come back in insertion order; a replaced record keeps its place.

use std::collections::HashMap;
use std::str::FromStr;

use orders_core::ids::{FulfilmentId, NoteId, RefundId, ReturnId};
use orders_core::money::Currency;
use orders_core::order::{
    Actor, Aftersale, Carrier, Fulfilment, FulfilmentStatus, ItemLine, Note, NoteText, OrderNote,
    Record, Refund, RefundStatus, Return, ReturnReason, ReturnStatus, StatusChange, TrackingNumber,
};
use orders_core::ports::StoreError;

use crate::codec::{Get, money, parse, parse_ts, ts};
use crate::statements::Bind;

/// The next position of a record of `table` on order `$2`.
macro_rules! upsert {
    ($table:literal, $columns:literal, $values:literal, $update:literal) => {
        concat!(
            "INSERT INTO ",
            $table,
            " (id, order_id, position, ",
            $columns,
            ") VALUES ($1, $2, (SELECT COALESCE(MAX(position), 0) + 1 FROM ",
            $table,
            " WHERE order_id = $2), ",
            $values,
            ") ON CONFLICT (id) DO UPDATE SET ",
            $update
        )
    };
}

const UPSERT_FULFILMENT: &str = upsert!(
    "orders_fulfilments",
    "status, lines, carrier, tracking_number, amount_minor, shipped_at, delivered_at",
    "$3, $4, $5, $6, $7, $8, $9",
    "status = excluded.status, lines = excluded.lines, carrier = excluded.carrier, \
     tracking_number = excluded.tracking_number, amount_minor = excluded.amount_minor, \
     shipped_at = excluded.shipped_at, delivered_at = excluded.delivered_at"
);

const UPSERT_RETURN: &str = upsert!(
    "orders_returns",
    "status, lines, reason, note, restocked, created_at, updated_at",
    "$3, $4, $5, $6, $7, $8, $9",
    "status = excluded.status, lines = excluded.lines, reason = excluded.reason, \
     note = excluded.note, restocked = excluded.restocked, updated_at = excluded.updated_at"
);

const UPSERT_REFUND: &str = upsert!(
    "orders_refunds",
    "status, lines, shipping, amount_minor, note, return_id, created_at",
    "$3, $4, $5, $6, $7, $8, $9",
    "status = excluded.status, lines = excluded.lines, shipping = excluded.shipping, \
     amount_minor = excluded.amount_minor, note = excluded.note, return_id = excluded.return_id"
);

const UPSERT_NOTE: &str = upsert!(
    "orders_notes",
    "text, visible_to_customer, author, created_at",
    "$3, $4, $5, $6",
    "text = excluded.text, visible_to_customer = excluded.visible_to_customer"
);

const DELETE_REFUND: &str = "DELETE FROM orders_refunds WHERE id = $1";

/// Whether `change` writes records (so a backend runs [`writes`] after its
/// compare-and-set, in the same transaction).
pub(crate) fn writes_records(change: &StatusChange) -> bool {
    !change.records().is_empty() || change.removed_refund().is_some()
}

fn lines_json(lines: &[ItemLine]) -> Result<String, StoreError> {
    serde_json::to_string(lines).map_err(|e| StoreError::Backend(e.to_string()))
}

/// The statements that write `change`'s records, in order: each record
/// inserted or replaced by id, then the removed refund deleted; `query`
/// makes a backend's query of a statement text.
pub(crate) fn writes<B: Bind>(
    change: &StatusChange,
    query: impl Fn(&'static str) -> B,
) -> Result<Vec<B>, StoreError> {
    let order = change.order_id().as_str();
    let mut out = Vec::new();
    for record in change.records() {
        let q = match record {
            Record::Fulfilment(f) => query(UPSERT_FULFILMENT)
                .text(f.id.as_str())
                .text(order)
                .text(f.status.as_str())
                .text(&lines_json(&f.lines)?)
                .opt_text(f.carrier.as_ref().map(Carrier::as_str))
                .text(f.tracking_number.as_str())
                .int(f.amount.to_minor())
                .text(&ts(f.shipped_at))
                .opt_text(f.delivered_at.map(ts).as_deref()),
            Record::Return(r) => query(UPSERT_RETURN)
                .text(r.id.as_str())
                .text(order)
                .text(r.status.as_str())
                .text(&lines_json(&r.lines)?)
                .text(r.reason.as_str())
                .opt_text(r.note.as_ref().map(Note::as_str))
                .flag(r.restocked)
                .text(&ts(r.created_at))
                .text(&ts(r.updated_at)),
            Record::Refund(r) => query(UPSERT_REFUND)
                .text(r.id.as_str())
                .text(order)
                .text(r.status.as_str())
                .text(&lines_json(&r.lines)?)
                .flag(r.shipping)
                .int(r.amount.to_minor())
                .opt_text(r.note.as_ref().map(Note::as_str))
                .opt_text(r.return_id.as_ref().map(ReturnId::as_str))
                .text(&ts(r.created_at)),
            Record::Note(n) => query(UPSERT_NOTE)
                .text(n.id.as_str())
                .text(order)
                .text(n.text.as_str())
                .flag(n.visible_to_customer)
                .text(n.author.as_str())
                .text(&ts(n.created_at)),
            other => {
                return Err(StoreError::Backend(format!(
                    "a record this store does not know: {other:?}"
                )));
            }
        };
        out.push(q);
    }
    if let Some(id) = change.removed_refund() {
        out.push(query(DELETE_REFUND).text(id.as_str()));
    }
    Ok(out)
}

/// The records of the orders `filter` selects (a condition on `order_id`
/// with the dialect's list of ids as `$1`), every kind in one statement,
/// by order, kind and position. Columns: `kind`, `order_id`, `id`,
/// `status`, `lines`, two texts `t1` `t2`, an amount `n1`, a flag `b1` and
/// two instants `at1` `at2`, by kind as the branches say.
pub(crate) fn select_records(filter: &str) -> String {
    format!(
        "SELECT 'f' AS kind, order_id, position, id, status, lines, carrier AS t1, tracking_number AS t2, \
                amount_minor AS n1, CAST(NULL AS BOOLEAN) AS b1, shipped_at AS at1, delivered_at AS at2
         FROM orders_fulfilments WHERE {filter}
         UNION ALL
         SELECT 'm', order_id, position, id, status, lines, note, return_id, amount_minor, shipping,
                created_at, CAST(NULL AS TEXT)
         FROM orders_refunds WHERE {filter}
         UNION ALL
         SELECT 'n', order_id, position, id, CAST(NULL AS TEXT), CAST(NULL AS TEXT), text, author,
                CAST(NULL AS BIGINT), visible_to_customer, created_at, CAST(NULL AS TEXT)
         FROM orders_notes WHERE {filter}
         UNION ALL
         SELECT 'r', order_id, position, id, status, lines, reason, note, CAST(NULL AS BIGINT),
                restocked, created_at, updated_at
         FROM orders_returns WHERE {filter}
         ORDER BY 2, 1, 3"
    )
}

fn item_lines(text: &str) -> Result<Vec<ItemLine>, StoreError> {
    parse("record lines", serde_json::from_str(text))
}

fn id<T>(
    what: &str,
    row: &impl Get,
    make: fn(&str) -> Result<T, orders_core::ids::InvalidId>,
) -> Result<T, StoreError> {
    parse(what, make(&row.text("id")?))
}

/// One row of [`select_records`]: its order's id and the record, its
/// amounts in `currency`.
fn record(row: &impl Get, currency: Currency) -> Result<Record, StoreError> {
    let kind = row.text("kind")?;
    let at1 = || parse_ts("record time", &row.text("at1")?);
    let opt_note = |col: &str| -> Result<Option<Note>, StoreError> {
        row.opt_text(col)?
            .map(|t| parse("note", Note::parse(&t)))
            .transpose()
    };
    Ok(match kind.as_str() {
        "f" => Record::Fulfilment(Fulfilment {
            id: id("fulfilment id", row, FulfilmentId::parse)?,
            lines: item_lines(&row.text("lines")?)?,
            carrier: row
                .opt_text("t1")?
                .map(|t| parse("carrier", Carrier::parse(&t)))
                .transpose()?,
            tracking_number: parse("tracking number", TrackingNumber::parse(&row.text("t2")?))?,
            status: parse(
                "fulfilment status",
                FulfilmentStatus::from_str(&row.text("status")?),
            )?,
            amount: money(row.int("n1")?, currency)?,
            shipped_at: at1()?,
            delivered_at: row
                .opt_text("at2")?
                .map(|t| parse_ts("delivered_at", &t))
                .transpose()?,
        }),
        "m" => Record::Refund(Refund {
            id: id("refund id", row, RefundId::parse)?,
            amount: money(row.int("n1")?, currency)?,
            lines: item_lines(&row.text("lines")?)?,
            shipping: row.flag("b1")?,
            status: parse(
                "refund status",
                RefundStatus::from_str(&row.text("status")?),
            )?,
            note: opt_note("t1")?,
            return_id: row
                .opt_text("t2")?
                .map(|t| parse("return id", ReturnId::parse(&t)))
                .transpose()?,
            created_at: at1()?,
        }),
        "n" => Record::Note(OrderNote {
            id: id("note id", row, NoteId::parse)?,
            text: parse("note text", NoteText::parse(&row.text("t1")?))?,
            visible_to_customer: row.flag("b1")?,
            author: parse("author", Actor::try_from(row.text("t2")?))?,
            created_at: at1()?,
        }),
        "r" => Record::Return(Return {
            id: id("return id", row, ReturnId::parse)?,
            status: parse(
                "return status",
                ReturnStatus::from_str(&row.text("status")?),
            )?,
            lines: item_lines(&row.text("lines")?)?,
            reason: parse("reason", ReturnReason::parse(&row.text("t1")?))?,
            note: opt_note("t2")?,
            restocked: row.flag("b1")?,
            created_at: at1()?,
            updated_at: parse_ts("updated_at", &row.text("at2")?)?,
        }),
        other => return Err(StoreError::Backend(format!("unknown record kind {other}"))),
    })
}

/// The records of `rows` ([`select_records`]) by order id, each order's
/// amounts in its currency (`currencies`).
pub(crate) fn by_order<R: Get>(
    rows: &[R],
    currencies: &HashMap<String, Currency>,
) -> Result<HashMap<String, Aftersale>, StoreError> {
    let mut out: HashMap<String, Aftersale> = HashMap::new();
    for row in rows {
        let order = row.text("order_id")?;
        let currency = *currencies
            .get(&order)
            .ok_or_else(|| StoreError::Backend(format!("a record of unread order {order}")))?;
        let record = record(row, currency)?;
        out.entry(order).or_default().put(record);
    }
    Ok(out)
}

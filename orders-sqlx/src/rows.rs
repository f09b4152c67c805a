//! What both backends do with the rows they fetched, written once: cut a
//! keyset page, put orders together from their heads and lines, read a
//! placed checkout's number and event, and an idempotency key's state.

use orders_core::ids::{EventId, OrderId};
use orders_core::order::{Order, OrderNumber};
use orders_core::ports::{Cursor, IdempotencyState, OrderPlacement, Placed, StoreError};

use crate::codec::{self, Get};

/// Cuts `rows` (fetched with `limit + 1`) to `limit`; when a row was left
/// over, the cursor is the `key` of the last row kept.
pub(crate) fn page_cut<R: Get>(
    mut rows: Vec<R>,
    limit: usize,
    key: &str,
) -> Result<(Vec<R>, Option<Cursor>), StoreError> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = match rows.last() {
        Some(last) if more => Some(codec::cursor(last.int(key)?)),
        _ => None,
    };
    Ok((rows, next))
}

/// The orders of `heads` (each an order's row and its id), each with the
/// rows of `lines` whose `order_id` is its id, in the order `lines` gives,
/// and its records among `records` ([`crate::aftersale::select_records`]).
pub(crate) fn orders_with_lines<'h, H: Get + 'h, L: Get, R: Get>(
    heads: impl IntoIterator<Item = (&'h H, &'h str)>,
    lines: &[L],
    records: &[R],
) -> Result<Vec<Order>, StoreError> {
    let heads: Vec<(&H, &str)> = heads.into_iter().collect();
    let mut currencies = std::collections::HashMap::new();
    for (row, id) in &heads {
        let currency = orders_core::money::Currency::parse(&row.text("currency")?)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        currencies.insert((*id).to_owned(), currency);
    }
    let mut records = crate::aftersale::by_order(records, &currencies)?;
    let mut out = Vec::with_capacity(heads.len());
    for (row, id) in heads {
        let currency = currencies[id];
        let mut mine = Vec::new();
        for line in lines
            .iter()
            .filter(|l| l.text("order_id").is_ok_and(|o| o == id))
        {
            mine.push(codec::line(line, currency)?);
        }
        let aftersale = records.remove(id).unwrap_or_default();
        out.push(codec::order(row, mine, aftersale)?);
    }
    Ok(out)
}

/// The placed order of `p`, numbered `number`, and its first event, whose
/// id is `event_id`; both come back from the placement's statement, and a
/// placement that returned neither is a fault of the backend.
pub(crate) fn placed(
    p: &OrderPlacement,
    number: Option<i64>,
    event_id: Option<i64>,
) -> Result<Placed, StoreError> {
    let (Some(number), Some(event_id)) = (number, event_id) else {
        return Err(StoreError::Backend(
            "checkout placed without an order".into(),
        ));
    };
    let number =
        u64::try_from(number).map_err(|_| StoreError::Backend("negative order number".into()))?;
    let event_id =
        u64::try_from(event_id).map_err(|_| StoreError::Backend("negative event id".into()))?;
    let o = &p.order;
    let event = o.first_event(EventId::new(event_id), p.actor.clone());
    Ok(Placed {
        order: o.clone().into_order(OrderNumber::new(number)),
        event,
    })
}

/// The state of a key found claimed by someone else: completed if it
/// names its order, else in progress.
pub(crate) fn found_state(
    fingerprint: String,
    order_id: Option<String>,
) -> Result<IdempotencyState, StoreError> {
    Ok(match order_id {
        Some(order_id) => IdempotencyState::Completed {
            fingerprint,
            order_id: OrderId::parse(&order_id).map_err(|e| StoreError::Backend(e.to_string()))?,
        },
        None => IdempotencyState::InProgress { fingerprint },
    })
}

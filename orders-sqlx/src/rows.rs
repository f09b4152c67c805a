//! What both backends do with the rows they fetched, written once: cut a
//! keyset page, and put orders together from their heads and lines.

use orders_core::order::Order;
use orders_core::ports::{Cursor, StoreError};

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
/// rows of `lines` whose `order_id` is its id, in the order `lines` gives.
pub(crate) fn orders_with_lines<'h, H: Get + 'h, L: Get>(
    heads: impl IntoIterator<Item = (&'h H, &'h str)>,
    lines: &[L],
) -> Result<Vec<Order>, StoreError> {
    let heads = heads.into_iter();
    let mut out = Vec::with_capacity(heads.size_hint().0);
    for (row, id) in heads {
        let currency = orders_core::money::Currency::parse(&row.text("currency")?)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut mine = Vec::new();
        for line in lines
            .iter()
            .filter(|l| l.text("order_id").is_ok_and(|o| o == id))
        {
            mine.push(codec::line(line, currency)?);
        }
        out.push(codec::order(row, mine)?);
    }
    Ok(out)
}

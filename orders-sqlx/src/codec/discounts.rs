//! Discounts to their columns and back.

use orders_core::discount::{Discount, DiscountCode, DiscountKind, DiscountParts};
use orders_core::money::Money;
use orders_core::ports::StoreError;

use super::{Get, bad, currency, money, parse, parse_ts, to_u32, ts};

pub(crate) const DISCOUNT_COLUMNS: &str = "seq, code, kind, percent, amount_minor, amount_currency, min_subtotal_minor, min_subtotal_currency, max_uses, uses, expires_at, created_at, max_uses_per_customer, active";

/// A discount's columns, in the order of [`DISCOUNT_COLUMNS`] less `seq`.
pub(crate) struct DiscountRow {
    pub(crate) code: String,
    pub(crate) kind: &'static str,
    pub(crate) percent: Option<String>,
    pub(crate) amount_minor: Option<i64>,
    pub(crate) amount_currency: Option<&'static str>,
    pub(crate) min_subtotal_minor: Option<i64>,
    pub(crate) min_subtotal_currency: Option<&'static str>,
    pub(crate) max_uses: Option<i64>,
    pub(crate) uses: i64,
    pub(crate) expires_at: Option<String>,
    pub(crate) created_at: String,
    pub(crate) max_uses_per_customer: Option<i64>,
    pub(crate) active: bool,
}

pub(crate) fn discount_row(d: &Discount) -> DiscountRow {
    let (kind, percent, amount) = match d.kind() {
        DiscountKind::Percent(pct) => ("percent", Some(pct.to_string()), None),
        DiscountKind::Fixed(amount) => ("fixed", None, Some(amount)),
    };
    DiscountRow {
        code: d.code().as_str().to_owned(),
        kind,
        percent,
        amount_minor: amount.map(Money::to_minor),
        amount_currency: amount.map(|a| a.currency().code()),
        min_subtotal_minor: d.min_subtotal().map(Money::to_minor),
        min_subtotal_currency: d.min_subtotal().map(|m| m.currency().code()),
        max_uses: d.max_uses().map(i64::from),
        uses: i64::from(d.uses()),
        expires_at: d.expires_at().map(ts),
        created_at: ts(d.created_at()),
        max_uses_per_customer: d.max_uses_per_customer().map(i64::from),
        active: d.active(),
    }
}

pub(crate) fn discount(row: &impl Get) -> Result<Discount, StoreError> {
    let kind = match row.text("kind")?.as_str() {
        "percent" => {
            let pct = row
                .opt_text("percent")?
                .ok_or_else(|| bad("discount", "no percent"))?;
            parse("percent", DiscountKind::percent(&pct))?
        }
        "fixed" => {
            let units = row
                .opt_int("amount_minor")?
                .ok_or_else(|| bad("discount", "no amount"))?;
            let code = row
                .opt_text("amount_currency")?
                .ok_or_else(|| bad("discount", "no currency"))?;
            DiscountKind::Fixed(money(units, currency(&code)?)?)
        }
        other => return Err(bad("discount kind", other)),
    };
    let min_subtotal = match (
        row.opt_int("min_subtotal_minor")?,
        row.opt_text("min_subtotal_currency")?,
    ) {
        (Some(units), Some(code)) => Some(money(units, currency(&code)?)?),
        (None, None) => None,
        _ => return Err(bad("discount", "half a minimum subtotal")),
    };
    let parts = DiscountParts {
        code: parse("discount code", DiscountCode::parse(&row.text("code")?))?,
        kind,
        min_subtotal,
        max_uses: row
            .opt_int("max_uses")?
            .map(|n| to_u32("max_uses", n))
            .transpose()?,
        uses: to_u32("uses", row.int("uses")?)?,
        max_uses_per_customer: row
            .opt_int("max_uses_per_customer")?
            .map(|n| to_u32("max_uses_per_customer", n))
            .transpose()?,
        active: row.flag("active")?,
        expires_at: row
            .opt_text("expires_at")?
            .map(|t| parse_ts("expires_at", &t))
            .transpose()?,
        created_at: parse_ts("created_at", &row.text("created_at")?)?,
    };
    parse("discount", Discount::restore(parts))
}

//! A new discount code as submitted ([`NewDiscountForm`]), described once
//! and validated into a [`Discount`] with every bad field at once.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Discount, DiscountCode, DiscountKind};
use crate::form::Field;
use crate::money::{Currency, Money};

/// A new discount code as submitted (the JSON `POST /admin/discounts`
/// body and the admin panel's form alike). Missing fields deserialise as
/// `None`; [`validate`](Self::validate) checks every field and reports every
/// bad one at once, by field name.
///
/// ```
/// use orders_core::discount::NewDiscountForm;
/// use orders_core::money::Currency;
///
/// let now = "2026-12-06T12:00:00Z".parse().unwrap();
/// let errors = NewDiscountForm {
///     code: Some("bad code!".into()),
///     kind: Some("half".into()),
///     max_uses: Some("0".into()),
///     expires_at: Some("tomorrow".into()),
///     ..Default::default()
/// }
/// .validate(Currency::USD, now)
/// .unwrap_err();
/// let fields: Vec<&str> = errors.iter().map(|(path, _)| path).collect();
/// assert_eq!(fields, ["code", "expires_at", "kind", "max_uses", "value"]);
///
/// let ten = NewDiscountForm {
///     code: Some("TEN".into()),
///     kind: Some("percent".into()),
///     value: Some("10".into()),
///     ..Default::default()
/// }
/// .validate(Currency::USD, now)
/// .unwrap();
/// assert_eq!(ten.code().as_str(), "TEN");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NewDiscountForm {
    /// The code customers type. Required.
    pub code: Option<String>,
    /// `percent` or `fixed`. Required.
    pub kind: Option<String>,
    /// `"10"` with `percent` is 10 %; an amount with `fixed`. Required.
    pub value: Option<String>,
    /// The currency of a fixed `value` and of `min_subtotal`; default: the
    /// store's.
    pub currency: Option<String>,
    /// The smallest subtotal it applies to.
    pub min_subtotal: Option<String>,
    /// How many orders may use it, at least 1; none is unlimited.
    pub max_uses: Option<crate::catalogue::WholeNumber>,
    /// How many orders of one customer may use it, at least 1; none is
    /// unlimited.
    pub max_uses_per_customer: Option<crate::catalogue::WholeNumber>,
    /// When it stops applying, RFC 3339.
    pub expires_at: Option<String>,
}

impl crate::form::Form for NewDiscountForm {
    const DESCRIPTION: &'static crate::form::Description = &crate::form::Description {
        name: "CreateDiscount",
        doc: "A new discount code (`POST /admin/discounts`).",
        fields: &[
            Field::text("code", "The code customers type, any case.")
                .required()
                .chars(1, DiscountCode::MAX_CHARS)
                .pattern(DiscountCode::PATTERN)
                .example("WELCOME10"),
            Field::text("kind", "What it takes off.")
                .required()
                .one_of(&DiscountKind::NAMES),
            Field::text(
                "value",
                "`\"10\"` with `percent` is 10 % (more than 0, at most 100); an amount with `fixed`.",
            )
            .required()
            .pattern(Money::PRICE_PATTERN)
            .example("10"),
            crate::catalogue::edit_fields::currency(
                "The currency of `value` (fixed) and `min_subtotal`; default: the store's.",
            ),
            Field::text("min_subtotal", "The smallest subtotal it applies to.")
                .pattern(Money::PRICE_PATTERN),
            Field::integer(
                "max_uses",
                "How many orders may use it; none is unlimited.",
                Some(1),
                Some(u32::MAX as i64),
            ),
            Field::integer(
                "max_uses_per_customer",
                "How many orders of one customer may use it (a guest counted by the order's email); none is unlimited.",
                Some(1),
                Some(u32::MAX as i64),
            ),
            Field::text("expires_at", "When it stops applying, RFC 3339.").format("date-time"),
        ],
    };
}

impl NewDiscountForm {
    /// The discount the form describes, created `now`; amounts are in
    /// `currency`, or `default_currency` when the form names none. Blank
    /// optional fields count as absent.
    ///
    /// # Errors
    /// [`ValidationErrors`] keyed by field name, every bad field at once.
    pub fn validate(
        self,
        default_currency: Currency,
        now: DateTime<Utc>,
    ) -> Result<Discount, crate::validation::ValidationErrors> {
        use crate::checkout::REQUIRED;
        let mut errors = crate::validation::ValidationErrors::new();
        let present = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
        let code = match present(self.code) {
            Some(text) => errors.check("code", DiscountCode::parse(text.trim())),
            None => {
                errors.add("code", REQUIRED);
                None
            }
        };
        let currency = match present(self.currency) {
            Some(text) => errors.check("currency", Currency::parse(text.trim())),
            None => Some(default_currency),
        };
        // With a bad currency, still report a malformed amount.
        let currency = currency.unwrap_or(default_currency);
        let value = present(self.value);
        let not_a_kind = || format!("must be one of: {}", DiscountKind::NAMES.join(", "));
        let kind = match (present(self.kind).as_deref().map(str::trim), value) {
            (Some(kind), None) => {
                errors.add("value", REQUIRED);
                if !DiscountKind::NAMES.contains(&kind) {
                    errors.add("kind", not_a_kind());
                }
                None
            }
            (Some("percent"), Some(value)) => {
                errors.check("value", DiscountKind::percent(value.trim()))
            }
            (Some("fixed"), Some(value)) => {
                errors.check("value", DiscountKind::fixed(value.trim(), currency))
            }
            (Some(_), Some(_)) => {
                errors.add("kind", not_a_kind());
                None
            }
            (None, value) => {
                errors.add("kind", REQUIRED);
                if value.is_none() {
                    errors.add("value", REQUIRED);
                }
                None
            }
        };
        let min_subtotal = present(self.min_subtotal).and_then(|text| {
            errors.check("min_subtotal", Money::parse_price(text.trim(), currency))
        });
        let mut positive = |field: &str, value: Option<crate::catalogue::WholeNumber>| {
            value.and_then(|value| {
                let n = errors.check(field, value.value())??;
                errors.check(
                    field,
                    u32::try_from(n)
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or("must be a positive integer"),
                )
            })
        };
        let max_uses = positive("max_uses", self.max_uses);
        let max_uses_per_customer = positive("max_uses_per_customer", self.max_uses_per_customer);
        let expires_at = present(self.expires_at).and_then(|text| {
            errors.check(
                "expires_at",
                DateTime::parse_from_rfc3339(text.trim())
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|_| "must be an RFC 3339 date-time"),
            )
        });
        let (Some(code), Some(kind)) = (code, kind) else {
            return Err(errors);
        };
        let mut discount = Discount::new(code, kind, now);
        discount.min_subtotal = min_subtotal;
        discount.max_uses = max_uses;
        discount.max_uses_per_customer = max_uses_per_customer;
        discount.expires_at = expires_at;
        errors.into_result(discount)
    }
}

/// A discount code switched on or off (`PATCH /admin/discounts/{code}`,
/// the admin panel's Disable and Enable buttons).
///
/// ```
/// use orders_core::discount::DiscountSwitchForm;
/// assert_eq!(DiscountSwitchForm { active: Some(false) }.validate(), Ok(false));
/// assert!(DiscountSwitchForm::default().validate().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DiscountSwitchForm {
    /// `false` disables the code, `true` enables it again. Required.
    pub active: Option<bool>,
}

impl crate::form::Form for DiscountSwitchForm {
    const DESCRIPTION: &'static crate::form::Description = &crate::form::Description {
        name: "SwitchDiscount",
        doc: "A discount code disabled or enabled again (`PATCH /admin/discounts/{code}`).",
        fields: &[Field::boolean(
            "active",
            "`false`: the code is refused when applied and at checkout; `true`: it applies again.",
        )
        .required()],
    };
}

impl DiscountSwitchForm {
    /// Whether the code is to be active.
    ///
    /// # Errors
    /// [`ValidationErrors`](crate::validation::ValidationErrors) on `active`.
    pub fn validate(self) -> Result<bool, crate::validation::ValidationErrors> {
        self.active.ok_or_else(|| {
            crate::validation::ValidationErrors::single("active", crate::checkout::REQUIRED)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_new_discount_form_reports_every_field_at_once() {
        let now = at("2026-12-01T00:00:00Z");
        let form = |f: fn(&mut NewDiscountForm)| {
            let mut form = NewDiscountForm {
                code: Some("SAVE5".into()),
                kind: Some("fixed".into()),
                value: Some("5.00".into()),
                ..NewDiscountForm::default()
            };
            f(&mut form);
            form.validate(Currency::USD, now)
        };
        let ok = form(|_| {}).unwrap();
        assert_eq!(ok.kind, DiscountKind::fixed("5.00", Currency::USD).unwrap());
        assert_eq!(
            (ok.max_uses, ok.expires_at, ok.min_subtotal),
            (None, None, None)
        );
        // Blank optional fields are absent; a bad currency still lets the
        // amount be judged.
        let blank = form(|f| {
            f.min_subtotal = Some(" ".into());
            f.expires_at = Some(String::new());
        });
        assert!(blank.is_ok());
        let errors = form(|f| {
            f.currency = Some("XX".into());
            f.value = Some("5.001".into());
            f.max_uses = Some("abc".into());
            f.min_subtotal = Some("-1".into());
        })
        .unwrap_err();
        for field in ["currency", "value", "max_uses", "min_subtotal"] {
            assert!(errors.contains(field), "{field}: {errors}");
        }
        let errors = form(|f| f.max_uses = Some(0_i64.into())).unwrap_err();
        assert!(errors.contains("max_uses"));
        let errors = form(|f| f.max_uses_per_customer = Some("-2".into())).unwrap_err();
        assert!(errors.contains("max_uses_per_customer"));
        let per_customer = form(|f| f.max_uses_per_customer = Some(1_i64.into())).unwrap();
        assert_eq!(per_customer.max_uses_per_customer(), Some(1));
        let limited = form(|f| {
            f.max_uses = Some(3_i64.into());
            f.expires_at = Some("2027-01-01T00:00:00Z".into());
        })
        .unwrap();
        assert_eq!(limited.max_uses, Some(3));
        assert_eq!(limited.expires_at, Some(at("2027-01-01T00:00:00Z")));
    }
}

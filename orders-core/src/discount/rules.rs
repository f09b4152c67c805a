//! A discount as stored: its rules, checked when it is made and restored,
//! and the one counter of its uses.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{DiscountCode, DiscountKind, DiscountRejection, InvalidDiscount};
use crate::money::{Money, MoneyError};

/// A discount code and its rules, as stored.
///
/// Its fields are private: its limits are set when it is made (builder
/// methods on [`Discount::new`]) and only [`Discount::record_use`] counts a
/// use, never past `max_uses`. A store rebuilds one with
/// [`Discount::restore`].
///
/// ```compile_fail,E0616
/// # use orders_core::discount::*;
/// let mut ten = Discount::new(DiscountCode::parse("TEN").unwrap(),
///     DiscountKind::percent("10").unwrap(), chrono::Utc::now())
///     .with_max_uses(std::num::NonZeroU32::MIN);
/// ten.uses = 0; // private: a used-up code cannot be handed out again
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discount {
    pub(super) code: DiscountCode,
    #[serde(flatten)]
    pub(super) kind: DiscountKind,
    pub(super) min_subtotal: Option<Money>,
    pub(super) max_uses: Option<u32>,
    pub(super) uses: u32,
    pub(super) max_uses_per_customer: Option<u32>,
    pub(super) active: bool,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) created_at: DateTime<Utc>,
}

/// A discount as a store keeps it, field by field: what
/// [`Discount::restore`] checks and rebuilds a discount from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountParts {
    /// The code customers type.
    pub code: DiscountCode,
    /// Percent or fixed amount.
    pub kind: DiscountKind,
    /// The smallest subtotal it applies to.
    pub min_subtotal: Option<Money>,
    /// How many orders may use it; `None` is unlimited.
    pub max_uses: Option<u32>,
    /// How many orders have used it.
    pub uses: u32,
    /// How many orders of one customer may use it; `None` is unlimited.
    pub max_uses_per_customer: Option<u32>,
    /// Whether it applies at all (staff disable and re-enable a code).
    pub active: bool,
    /// After this instant it no longer applies.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Why stored parts do not make a discount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidStoredDiscount {
    /// The amount or the percentage is out of its range.
    #[error(transparent)]
    Kind(InvalidDiscount),
    /// A negative minimum subtotal.
    #[error("a negative minimum subtotal")]
    NegativeMinimum,
    /// `max_uses` of 0.
    #[error("max_uses 0")]
    NoUses,
    /// `max_uses_per_customer` of 0.
    #[error("max_uses_per_customer 0")]
    NoUsesPerCustomer,
    /// More uses than `max_uses`.
    #[error("{uses} uses of at most {max}")]
    TooManyUses {
        /// Uses counted.
        uses: u32,
        /// The most allowed.
        max: u32,
    },
}

impl Discount {
    /// A new, unused discount with no limits.
    pub fn new(code: DiscountCode, kind: DiscountKind, now: DateTime<Utc>) -> Self {
        Self {
            code,
            kind,
            min_subtotal: None,
            max_uses: None,
            uses: 0,
            max_uses_per_customer: None,
            active: true,
            expires_at: None,
            created_at: now,
        }
    }

    /// With a smallest subtotal (before discount) it applies to.
    #[must_use]
    pub fn with_min_subtotal(mut self, min_subtotal: Money) -> Self {
        self.min_subtotal = Some(min_subtotal);
        self
    }

    /// With at most `max_uses` orders using it.
    #[must_use]
    pub fn with_max_uses(mut self, max_uses: NonZeroU32) -> Self {
        self.max_uses = Some(max_uses.get());
        self
    }

    /// With at most `max` orders of any one customer using it (a signed-in
    /// customer counted by customer id, a guest by the order's email: see
    /// [`use_key`](super::use_key)).
    #[must_use]
    pub fn with_max_uses_per_customer(mut self, max: NonZeroU32) -> Self {
        self.max_uses_per_customer = Some(max.get());
        self
    }

    /// Enabled (`true`, the default) or disabled: a disabled code applies
    /// to no cart and no checkout until it is enabled again.
    #[must_use]
    pub fn with_active(mut self, active: bool) -> Self {
        self.active = active;
        self
    }

    /// No longer applying from `expires_at` on.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: DateTime<Utc>) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// The discount a store kept, checked.
    ///
    /// ```
    /// # use orders_core::discount::*;
    /// let parts = DiscountParts {
    ///     code: DiscountCode::parse("TEN").unwrap(),
    ///     kind: DiscountKind::percent("10").unwrap(),
    ///     min_subtotal: None,
    ///     max_uses: Some(3),
    ///     uses: 4,
    ///     max_uses_per_customer: None,
    ///     active: true,
    ///     expires_at: None,
    ///     created_at: chrono::Utc::now(),
    /// };
    /// assert_eq!(
    ///     Discount::restore(parts),
    ///     Err(InvalidStoredDiscount::TooManyUses { uses: 4, max: 3 })
    /// );
    /// ```
    ///
    /// # Errors
    /// [`InvalidStoredDiscount`] for a percentage out of (0, 100], a fixed
    /// amount not above zero, a negative minimum, `max_uses` (or
    /// `max_uses_per_customer`) of 0 or more uses than `max_uses`.
    pub fn restore(parts: DiscountParts) -> Result<Self, InvalidStoredDiscount> {
        match parts.kind {
            DiscountKind::Percent(pct) if pct <= Decimal::ZERO || pct > Decimal::ONE_HUNDRED => {
                return Err(InvalidStoredDiscount::Kind(InvalidDiscount::Percent));
            }
            DiscountKind::Fixed(amount) if amount.is_negative() || amount.is_zero() => {
                return Err(InvalidStoredDiscount::Kind(InvalidDiscount::NotPositive));
            }
            _ => {}
        }
        if parts.min_subtotal.is_some_and(Money::is_negative) {
            return Err(InvalidStoredDiscount::NegativeMinimum);
        }
        match parts.max_uses {
            Some(0) => return Err(InvalidStoredDiscount::NoUses),
            Some(max) if parts.uses > max => {
                return Err(InvalidStoredDiscount::TooManyUses {
                    uses: parts.uses,
                    max,
                });
            }
            _ => {}
        }
        if parts.max_uses_per_customer == Some(0) {
            return Err(InvalidStoredDiscount::NoUsesPerCustomer);
        }
        Ok(Self {
            code: parts.code,
            kind: parts.kind,
            min_subtotal: parts.min_subtotal,
            max_uses: parts.max_uses,
            uses: parts.uses,
            max_uses_per_customer: parts.max_uses_per_customer,
            active: parts.active,
            expires_at: parts.expires_at,
            created_at: parts.created_at,
        })
    }

    /// The code customers type.
    pub fn code(&self) -> &DiscountCode {
        &self.code
    }

    /// Percent or fixed amount.
    pub fn kind(&self) -> DiscountKind {
        self.kind
    }

    /// The smallest subtotal (before discount) it applies to.
    pub fn min_subtotal(&self) -> Option<Money> {
        self.min_subtotal
    }

    /// How many orders may use it; `None` is unlimited.
    pub fn max_uses(&self) -> Option<u32> {
        self.max_uses
    }

    /// How many orders have used it.
    pub fn uses(&self) -> u32 {
        self.uses
    }

    /// How many orders of one customer may use it; `None` is unlimited.
    pub fn max_uses_per_customer(&self) -> Option<u32> {
        self.max_uses_per_customer
    }

    /// Whether it is enabled (a disabled code applies to nothing).
    pub fn active(&self) -> bool {
        self.active
    }

    /// After this instant it no longer applies.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// Whether every use was taken.
    pub fn used_up(&self) -> bool {
        self.max_uses.is_some_and(|max| self.uses >= max)
    }

    /// Counts one order's use of the code.
    ///
    /// # Errors
    /// [`DiscountRejection::UsedUp`] when every use was taken; the count
    /// stays as it was.
    pub fn record_use(&mut self) -> Result<(), DiscountRejection> {
        if self.used_up() {
            return Err(DiscountRejection::UsedUp);
        }
        self.uses = self.uses.saturating_add(1);
        Ok(())
    }

    /// Whether the code applies to a subtotal at `now`: enabled, not
    /// expired, uses left, right currency, minimum met. (A customer's own
    /// uses are counted by the store when the order is placed.)
    ///
    /// # Errors
    /// The [`DiscountRejection`] a customer would be shown.
    pub fn check(&self, subtotal: Money, now: DateTime<Utc>) -> Result<(), DiscountRejection> {
        if !self.active {
            return Err(DiscountRejection::Disabled);
        }
        if self.expires_at.is_some_and(|at| now >= at) {
            return Err(DiscountRejection::Expired);
        }
        if self.used_up() {
            return Err(DiscountRejection::UsedUp);
        }
        if let DiscountKind::Fixed(amount) = self.kind
            && amount.currency() != subtotal.currency()
        {
            return Err(DiscountRejection::Currency(subtotal.currency()));
        }
        if let Some(min) = self.min_subtotal {
            match subtotal.compare(min) {
                Err(_) => return Err(DiscountRejection::Currency(subtotal.currency())),
                Ok(std::cmp::Ordering::Less) => {
                    return Err(DiscountRejection::BelowMinimum(min.to_string()));
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// How much the discount takes off `subtotal`: never more than the
    /// subtotal, never negative, rounded by the crate's one rule.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] for a fixed amount in another
    /// currency.
    pub fn amount_off(&self, subtotal: Money) -> Result<Money, MoneyError> {
        let off = match self.kind {
            DiscountKind::Percent(pct) => subtotal.scale_by(pct / Decimal::ONE_HUNDRED)?,
            DiscountKind::Fixed(amount) => amount,
        };
        let off = off.min(subtotal)?;
        Ok(if off.is_negative() {
            Money::zero(subtotal.currency())
        } else {
            off
        })
    }
}

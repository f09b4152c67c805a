//! Claiming a guest cart at sign-in: merging it into the customer's cart,
//! or adopting it when the customer has none.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Cart, CartError, CartLine, MAX_LINES, Quantity};
use crate::catalogue::Product;
use crate::ids::{CustomerId, ProductId};

/// Why a guest line did not merge whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MergeWarningReason {
    /// Adding it would pass 999: the line was capped at 999.
    Capped,
    /// The product is no longer sold (inactive, gone, or in another
    /// currency): nothing of it was added.
    Unavailable,
    /// The customer's cart already holds [`MAX_LINES`] lines: nothing of
    /// it was added.
    CartFull,
}

/// A guest line that could not be merged whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeWarning {
    /// The product of the guest line.
    pub product_id: ProductId,
    /// How many the guest cart held.
    pub quantity: u32,
    /// How many were added to the customer's cart (0 to `quantity - 1`).
    pub merged: u32,
    /// Why not all of them.
    pub reason: MergeWarningReason,
}

impl Cart {
    /// Adds the lines of `guest` to this cart: quantities of a product
    /// already here are added, capped at 999 a line; a product no longer
    /// sold, or a new line past [`MAX_LINES`], is left out. Returns a
    /// warning for each guest line not merged whole. The guest's discount
    /// code comes along when this cart has none. The guest cart is not
    /// changed (close it with [`Cart::close`]).
    ///
    /// ```
    /// # use orders_core::{cart::*, catalogue::*, ids::CustomerId, money::*};
    /// # use std::collections::HashMap;
    /// # let now = chrono::Utc::now();
    /// # let tea = NewProduct::new(Sku::parse("TEA").unwrap(), ProductName::parse("Tea").unwrap(),
    /// #     Money::parse_price("4.50", Currency::USD).unwrap(), 10).into_product(now);
    /// let mut mine = Cart::new(CustomerId::parse("ada").unwrap(), Currency::USD, now);
    /// mine.add(&tea, Quantity::new(998).unwrap(), now).unwrap();
    /// let (mut guest, _) = Cart::new_guest(Currency::USD, now);
    /// guest.add(&tea, Quantity::new(5).unwrap(), now).unwrap();
    /// let products = HashMap::from([(tea.id().clone(), tea.clone())]);
    /// let warnings = mine.merge_from(&guest, &products, now).unwrap();
    /// assert_eq!(mine.lines()[0].quantity.get(), 999);
    /// assert_eq!(warnings[0].reason, MergeWarningReason::Capped);
    /// assert_eq!(warnings[0].merged, 1);
    /// ```
    ///
    /// # Errors
    /// [`CartError::Closed`] when either cart is closed, and
    /// [`CartError::CurrencyMismatch`] when their currencies differ; the
    /// cart is unchanged then.
    pub fn merge_from(
        &mut self,
        guest: &Cart,
        products: &HashMap<ProductId, Product>,
        now: DateTime<Utc>,
    ) -> Result<Vec<MergeWarning>, CartError> {
        self.ensure_open()?;
        guest.ensure_open()?;
        if guest.currency != self.currency {
            return Err(CartError::CurrencyMismatch {
                cart: self.currency,
                product: guest.currency,
            });
        }
        let mut warnings = Vec::new();
        for line in &guest.lines {
            let wanted = line.quantity.get();
            let warn = |merged, reason| MergeWarning {
                product_id: line.product_id.clone(),
                quantity: wanted,
                merged,
                reason,
            };
            let sold = products
                .get(&line.product_id)
                .is_some_and(|p| p.active() && p.currency() == self.currency);
            if !sold {
                warnings.push(warn(0, MergeWarningReason::Unavailable));
                continue;
            }
            if let Some(mine) = self
                .lines
                .iter_mut()
                .find(|l| l.product_id == line.product_id)
            {
                let had = mine.quantity.get();
                let total = (had + wanted).min(Quantity::MAX);
                mine.quantity = Quantity::new(total).map_err(|_| CartError::Quantity)?;
                if total - had < wanted {
                    warnings.push(warn(total - had, MergeWarningReason::Capped));
                }
            } else if self.lines.len() >= MAX_LINES {
                warnings.push(warn(0, MergeWarningReason::CartFull));
            } else {
                self.lines.push(CartLine {
                    product_id: line.product_id.clone(),
                    quantity: line.quantity,
                });
            }
        }
        if self.discount_code.is_none() {
            self.discount_code = guest.discount_code.clone();
        }
        self.touch(now);
        Ok(warnings)
    }

    /// Makes a guest cart `customer`'s own: it keeps its lines, and its
    /// token no longer opens it.
    ///
    /// # Errors
    /// [`CartError::Closed`].
    pub fn adopt(&mut self, customer: CustomerId, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_open()?;
        self.customer_id = customer;
        self.token_hash = None;
        self.touch(now);
        Ok(())
    }
}

//! Checkout: the one path from a cart to an order.
//!
//! 1. Claim the idempotency key (a retry with the same request gets the
//!    same order back; another request under the key is refused).
//! 2. Load the cart; validate the form, every field at once.
//! 3. Reprice from the current catalogue; check the discount still
//!    qualifies and, if the client sent one, the total it saw.
//! 4. Authorise and capture the card.
//! 5. Place the order atomically (stock, cart, discount use, order, first
//!    event, idempotency record); if that fails, void the charge.
//! 6. Announce the first event, after commit.
//!
//! Card details live only in this call: they are borrowed by the gateway
//! and dropped when the function returns; the order keeps brand and last4.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::Orders;
use super::carts::{PricingOptions, owned_by, subtotal};
use crate::Error;
use crate::catalogue::Product;
use crate::checkout::{CheckoutForm, FormContext, PaymentDetails, PaymentMethod};
use crate::ids::{CartId, CustomerId, OrderId, ProductId};
use crate::money::Money;
use crate::order::{Actor, NewOrder, Order, OrderStatus, PaymentStatus, PaymentSummary};
use crate::ports::{Charge, ClaimAndCart, IdempotencyClaim, IdempotencyState, OrderPlacement};
use crate::pricing::ShippingMethodCode;
use crate::validation::ValidationErrors;

/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What a checkout returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckoutOutcome {
    /// The order.
    pub order: Order,
    /// `true` when this call placed it; `false` when it is the order an
    /// earlier request with the same idempotency key placed.
    pub created: bool,
}

impl Orders {
    /// Checks out `cart_id` for `customer` with the submitted form.
    ///
    /// # Errors
    /// [`Error::NotFound`] (cart), [`Error::Validation`] (every bad field,
    /// or an idempotency key over 255 characters on `Idempotency-Key`),
    /// [`Error::CartClosed`], [`Error::CartEmpty`],
    /// [`Error::ProductUnavailable`], [`Error::DiscountUnavailable`],
    /// [`Error::PriceChanged`], [`Error::PaymentDeclined`],
    /// [`Error::InsufficientStock`], [`Error::IdempotencyMismatch`],
    /// [`Error::IdempotencyInProgress`]. On any error nothing is charged or
    /// taken.
    pub async fn checkout(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        form: CheckoutForm,
        idempotency_key: Option<&str>,
    ) -> Result<CheckoutOutcome, Error> {
        if let Some(key) = idempotency_key
            && (key.is_empty()
                || key.len() > MAX_IDEMPOTENCY_KEY
                || key.chars().any(char::is_control))
        {
            return Err(Error::field(
                "Idempotency-Key",
                "must be 1 to 255 characters without control characters",
            ));
        }
        let Some(key) = idempotency_key else {
            let (cart, products) = self
                .owned_cart_with_products(customer, cart_id, &[])
                .await?;
            return self
                .checkout_unkeyed(customer, cart, products, form, None)
                .await;
        };
        let claim = IdempotencyClaim {
            customer_id: customer.clone(),
            key: key.to_owned(),
            fingerprint: fingerprint(cart_id, &form),
        };
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let stale_before = now - self.inner.config.idempotency_lease;
        // The claim and the cart in one store call; the cart is judged
        // first, as without a key, and a claim it cannot use is released.
        let ClaimAndCart { claim: state, cart } = store
            .begin_idempotent_with_cart(&claim, now, stale_before, cart_id)
            .await?;
        let Some((cart, products)) = owned_by(customer, cart) else {
            if state == IdempotencyState::Claimed {
                let _ = store.release_idempotent(customer, key).await;
            }
            return Err(Error::NotFound("cart"));
        };
        match state {
            IdempotencyState::Claimed => {}
            IdempotencyState::InProgress { fingerprint } => {
                return Err(if fingerprint == claim.fingerprint {
                    Error::IdempotencyInProgress
                } else {
                    Error::IdempotencyMismatch
                });
            }
            IdempotencyState::Completed {
                fingerprint,
                order_id,
            } => {
                if fingerprint != claim.fingerprint {
                    return Err(Error::IdempotencyMismatch);
                }
                let order = store
                    .order(&order_id)
                    .await?
                    .ok_or(Error::NotFound("order"))?;
                return Ok(CheckoutOutcome {
                    order,
                    created: false,
                });
            }
        }
        let result = self
            .checkout_unkeyed(customer, cart, products, form, Some(claim))
            .await;
        if result.is_err() {
            // Nothing was placed: free the key so the client can retry it.
            // If this fails the claim goes stale after the lease.
            let _ = store.release_idempotent(customer, key).await;
        }
        result
    }

    async fn checkout_unkeyed(
        &self,
        customer: &CustomerId,
        cart: crate::cart::Cart,
        products: HashMap<ProductId, Product>,
        form: CheckoutForm,
        claim: Option<IdempotencyClaim>,
    ) -> Result<CheckoutOutcome, Error> {
        let inner = &self.inner;
        let now = inner.clock.now();
        if !cart.is_open() {
            return Err(Error::CartClosed);
        }
        if cart.lines().is_empty() {
            return Err(Error::CartEmpty);
        }

        let codes = inner.config.shipping_codes(cart.currency());
        let context = FormContext {
            today: now.date_naive(),
            shipping_methods: &codes,
        };
        let expected_total = form.expected_total.clone();
        let mut errors = ValidationErrors::new();
        let details = match form.validate(&context) {
            Ok(details) => Some(details),
            Err(form_errors) => {
                errors.merge("", form_errors);
                None
            }
        };
        let expected_total = expected_total.and_then(|text| {
            errors.check("expected_total", Money::parse_price(&text, cart.currency()))
        });
        let details = match details {
            Some(details) if errors.is_empty() => details,
            _ => return Err(Error::Validation(errors)),
        };

        let options = PricingOptions {
            country: Some(details.shipping_address.country()),
            shipping_method: Some(details.shipping_method.clone()),
        };
        let (country, method) = self.destination(cart.currency(), &options)?;
        let discount = match &cart.discount_code() {
            Some(code) => {
                let discount = inner.store.discount(code).await?.ok_or_else(|| {
                    Error::DiscountUnavailable("unknown discount code".to_owned())
                })?;
                discount
                    .check(subtotal(&cart, &products)?, now)
                    .map_err(|reason| Error::DiscountUnavailable(reason.to_string()))?;
                Some(discount)
            }
            None => None,
        };
        let priced = self.price_cart(&cart, &products, discount.as_ref(), method, country)?;
        if !priced.unavailable.is_empty() {
            return Err(Error::ProductUnavailable(priced.unavailable));
        }
        let total = priced.breakdown.totals.total;
        if expected_total.is_some_and(|seen| seen != total) {
            return Err(Error::PriceChanged { total });
        }

        let order_id = OrderId::generate();
        let charge_key = match &claim {
            Some(claim) => format!("{}:{}", claim.customer_id, claim.key),
            None => order_id.to_string(),
        };
        let (status, payment, charge) = match &details.payment {
            PaymentDetails::Card(card) => {
                let charge = if total.is_zero() {
                    None
                } else {
                    Some(
                        inner
                            .payments
                            .authorize_and_capture(total, card, &charge_key)
                            .await?,
                    )
                };
                let summary = PaymentSummary {
                    method: PaymentMethod::Card,
                    brand: Some(card.brand()),
                    last4: Some(card.last4().to_owned()),
                    status: PaymentStatus::Captured,
                    reference: charge.as_ref().map(|c: &Charge| c.reference.clone()),
                };
                (OrderStatus::Paid, summary, charge)
            }
            PaymentDetails::CashOnDelivery => {
                let summary = PaymentSummary {
                    method: PaymentMethod::CashOnDelivery,
                    brand: None,
                    last4: None,
                    status: PaymentStatus::Pending,
                    reference: None,
                };
                (OrderStatus::Pending, summary, None)
            }
        };
        let shipping_method = ShippingMethodCode::parse(&details.shipping_method)
            .map_err(|e| Error::field("shipping_method", e.to_string()))?;
        let b = priced.breakdown;
        let placement = OrderPlacement {
            order: NewOrder {
                id: order_id,
                customer_id: customer.clone(),
                status,
                currency: cart.currency(),
                email: details.email,
                lines: priced.lines,
                totals: b.totals,
                discount_code: discount.map(|d| d.code().clone()),
                shipping_address: details.shipping_address,
                shipping_method,
                payment,
                created_at: now,
            },
            cart_id: cart.id().clone(),
            discount_code: cart.discount_code().cloned(),
            idempotency: claim,
            actor: Actor::customer(customer),
        };
        drop(details.payment);

        match inner.store.place_order(placement).await {
            Ok(placed) => {
                // The order is committed; a failed announcement loses
                // nothing (subscribers replay from the log).
                let _ = inner.notifier.publish(&placed.event).await;
                Ok(CheckoutOutcome {
                    order: placed.order,
                    created: true,
                })
            }
            Err(error) => {
                if let Some(charge) = charge {
                    // Best effort: a void that fails leaves an authorised,
                    // orderless charge for reconciliation; the error the
                    // customer sees is the placement's.
                    let _ = inner.payments.void(&charge.reference).await;
                }
                Err(error.into())
            }
        }
    }
}

/// A fingerprint of a checkout request: the cart and every submitted field
/// except the card number and CVC, of which only the last four digits and
/// the expiry count. Hashing a full card number, even one-way, would store
/// something derived from it; the last four digits already tell two cards
/// apart in practice.
fn fingerprint(cart_id: &CartId, form: &CheckoutForm) -> String {
    let mut hash = Sha256::new();
    let mut field = |value: Option<&str>| match value {
        Some(text) => {
            hash.update([1]);
            hash.update((text.len() as u64).to_be_bytes());
            hash.update(text.as_bytes());
        }
        None => hash.update([0]),
    };
    field(Some(cart_id.as_str()));
    field(form.email.as_deref());
    field(form.shipping_method.as_deref());
    field(form.expected_total.as_deref());
    match &form.shipping_address {
        Some(a) => {
            field(Some("address"));
            for part in [
                &a.full_name,
                &a.line1,
                &a.line2,
                &a.city,
                &a.region,
                &a.postal_code,
                &a.country,
                &a.phone,
            ] {
                field(part.as_deref());
            }
        }
        None => field(None),
    }
    match &form.payment {
        Some(p) => {
            field(Some("payment"));
            field(p.method.as_deref());
            match &p.card {
                Some(card) => {
                    let digits: String = card
                        .number
                        .as_deref()
                        .unwrap_or("")
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect();
                    let last4 = &digits[digits.len().saturating_sub(4)..];
                    field(Some(last4));
                    field(card.exp_month.map(|m| m.to_string()).as_deref());
                    field(card.exp_year.map(|y| y.to_string()).as_deref());
                    field(card.holder.as_deref());
                }
                None => field(None),
            }
        }
        None => field(None),
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::{CardForm, PaymentForm};

    #[test]
    fn fingerprint_ignores_nothing_but_the_full_card_number_and_cvc() {
        let cart = CartId::parse("c1").unwrap();
        let form = |number: &str, cvc: &str, email: &str| CheckoutForm {
            email: Some(email.into()),
            payment: Some(PaymentForm {
                method: Some("card".into()),
                card: Some(CardForm {
                    number: Some(number.into()),
                    cvc: Some(cvc.into()),
                    exp_month: Some(12),
                    exp_year: Some(2030),
                    holder: Some("A".into()),
                }),
            }),
            ..CheckoutForm::default()
        };
        let a = fingerprint(&cart, &form("4242424242424242", "123", "a@b.co"));
        assert_eq!(
            a,
            fingerprint(&cart, &form("4242 4242 4242 4242", "999", "a@b.co"))
        );
        assert_ne!(
            a,
            fingerprint(&cart, &form("4000000000000002", "123", "a@b.co"))
        );
        assert_ne!(
            a,
            fingerprint(&cart, &form("4242424242424242", "123", "b@b.co"))
        );
        assert_ne!(
            a,
            fingerprint(
                &CartId::parse("c2").unwrap(),
                &form("4242424242424242", "123", "a@b.co")
            )
        );
        assert!(!a.contains("4242"));
    }
}

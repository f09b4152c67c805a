//! Checkout: the one path from a cart to an order.
//!
//! 1. Claim the idempotency key (a retry with the same request gets the
//!    same order back; another request under the key is refused).
//! 2. Load the cart; validate the form, every field at once.
//! 3. Reprice from the current catalogue; check the discount still
//!    qualifies and, if the client sent one, the total it saw.
//! 4. Authorise the card (a provider token, or a test card with the test
//!    gateway only). Declined: no order, no stock. Needs the customer's
//!    action: the order is placed `awaiting_payment`, holding its stock.
//! 5. Place the order atomically (stock, cart, discount use, order, first
//!    event, idempotency record); if that fails, void the authorisation.
//! 6. Announce the first event, after commit; then, under `on_checkout`,
//!    capture what was authorised and record it (`payment_updated`).
//!
//! Card details live only in this call: they are borrowed by the gateway
//! and dropped when the function returns; the order keeps brand and last4.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::Orders;
use super::carts::{PricingOptions, owned_by, subtotal};
use crate::Error;
use crate::catalogue::Product;
use crate::checkout::{CheckoutDetails, CheckoutForm, FormContext, PaymentDetails, PaymentMethod};
use crate::form::Submitted;
use crate::ids::{CartId, CustomerId, OrderId, ProductId};
use crate::money::Money;
use crate::order::{Actor, NewOrder, Order, OrderStatus, PaymentStatus, PaymentSummary};
use crate::ports::{
    Authorize, ClaimAndCart, IdempotencyClaim, IdempotencyState, OrderPlacement, PaymentError,
    PaymentSource,
};
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
        form: impl Into<Submitted<CheckoutForm>>,
        idempotency_key: Option<&str>,
    ) -> Result<CheckoutOutcome, Error> {
        let form = form.into();
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
        // The fingerprint is the validated form's. A form that is invalid
        // for every configured shipping method places nothing, so it
        // claims no key; the cart's own methods are checked with the cart.
        let fingerprinted = idempotency_key.and_then(|key| {
            let today = self.inner.clock.now().date_naive();
            let codes = self.inner.config.all_shipping_codes();
            let context = FormContext {
                today,
                shipping_methods: &codes,
            };
            let details = form.clone().validate(|form| form.validate(&context)).ok()?;
            Some((key, fingerprint(cart_id, &details)))
        });
        let Some((key, fingerprint)) = fingerprinted else {
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
            fingerprint,
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
        form: Submitted<CheckoutForm>,
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
        let expected_total = form.form.expected_total.clone();
        let mut errors = ValidationErrors::new();
        let details = match form.validate(|form| form.validate(&context)) {
            Ok(details) => Some(details),
            Err(form_errors) => {
                errors.merge("", form_errors);
                None
            }
        };
        let expected_total = expected_total.and_then(|text| {
            errors.check("expected_total", Money::parse_price(&text, cart.currency()))
        });
        if let Some(PaymentDetails::Card(_)) = details.as_ref().map(|d| &d.payment)
            && !inner.payments.accepts_test_cards()
        {
            errors.add(
                "payment.card",
                "card numbers are not accepted here: pay with a token from the payment provider's form",
            );
        }
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
        let (status, payment) = self
            .authorize(&order_id, total, &details.payment, &charge_key)
            .await?;
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
        let reference = placement.order.payment.reference.clone();

        match inner.store.place_order(placement).await {
            Ok(placed) => {
                // The order is committed; a failed announcement loses
                // nothing (subscribers replay from the log).
                let _ = inner.notifier.publish(&placed.event).await;
                // Stock is taken: now the money (under on_checkout).
                let order = self.capture_on_checkout(placed.order).await;
                Ok(CheckoutOutcome {
                    order,
                    created: true,
                })
            }
            Err(error) => {
                if let Some(reference) = reference {
                    // Lost the stock race (or the cart): release the hold,
                    // never a capture and a refund. Best effort: a void
                    // that fails leaves an orderless authorisation the
                    // provider expires; the customer sees the placement's
                    // error.
                    let _ = inner.payments.void(&reference).await;
                }
                Err(error.into())
            }
        }
    }

    /// Authorises a card payment (or notes cash on delivery): the order's
    /// first status and its payment. A declined card places nothing.
    async fn authorize(
        &self,
        order_id: &OrderId,
        total: Money,
        details: &PaymentDetails,
        key: &str,
    ) -> Result<(OrderStatus, PaymentSummary), Error> {
        let currency = total.currency();
        let (source, declined_on) = match details {
            PaymentDetails::CashOnDelivery => {
                let summary = PaymentSummary::new(
                    PaymentMethod::CashOnDelivery,
                    PaymentStatus::Pending,
                    currency,
                );
                return Ok((OrderStatus::Pending, summary));
            }
            PaymentDetails::Token(token) => (PaymentSource::Token(token), "payment.token"),
            PaymentDetails::Card(card) => (PaymentSource::TestCard(card), "payment.card.number"),
        };
        let mut summary =
            PaymentSummary::new(PaymentMethod::Card, PaymentStatus::Captured, currency);
        if let PaymentDetails::Card(card) = details {
            summary.brand = Some(card.brand());
            summary.last4 = Some(card.last4().to_owned());
        }
        if total.is_zero() {
            // Nothing to take: paid as it stands.
            return Ok((OrderStatus::Paid, summary));
        }
        let request = Authorize::new(order_id, total, source, key);
        let payment =
            self.inner
                .payments
                .authorize(request)
                .await
                .map_err(|error| match error {
                    PaymentError::Declined => Error::PaymentDeclined { field: declined_on },
                    other => other.into(),
                })?;
        let state = payment.state;
        let status = match state.status {
            s if s.counts_as_paid() => OrderStatus::Paid,
            PaymentStatus::RequiresAction => OrderStatus::AwaitingPayment,
            _ => {
                let _ = self.inner.payments.void(&payment.reference).await;
                return Err(Error::PaymentDeclined { field: declined_on });
            }
        };
        summary.status = state.status;
        summary.authorized = state.authorized;
        summary.captured = state.captured;
        summary.refunded = state.refunded;
        summary.next_action = state.next_action;
        summary.brand = summary.brand.or(state.brand);
        summary.last4 = summary.last4.or(state.last4);
        summary.reference = Some(payment.reference);
        Ok((status, summary))
    }
}

/// A fingerprint of a checkout request: the cart and the validated form
/// ([`CheckoutDetails::canonical`]: every field, normalised, the card by
/// its last four digits and expiry only). Hashing a full card number, even
/// one-way, would store something derived from it; the last four digits
/// already tell two cards apart in practice.
fn fingerprint(cart_id: &CartId, details: &CheckoutDetails) -> String {
    let mut hash = Sha256::new();
    let cart = cart_id.as_str().as_bytes();
    hash.update((cart.len() as u64).to_be_bytes());
    hash.update(cart);
    hash.update(details.canonical().to_string().as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::{Value, json};

    use super::*;
    use crate::form::Form;

    fn example() -> Value {
        json!({
            "email": "a@b.co",
            "shipping_address": {"full_name": "Ada Lovelace", "line1": "Unter den Linden 1",
                "line2": null, "city": "Berlin", "region": null, "postal_code": "10115",
                "country": "DE", "phone": "+49 30 1234567"},
            "shipping_method": "standard",
            "payment": {"method": "card", "card": {"number": "4242424242424242",
                "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder": "Ada Lovelace"}},
        })
    }

    fn print_of(cart: &str, body: &Value) -> String {
        let context = FormContext {
            today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            shipping_methods: &["standard", "express"],
        };
        let details = CheckoutForm::read(body.as_object().unwrap())
            .validate(|form| form.validate(&context))
            .unwrap();
        fingerprint(&CartId::parse(cart).unwrap(), &details)
    }

    /// `body` with the value at dotted `path` replaced.
    fn with(mut body: Value, path: &str, value: Value) -> Value {
        let mut at = &mut body;
        for part in path.split('.') {
            at = &mut at[part];
        }
        *at = value;
        body
    }

    #[test]
    fn fingerprint_ignores_nothing_but_the_full_card_number_and_cvc() {
        let a = print_of("c1", &example());
        let spaced = with(
            example(),
            "payment.card.number",
            "4242 4242 4242 4242".into(),
        );
        assert_eq!(
            a,
            print_of("c1", &with(spaced, "payment.card.cvc", "999".into()))
        );
        let declined = with(example(), "payment.card.number", "4000000000000002".into());
        assert_ne!(a, print_of("c1", &declined));
        assert_ne!(
            a,
            print_of("c1", &with(example(), "email", "b@b.co".into()))
        );
        assert_ne!(a, print_of("c2", &example()));
        assert!(!a.contains("4242"));
    }

    /// Every field the checkout form describes changes the fingerprint,
    /// but the CVC: a field the fingerprint missed would let two different
    /// requests under one key count as one.
    #[test]
    fn every_described_field_changes_the_fingerprint() {
        let other: &[(&str, Value, bool)] = &[
            ("email", json!("ada@example.com"), true),
            ("shipping_address.full_name", json!("Ada King"), true),
            ("shipping_address.line1", json!("Unter den Linden 2"), true),
            ("shipping_address.line2", json!("Hinterhaus"), true),
            ("shipping_address.city", json!("Potsdam"), true),
            ("shipping_address.region", json!("Brandenburg"), true),
            ("shipping_address.postal_code", json!("10117"), true),
            ("shipping_address.country", json!("FR"), true),
            ("shipping_address.phone", json!("+49 30 7654321"), true),
            ("shipping_method", json!("express"), true),
            ("payment.method", json!("cash_on_delivery"), true),
            ("payment.card.number", json!("5555555555554444"), true),
            ("payment.card.exp_month", json!(11), true),
            ("payment.card.exp_year", json!(2031), true),
            ("payment.card.cvc", json!("999"), false),
            ("payment.card.holder", json!("A. Lovelace"), true),
            ("expected_total", json!("12.50"), true),
        ];
        let base = print_of("c1", &example());
        // A token stands instead of the card: two tokens differ, and a
        // token differs from the card.
        let token = |t: &str| with(example(), "payment", json!({"method": "card", "token": t}));
        let visa = print_of("c1", &token("test_visa"));
        assert_ne!(visa, print_of("c1", &token("test_declined")));
        assert_ne!(visa, base);
        for (path, _) in CheckoutForm::DESCRIPTION.leaves() {
            if path == "payment.token" {
                continue;
            }
            let Some((_, value, changes)) = other.iter().find(|(p, ..)| *p == path) else {
                panic!("{path}: say whether the fingerprint must see it");
            };
            let changed = print_of("c1", &with(example(), &path, value.clone()));
            assert_eq!(changed != base, *changes, "{path}");
        }
    }
}

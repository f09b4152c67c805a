//! Guests through the facade: a guest cart, opening it with its token, a
//! customer's current cart, and claiming a guest cart at sign-in.

use std::collections::HashMap;

use serde::Serialize;

use super::Orders;
use super::carts::{PricedCart, PricingOptions};
use crate::Error;
use crate::cart::{Cart, MergeWarning};
use crate::guest::CartToken;
use crate::ids::{CartId, CustomerId, ProductId};
use crate::money::Currency;
use crate::ports::{CartClaim, StoreError};

/// A claimed guest cart: the customer's cart it is now part of, and the
/// guest lines that could not be merged whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClaimedCart {
    /// The customer's cart, priced as [`Orders::cart`] prices it.
    #[serde(flatten)]
    pub cart: PricedCart,
    /// One entry per guest line not merged whole; empty after an adoption.
    pub merge_warnings: Vec<MergeWarning>,
}

impl Orders {
    /// Creates an empty guest cart in `currency` (default: the configured
    /// one), owned by a new guest id. Returns it with its token, which is
    /// shown here once: the cart keeps only its hash.
    ///
    /// # Errors
    /// As [`Orders::create_cart`].
    pub async fn create_guest_cart(
        &self,
        currency: Option<Currency>,
    ) -> Result<(PricedCart, CartToken), Error> {
        let currency = currency.unwrap_or(self.inner.config.default_currency);
        self.sells_in(currency)?;
        let (cart, token) = Cart::new_guest(currency, self.inner.clock.now());
        self.inner.store.insert_cart(&cart).await?;
        let priced = self
            .present(cart, &PricingOptions::default(), HashMap::new())
            .await?;
        Ok((priced, token))
    }

    /// The guest who owns cart `cart_id`, if `token` opens it: the id to
    /// pass as `customer` to the cart methods for that cart.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown cart, a customer's cart, or a
    /// wrong token: the three answer alike.
    pub async fn guest_cart_owner(
        &self,
        cart_id: &CartId,
        token: &str,
    ) -> Result<CustomerId, Error> {
        match self.inner.store.cart(cart_id).await? {
            Some(cart) if cart.opens_with(token) => Ok(cart.customer_id().clone()),
            _ => Err(Error::NotFound("cart")),
        }
    }

    /// The customer's open cart (the one changed last), priced for the
    /// default destination.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the customer has no open cart.
    pub async fn current_cart(&self, customer: &CustomerId) -> Result<PricedCart, Error> {
        let cart = self
            .inner
            .store
            .open_cart(customer, None)
            .await?
            .ok_or(Error::NotFound("cart"))?;
        self.cart(customer, cart.id(), &PricingOptions::default())
            .await
    }

    /// Claims the guest cart `cart_id` (opened by `token`) for `customer`:
    /// merges its lines into the customer's open cart of its currency
    /// (quantities added, capped at 999 a line; see
    /// [`Cart::merge_from`]) and closes it, or, when the customer has no
    /// such cart, adopts it. One atomic store write
    /// ([`crate::ports::CartStore::claim_cart`]), retried when either cart
    /// changed meanwhile.
    ///
    /// # Errors
    /// [`Error::NotFound`] as [`Orders::guest_cart_owner`];
    /// [`Error::CartClosed`] when the guest cart is closed (checked out, or
    /// already claimed); [`Error::Validation`] on `customer` when the
    /// claimer is a guest; [`Error::ConcurrentUpdate`] after too many lost
    /// races.
    pub async fn claim_cart(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        token: &str,
    ) -> Result<ClaimedCart, Error> {
        if customer.is_guest() {
            return Err(Error::field("customer", "a guest cannot claim a cart"));
        }
        for _ in 0..=self.inner.config.max_retries {
            let guest = self
                .inner
                .store
                .cart(cart_id)
                .await?
                .filter(|cart| cart.opens_with(token))
                .ok_or(Error::NotFound("cart"))?;
            if !guest.is_open() {
                return Err(Error::CartClosed);
            }
            let now = self.inner.clock.now();
            let guest_version = guest.version();
            let target = self
                .inner
                .store
                .open_cart(customer, Some(guest.currency()))
                .await?;
            let (claim, warnings) = match target {
                None => {
                    let mut adopted = guest;
                    adopted.adopt(customer.clone(), now)?;
                    let claim = CartClaim {
                        guest: adopted,
                        guest_version,
                        into: None,
                    };
                    (claim, Vec::new())
                }
                Some(mut into) => {
                    let into_version = into.version();
                    let ids: Vec<ProductId> =
                        guest.lines().iter().map(|l| l.product_id.clone()).collect();
                    let products = self
                        .inner
                        .store
                        .products(&ids)
                        .await?
                        .into_iter()
                        .map(|p| (p.id().clone(), p))
                        .collect();
                    let warnings = into.merge_from(&guest, &products, now)?;
                    let mut closed = guest;
                    closed.close(now)?;
                    let claim = CartClaim {
                        guest: closed,
                        guest_version,
                        into: Some((into, into_version)),
                    };
                    (claim, warnings)
                }
            };
            match self.inner.store.claim_cart(&claim).await {
                Ok(()) => {
                    let kept = claim.into.as_ref().map_or(&claim.guest, |(into, _)| into);
                    let cart = self
                        .cart(customer, kept.id(), &PricingOptions::default())
                        .await?;
                    return Ok(ClaimedCart {
                        cart,
                        merge_warnings: warnings,
                    });
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}

//! Carts through the facade: create, change, price.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Orders;
use crate::Error;
use crate::cart::forms::UNKNOWN_CODE;
use crate::cart::{ApplyDiscountForm, Cart, CartStatus, Quantity};
use crate::catalogue::Product;
use crate::checkout::Country;
use crate::discount::{Discount, DiscountCode};
use crate::ids::{CartId, CustomerId, ProductId};
use crate::money::{Currency, Money};
use crate::order::OrderLine;
use crate::ports::StoreError;
use crate::pricing::{self, LineInput, PriceBreakdown, ShippingMethod, Totals};

/// Where and how a cart is priced for display; `None` takes the store's
/// default country and the currency's default shipping method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PricingOptions {
    /// Destination country.
    pub country: Option<Country>,
    /// Shipping method code.
    pub shipping_method: Option<String>,
}

/// A cart with its current prices, shaped as the HTTP API's cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PricedCart {
    /// Its id.
    pub id: CartId,
    /// Its currency.
    pub currency: Currency,
    /// Its lines, priced from the current catalogue.
    pub lines: Vec<OrderLine>,
    /// The discount code applied, if any.
    pub discount_code: Option<DiscountCode>,
    /// Subtotal, discount, shipping, tax and total, at current prices.
    #[serde(flatten)]
    pub totals: Totals,
    /// Open or checked out.
    pub status: CartStatus,
    /// The cart's version.
    pub version: u64,
}

/// A cart priced: lines with their products, and the breakdown. Shared by
/// cart display and checkout, so both price the same way.
pub(super) struct Priced {
    pub(super) lines: Vec<OrderLine>,
    pub(super) breakdown: PriceBreakdown,
    pub(super) unavailable: Vec<ProductId>,
}

impl Orders {
    /// Creates an empty cart for `customer` in `currency` (default: the
    /// configured one).
    ///
    /// # Errors
    /// [`Error::Validation`] on `currency` when no shipping method ships in
    /// it (the shop does not sell in that currency); nothing is stored.
    pub async fn create_cart(
        &self,
        customer: &CustomerId,
        currency: Option<Currency>,
    ) -> Result<PricedCart, Error> {
        let currency = currency.unwrap_or(self.inner.config.default_currency);
        self.sells_in(currency)?;
        let cart = Cart::new(customer.clone(), currency, self.inner.clock.now());
        self.inner.store.insert_cart(&cart).await?;
        self.present(cart, &PricingOptions::default(), HashMap::new())
            .await
    }

    /// `Ok` when some shipping method ships in `currency`, else a
    /// validation error on `currency` (the shop does not sell in it).
    pub(super) fn sells_in(&self, currency: Currency) -> Result<(), Error> {
        if self
            .inner
            .config
            .default_shipping_method(currency)
            .is_none()
        {
            return Err(Error::field(
                "currency",
                format!("this shop does not sell in {currency}"),
            ));
        }
        Ok(())
    }

    /// The customer's cart, priced for `options`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if unknown or another customer's;
    /// [`Error::Validation`] for an unknown shipping method.
    pub async fn cart(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        options: &PricingOptions,
    ) -> Result<PricedCart, Error> {
        let (cart, products) = self
            .owned_cart_with_products(customer, cart_id, &[])
            .await?;
        self.present(cart, options, products).await
    }

    /// Adds `quantity` of a product, merging into its line. The line may
    /// hold more than the product's stock today (the JSON API's contract:
    /// checkout refuses it with `insufficient_stock`); a shop's pages that
    /// want to say so at once use [`Orders::add_to_cart_within_stock`].
    ///
    /// # Errors
    /// [`Error::NotFound`] (cart), [`Error::Validation`] on `product_id`
    /// (unknown or inactive) or `quantity` (line past 999),
    /// [`Error::CartFull`], [`Error::CurrencyMismatch`], [`Error::CartClosed`].
    pub async fn add_to_cart(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        product_id: &ProductId,
        quantity: Quantity,
    ) -> Result<PricedCart, Error> {
        self.add_item(customer, cart_id, product_id, quantity, false)
            .await
    }

    /// As [`Orders::add_to_cart`], but the line may not grow past the
    /// product's current stock: the refusal, on `quantity`, names the
    /// product and how many are left. This is advice, not a reservation:
    /// checkout still takes the stock atomically.
    ///
    /// # Errors
    /// As [`Orders::add_to_cart`], and [`Error::Validation`] on `quantity`
    /// past the stock.
    pub async fn add_to_cart_within_stock(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        product_id: &ProductId,
        quantity: Quantity,
    ) -> Result<PricedCart, Error> {
        self.add_item(customer, cart_id, product_id, quantity, true)
            .await
    }

    async fn add_item(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        product_id: &ProductId,
        quantity: Quantity,
        within_stock: bool,
    ) -> Result<PricedCart, Error> {
        self.change_cart(
            customer,
            cart_id,
            Some(product_id),
            |cart, products, now| match products.get(product_id) {
                Some(product) if product.active() => {
                    let before = line_quantity(cart, product_id);
                    cart.add(product, quantity, now)?;
                    if within_stock {
                        stock_advice(product, before, line_quantity(cart, product_id))?;
                    }
                    Ok(())
                }
                _ => Err(Error::field("product_id", "unknown or unavailable product")),
            },
        )
        .await
    }

    /// Sets a line's quantity; 0 removes it.
    ///
    /// # Errors
    /// [`Error::NotFound`] (cart or line), [`Error::Validation`] on
    /// `quantity`, [`Error::CartClosed`].
    pub async fn set_cart_quantity(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        product_id: &ProductId,
        quantity: u32,
    ) -> Result<PricedCart, Error> {
        self.set_quantity(customer, cart_id, product_id, quantity, false)
            .await
    }

    /// As [`Orders::set_cart_quantity`], but a line may not grow past the
    /// product's current stock (it may always shrink: the stock may have
    /// fallen since it was added).
    ///
    /// # Errors
    /// As [`Orders::set_cart_quantity`], and [`Error::Validation`] on
    /// `quantity` past the stock.
    pub async fn set_cart_quantity_within_stock(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        product_id: &ProductId,
        quantity: u32,
    ) -> Result<PricedCart, Error> {
        self.set_quantity(customer, cart_id, product_id, quantity, true)
            .await
    }

    async fn set_quantity(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        product_id: &ProductId,
        quantity: u32,
        within_stock: bool,
    ) -> Result<PricedCart, Error> {
        self.change_cart(customer, cart_id, None, |cart, products, now| {
            let before = line_quantity(cart, product_id);
            cart.set_quantity(product_id, quantity, now)?;
            match products.get(product_id) {
                Some(product) if within_stock => stock_advice(product, before, quantity),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Removes a line.
    ///
    /// # Errors
    /// [`Error::NotFound`] (cart or line), [`Error::CartClosed`].
    pub async fn remove_from_cart(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        product_id: &ProductId,
    ) -> Result<PricedCart, Error> {
        self.change_cart(customer, cart_id, None, |cart, _, now| {
            Ok(cart.remove(product_id, now)?)
        })
        .await
    }

    /// Applies a discount code after checking that it exists, has not
    /// expired, has uses left and that the cart meets its minimum.
    ///
    /// # Errors
    /// [`Error::Validation`] on `code` with the reason,
    /// [`Error::NotFound`], [`Error::CartClosed`].
    pub async fn apply_discount(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        code: &str,
    ) -> Result<PricedCart, Error> {
        let code = ApplyDiscountForm {
            code: Some(code.to_owned()),
        }
        .validate()?;
        let unknown = || Error::field("code", UNKNOWN_CODE);
        let discount = self
            .inner
            .store
            .discount(&code)
            .await?
            .ok_or_else(unknown)?;
        self.change_cart(customer, cart_id, None, |cart, products, now| {
            if !cart.is_open() {
                return Err(Error::CartClosed);
            }
            discount
                .check(subtotal(cart, products)?, now)
                .map_err(|reason| Error::field("code", reason.to_string()))?;
            Ok(cart.apply_discount(code.clone(), now)?)
        })
        .await
    }

    /// Removes the discount code.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::CartClosed`].
    pub async fn remove_discount(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
    ) -> Result<PricedCart, Error> {
        self.change_cart(customer, cart_id, None, |cart, _, now| {
            Ok(cart.remove_discount(now)?)
        })
        .await
    }

    /// Loads the cart with its products (and `extra`, a product about to be
    /// added) in one store read, applies `change`, and saves it
    /// compare-and-set on its version, retrying when another request changed
    /// it meanwhile.
    async fn change_cart(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        extra: Option<&ProductId>,
        change: impl Fn(&mut Cart, &HashMap<ProductId, Product>, DateTime<Utc>) -> Result<(), Error>,
    ) -> Result<PricedCart, Error> {
        let extra = extra.map_or(&[][..], std::slice::from_ref);
        for _ in 0..=self.inner.config.max_retries {
            let (mut cart, products) = self
                .owned_cart_with_products(customer, cart_id, extra)
                .await?;
            let expected = cart.version();
            change(&mut cart, &products, self.inner.clock.now())?;
            // A cart whose subtotal no amount can hold is refused before it
            // is saved, so every saved cart can be priced.
            subtotal(&cart, &products)?;
            match self.inner.store.update_cart(&cart, expected).await {
                Ok(()) => {
                    return self
                        .present(cart, &PricingOptions::default(), products)
                        .await;
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    /// The customer's cart and the products of its lines and of `extra`,
    /// by id, in one store read ([`crate::ports::CartStore::cart_with_products`]).
    pub(super) async fn owned_cart_with_products(
        &self,
        customer: &CustomerId,
        cart_id: &CartId,
        extra: &[ProductId],
    ) -> Result<(Cart, HashMap<ProductId, Product>), Error> {
        let read = self.inner.store.cart_with_products(cart_id, extra).await?;
        owned_by(customer, read).ok_or(Error::NotFound("cart"))
    }

    /// Prices `cart` with `discount` for `country` and `method`.
    pub(super) fn price_cart(
        &self,
        cart: &Cart,
        products: &HashMap<ProductId, Product>,
        discount: Option<&Discount>,
        method: &ShippingMethod,
        country: Country,
    ) -> Result<Priced, Error> {
        let mut unavailable = Vec::new();
        let mut known = Vec::with_capacity(cart.lines().len());
        for line in cart.lines() {
            match products.get(&line.product_id) {
                Some(product) => {
                    if !product.active() {
                        unavailable.push(product.id().clone());
                    }
                    known.push((line, product));
                }
                None => unavailable.push(line.product_id.clone()),
            }
        }
        let inputs: Vec<LineInput<'_>> = known
            .iter()
            .map(|(line, product)| LineInput {
                unit_price: product.price(),
                quantity: line.quantity,
                tax_class: product.tax_class(),
            })
            .collect();
        let breakdown = pricing::price(
            cart.currency(),
            &inputs,
            discount,
            method,
            &self.inner.config.tax,
            country,
        )?;
        let lines = known
            .iter()
            .zip(&breakdown.lines)
            .map(|((line, product), amounts)| OrderLine {
                product_id: product.id().clone(),
                sku: product.sku().clone(),
                name: product.name().clone(),
                quantity: line.quantity,
                unit_price: product.price(),
                line_subtotal: amounts.line_subtotal,
                line_discount: amounts.line_discount,
                line_tax: amounts.line_tax,
                line_total: amounts.line_total,
                tax_class: product.tax_class().clone(),
            })
            .collect();
        Ok(Priced {
            lines,
            breakdown,
            unavailable,
        })
    }

    /// Resolves the destination and shipping method of `options`.
    pub(super) fn destination(
        &self,
        currency: Currency,
        options: &PricingOptions,
    ) -> Result<(Country, &ShippingMethod), Error> {
        let config = &self.inner.config;
        let method = match &options.shipping_method {
            Some(code) => config.shipping_method(code, currency).ok_or_else(|| {
                Error::field(
                    "shipping_method",
                    format!(
                        "must be one of: {}",
                        config.shipping_codes(currency).join(", ")
                    ),
                )
            })?,
            None => config.default_shipping_method(currency).ok_or_else(|| {
                Error::field(
                    "currency",
                    format!("no shipping method ships in {currency}"),
                )
            })?,
        };
        Ok((options.country.unwrap_or(config.default_country), method))
    }

    /// Prices a cart for display with `products`, those of its lines as
    /// read with it (a line whose product is missing prices as
    /// unavailable): a discount that no longer qualifies is shown but not
    /// applied.
    pub(super) async fn present(
        &self,
        cart: Cart,
        options: &PricingOptions,
        products: HashMap<ProductId, Product>,
    ) -> Result<PricedCart, Error> {
        let (country, method) = self.destination(cart.currency(), options)?;
        let discount = match &cart.discount_code() {
            Some(code) => self.inner.store.discount(code).await?.filter(|d| {
                subtotal(&cart, &products).is_ok_and(|s| d.check(s, self.inner.clock.now()).is_ok())
            }),
            None => None,
        };
        let priced = self.price_cart(&cart, &products, discount.as_ref(), method, country)?;
        let b = priced.breakdown;
        Ok(PricedCart {
            id: cart.id().clone(),
            currency: cart.currency(),
            lines: priced.lines,
            discount_code: cart.discount_code().cloned(),
            totals: b.totals,
            status: cart.status(),
            version: cart.version(),
        })
    }
}

/// How many of `product` the cart holds (0 without a line).
fn line_quantity(cart: &Cart, product: &ProductId) -> u32 {
    cart.lines()
        .iter()
        .find(|line| &line.product_id == product)
        .map_or(0, |line| line.quantity.get())
}

/// Refuses a line that grows from `before` to `after` units past the
/// product's current stock, on `quantity`, naming the product and how many
/// are left. A line that shrinks, or stays, is never refused (the stock may
/// have fallen since it was added: the customer must be able to reduce it).
///
/// # Errors
/// [`Error::Validation`] on `quantity`.
pub(super) fn stock_advice(product: &Product, before: u32, after: u32) -> Result<(), Error> {
    let available = product.stock();
    if after <= available || after <= before {
        return Ok(());
    }
    Err(Error::field("quantity", not_enough(product, available)))
}

/// `only 3 of "Earl Grey" are left` / `"Earl Grey" is out of stock`.
fn not_enough(product: &Product, available: u32) -> String {
    let name = product.name();
    match available {
        0 => format!("\u{201c}{name}\u{201d} is out of stock"),
        1 => format!("only 1 of \u{201c}{name}\u{201d} is left"),
        n => format!("only {n} of \u{201c}{name}\u{201d} are left"),
    }
}

/// The cart's subtotal at current prices (lines whose product is gone count
/// nothing).
pub(super) fn subtotal(
    cart: &Cart,
    products: &HashMap<ProductId, Product>,
) -> Result<Money, Error> {
    let mut total = Money::zero(cart.currency());
    for line in cart.lines() {
        if let Some(product) = products.get(&line.product_id) {
            total = product
                .price()
                .times(line.quantity.get())
                .and_then(|m| total.checked_add(m))?;
        }
    }
    if total.amount().abs() > Money::MAX_AMOUNT {
        return Err(Error::field(
            "quantity",
            format!(
                "would take the cart past the largest amount it can hold ({})",
                Money::MAX_AMOUNT
            ),
        ));
    }
    Ok(total)
}

/// A cart as the store read it, with its products by id, if it is
/// `customer`'s: another customer's cart is as good as unknown.
pub(super) fn owned_by(
    customer: &CustomerId,
    read: Option<(Cart, Vec<Product>)>,
) -> Option<(Cart, HashMap<ProductId, Product>)> {
    match read {
        Some((cart, products)) if cart.customer_id() == customer => {
            let products = products.into_iter().map(|p| (p.id().clone(), p)).collect();
            Some((cart, products))
        }
        _ => None,
    }
}

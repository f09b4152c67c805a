//! A shop over the in-memory store with the Stripe adapter as its payment
//! provider: the core's `Orders` facade, a product in stock and a
//! customer's cart, as a host would wire them.

use std::sync::Arc;
use std::time::Duration;

use orders_core::catalogue::Product;
use orders_core::ids::{CartId, CustomerId, OrderId};
use orders_core::memory::MemoryStore;
use orders_core::order::{CapturePolicy, Order};
use orders_core::ports::{Clock, ManualClock};
use orders_core::testkit::{cart_with, product, token_form};
use orders_core::{Access, Error, Orders, OrdersConfig};
use orders_stripe::{SecretKey, StripeGateway, WebhookSecret};

/// The webhook secret the shops and localstripe share.
pub const WEBHOOK_SECRET: &str = "whsec_orders_adapter";

/// A gateway to `url` (localstripe, or a proxy in front of it) with a
/// client timeout of `timeout`.
pub fn gateway(url: &str, timeout: Duration) -> StripeGateway {
    StripeGateway::builder(
        SecretKey::new(super::KEY).unwrap(),
        WebhookSecret::new(WEBHOOK_SECRET).unwrap(),
    )
    .base_url(url)
    .connect_timeout(Duration::from_secs(2))
    .timeout(timeout)
    .build()
    .unwrap()
}

/// How the shop is set up.
pub struct Setup {
    pub capture_policy: CapturePolicy,
    pub clock: Option<Arc<ManualClock>>,
    pub timeout: Duration,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            capture_policy: CapturePolicy::OnCheckout,
            clock: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The demo shop's configuration and the Stripe adapter to `url`.
pub fn shop(url: &str, setup: Setup) -> Orders {
    let mut config = OrdersConfig::demo();
    config.capture_policy = setup.capture_policy;
    let builder = Orders::builder(Arc::new(MemoryStore::new()))
        .config(config)
        .payments(Arc::new(gateway(url, setup.timeout)));
    match setup.clock {
        Some(clock) => builder.clock(clock as Arc<dyn Clock>).build(),
        None => builder.build(),
    }
}

/// The customer of every test.
pub fn ada() -> CustomerId {
    CustomerId::parse("ada").unwrap()
}

/// A product with `stock` and a cart of Ada's holding `quantity` of it.
pub async fn basket(orders: &Orders, stock: u32, quantity: u32) -> (Product, CartId) {
    let p = product(orders, "20.00", stock).await;
    let cart = cart_with(orders, &ada(), &[(p.id(), quantity)]).await;
    (p, cart)
}

/// Ada checks out `cart` paying with the Stripe payment method `token`.
pub async fn checkout(
    orders: &Orders,
    cart: &CartId,
    token: &str,
    key: Option<&str>,
) -> Result<Order, Error> {
    orders
        .checkout(&ada(), cart, token_form(token), key)
        .await
        .map(|outcome| outcome.order)
}

/// The stock of `product` now.
pub async fn stock(orders: &Orders, product: &Product) -> u32 {
    orders.product(product.id()).await.unwrap().stock()
}

/// The order as the store has it.
pub async fn order(orders: &Orders, id: &OrderId) -> Order {
    orders.order(Access::Staff, id).await.unwrap()
}

/// `total` in minor units, as Stripe counts it.
pub fn minor(money: orders_core::money::Money) -> u64 {
    u64::try_from(money.to_minor()).unwrap()
}

/// Every order of the shop.
pub async fn all_orders(orders: &Orders) -> Vec<Order> {
    orders
        .list_orders(Access::Staff, &Default::default(), &Default::default())
        .await
        .unwrap()
        .items
}

//! `orders-server`: the example shop server.
//!
//! Until the HTTP server lands (the orders-axum issue), this binary runs
//! the engine's story once, in memory, and prints what happened: a
//! catalogue, a cart with a discount, a checkout, and the order's
//! lifecycle with its events.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use orders_core::cart::Quantity;
use orders_core::catalogue::{NewProduct, ProductName, Sku};
use orders_core::checkout::CheckoutForm;
use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::money::{Currency, Money};
use orders_core::order::{Actor, OrderStatus, TrackingNumber, Transition};
use orders_core::{Access, Error, Orders, OrdersConfig};

const CHECKOUT: &str = r#"{
    "email": "ada@example.com",
    "shipping_address": {"full_name": "Ada Lovelace", "line1": "12 St James's Square", "line2": null,
                         "city": "London", "region": null, "postal_code": "SW1Y 4JH", "country": "GB",
                         "phone": "+44 20 7946 0958"},
    "shipping_method": "standard",
    "payment": {"method": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030,
                                           "cvc": "123", "holder": "Ada Lovelace"}}
}"#;

fn main() -> ExitCode {
    match futures_executor::block_on(story()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error} ({})", error.code());
            ExitCode::FAILURE
        }
    }
}

fn text<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, Error> {
    result.map_err(|e| Error::Storage(e.to_string()))
}

async fn story() -> Result<(), Error> {
    let orders = Orders::builder(Arc::new(MemoryStore::new()))
        .config(OrdersConfig::demo())
        .build();
    let gbp = |amount: &str| text(Money::parse_price(amount, Currency::GBP));
    let mut catalogue = Vec::new();
    for (sku, name, price, stock) in [
        ("TEA-EARL-GREY", "Earl Grey, 250 g", "8.50", 40),
        ("MUG-ENAMEL", "Enamel mug", "12.00", 15),
    ] {
        let product = NewProduct::new(
            text(Sku::parse(sku))?,
            text(ProductName::parse(name))?,
            gbp(price)?,
            stock,
        );
        catalogue.push(orders.create_product(product).await?);
    }
    let code = text(DiscountCode::parse("WELCOME10"))?;
    let kind = text(DiscountKind::percent("10"))?;
    orders
        .create_discount(Discount::new(code, kind, orders.clock().now()))
        .await?;

    let ada = text(CustomerId::parse("ada"))?;
    let cart = orders.create_cart(&ada, Some(Currency::GBP)).await?;
    orders
        .add_to_cart(&ada, &cart.id, &catalogue[0].id, text(Quantity::new(2))?)
        .await?;
    orders
        .add_to_cart(&ada, &cart.id, &catalogue[1].id, text(Quantity::new(1))?)
        .await?;
    let priced = orders.apply_discount(&ada, &cart.id, "welcome10").await?;
    println!("cart: {}", text(serde_json::to_string_pretty(&priced))?);

    let form: CheckoutForm = text(serde_json::from_str(CHECKOUT))?;
    let placed = orders
        .checkout(&ada, &cart.id, form, Some("demo-checkout"))
        .await?;
    let order = placed.order;
    println!(
        "order {} placed: {} {} {}",
        order.number, order.status, order.total, order.currency
    );

    let staff = Actor::system();
    orders
        .transition(
            staff.clone(),
            &order.id,
            Transition::to(OrderStatus::Processing),
        )
        .await?;
    let ship = Transition {
        tracking_number: Some(text(TrackingNumber::parse("RM123456785GB"))?),
        ..Transition::to(OrderStatus::Shipped)
    };
    let order = orders.transition(staff, &order.id, ship).await?;
    println!("order: {}", text(serde_json::to_string_pretty(&order))?);
    for event in orders.order_events(Access::Staff, &order.id).await? {
        let from = event.from.map_or("null", |s| s.as_str());
        println!(
            "event {}: {from} -> {} by {}",
            event.id, event.to, event.actor
        );
    }
    Ok(())
}

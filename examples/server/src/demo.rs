//! The demo catalogue and discount code (`seed-demo`, `serve --demo`).

use orders_core::catalogue::{Description, NewProduct, ProductName, Sku, TaxClass};
use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::money::{Currency, Money};
use orders_core::{Error, Orders};

/// The demo products: SKU, name, description, price (USD), stock, tax class.
const CATALOGUE: &[(&str, &str, &str, &str, u32, &str)] = &[
    (
        "TEA-EARL-GREY-250",
        "Earl Grey tea, 250 g",
        "Black tea with bergamot, loose leaf.",
        "8.50",
        120,
        "reduced",
    ),
    (
        "TEA-SENCHA-100",
        "Sencha green tea, 100 g",
        "Steamed Japanese green tea.",
        "11.00",
        80,
        "reduced",
    ),
    (
        "MUG-ENAMEL-WHITE",
        "Enamel mug",
        "Camping mug, white with a blue rim, 350 ml.",
        "12.00",
        40,
        "standard",
    ),
    (
        "POT-CAST-IRON",
        "Cast iron teapot",
        "Tetsubin, 0.8 l, with a steel infuser.",
        "54.00",
        12,
        "standard",
    ),
    (
        "INFUSER-STEEL",
        "Tea infuser",
        "Stainless steel mesh ball.",
        "4.25",
        200,
        "standard",
    ),
];

/// The demo discount code: 10 % off from 20.00.
pub const DEMO_CODE: &str = "WELCOME10";

/// Adds the demo catalogue and discount code; what already exists (by SKU or
/// code) is left as it is, so seeding twice is harmless. Returns how many
/// products were added.
///
/// # Errors
/// Storage errors.
pub async fn seed(orders: &Orders) -> Result<usize, Error> {
    let invalid = |what: &str| Error::Storage(format!("invalid demo data: {what}"));
    let mut added = 0;
    for (sku, name, description, price, stock, class) in CATALOGUE {
        let product = NewProduct::new(
            Sku::parse(sku).map_err(|_| invalid(sku))?,
            ProductName::parse(name).map_err(|_| invalid(name))?,
            Money::parse_price(price, Currency::USD).map_err(|_| invalid(price))?,
            *stock,
        )
        .description(Description::parse(description).map_err(|_| invalid(description))?)
        .tax_class(TaxClass::parse(class).map_err(|_| invalid(class))?);
        match orders.create_product(product).await {
            Ok(_) => added += 1,
            Err(Error::Duplicate(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let discount = Discount::new(
        DiscountCode::parse(DEMO_CODE).map_err(|_| invalid(DEMO_CODE))?,
        DiscountKind::percent("10").map_err(|_| invalid("10"))?,
        orders.clock().now(),
    )
    .with_min_subtotal(Money::parse_price("20", Currency::USD).map_err(|_| invalid("20"))?);
    match orders.create_discount(discount).await {
        Ok(_) | Err(Error::Duplicate(_)) => Ok(added),
        Err(e) => Err(e),
    }
}

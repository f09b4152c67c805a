//! Stock on the pages: a product's availability in words, and the lines a
//! checkout found short, with what is left of each.
//!
//! The core checks the stock when a line grows (adding past it is refused
//! on `quantity`, naming the product and the count) and takes it atomically
//! at checkout; this module only puts its answers into words and offers the
//! way out ("Reduce to 2").

use orders_axum::Caller;
use orders_core::ids::{CartId, ProductId};
use orders_core::{Error, PricingOptions};

use super::Storefront;

/// From how many left a product says "Only N left".
const FEW: u32 = 5;

/// A product's availability as shoppers read it.
pub(super) fn availability(stock: u32) -> String {
    match stock {
        0 => "Out of stock".to_owned(),
        n if n <= FEW => format!("Only {n} left"),
        _ => "In stock".to_owned(),
    }
}

/// A cart line a checkout found short of stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StockLine {
    /// The product's id (the reduce form's target).
    pub product_id: String,
    /// The product's name.
    pub name: String,
    /// How many the cart asks for.
    pub wanted: u32,
    /// How many are left now.
    pub available: u32,
}

impl StockLine {
    /// What to tell the customer about the line.
    pub(super) fn message(&self) -> String {
        match self.available {
            0 => format!("You asked for {}; it is now out of stock.", self.wanted),
            n => format!("You asked for {}; only {n} left.", self.wanted),
        }
    }
}

/// The lines of `cart_id` whose products the checkout found short (`ids`),
/// with the stock each has now, in the cart's order.
///
/// # Errors
/// Storage errors.
pub(super) async fn short_lines(
    shop: &Storefront,
    caller: &Caller,
    cart_id: &CartId,
    ids: &[ProductId],
) -> Result<Vec<StockLine>, Error> {
    let orders = shop.orders();
    let cart = orders
        .cart(&caller.id, cart_id, &PricingOptions::default())
        .await?;
    let mut lines = Vec::new();
    for line in cart.lines.iter().filter(|l| ids.contains(&l.product_id)) {
        let available = match orders.product(&line.product_id).await {
            Ok(product) => product.stock(),
            Err(Error::NotFound(_)) => 0,
            Err(error) => return Err(error),
        };
        lines.push(StockLine {
            product_id: line.product_id.to_string(),
            name: line.name.to_string(),
            wanted: line.quantity.get(),
            available,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_in_words() {
        assert_eq!(availability(0), "Out of stock");
        assert_eq!(availability(3), "Only 3 left");
        assert_eq!(availability(5), "Only 5 left");
        assert_eq!(availability(6), "In stock");
    }

    #[test]
    fn a_short_line_says_what_is_left() {
        let line = StockLine {
            product_id: "p".into(),
            name: "Earl Grey".into(),
            wanted: 5,
            available: 2,
        };
        assert_eq!(line.message(), "You asked for 5; only 2 left.");
        let gone = StockLine {
            available: 0,
            ..line
        };
        assert!(gone.message().contains("out of stock"));
    }
}

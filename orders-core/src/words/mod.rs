//! Words for customers: the names of countries, order and payment statuses,
//! payment and shipping methods, and addresses laid out as each country
//! writes them.
//!
//! The codes (`GB`, `captured`, `cash_on_delivery`) stay the values of the
//! API, the forms and the database; this module is only what a person
//! reads. It lives in the core so that every place that talks to a
//! customer (the storefront's pages, the emails) says the same thing.

mod address;
mod countries;

pub use address::address_lines;

use crate::OrdersConfig;
use crate::checkout::{Country, PaymentMethod};
use crate::money::Currency;
use crate::order::{
    FulfilmentStatus, OrderStatus, PaymentStatus, PaymentSummary, RefundStatus, ReturnStatus,
};

/// The country's English short name (`GB` → `United Kingdom`).
///
/// ```
/// use orders_core::checkout::Country;
/// use orders_core::words::country_name;
///
/// assert_eq!(country_name(Country::parse("DE").unwrap()), "Germany");
/// ```
pub fn country_name(country: Country) -> &'static str {
    let code = country.code();
    countries::NAMES
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .map_or(code, |index| countries::NAMES[index].1)
}

/// Every country as `(code, name)`, sorted by name, for a select whose
/// values are the codes.
pub fn countries_by_name() -> Vec<(&'static str, &'static str)> {
    let mut all = countries::NAMES.to_vec();
    all.sort_by(|a, b| a.1.cmp(b.1));
    all
}

/// An order's status as the customer reads it (`Paid`, `Being prepared`).
pub fn order_status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "Placed, to be paid on delivery",
        OrderStatus::AwaitingPayment => "Waiting for your payment",
        OrderStatus::Paid => "Paid",
        OrderStatus::Processing => "Being prepared",
        OrderStatus::PartiallyShipped => "Partly shipped",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::Delivered => "Delivered",
        OrderStatus::Cancelled => "Cancelled",
        OrderStatus::Refunded => "Refunded",
    }
}

/// A payment's status as the customer reads it (`captured` → `Paid`).
pub fn payment_status(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Pending => "Not paid yet",
        PaymentStatus::RequiresAction => "Waiting for your confirmation",
        PaymentStatus::Authorized => "Approved, charged when it ships",
        PaymentStatus::Captured => "Paid",
        PaymentStatus::PartiallyRefunded => "Partly refunded",
        PaymentStatus::Refunded => "Refunded",
        PaymentStatus::Voided => "Cancelled, nothing charged",
        PaymentStatus::Failed => "Failed, nothing charged",
    }
}

/// A shipment's status as the customer reads it.
pub fn fulfilment_status(status: FulfilmentStatus) -> &'static str {
    match status {
        FulfilmentStatus::Shipped => "On its way",
        FulfilmentStatus::Delivered => "Delivered",
    }
}

/// A return's status as the customer reads it.
pub fn return_status(status: ReturnStatus) -> &'static str {
    match status {
        ReturnStatus::Requested => "Requested, waiting for the shop",
        ReturnStatus::Approved => "Approved, please send it back",
        ReturnStatus::Rejected => "Declined by the shop",
        ReturnStatus::Received => "Received by the shop",
        ReturnStatus::Refunded => "Refunded",
    }
}

/// A refund's status as the customer reads it.
pub fn refund_status(status: RefundStatus) -> &'static str {
    match status {
        RefundStatus::Pending => "On its way back to you",
        RefundStatus::Succeeded => "Refunded",
        RefundStatus::Failed => "Failed, the shop will contact you",
    }
}

/// A payment method as the customer reads it.
pub fn payment_method(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::Card => "Card",
        PaymentMethod::CashOnDelivery => "Cash on delivery — pay when it arrives",
    }
}

/// The whole payment in one phrase: `Visa ending in 4242 — Paid`,
/// `Cash on delivery — pay when it arrives — Not paid yet`.
pub fn payment(summary: &PaymentSummary) -> String {
    let how = match (&summary.brand, &summary.last4) {
        (Some(brand), Some(last4)) => format!("{brand} ending in {last4}"),
        _ => payment_method(summary.method).to_owned(),
    };
    format!("{how} — {}", payment_status(summary.status))
}

/// A shipping method by its code, as the customer reads it: the shop's name
/// for it (`Express (next day)`), followed by `shipping` when the name does
/// not say so; an unknown code is shown capitalised.
pub fn shipping_method(config: &OrdersConfig, code: &str, currency: Currency) -> String {
    let name = config.shipping_method(code, currency).map_or_else(
        || capitalised(&code.replace(['-', '_'], " ")),
        |m| m.name.clone(),
    );
    if name.to_lowercase().contains("shipping") || name.to_lowercase().contains("delivery") {
        return name;
    }
    match name.split_once(" (") {
        Some((head, tail)) => format!("{head} shipping ({tail}"),
        None => format!("{name} shipping"),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_has_a_name_in_code_order() {
        let codes: Vec<&str> = countries::NAMES.iter().map(|(c, _)| *c).collect();
        let codes_of_the_table: Vec<&str> = Country::all().map(Country::code).collect();
        assert_eq!(codes, codes_of_the_table);
        let gb = Country::parse("GB").unwrap();
        assert_eq!(country_name(gb), "United Kingdom");
        assert_eq!(country_name(Country::parse("US").unwrap()), "United States");
        let by_name = countries_by_name();
        assert_eq!(by_name.len(), 249);
        assert_eq!(by_name[0], ("AF", "Afghanistan"));
        assert!(by_name.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn statuses_and_methods_in_words() {
        assert_eq!(payment_status(PaymentStatus::Captured), "Paid");
        assert_eq!(order_status(OrderStatus::Processing), "Being prepared");
        assert_eq!(
            payment_method(PaymentMethod::CashOnDelivery),
            "Cash on delivery — pay when it arrives"
        );
        let cod = PaymentSummary::new(
            PaymentMethod::CashOnDelivery,
            PaymentStatus::Pending,
            Currency::USD,
        );
        assert_eq!(
            payment(&cod),
            "Cash on delivery — pay when it arrives — Not paid yet"
        );
        for status in [
            OrderStatus::Pending,
            OrderStatus::AwaitingPayment,
            OrderStatus::PartiallyShipped,
            OrderStatus::Refunded,
        ] {
            assert!(!order_status(status).contains('_'), "{status:?}");
        }
    }

    #[test]
    fn shipping_methods_by_their_shop_names() {
        let demo = OrdersConfig::demo();
        assert_eq!(
            shipping_method(&demo, "express", Currency::USD),
            "Express shipping (next day)"
        );
        assert_eq!(
            shipping_method(&demo, "standard", Currency::USD),
            "Standard shipping (3–5 days)"
        );
        assert_eq!(
            shipping_method(&demo, "royal-mail", Currency::USD),
            "Royal mail shipping"
        );
    }
}

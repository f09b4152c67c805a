//! Property tests of the money after the sale: random orders (several
//! lines, discounts, tax, USD, EUR, JPY and KWD, captured at checkout or
//! on shipment) and random sequences of fulfilments and partial refunds.
//!
//! After every step: nothing is captured beyond what was authorised,
//! nothing refunded beyond what was captured, the fulfilments' shares
//! reconcile with what was captured to the minor unit, the refunds with
//! what the provider gave back, and no line is refunded beyond its total.
//! At the end, everything is shipped and the rest refunded in random
//! steps: the refunds then add up to exactly what was captured, the
//! order's total, and the order is `refunded` when the table allows it.
//!
//! `PROPTEST_CASES` sets the number of cases (default 256).

use std::sync::Arc;

use futures_executor::block_on;
use orders_core::cart::Quantity;
use orders_core::catalogue::{NewProduct, ProductName, Sku, TaxClass};
use orders_core::checkout::{AddressForm, CheckoutForm, Country, PaymentForm};
use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::money::{Currency, Money};
use orders_core::order::{
    Actor, CapturePolicy, Carrier, FulfilmentRequest, ItemLine, Order, OrderStatus, RefundAmount,
    RefundRequest, TrackingNumber,
};
use orders_core::ports::TestGateway;
use orders_core::pricing::{ShippingMethod, ShippingMethodCode, ShippingRate, TaxRate, TaxTable};
use orders_core::{Error, Orders, OrdersConfig};
use proptest::prelude::*;

const CURRENCIES: [&str; 4] = ["USD", "EUR", "JPY", "KWD"];

/// A shop selling in every currency, taxing DE (19 %, reduced 7 %, and
/// its shipping at the standard rate), not US.
fn engine(policy: CapturePolicy) -> Orders {
    let de = Country::parse("DE").unwrap();
    let tax = TaxTable::new()
        .with_rate(de, TaxClass::standard(), TaxRate::percent("19").unwrap())
        .with_rate(
            de,
            TaxClass::parse("reduced").unwrap(),
            TaxRate::percent("7").unwrap(),
        )
        .with_shipping_taxed_as(TaxClass::standard());
    let mut standard = ShippingMethod::new(ShippingMethodCode::parse("standard").unwrap(), "Std");
    for (code, price) in [
        ("USD", "4.99"),
        ("EUR", "4.99"),
        ("JPY", "700"),
        ("KWD", "1.250"),
    ] {
        let currency = Currency::parse(code).unwrap();
        standard = standard.with_rate(ShippingRate::new(
            Money::parse_price(price, currency).unwrap(),
        ));
    }
    let mut config = OrdersConfig::new(Currency::USD, Country::parse("US").unwrap())
        .with_tax(tax)
        .with_shipping_method(standard);
    config.capture_policy = policy;
    Orders::builder(Arc::new(MemoryStore::new()))
        .config(config)
        .payments(Arc::new(TestGateway::new()))
        .build()
}

fn checkout_form(country: &str) -> CheckoutForm {
    let text = |s: &str| Some(s.to_owned());
    CheckoutForm {
        email: text("ada@example.com"),
        shipping_address: Some(AddressForm {
            full_name: text("Ada Lovelace"),
            line1: text("1 Main St"),
            city: text("Berlin"),
            postal_code: text("10115"),
            country: text(country),
            ..AddressForm::default()
        }),
        shipping_method: text("standard"),
        payment: Some(PaymentForm {
            method: text("card"),
            token: text("test_visa"),
            card: None,
        }),
        expected_total: None,
    }
}

/// One line of a random order: its unit price in minor units, quantity,
/// and whether it is taxed at the reduced rate.
#[derive(Debug, Clone)]
struct LineSpec {
    price_minor: i64,
    quantity: u32,
    reduced: bool,
}

#[derive(Debug, Clone)]
enum Discounted {
    None,
    Percent(u32),
    /// A fixed amount, in minor units.
    Fixed(i64),
}

#[derive(Debug, Clone)]
enum Step {
    /// Ship `quantity` units of line `line` (clamped to what is left).
    Ship { line: usize, quantity: u32 },
    /// Refund `quantity` units of line `line`, with the shipping or not.
    RefundUnits {
        line: usize,
        quantity: u32,
        shipping: bool,
    },
    /// Refund this share (in thousandths) of what is left to refund.
    RefundAmount { per_mille: u32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0_usize..4, 1_u32..4).prop_map(|(line, quantity)| Step::Ship { line, quantity }),
        2 => (0_usize..4, 1_u32..3, prop::bool::weighted(0.2))
            .prop_map(|(line, quantity, shipping)| Step::RefundUnits { line, quantity, shipping }),
        1 => (1_u32..700).prop_map(|per_mille| Step::RefundAmount { per_mille }),
    ]
}

fn discount() -> impl Strategy<Value = Discounted> {
    prop_oneof![
        Just(Discounted::None),
        (1_u32..60).prop_map(Discounted::Percent),
        (1_i64..5000).prop_map(Discounted::Fixed),
    ]
}

fn money(minor: i64, currency: Currency) -> Money {
    Money::from_minor(minor, currency).unwrap()
}

/// Places the random order; `None` when the shop refuses it (a fixed
/// discount above the subtotal's minimum, say).
async fn place(
    orders: &Orders,
    currency: Currency,
    country: &str,
    lines: &[LineSpec],
    discounted: &Discounted,
) -> Option<Order> {
    let who = CustomerId::parse("ada").unwrap();
    let cart = orders.create_cart(&who, Some(currency)).await.unwrap();
    for (i, spec) in lines.iter().enumerate() {
        let class = if spec.reduced {
            TaxClass::parse("reduced").unwrap()
        } else {
            TaxClass::standard()
        };
        let product = NewProduct::new(
            Sku::parse(&format!("SKU-{i}")).unwrap(),
            ProductName::parse("Thing").unwrap(),
            money(spec.price_minor, currency),
            100,
        )
        .tax_class(class);
        let product = orders.create_product(product).await.unwrap();
        let quantity = Quantity::new(spec.quantity).unwrap();
        orders
            .add_to_cart(&who, &cart.id, product.id(), quantity)
            .await
            .unwrap();
    }
    let kind = match discounted {
        Discounted::None => None,
        Discounted::Percent(p) => Some(DiscountKind::percent(&p.to_string()).unwrap()),
        Discounted::Fixed(minor) => {
            let amount = money(*minor, currency).to_string();
            Some(DiscountKind::fixed(&amount, currency).unwrap())
        }
    };
    if let Some(kind) = kind {
        let code = DiscountCode::parse("SAVE").unwrap();
        let discount = Discount::new(code, kind, chrono::Utc::now());
        orders.create_discount(discount).await.unwrap();
        orders.apply_discount(&who, &cart.id, "SAVE").await.ok()?;
    }
    let placed = orders
        .checkout(&who, &cart.id, checkout_form(country), None)
        .await
        .ok()?;
    Some(placed.order)
}

fn line(order: &Order, index: usize, quantity: u32) -> ItemLine {
    ItemLine {
        product_id: order.lines()[index].product_id.clone(),
        quantity: Quantity::new(quantity).unwrap(),
    }
}

fn shipped_units(order: &Order, index: usize) -> u32 {
    let id = &order.lines()[index].product_id;
    order
        .fulfilments()
        .iter()
        .flat_map(|f| &f.lines)
        .filter(|l| &l.product_id == id)
        .map(|l| l.quantity.get())
        .sum()
}

fn refunded_units(order: &Order, index: usize) -> u32 {
    let id = &order.lines()[index].product_id;
    order
        .refunds()
        .iter()
        .flat_map(|r| &r.lines)
        .filter(|l| &l.product_id == id)
        .map(|l| l.quantity.get())
        .sum()
}

fn ship(lines: Vec<ItemLine>) -> FulfilmentRequest {
    FulfilmentRequest {
        lines,
        carrier: Some(Carrier::parse("UPS").unwrap()),
        tracking_number: TrackingNumber::parse("1Z").unwrap(),
    }
}

fn by_units(lines: Vec<ItemLine>, shipping: bool) -> RefundRequest {
    RefundRequest {
        amount: RefundAmount::Lines { lines, shipping },
        note: None,
        return_id: None,
    }
}

/// The invariants that hold after every step.
fn check(order: &Order, policy: CapturePolicy) -> Result<(), TestCaseError> {
    let p = order.payment();
    let total = order.totals().total.to_minor();
    prop_assert!(p.captured.to_minor() <= p.authorized.to_minor());
    prop_assert!(p.refunded.to_minor() <= p.captured.to_minor());
    prop_assert_eq!(p.authorized.to_minor(), total);
    let shares: i64 = order
        .fulfilments()
        .iter()
        .map(|f| f.amount.to_minor())
        .sum();
    prop_assert!(shares <= total);
    match policy {
        CapturePolicy::OnShipment => prop_assert_eq!(p.captured.to_minor(), shares),
        _ => prop_assert_eq!(p.captured.to_minor(), total),
    }
    if order
        .lines()
        .iter()
        .enumerate()
        .all(|(i, l)| shipped_units(order, i) == l.quantity.get())
    {
        prop_assert_eq!(
            shares,
            total,
            "every unit shipped: the shares are the total"
        );
    }
    prop_assert_eq!(
        order.refunded_total(),
        p.refunded,
        "refunds reconcile with the provider"
    );
    let refunds: i64 = order.refunds().iter().map(|r| r.amount.to_minor()).sum();
    prop_assert_eq!(refunds, p.refunded.to_minor());
    for (i, l) in order.lines().iter().enumerate() {
        prop_assert!(refunded_units(order, i) <= l.quantity.get());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn shares_and_refunds_reconcile_to_the_minor_unit(
        currency in 0_usize..4,
        taxed in any::<bool>(),
        on_shipment in any::<bool>(),
        lines in prop::collection::vec(
            (1_i64..200_000, 1_u32..6, any::<bool>())
                .prop_map(|(price_minor, quantity, reduced)| LineSpec { price_minor, quantity, reduced }),
            1..5,
        ),
        discounted in discount(),
        steps in prop::collection::vec(step(), 0..16),
        final_order in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        block_on(async {
            let policy = if on_shipment { CapturePolicy::OnShipment } else { CapturePolicy::OnCheckout };
            let orders = engine(policy);
            let currency = Currency::parse(CURRENCIES[currency]).unwrap();
            let country = if taxed { "DE" } else { "US" };
            let Some(order) = place(&orders, currency, country, &lines, &discounted).await else {
                return Ok(());
            };
            let id = order.id().clone();
            let staff = Actor::system();
            let mut order = order;
            check(&order, policy)?;
            for step in steps {
                let n = order.lines().len();
                match step {
                    Step::Ship { line: i, quantity } => {
                        let i = i % n;
                        let left = order.lines()[i].quantity.get() - shipped_units(&order, i);
                        let result = orders
                            .create_fulfilment(staff.clone(), &id, ship(vec![line(&order, i, quantity)]))
                            .await;
                        match result {
                            Ok((after, _)) => {
                                prop_assert!(quantity <= left);
                                order = after;
                            }
                            Err(Error::Validation(_)) => prop_assert!(quantity > left),
                            Err(Error::Transition(_)) => {
                                prop_assert!(!matches!(
                                    order.status(),
                                    OrderStatus::Paid | OrderStatus::Processing | OrderStatus::PartiallyShipped
                                ));
                            }
                            Err(other) => prop_assert!(false, "{other:?}"),
                        }
                    }
                    Step::RefundUnits { line: i, quantity, shipping } => {
                        let i = i % n;
                        let result = orders
                            .refund(staff.clone(), &id, by_units(vec![line(&order, i, quantity)], shipping))
                            .await;
                        match result {
                            Ok((after, refund)) => {
                                prop_assert!(refund.amount.to_minor() <= order.payment().refundable().to_minor());
                                order = after;
                            }
                            Err(Error::Validation(_)) => {}
                            Err(other) => prop_assert!(false, "{other:?}"),
                        }
                    }
                    Step::RefundAmount { per_mille } => {
                        let left = order.payment().refundable().to_minor();
                        let amount = left * i64::from(per_mille) / 1000;
                        let request = RefundRequest {
                            amount: RefundAmount::Free(money(amount.max(1), currency)),
                            note: None,
                            return_id: None,
                        };
                        match orders.refund(staff.clone(), &id, request).await {
                            Ok((after, _)) => order = after,
                            Err(Error::Validation(_)) => prop_assert!(amount < 1 || left < 1),
                            Err(other) => prop_assert!(false, "{other:?}"),
                        }
                    }
                }
                check(&order, policy)?;
            }
            if matches!(order.status(), OrderStatus::Refunded | OrderStatus::Shipped | OrderStatus::Delivered) && order.fulfilments().is_empty() {
                return Ok(());
            }
            // Ship what is left, if the order still ships.
            let rest: Vec<ItemLine> = (0..order.lines().len())
                .filter_map(|i| {
                    let left = order.lines()[i].quantity.get() - shipped_units(&order, i);
                    (left > 0).then(|| line(&order, i, left))
                })
                .collect();
            if !rest.is_empty() {
                match orders.create_fulfilment(staff.clone(), &id, ship(rest)).await {
                    Ok((after, _)) => order = after,
                    // Refunded in full while unshipped: nothing more ships.
                    Err(Error::Transition(_)) => return Ok(()),
                    Err(other) => prop_assert!(false, "{other:?}"),
                }
            }
            check(&order, policy)?;
            prop_assert_eq!(order.payment().captured, order.totals().total, "all shipped, all captured");
            // The rest refunded in random steps: unit by unit in a random
            // order, the shipping, then whatever free amount is left.
            let mut units: Vec<usize> = (0..order.lines().len())
                .flat_map(|i| {
                    let left = order.lines()[i].quantity.get() - refunded_units(&order, i);
                    std::iter::repeat_n(i, left as usize)
                })
                .collect();
            for pick in &final_order {
                if units.is_empty() {
                    break;
                }
                let i = units.remove(pick.index(units.len()));
                match orders.refund(staff.clone(), &id, by_units(vec![line(&order, i, 1)], false)).await {
                    Ok((after, _)) => order = after,
                    // What earlier free amounts already gave back.
                    Err(Error::Validation(_)) => break,
                    Err(other) => prop_assert!(false, "{other:?}"),
                }
                check(&order, policy)?;
            }
            let left = order.payment().refundable().to_minor();
            if left > 0 {
                let request = RefundRequest {
                    amount: RefundAmount::Free(money(left, currency)),
                    note: None,
                    return_id: None,
                };
                order = orders.refund(staff.clone(), &id, request).await.unwrap().0;
            }
            check(&order, policy)?;
            prop_assert_eq!(order.refunded_total(), order.payment().captured, "a full refund is what was captured");
            prop_assert_eq!(order.refunded_total(), order.totals().total);
            prop_assert_eq!(order.payment().status, orders_core::order::PaymentStatus::Refunded);
            Ok(())
        })?;
    }

    /// Refunding every unit of every line one at a time, plus the shipping,
    /// with no free amount, gives back exactly the order's total.
    #[test]
    fn unit_refunds_add_up_to_the_total(
        currency in 0_usize..4,
        taxed in any::<bool>(),
        lines in prop::collection::vec(
            (1_i64..200_000, 1_u32..6, any::<bool>())
                .prop_map(|(price_minor, quantity, reduced)| LineSpec { price_minor, quantity, reduced }),
            1..5,
        ),
        discounted in discount(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 30),
    ) {
        block_on(async {
            let orders = engine(CapturePolicy::OnCheckout);
            let currency = Currency::parse(CURRENCIES[currency]).unwrap();
            let Some(mut order) = place(&orders, currency, if taxed { "DE" } else { "US" }, &lines, &discounted).await else {
                return Ok(());
            };
            let id = order.id().clone();
            let mut units: Vec<usize> = (0..order.lines().len())
                .flat_map(|i| std::iter::repeat_n(i, order.lines()[i].quantity.get() as usize))
                .collect();
            let mut picks = picks.into_iter();
            let mut first = true;
            while !units.is_empty() {
                let at = picks.next().map_or(0, |p| p.index(units.len()));
                let i = units.remove(at);
                let (after, refund) = orders
                    .refund(Actor::system(), &id, by_units(vec![line(&order, i, 1)], first))
                    .await
                    .unwrap();
                prop_assert!(!refund.amount.is_negative());
                first = false;
                order = after;
                check(&order, CapturePolicy::OnCheckout)?;
            }
            prop_assert_eq!(order.refunded_total(), order.totals().total);
            prop_assert_eq!(order.status(), OrderStatus::Refunded);
            Ok(())
        })?;
    }
}

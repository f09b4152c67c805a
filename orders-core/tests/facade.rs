//! The facade's rules on the in-memory store: checkout validation and
//! refusals, discounts, pricing options, and random walks through the
//! status table.
#![cfg(feature = "testkit")]

use std::sync::Arc;

use futures_executor::block_on;
use orders_core::cart::Quantity;
use orders_core::checkout::{Country, PaymentForm};
use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::money::{Currency, Money};
use orders_core::order::{Actor, OrderStatus, TrackingNumber, Transition};
use orders_core::ports::{ManualClock, TestGateway};
use orders_core::testkit::{cart_with, form, product};
use orders_core::{Access, Error, Orders, OrdersConfig, PricingOptions};
use proptest::prelude::*;

fn engine() -> (Orders, Arc<TestGateway>, Arc<ManualClock>) {
    let gateway = Arc::new(TestGateway::new());
    let clock = Arc::new(ManualClock::new("2026-11-25T12:00:00Z".parse().unwrap()));
    let orders = Orders::builder(Arc::new(MemoryStore::new()))
        .config(OrdersConfig::demo())
        .payments(gateway.clone())
        .clock(clock.clone())
        .build();
    (orders, gateway, clock)
}

fn usd(s: &str) -> Money {
    Money::parse_price(s, Currency::USD).unwrap()
}

fn ada() -> CustomerId {
    CustomerId::parse("ada").unwrap()
}

#[test]
fn a_bad_form_reports_every_field_at_once_and_changes_nothing() {
    block_on(async {
        let (orders, gateway, _) = engine();
        let p = product(&orders, "10.00", 5).await;
        let cart = cart_with(&orders, &ada(), &[(p.id(), 1)]).await;
        let mut bad = form(Some("4242424242424241"));
        bad.email = Some("not-an-email".into());
        if let Some(address) = bad.shipping_address.as_mut() {
            address.postal_code = None;
            address.country = Some("ZZ".into());
        }
        bad.shipping_method = Some("teleport".into());
        bad.expected_total = Some("1e3".into());
        let Err(Error::Validation(errors)) = orders.checkout(&ada(), &cart, bad, Some("k")).await
        else {
            panic!("expected validation errors");
        };
        for path in [
            "email",
            "shipping_address.postal_code",
            "shipping_address.country",
            "shipping_method",
            "payment.card.number",
            "expected_total",
        ] {
            assert!(errors.contains(path), "{path} missing from {errors}");
        }
        assert_eq!(
            errors.get("shipping_address.postal_code").unwrap(),
            ["required"]
        );
        assert_eq!(gateway.captured_count(), 0);
        assert_eq!(orders.product(p.id()).await.unwrap().stock(), 5);
        // The key was released: the corrected request goes through with it.
        let placed = orders
            .checkout(&ada(), &cart, form(Some("4242424242424242")), Some("k"))
            .await
            .unwrap();
        assert!(placed.created);
    });
}

#[test]
fn declined_card_takes_nothing_and_points_at_the_number() {
    block_on(async {
        let (orders, gateway, _) = engine();
        let p = product(&orders, "10.00", 5).await;
        let cart = cart_with(&orders, &ada(), &[(p.id(), 2)]).await;
        let error = orders
            .checkout(&ada(), &cart, form(Some(TestGateway::DECLINED_CARD)), None)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "payment_declined");
        let fields = error.field_errors().unwrap();
        assert!(fields.get("payment.card.number").unwrap()[0].contains("declined"));
        assert_eq!(orders.product(p.id()).await.unwrap().stock(), 5);
        assert!(gateway.payments().is_empty());
        assert!(
            orders
                .cart(&ada(), &cart, &PricingOptions::default())
                .await
                .unwrap()
                .status
                == orders_core::cart::CartStatus::Open
        );
    });
}

#[test]
fn expected_total_guards_against_price_changes() {
    block_on(async {
        let (orders, gateway, _) = engine();
        let p = product(&orders, "10.00", 5).await;
        let cart = cart_with(&orders, &ada(), &[(p.id(), 1)]).await;
        let seen = orders
            .cart(&ada(), &cart, &PricingOptions::default())
            .await
            .unwrap()
            .totals
            .total;
        assert_eq!(seen, usd("14.99"));
        orders
            .update_product(
                p.id(),
                orders_core::catalogue::ProductPatch {
                    price: Some(usd("12.00")),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut body = form(Some("4242424242424242"));
        body.expected_total = Some(seen.to_string());
        assert_eq!(
            orders
                .checkout(&ada(), &cart, body, None)
                .await
                .unwrap_err(),
            Error::PriceChanged {
                total: usd("16.99")
            }
        );
        assert_eq!(gateway.captured_count(), 0);
        let mut body = form(Some("4242424242424242"));
        body.expected_total = Some("16.99".into());
        let order = orders
            .checkout(&ada(), &cart, body, None)
            .await
            .unwrap()
            .order;
        assert_eq!(
            order.lines()[0].unit_price,
            usd("12.00"),
            "prices are taken afresh"
        );
    });
}

#[test]
fn discounts_apply_check_and_expire_before_checkout() {
    block_on(async {
        let (orders, _, clock) = engine();
        let p = product(&orders, "30.00", 5).await;
        let now = clock.as_ref();
        let d = Discount::new(
            DiscountCode::parse("TEN").unwrap(),
            DiscountKind::percent("10").unwrap(),
            orders_core::ports::Clock::now(now),
        )
        .with_min_subtotal(usd("50"))
        .with_expiry(orders_core::ports::Clock::now(now) + chrono::Duration::hours(1));
        orders.create_discount(d).await.unwrap();
        let cart = cart_with(&orders, &ada(), &[(p.id(), 1)]).await;
        let err = orders
            .apply_discount(&ada(), &cart, "ten")
            .await
            .unwrap_err();
        assert!(err.field_errors().unwrap().get("code").unwrap()[0].contains("at least 50.00"));
        assert!(
            orders
                .apply_discount(&ada(), &cart, "NOPE")
                .await
                .unwrap_err()
                .field_errors()
                .unwrap()
                .contains("code")
        );
        orders
            .set_cart_quantity(&ada(), &cart, p.id(), 2)
            .await
            .unwrap();
        let priced = orders.apply_discount(&ada(), &cart, " ten ").await.unwrap();
        assert_eq!(
            priced.discount_code.as_ref().map(|c| c.as_str()),
            Some("TEN")
        );
        assert_eq!(priced.totals.discount, usd("6.00"));
        assert_eq!(
            priced.totals.shipping,
            usd("0.00"),
            "free above 50 after discount (54.00)"
        );
        assert_eq!(priced.totals.total, usd("54.00"));
        let line_discounts: i64 = priced
            .lines
            .iter()
            .map(|l| l.line_discount.to_minor())
            .sum();
        assert_eq!(line_discounts, priced.totals.discount.to_minor());

        clock.advance(chrono::Duration::hours(2));
        let err = orders
            .checkout(&ada(), &cart, form(None), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "discount_unavailable");
        assert_eq!(orders.product(p.id()).await.unwrap().stock(), 5);
        // Shown but not applied once it stopped qualifying.
        let priced = orders
            .cart(&ada(), &cart, &PricingOptions::default())
            .await
            .unwrap();
        assert!(priced.totals.discount.is_zero());
    });
}

#[test]
fn carts_price_for_a_destination_and_refuse_bad_input() {
    block_on(async {
        let (orders, _, _) = engine();
        let p = product(&orders, "10.00", 5).await;
        let cart = cart_with(&orders, &ada(), &[(p.id(), 1)]).await;
        let gb = PricingOptions {
            country: Some(Country::parse("GB").unwrap()),
            shipping_method: Some("express".into()),
        };
        let priced = orders.cart(&ada(), &cart, &gb).await.unwrap();
        assert_eq!(priced.totals.shipping, usd("14.99"));
        assert_eq!(priced.totals.tax, usd("2.00"));
        assert_eq!(priced.totals.total, usd("26.99"));
        let bad = PricingOptions {
            shipping_method: Some("teleport".into()),
            ..Default::default()
        };
        assert!(
            orders
                .cart(&ada(), &cart, &bad)
                .await
                .unwrap_err()
                .field_errors()
                .unwrap()
                .contains("shipping_method")
        );

        let err = orders
            .add_to_cart(&ada(), &cart, p.id(), Quantity::new(999).unwrap())
            .await
            .unwrap_err();
        assert!(err.field_errors().unwrap().contains("quantity"));
        let eur_cart = orders
            .create_cart(&ada(), Some(Currency::EUR))
            .await
            .unwrap();
        let err = orders
            .add_to_cart(&ada(), &eur_cart.id, p.id(), Quantity::new(1).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "currency_mismatch");
        let ghost = orders_core::ids::ProductId::generate();
        let err = orders
            .add_to_cart(&ada(), &cart, &ghost, Quantity::new(1).unwrap())
            .await
            .unwrap_err();
        assert!(err.field_errors().unwrap().contains("product_id"));
        assert_eq!(
            orders
                .set_cart_quantity(&ada(), &cart, &ghost, 1)
                .await
                .unwrap_err(),
            Error::NotFound("cart line")
        );

        let empty = cart_with(&orders, &ada(), &[]).await;
        assert_eq!(
            orders
                .checkout(&ada(), &empty, form(None), None)
                .await
                .unwrap_err(),
            Error::CartEmpty
        );
        let mut no_card = form(None);
        no_card.payment = Some(PaymentForm {
            method: Some("bitcoin".into()),
            token: None,
            card: None,
        });
        let err = orders
            .checkout(&ada(), &cart, no_card, None)
            .await
            .unwrap_err();
        assert!(err.field_errors().unwrap().contains("payment.method"));
        let long_key = "k".repeat(256);
        let err = orders
            .checkout(&ada(), &cart, form(None), Some(&long_key))
            .await
            .unwrap_err();
        assert!(err.field_errors().unwrap().contains("Idempotency-Key"));
    });
}

#[test]
fn a_hundred_and_first_line_is_cart_full() {
    block_on(async {
        let (orders, _, _) = engine();
        let cart = cart_with(&orders, &ada(), &[]).await;
        for _ in 0..100 {
            let p = product(&orders, "1.00", 1).await;
            orders
                .add_to_cart(&ada(), &cart, p.id(), Quantity::new(1).unwrap())
                .await
                .unwrap();
        }
        let p = product(&orders, "1.00", 1).await;
        let err = orders
            .add_to_cart(&ada(), &cart, p.id(), Quantity::new(1).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "cart_full");
        assert!(err.field_errors().unwrap().contains("product_id"));
    });
}

#[test]
fn a_host_guard_can_refuse_a_legal_move() {
    struct NoRefunds;
    impl orders_core::order::TransitionGuard for NoRefunds {
        fn check(
            &self,
            _: &orders_core::order::Order,
            t: &Transition,
            _: &Actor,
        ) -> Result<(), String> {
            if t.to == OrderStatus::Refunded {
                Err("refunds are handled by phone".into())
            } else {
                Ok(())
            }
        }
    }
    block_on(async {
        let orders = Orders::builder(Arc::new(MemoryStore::new()))
            .demo()
            .guard(Arc::new(NoRefunds))
            .build();
        let p = product(&orders, "1.00", 3).await;
        let cart = cart_with(&orders, &ada(), &[(p.id(), 1)]).await;
        let order = orders
            .checkout(&ada(), &cart, form(Some("4242424242424242")), None)
            .await
            .unwrap()
            .order;
        let staff = Actor::system();
        let err = orders
            .transition(
                staff.clone(),
                order.id(),
                Transition::to(OrderStatus::Refunded),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "transition_refused");
        orders
            .transition(staff, order.id(), Transition::to(OrderStatus::Processing))
            .await
            .unwrap();
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random sequences of moves: only table moves succeed, every success
    /// is one event, and the events chain (each `from` is the previous `to`).
    #[test]
    fn random_moves_follow_the_table_and_chain(card in any::<bool>(), moves in prop::collection::vec(0_usize..OrderStatus::ALL.len(), 0..12)) {
        block_on(async {
            let (orders, _, _) = engine();
            let p = product(&orders, "5.00", 10).await;
            let cart = cart_with(&orders, &ada(), &[(p.id(), 2)]).await;
            let number = if card { Some("4242424242424242") } else { None };
            let order = orders.checkout(&ada(), &cart, form(number), None).await.unwrap().order;
            let mut status = order.status();
            let mut successes = 0;
            for m in moves {
                let to = OrderStatus::ALL[m];
                let transition = Transition {
                    tracking_number: Some(TrackingNumber::parse("T1").unwrap()),
                    ..Transition::to(to)
                };
                let result = orders.transition(Actor::system(), order.id(), transition).await;
                // Only fulfilments make an order partly shipped.
                if status.can_become(to) && to != OrderStatus::PartiallyShipped {
                    let moved = result.unwrap();
                    prop_assert_eq!(moved.status(), to);
                    status = to;
                    successes += 1;
                } else {
                    prop_assert_eq!(result.unwrap_err().code(), "invalid_transition");
                }
            }
            let events: Vec<_> = orders
                .order_events(Access::Staff, order.id())
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.from != Some(e.to))
                .collect();
            prop_assert_eq!(events.len(), successes + 1);
            prop_assert_eq!(events[0].from, None);
            for pair in events.windows(2) {
                prop_assert_eq!(pair[1].from, Some(pair[0].to));
                prop_assert!(pair[0].id < pair[1].id);
            }
            prop_assert_eq!(events.last().unwrap().to, status);
            let stock = orders.product(p.id()).await.unwrap().stock();
            prop_assert_eq!(stock, if status == OrderStatus::Cancelled { 10 } else { 8 });
            Ok(())
        })?;
    }
}

#[test]
fn shoppers_see_only_active_products() {
    block_on(async {
        let (orders, _, _) = engine();
        let p = product(&orders, "1.00", 3).await;
        assert_eq!(orders.active_product(p.id()).await.unwrap().id(), p.id());
        orders
            .update_product(
                p.id(),
                orders_core::catalogue::ProductPatch {
                    active: Some(false),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            orders.active_product(p.id()).await.unwrap_err(),
            Error::NotFound("product")
        );
        assert!(
            !orders.product(p.id()).await.unwrap().active(),
            "staff still see it"
        );
    });
}

#[test]
fn a_customer_lists_only_their_own_orders_whatever_the_filter_says() {
    block_on(async {
        use orders_core::ports::{OrderFilter, PageRequest};
        let (orders, _, _) = engine();
        let bob = CustomerId::parse("bob").unwrap();
        let p = product(&orders, "10.00", 10).await;
        for customer in [ada(), bob.clone(), bob.clone()] {
            let cart = cart_with(&orders, &customer, &[(p.id(), 1)]).await;
            orders
                .checkout(&customer, &cart, form(None), None)
                .await
                .unwrap();
        }
        let page = PageRequest::default();
        let list = |access, filter: OrderFilter| {
            let orders = orders.clone();
            let page = page.clone();
            async move { orders.list_orders(access, &filter, &page).await.unwrap() }
        };
        let owners = |items: &[orders_core::order::Order]| {
            items
                .iter()
                .map(|o| o.customer_id().as_str().to_owned())
                .collect::<Vec<_>>()
        };

        // No filter, Bob's id, a search for everything: Ada sees her one.
        let me = ada();
        for filter in [
            OrderFilter::default(),
            OrderFilter {
                customer_id: Some(bob.clone()),
                ..OrderFilter::default()
            },
            OrderFilter {
                email: Some("ada@example.com".into()),
                ..OrderFilter::default()
            },
        ] {
            let mine = list(Access::Owner(&me), filter).await;
            assert_eq!(owners(&mine.items), ["ada"]);
        }
        let bobs = list(Access::Owner(&bob), OrderFilter::default()).await;
        assert_eq!(owners(&bobs.items), ["bob", "bob"]);
        // Staff see every order, or what the filter asks for.
        let all = list(Access::Staff, OrderFilter::default()).await;
        assert_eq!(all.items.len(), 3);
        let only_bob = list(
            Access::Staff,
            OrderFilter {
                customer_id: Some(bob.clone()),
                ..OrderFilter::default()
            },
        )
        .await;
        assert_eq!(owners(&only_bob.items), ["bob", "bob"]);
    });
}

#[test]
fn a_cart_past_the_largest_amount_is_a_field_error_and_is_not_saved() {
    block_on(async {
        use orders_core::PricingOptions as Options;
        let (orders, _, _) = engine();
        let dear = product(&orders, "1000000000000", 1000).await;
        let cart = orders.create_cart(&ada(), None).await.unwrap();
        let one = Quantity::new(1).unwrap();
        let cart = orders
            .add_to_cart(&ada(), &cart.id, dear.id(), one)
            .await
            .unwrap();
        assert_eq!(
            cart.totals.subtotal,
            Money::parse_price("1000000000000", Currency::USD).unwrap()
        );
        for quantity in [1, 999] {
            let error = orders
                .add_to_cart(
                    &ada(),
                    &cart.id,
                    dear.id(),
                    Quantity::new(quantity).unwrap(),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(&error, Error::Validation(errors) if errors.contains("quantity")),
                "{error:?}"
            );
        }
        // Nothing was saved, and the cart still prices.
        let again = orders
            .cart(&ada(), &cart.id, &Options::default())
            .await
            .unwrap();
        assert_eq!(again.lines[0].quantity.get(), 1);
        assert_eq!(again.version, cart.version);
    });
}

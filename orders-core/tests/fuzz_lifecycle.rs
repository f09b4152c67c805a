//! Fuzzing the order state machine by proptest (cargo-fuzz needs nightly;
//! CI runs stable).
//!
//! `facade.rs` walks one order through random staff moves. This walks
//! several orders of two customers, sharing two products, through random
//! interleaved moves by staff, by the owner (cancel) and by the other
//! customer (who must not even see the order), and after every step checks:
//! only table moves succeed, every success is one event and the events
//! chain, stock is conserved (initial = current + quantities of the
//! non-cancelled orders), and a card order is refunded exactly when it is
//! cancelled or refunded after being paid.
//!
//! Longer run: `PROPTEST_CASES=20000 cargo test -p orders-core --all-features --test fuzz_lifecycle`.
#![cfg(feature = "testkit")]

use std::sync::Arc;

use futures_executor::block_on;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::order::{Actor, OrderStatus, TrackingNumber, Transition};
use orders_core::order::{EventKind, PaymentStatus};
use orders_core::ports::TestGateway;
use orders_core::testkit::{cart_with, form, product};
use orders_core::{Access, Error, Orders, OrdersConfig};
use proptest::prelude::*;

const INITIAL_STOCK: u32 = 100;

/// API.md's table, written out independently of the core's, less the
/// moves only fulfilments make (to `partially_shipped`): the moves a staff
/// transition may make.
fn table(from: OrderStatus, to: OrderStatus) -> bool {
    use OrderStatus::*;
    matches!(
        (from, to),
        (Pending | AwaitingPayment, Paid | Cancelled)
            | (Paid, Processing | Cancelled | Refunded)
            | (Processing, Shipped | Cancelled)
            | (PartiallyShipped, Shipped)
            | (Shipped, Delivered)
            | (Delivered, Refunded)
    )
}

#[test]
fn the_core_table_is_api_md_table() {
    use OrderStatus::*;
    for from in OrderStatus::ALL {
        for to in OrderStatus::ALL {
            let fulfilments_only = matches!((from, to), (Paid | Processing, PartiallyShipped));
            assert_eq!(
                from.can_become(to),
                table(from, to) || fulfilments_only,
                "{from:?} -> {to:?}"
            );
        }
    }
}

/// One step of a walk.
#[derive(Debug, Clone)]
enum Step {
    /// Staff move order `order` to status `to`, with or without a tracking
    /// number. With `legal`, `to` picks among the moves the order's status
    /// allows right now (so walks reach the deep statuses); without, it is
    /// an index into `ALL`, legal or not.
    Staff {
        order: usize,
        to: usize,
        tracking: bool,
        legal: bool,
    },
    /// The owner cancels.
    OwnerCancels { order: usize },
    /// The other customer tries to cancel.
    StrangerCancels { order: usize },
}

fn step(orders: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..orders, 0..OrderStatus::ALL.len(), prop::bool::weighted(0.8), any::<bool>())
            .prop_map(|(order, to, tracking, legal)| Step::Staff { order, to, tracking, legal }),
        1 => (0..orders).prop_map(|order| Step::OwnerCancels { order }),
        1 => (0..orders).prop_map(|order| Step::StrangerCancels { order }),
    ]
}

/// An order under test: its owner, what it holds, what we expect of it.
struct Placed {
    id: orders_core::ids::OrderId,
    owner: CustomerId,
    stranger: CustomerId,
    quantities: [u32; 2],
    status: OrderStatus,
    successes: usize,
    card: bool,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(128)
    ))]

    #[test]
    fn interleaved_walks_keep_every_invariant(
        specs in prop::collection::vec((any::<bool>(), any::<bool>(), 1_u32..5, 0_u32..5), 1..5),
        steps in prop::collection::vec(step(4), 0..40),
    ) {
        block_on(async {
            let gateway = Arc::new(TestGateway::new());
            let orders = Orders::builder(Arc::new(MemoryStore::new()))
                .config(OrdersConfig::demo())
                .payments(gateway.clone())
                .build();
            let products = [
                product(&orders, "3.00", INITIAL_STOCK).await,
                product(&orders, "7.50", INITIAL_STOCK).await,
            ];
            let ada = CustomerId::parse("ada").unwrap();
            let bob = CustomerId::parse("bob").unwrap();
            let mut placed = Vec::new();
            for (card, adas, first, second) in specs {
                let (owner, stranger) = if adas { (ada.clone(), bob.clone()) } else { (bob.clone(), ada.clone()) };
                let mut lines = vec![(products[0].id(), first)];
                if second > 0 {
                    lines.push((products[1].id(), second));
                }
                let cart = cart_with(&orders, &owner, &lines).await;
                let number = card.then_some("4242424242424242");
                let order = orders.checkout(&owner, &cart, form(number), None).await.unwrap().order;
                prop_assert_eq!(order.status(), if card { OrderStatus::Paid } else { OrderStatus::Pending });
                placed.push(Placed {
                    id: order.id().clone(), owner, stranger, quantities: [first, second],
                    status: order.status(), successes: 0, card,
                });
            }
            for step in steps {
                let (index, result, to) = match step {
                    Step::Staff { order, to, tracking, legal } => {
                        let Some(p) = placed.get(order) else { continue };
                        let next: Vec<OrderStatus> =
                            OrderStatus::ALL.into_iter().filter(|s| table(p.status, *s)).collect();
                        // Mostly forward, so that walks reach `delivered`.
                        let forward = next
                            .iter()
                            .find(|s| !matches!(s, OrderStatus::Cancelled | OrderStatus::Refunded));
                        let to = if legal && to < 5 && forward.is_some() {
                            *forward.unwrap_or(&OrderStatus::Pending)
                        } else if legal && !next.is_empty() {
                            next[to % next.len()]
                        } else {
                            OrderStatus::ALL[to]
                        };
                        let transition = Transition {
                            tracking_number: tracking.then(|| TrackingNumber::parse("TRACK-1").unwrap()),
                            ..Transition::to(to)
                        };
                        let result = orders.transition(Actor::system(), &p.id, transition).await;
                        if to == OrderStatus::Shipped && !tracking && table(p.status, to) {
                            // A legal move without its tracking number is refused, and changes nothing.
                            prop_assert!(matches!(result, Err(Error::Transition(_))), "{:?}", result);
                            continue;
                        }
                        (order, result, to)
                    }
                    Step::OwnerCancels { order } => {
                        let Some(p) = placed.get(order) else { continue };
                        (order, orders.cancel(&p.owner, &p.id, None).await, OrderStatus::Cancelled)
                    }
                    Step::StrangerCancels { order } => {
                        let Some(p) = placed.get(order) else { continue };
                        let result = orders.cancel(&p.stranger, &p.id, None).await;
                        prop_assert_eq!(result.unwrap_err(), Error::NotFound("order"));
                        continue;
                    }
                };
                let p = &mut placed[index];
                if table(p.status, to) {
                    let moved = result.unwrap();
                    prop_assert_eq!(moved.status(), to);
                    p.status = to;
                    p.successes += 1;
                } else {
                    prop_assert_eq!(result.unwrap_err().code(), "invalid_transition");
                }

                // Stock conserved after every step.
                for (i, product) in products.iter().enumerate() {
                    let held: u32 = placed
                        .iter()
                        .filter(|p| p.status != OrderStatus::Cancelled)
                        .map(|p| p.quantities[i])
                        .sum();
                    let stock = orders.product(product.id()).await.unwrap().stock();
                    prop_assert_eq!(stock + held, INITIAL_STOCK, "product {}", i);
                }
            }

            // Status events chain, one per success, ending at the status we
            // expect; a card order has one payment event more: its capture.
            let charges = gateway.payments();
            let mut refunded_expected = 0;
            for p in &placed {
                let all = orders.order_events(Access::Owner(&p.owner), &p.id).await.unwrap();
                let captures = all.iter().filter(|e| e.kind == EventKind::PaymentUpdated).count();
                prop_assert_eq!(captures, usize::from(p.card));
                let events: Vec<_> =
                    all.into_iter().filter(|e| e.from != Some(e.to)).collect();
                prop_assert_eq!(events.len(), p.successes + 1);
                prop_assert_eq!(events[0].from, None);
                for pair in events.windows(2) {
                    prop_assert_eq!(pair[1].from, Some(pair[0].to));
                    prop_assert!(table(pair[0].to, pair[1].to));
                    prop_assert!(pair[0].id.to_string() < pair[1].id.to_string());
                }
                prop_assert_eq!(events.last().unwrap().to, p.status);
                prop_assert_eq!(orders.order(Access::Staff, &p.id).await.unwrap().status(), p.status);
                if p.card && matches!(p.status, OrderStatus::Cancelled | OrderStatus::Refunded) {
                    refunded_expected += 1;
                }
            }
            let refunded = charges.values().filter(|c| c.state.status == PaymentStatus::Refunded).count();
            prop_assert_eq!(refunded, refunded_expected);
            prop_assert_eq!(charges.len(), placed.iter().filter(|p| p.card).count());
            Ok(())
        })?;
    }
}

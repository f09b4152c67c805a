//! The payment lifecycle through the facade, on the memory store with the
//! test gateway: authorise then capture, the customer's action completed by
//! their return or the provider's webhook (whichever first, once), holds
//! that expire, cancellations that void or refund, a lost stock race that
//! voids, a provider outage that leaves nothing half-done.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use futures_executor::block_on;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::order::{
    Actor, CapturePolicy, EventKind, NextAction, Order, OrderStatus, PaymentStatus,
};
use orders_core::ports::{ManualClock, PaymentGateway, TestGateway};
use orders_core::testkit::{cart_with, form, product, token_form};
use orders_core::{Access, Error, Orders, OrdersConfig, WebhookOutcome};

struct Shop {
    orders: Orders,
    gateway: Arc<TestGateway>,
    clock: Arc<ManualClock>,
}

fn shop(policy: CapturePolicy) -> Shop {
    let gateway = Arc::new(TestGateway::new());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap(),
    ));
    let mut config = OrdersConfig::demo();
    config.capture_policy = policy;
    let orders = Orders::builder(Arc::new(MemoryStore::new()))
        .config(config)
        .payments(gateway.clone())
        .clock(clock.clone())
        .build();
    Shop {
        orders,
        gateway,
        clock,
    }
}

fn ada() -> CustomerId {
    CustomerId::parse("ada").unwrap()
}

/// Places an order of 2 units of a fresh product (stock 5) paid with `token`.
async fn place(shop: &Shop, token: &str) -> (Order, orders_core::ids::ProductId) {
    let p = product(&shop.orders, "10.00", 5).await;
    let cart = cart_with(&shop.orders, &ada(), &[(p.id(), 2)]).await;
    let order = shop
        .orders
        .checkout(&ada(), &cart, token_form(token), None)
        .await
        .expect("checkout")
        .order;
    (order, p.id().clone())
}

async fn stock(shop: &Shop, id: &orders_core::ids::ProductId) -> u32 {
    shop.orders.product(id).await.unwrap().stock()
}

fn reference(order: &Order) -> String {
    order
        .payment()
        .reference
        .clone()
        .expect("a provider reference")
}

async fn kinds(shop: &Shop, order: &Order) -> Vec<(EventKind, Option<OrderStatus>, OrderStatus)> {
    shop.orders
        .order_events(Access::Staff, order.id())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.from, e.to))
        .collect()
}

#[test]
fn a_token_is_authorised_then_captured_after_the_stock_is_taken() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        let (order, p) = place(&shop, TestGateway::TOKEN_AUTHORIZED).await;
        assert_eq!(order.status(), OrderStatus::Paid);
        let pay = order.payment();
        assert_eq!(pay.status, PaymentStatus::Captured);
        assert_eq!(
            (pay.authorized, pay.captured),
            (order.totals().total, order.totals().total)
        );
        assert_eq!(stock(&shop, &p).await, 3);
        let at_gateway = shop.gateway.payment(&reference(&order)).unwrap();
        assert_eq!(at_gateway.captures, 1);
        use EventKind::*;
        use OrderStatus::*;
        assert_eq!(
            kinds(&shop, &order).await,
            [
                (StatusChanged, None, Paid),
                (PaymentUpdated, Some(Paid), Paid)
            ]
        );
    });
}

#[test]
fn on_shipment_authorises_only_and_captures_through_the_hook_once() {
    block_on(async {
        let shop = shop(CapturePolicy::OnShipment);
        let (order, _) = place(&shop, TestGateway::TOKEN_AUTHORIZED).await;
        assert_eq!(order.status(), OrderStatus::Paid);
        assert_eq!(order.payment().status, PaymentStatus::Authorized);
        assert!(order.payment().captured.is_zero());
        let part = orders_core::money::Money::parse_price("5.00", order.currency()).unwrap();
        for _ in 0..2 {
            let after = shop
                .orders
                .capture_payment(Actor::system(), order.id(), Some(part), "fulfilment-1")
                .await
                .expect("capture");
            assert_eq!(after.payment().status, PaymentStatus::Captured);
            assert_eq!(after.payment().captured, part);
        }
        assert_eq!(
            shop.gateway.payment(&reference(&order)).unwrap().captures,
            1
        );
        // A partial refund through the refund hook, twice under one key.
        let one = orders_core::money::Money::parse_price("1.00", order.currency()).unwrap();
        for _ in 0..2 {
            let after = shop
                .orders
                .refund_payment(Actor::system(), order.id(), one, "refund-1")
                .await
                .expect("refund");
            assert_eq!(after.payment().status, PaymentStatus::PartiallyRefunded);
            assert_eq!(after.payment().refunded, one);
            assert_eq!(after.status(), OrderStatus::Paid);
        }
    });
}

#[test]
fn cancelling_before_capture_voids_and_after_capture_refunds() {
    block_on(async {
        let held = shop(CapturePolicy::OnShipment);
        let (order, p) = place(&held, TestGateway::TOKEN_AUTHORIZED).await;
        let cancelled = held.orders.cancel(&ada(), order.id(), None).await.unwrap();
        assert_eq!(cancelled.payment().status, PaymentStatus::Voided);
        let at = held.gateway.payment(&reference(&order)).unwrap();
        assert_eq!(
            (at.state.status, at.captures, at.refunds),
            (PaymentStatus::Voided, 0, 0)
        );
        assert_eq!(stock(&held, &p).await, 5);

        let taken = shop(CapturePolicy::OnCheckout);
        let (order, _) = place(&taken, TestGateway::TOKEN_AUTHORIZED).await;
        let cancelled = taken.orders.cancel(&ada(), order.id(), None).await.unwrap();
        assert_eq!(cancelled.payment().status, PaymentStatus::Refunded);
        assert_eq!(cancelled.payment().refunded, order.totals().total);
        let at = taken.gateway.payment(&reference(&order)).unwrap();
        assert_eq!((at.state.status, at.refunds), (PaymentStatus::Refunded, 1));
    });
}

#[test]
fn a_declined_token_places_nothing_and_takes_no_stock() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        let p = product(&shop.orders, "10.00", 5).await;
        let cart = cart_with(&shop.orders, &ada(), &[(p.id(), 2)]).await;
        let error = shop
            .orders
            .checkout(&ada(), &cart, token_form(TestGateway::TOKEN_DECLINED), None)
            .await
            .unwrap_err();
        assert_eq!(
            error,
            Error::PaymentDeclined {
                field: "payment.token"
            }
        );
        assert!(error.field_errors().unwrap().contains("payment.token"));
        assert_eq!(stock(&shop, p.id()).await, 5);
        let unknown = shop
            .orders
            .checkout(&ada(), &cart, token_form("pm_not_ours"), None)
            .await
            .unwrap_err();
        assert!(unknown.field_errors().unwrap().contains("payment.token"));
        // The cart is still open: the customer can pay with another.
        let order = shop
            .orders
            .checkout(
                &ada(),
                &cart,
                token_form(TestGateway::TOKEN_AUTHORIZED),
                None,
            )
            .await
            .unwrap()
            .order;
        assert_eq!(order.status(), OrderStatus::Paid);
    });
}

#[test]
fn an_action_holds_stock_and_the_return_completes_it_once() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        let (order, p) = place(&shop, TestGateway::TOKEN_REQUIRES_ACTION).await;
        assert_eq!(order.status(), OrderStatus::AwaitingPayment);
        assert_eq!(order.payment().status, PaymentStatus::RequiresAction);
        assert!(matches!(
            order.payment().next_action,
            Some(NextAction::UseSdk { .. })
        ));
        assert_eq!(stock(&shop, &p).await, 3, "the hold takes the stock");
        // Someone else's confirm finds nothing.
        let bob = CustomerId::parse("bob").unwrap();
        assert_eq!(
            shop.orders
                .confirm_payment(&bob, order.id())
                .await
                .unwrap_err(),
            Error::NotFound("order")
        );
        for _ in 0..3 {
            let paid = shop
                .orders
                .confirm_payment(&ada(), order.id())
                .await
                .unwrap();
            assert_eq!(paid.status(), OrderStatus::Paid);
            assert_eq!(paid.payment().status, PaymentStatus::Captured);
            assert_eq!(paid.payment().next_action, None);
        }
        // The webhook arriving after the return changes nothing.
        let (sig, body) = shop
            .gateway
            .webhook("evt_1", &reference(&order), shop.clock_now());
        let outcome = shop
            .orders
            .payment_webhook("test", Some(&sig), body.as_bytes())
            .await
            .unwrap();
        assert!(matches!(outcome, WebhookOutcome::Applied(_)));
        assert_eq!(
            shop.gateway.payment(&reference(&order)).unwrap().captures,
            1
        );
        use EventKind::*;
        use OrderStatus::*;
        assert_eq!(
            kinds(&shop, &order).await,
            [
                (StatusChanged, None, AwaitingPayment),
                (PaymentUpdated, Some(AwaitingPayment), Paid),
                (PaymentUpdated, Some(Paid), Paid),
            ]
        );
    });
}

#[test]
fn the_webhook_completes_an_action_and_a_replay_or_forgery_changes_nothing() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        let (order, _) = place(&shop, TestGateway::TOKEN_REQUIRES_ACTION).await;
        let reference = reference(&order);
        // Before the customer acted, a webhook finds nothing to change.
        let (sig, body) = shop.gateway.webhook("evt_0", &reference, shop.clock_now());
        shop.orders
            .payment_webhook("test", Some(&sig), body.as_bytes())
            .await
            .unwrap();
        let still = shop.orders.order(Access::Staff, order.id()).await.unwrap();
        assert_eq!(still.version(), order.version());

        shop.gateway.authenticate(&reference).unwrap();
        let forged = body.replace("evt_0", "evt_9");
        let refused = shop
            .orders
            .payment_webhook("test", Some(&sig), forged.as_bytes())
            .await
            .unwrap_err();
        assert!(matches!(refused, Error::WebhookRejected(_)));
        let missing = shop
            .orders
            .payment_webhook("test", None, body.as_bytes())
            .await;
        assert!(matches!(missing, Err(Error::WebhookRejected(_))));
        let stale_at = shop.clock_now() - Duration::minutes(10);
        let (stale_sig, stale_body) = shop.gateway.webhook("evt_2", &reference, stale_at);
        let stale = shop
            .orders
            .payment_webhook("test", Some(&stale_sig), stale_body.as_bytes())
            .await;
        assert!(matches!(stale, Err(Error::WebhookRejected(_))));
        let other = shop
            .orders
            .payment_webhook("stripe", Some(&sig), body.as_bytes())
            .await;
        assert_eq!(other.unwrap_err(), Error::NotFound("payment provider"));
        let unchanged = shop.orders.order(Access::Staff, order.id()).await.unwrap();
        assert_eq!(unchanged.status(), OrderStatus::AwaitingPayment);

        let (sig, body) = shop.gateway.webhook("evt_1", &reference, shop.clock_now());
        let applied = shop
            .orders
            .payment_webhook("test", Some(&sig), body.as_bytes())
            .await;
        let WebhookOutcome::Applied(paid) = applied.unwrap() else {
            panic!("applied")
        };
        assert_eq!(paid.status(), OrderStatus::Paid);
        let replayed = shop
            .orders
            .payment_webhook("test", Some(&sig), body.as_bytes())
            .await;
        assert_eq!(replayed.unwrap(), WebhookOutcome::Duplicate);
        assert_eq!(shop.gateway.payment(&reference).unwrap().captures, 1);
    });
}

/// Both paths joined: on the memory store one runs to its end before the
/// other starts, so this shows the second finds the work done; the race
/// on real databases, threads and two instances is
/// `orders-sqlx/tests/payment_races.rs`.
#[test]
fn return_and_webhook_together_pay_once() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        for round in 0..20 {
            let (order, _) = place(&shop, TestGateway::TOKEN_REQUIRES_ACTION).await;
            let reference = reference(&order);
            shop.gateway.authenticate(&reference).unwrap();
            let (sig, body) =
                shop.gateway
                    .webhook(&format!("evt_{round}"), &reference, shop.clock_now());
            let (confirmed, hooked) = futures_util::future::join(
                shop.orders.confirm_payment(&ada(), order.id()),
                shop.orders
                    .payment_webhook("test", Some(&sig), body.as_bytes()),
            )
            .await;
            assert_eq!(confirmed.unwrap().status(), OrderStatus::Paid);
            hooked.unwrap();
            assert_eq!(shop.gateway.payment(&reference).unwrap().captures, 1);
            let events = kinds(&shop, &order).await;
            let paid = events.iter().filter(|(_, from, to)| {
                *from == Some(OrderStatus::AwaitingPayment) && *to == OrderStatus::Paid
            });
            assert_eq!(paid.count(), 1, "{events:?}");
            assert_eq!(events.len(), 3, "{events:?}");
        }
    });
}

#[test]
fn a_failed_action_cancels_and_returns_the_stock() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        let (order, p) = place(&shop, TestGateway::TOKEN_ACTION_FAILS).await;
        let after = shop
            .orders
            .confirm_payment(&ada(), order.id())
            .await
            .unwrap();
        assert_eq!(after.status(), OrderStatus::Cancelled);
        assert_eq!(after.payment().status, PaymentStatus::Failed);
        assert_eq!(stock(&shop, &p).await, 5);
        // Again: nothing more goes back.
        shop.orders
            .confirm_payment(&ada(), order.id())
            .await
            .unwrap();
        assert_eq!(stock(&shop, &p).await, 5);
    });
}

#[test]
fn the_sweeper_cancels_expired_holds_once_and_pays_the_finished_ones() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        let (waiting, p) = place(&shop, TestGateway::TOKEN_REQUIRES_ACTION).await;
        let (finished, _) = place(&shop, TestGateway::TOKEN_REQUIRES_ACTION).await;
        shop.gateway.authenticate(&reference(&finished)).unwrap();
        // Not yet expired: nothing happens.
        shop.clock.advance(Duration::minutes(14));
        assert_eq!(
            shop.orders.sweep_payments(100).await.unwrap(),
            Default::default()
        );
        shop.clock.advance(Duration::minutes(2));
        let report = shop.orders.sweep_payments(100).await.unwrap();
        assert_eq!(report.cancelled, [waiting.id().clone()]);
        assert_eq!(report.paid, [finished.id().clone()]);
        assert_eq!(stock(&shop, &p).await, 5, "the hold's stock is back");
        let at = shop.gateway.payment(&reference(&waiting)).unwrap();
        assert_eq!(at.state.status, PaymentStatus::Voided);
        // A second sweep (another instance) finds nothing.
        assert_eq!(
            shop.orders.sweep_payments(100).await.unwrap(),
            Default::default()
        );
        assert_eq!(stock(&shop, &p).await, 5);
        // The customer coming back late finds the order cancelled.
        let late = shop
            .orders
            .confirm_payment(&ada(), waiting.id())
            .await
            .unwrap();
        assert_eq!(late.status(), OrderStatus::Cancelled);
    });
}

#[test]
fn an_outage_places_nothing_and_the_retry_authorises_once() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        let p = product(&shop.orders, "10.00", 5).await;
        let cart = cart_with(&shop.orders, &ada(), &[(p.id(), 1)]).await;
        shop.gateway.set_outage(true);
        let down = shop
            .orders
            .checkout(&ada(), &cart, token_form("test_visa"), Some("key-1"))
            .await;
        assert_eq!(down.unwrap_err(), Error::PaymentUnavailable);
        assert_eq!(stock(&shop, p.id()).await, 5);
        assert!(shop.gateway.payments().is_empty());
        shop.gateway.set_outage(false);
        let first = shop
            .orders
            .checkout(&ada(), &cart, token_form("test_visa"), Some("key-1"))
            .await
            .unwrap();
        let again = shop
            .orders
            .checkout(&ada(), &cart, token_form("test_visa"), Some("key-1"))
            .await
            .unwrap();
        assert!(first.created && !again.created);
        assert_eq!(first.order.id(), again.order.id());
        assert_eq!(shop.gateway.payments().len(), 1);
    });
}

#[test]
fn a_lost_stock_race_voids_the_authorisation_never_captures() {
    block_on(async {
        let shop = shop(CapturePolicy::OnCheckout);
        let p = product(&shop.orders, "10.00", 1).await;
        let bob = CustomerId::parse("bob").unwrap();
        let mine = cart_with(&shop.orders, &ada(), &[(p.id(), 1)]).await;
        let theirs = cart_with(&shop.orders, &bob, &[(p.id(), 1)]).await;
        shop.orders
            .checkout(&bob, &theirs, token_form("test_visa"), None)
            .await
            .unwrap();
        let lost = shop
            .orders
            .checkout(&ada(), &mine, token_form("test_visa"), None)
            .await
            .unwrap_err();
        assert!(matches!(lost, Error::InsufficientStock(_)), "{lost:?}");
        let payments = shop.gateway.payments();
        assert_eq!(payments.len(), 2);
        let mut states: Vec<_> = payments
            .values()
            .map(|p| (p.state.status, p.captures, p.refunds))
            .collect();
        states.sort_by_key(|s| s.0.as_str());
        assert_eq!(
            states,
            [
                (PaymentStatus::Captured, 1, 0),
                (PaymentStatus::Voided, 0, 0)
            ]
        );
    });
}

/// A gateway that is not the test gateway refuses raw cards.
#[test]
fn a_real_provider_never_receives_a_card_number() {
    struct Real(TestGateway);
    #[async_trait::async_trait]
    impl PaymentGateway for Real {
        fn provider(&self) -> &str {
            "real"
        }
        async fn authorize(
            &self,
            request: orders_core::ports::Authorize<'_>,
        ) -> Result<orders_core::ports::ProviderPayment, orders_core::ports::PaymentError> {
            assert!(
                !matches!(
                    request.source,
                    orders_core::ports::PaymentSource::TestCard(_)
                ),
                "a card number reached a real provider"
            );
            self.0.authorize(request).await
        }
        async fn capture(
            &self,
            r: &str,
            a: orders_core::money::Money,
            k: &str,
        ) -> Result<orders_core::order::ProviderState, orders_core::ports::PaymentError> {
            self.0.capture(r, a, k).await
        }
        async fn void(
            &self,
            r: &str,
        ) -> Result<orders_core::order::ProviderState, orders_core::ports::PaymentError> {
            self.0.void(r).await
        }
        async fn refund(
            &self,
            r: &str,
            a: orders_core::money::Money,
            k: &str,
        ) -> Result<orders_core::order::ProviderState, orders_core::ports::PaymentError> {
            self.0.refund(r, a, k).await
        }
        async fn read(
            &self,
            r: &str,
        ) -> Result<orders_core::order::ProviderState, orders_core::ports::PaymentError> {
            self.0.read(r).await
        }
        fn signature_header(&self) -> &str {
            "Real-Signature"
        }
        fn verify_webhook(
            &self,
            s: &str,
            b: &[u8],
            n: chrono::DateTime<Utc>,
        ) -> Result<orders_core::ports::WebhookEvent, orders_core::ports::WebhookError> {
            self.0.verify_webhook(s, b, n)
        }
    }
    block_on(async {
        let orders = Orders::builder(Arc::new(MemoryStore::new()))
            .config(OrdersConfig::demo())
            .payments(Arc::new(Real(TestGateway::new())))
            .build();
        let p = product(&orders, "10.00", 5).await;
        let cart = cart_with(&orders, &ada(), &[(p.id(), 1)]).await;
        let error = orders
            .checkout(&ada(), &cart, form(Some("4242424242424242")), None)
            .await
            .unwrap_err();
        assert!(
            error.field_errors().unwrap().contains("payment.card"),
            "{error:?}"
        );
        let placed = orders
            .checkout(&ada(), &cart, token_form("test_visa"), None)
            .await
            .unwrap();
        assert_eq!(placed.order.status(), OrderStatus::Paid);
    });
}

trait Now {
    fn clock_now(&self) -> chrono::DateTime<Utc>;
}

impl Now for Shop {
    fn clock_now(&self) -> chrono::DateTime<Utc> {
        orders_core::ports::Clock::now(&*self.clock)
    }
}

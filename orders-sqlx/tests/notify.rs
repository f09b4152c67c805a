//! Order events across "server instances": two independent pools (each
//! with its own listener) on one PostgreSQL database, a listener connection
//! killed under load, a lagging subscriber; and the in-process notifier of
//! SQLite.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use orders_core::Orders;
use orders_core::ids::{CustomerId, EventId, OrderId};
use orders_core::order::{Actor, OrderEvent, OrderStatus, TrackingNumber, Transition};
use orders_core::ports::{Notifier, Subscription, SubscriptionError, Topic};
use orders_core::testkit::{cart_with, form, product};
use orders_sqlx::{LISTENER_APPLICATION_NAME, PgStore, Storage};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A TCP proxy to the database that can be cut (every connection dropped,
/// new ones refused) and restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, conns) = (up.clone(), conns.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: refused
                    }
                    let target = target.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    conns.lock().expect("lock").push(task);
                }
            }
        });
        Self {
            port,
            up,
            conns,
            accept,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.conns.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

fn engine(storage: &Storage) -> Orders {
    storage.engine().demo().build()
}

/// Runs a test's body, failing it (by name) if it has not finished within
/// two minutes, instead of hanging the whole run.
async fn within_two_minutes(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), body)
        .await
        .expect("the test finished within two minutes");
}

async fn next(sub: &mut Subscription) -> OrderEvent {
    tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("an event within 20 s")
        .expect("stream open")
        .expect("no error")
}

/// The next event that is not an order's creation (which a subscriber
/// that started right after the order was placed may or may not see).
async fn next_move(sub: &mut Subscription) -> OrderEvent {
    loop {
        let event = next(sub).await;
        if event.from.is_some() {
            return event;
        }
    }
}

/// Places a cash-on-delivery order through `orders`; returns it and its
/// first event id.
async fn place(orders: &Orders, tag: &str) -> (OrderId, EventId) {
    let who = CustomerId::parse(&format!("{tag}-{}", OrderId::generate())).expect("id");
    let p = product(orders, "2.00", 5).await;
    let cart = cart_with(orders, &who, &[(p.id(), 1)]).await;
    let order = orders
        .checkout(&who, &cart, form(None), None)
        .await
        .expect("checkout")
        .order;
    let events = orders
        .store()
        .order_events(order.id())
        .await
        .expect("events");
    (order.id().clone(), events[0].id)
}

async fn walk(orders: &Orders, id: &OrderId) -> Vec<OrderStatus> {
    let staff = Actor::system();
    let mut seen = Vec::new();
    for to in [
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ] {
        let mut t = Transition::to(to);
        if to == OrderStatus::Shipped {
            t.tracking_number = Some(TrackingNumber::parse("1Z999").expect("tracking"));
        }
        orders
            .transition(staff.clone(), id, t)
            .await
            .expect("transition");
        seen.push(to);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_instance_reaches_a_subscriber_of_another_in_order() {
    within_two_minutes(async {
        let Some(db) = common::PgDatabase::create().await else {
            return;
        };
        let a = db.storage().await;
        let b = db.storage().await;
        let (orders_a, orders_b) = (engine(&a), engine(&b));

        let (id, created) = place(&orders_a, "cross").await;
        let (_, mut sub) = orders_b
            .track(orders_core::Access::Staff, &id, Some(created))
            .await
            .expect("track");
        // What A announces, heard directly: B's listener would also find the
        // events by its periodic sweep, so B's subscriber alone cannot tell
        // whether the announcement worked.
        let mut heard = sqlx::postgres::PgListener::connect(&db.url)
            .await
            .expect("listener");
        heard.listen("orders_events").await.expect("listen");
        let moves = walk(&orders_a, &id).await;
        let announcement = tokio::time::timeout(Duration::from_secs(5), heard.recv())
            .await
            .expect("A announced its changes")
            .expect("notification");
        assert!(!announcement.payload().is_empty(), "a sender's token");
        let mut got = Vec::new();
        for _ in &moves {
            let event = next(&mut sub).await;
            assert_eq!(event.order_id, id);
            got.push(event.to);
        }
        assert_eq!(got, moves, "every change, in order");
        a.close().await;
        b.close().await;
    })
    .await;
}

/// Writes one order through `orders` and walks it to delivered, returning
/// the events a subscriber must see.
async fn one_order(orders: &Orders, tag: &str) -> Vec<(OrderId, OrderStatus)> {
    let (id, _) = place(orders, tag).await;
    let mut expected = vec![(id.clone(), OrderStatus::Pending)];
    for status in walk(orders, &id).await {
        expected.push((id.clone(), status));
    }
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_listener_connection_loses_no_event() {
    within_two_minutes(async {
        let Some(db) = common::PgDatabase::create().await else {
            return;
        };
        let a = db.storage().await;
        // B reaches the server through a proxy the test can cut.
        let options: PgConnectOptions = db.url.parse().expect("url");
        let proxy = Proxy::start(format!("{}:{}", options.get_host(), options.get_port())).await;
        let options = options.host("127.0.0.1").port(proxy.port);
        let b_store = Arc::new(
            PgStore::connect_with(options, PgPoolOptions::new().max_connections(4))
                .await
                .expect("b"),
        );
        let b = Storage::postgres(
            b_store.clone(),
            b_store.notifier().await.expect("b notifier"),
        );
        let orders_a = engine(&a);
        let (first, first_event) = place(&orders_a, "kill").await;

        // A subscriber of B, read continuously from now on.
        let mut all = b
            .notifier()
            .subscribe(Topic::All, Some(first_event))
            .await
            .expect("subscribe");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(item) = all.next().await {
                if tx.send(item).is_err() {
                    break;
                }
            }
        });
        let mut expected: Vec<(OrderId, OrderStatus)> = Vec::new();
        let mut got: Vec<(OrderId, OrderStatus, EventId)> = Vec::new();
        async fn receive(
            rx: &mut tokio::sync::mpsc::UnboundedReceiver<Result<OrderEvent, SubscriptionError>>,
            got: &mut Vec<(OrderId, OrderStatus, EventId)>,
            until: usize,
        ) {
            while got.len() < until {
                let item = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                    .await
                    .unwrap_or_else(|_| panic!("only {} of {until} events arrived: {got:?}", got.len()))
                    .expect("subscription open");
                let event = item.expect("no error");
                got.push((event.order_id, event.to, event.id));
            }
        }
        // Live before anything is cut.
        orders_a
            .transition(Actor::system(), &first, Transition::to(OrderStatus::Paid))
            .await
            .expect("pay");
        expected.push((first.clone(), OrderStatus::Paid));
        receive(&mut rx, &mut got, expected.len()).await;

        // 1. Terminate the listening backends (as an operator or a failover
        //    would), repeatedly, while writing.
        let admin = sqlx::PgPool::connect(&db.url).await.expect("admin pool");
        let kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE application_name = $1 AND datname = current_database()";
        let stop = Arc::new(AtomicBool::new(false));
        let killer = tokio::spawn({
            let (admin, stop) = (admin.clone(), stop.clone());
            async move {
                let mut kills = 0;
                while !stop.load(Ordering::Relaxed) {
                    let killed: Vec<bool> = sqlx::query_scalar(kill)
                        .bind(LISTENER_APPLICATION_NAME)
                        .fetch_all(&admin)
                        .await
                        .expect("kill");
                    kills += killed.len();
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                kills
            }
        });
        for _ in 0..3 {
            expected.extend(one_order(&orders_a, "during").await);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(
            killer.await.expect("killer") > 0,
            "listeners were terminated"
        );
        receive(&mut rx, &mut got, expected.len()).await;

        // 2. A network partition: B's connections are cut and cannot come back
        //    for a while, so B's listener cannot receive the notifications of
        //    what commits meanwhile; it must re-read them.
        proxy.cut();
        let listeners = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()";
        let mut alone = false;
        for _ in 0..500 {
            let n: i64 = sqlx::query_scalar(listeners)
                .bind(LISTENER_APPLICATION_NAME)
                .fetch_one(&admin)
                .await
                .expect("count");
            if n == 1 {
                alone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(alone, "B's listener is disconnected; only A's listens");
        expected.extend(one_order(&orders_a, "partition").await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        proxy.restore();
        for status in [OrderStatus::Processing, OrderStatus::Cancelled] {
            orders_a
                .transition(Actor::system(), &first, Transition::to(status))
                .await
                .expect("move");
            expected.push((first.clone(), status));
        }
        receive(&mut rx, &mut got, expected.len()).await;

        // Each order's events in order; nothing missing, nothing twice.
        let ids: std::collections::HashSet<EventId> = got.iter().map(|g| g.2).collect();
        assert_eq!(ids.len(), got.len(), "no duplicate");
        let mut sorted_got: Vec<(OrderId, OrderStatus)> =
            got.iter().map(|g| (g.0.clone(), g.1)).collect();
        sorted_got.sort_by(|x, y| x.0.cmp(&y.0));
        let mut sorted_expected = expected.clone();
        sorted_expected.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(sorted_got, sorted_expected);
        // And nothing more arrives.
        let extra = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
        assert!(extra.is_err(), "no extra event: {extra:?}");
        reader.abort();
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_is_told_and_slows_nobody() {
    within_two_minutes(async {
        let Some(db) = common::PgDatabase::create().await else {
            return;
        };
        let store = db.store().await;
        let notifier = store.notifier_with_capacity(2).await.expect("notifier");
        let storage = Storage::postgres(store, notifier);
        let orders = engine(&storage);
        let (id, _) = place(&orders, "lag").await;
        let mut slow = storage
            .notifier()
            .subscribe(Topic::All, None)
            .await
            .expect("slow");
        let mut fast = storage
            .notifier()
            .subscribe(Topic::Order(id.clone()), None)
            .await
            .expect("fast");
        // Four events, each read by the fast subscriber as it comes: twice what
        // the slow one's buffer holds.
        for to in [
            OrderStatus::Paid,
            OrderStatus::Processing,
            OrderStatus::Cancelled,
        ] {
            orders
                .transition(Actor::system(), &id, Transition::to(to))
                .await
                .expect("move");
            assert_eq!(
                next_move(&mut fast).await.to,
                to,
                "the fast subscriber gets everything"
            );
        }
        let (id, _) = place(&orders, "lag2").await;
        let mut fast = storage
            .notifier()
            .subscribe(Topic::Order(id.clone()), None)
            .await
            .expect("fast");
        orders
            .transition(Actor::system(), &id, Transition::to(OrderStatus::Paid))
            .await
            .expect("pay");
        assert_eq!(next_move(&mut fast).await.to, OrderStatus::Paid);
        let mut lagged = false;
        while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(5), slow.next()).await {
            if item == Err(SubscriptionError::Lagged) {
                lagged = true;
                break;
            }
        }
        assert!(lagged, "the slow subscriber is told it lagged");
        storage.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_subscribers_get_committed_events_after_an_id() {
    within_two_minutes(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(&format!("sqlite://{}", dir.path().join("n.db").display()))
            .await
            .expect("open");
        storage.migrate().await.expect("migrate");
        let orders = engine(&storage);
        let (id, created) = place(&orders, "lite").await;
        let mut sub = orders.follow_all(Some(created)).await.expect("follow");
        let moves = walk(&orders, &id).await;
        for to in moves {
            assert_eq!(next(&mut sub).await.to, to);
        }
    })
    .await;
}

/// The listener finds events by the transaction that wrote them, not by
/// notifications: an event whose transaction took its id before another's
/// but committed after it, and was never announced (as when its process
/// dies between commit and announcement), still arrives, once, by the
/// listener's sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_and_never_announced_arrives_once() {
    within_two_minutes(async {
        let Some(db) = common::PgDatabase::create().await else {
            return;
        };
        let storage = db.storage().await;
        let orders = engine(&storage);
        let (early, early_created) = place(&orders, "late").await;
        let (other, other_created) = place(&orders, "other").await;
        // After the last creation: whether a subscriber from "now" sees events
        // committed just before it depends on when the listener reads them.
        let mut sub = storage
            .notifier()
            .subscribe(Topic::All, Some(other_created))
            .await
            .expect("subscribe");

        // A writer that takes its event id now and commits later, unannounced.
        let admin = sqlx::PgPool::connect(&db.url).await.expect("admin pool");
        let mut late = admin.begin().await.expect("begin");
        let late_id: i64 = sqlx::query_scalar(
            "INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note)
             SELECT order_id, 'pending', 'paid', at, actor, 'late' FROM orders_order_events WHERE id = $1
             RETURNING id",
        )
        .bind(i64::try_from(early_created.get()).expect("id"))
        .fetch_one(&mut *late)
        .await
        .expect("late event");

        // A change that takes a larger id, commits first and is announced.
        orders
            .transition(Actor::system(), &other, Transition::to(OrderStatus::Paid))
            .await
            .expect("pay");
        let first = next(&mut sub).await;
        assert_eq!((&first.order_id, first.to), (&other, OrderStatus::Paid));
        assert!(
            first.id.get() > late_id as u64,
            "the announced event has the larger id"
        );

        late.commit().await.expect("commit");
        let found = tokio::time::timeout(orders_sqlx::LISTENER_SWEEP * 3, sub.next())
            .await
            .expect("the late event within three sweeps")
            .expect("stream open")
            .expect("no error");
        assert_eq!(found.id.get(), late_id as u64);
        assert_eq!((&found.order_id, found.to), (&early, OrderStatus::Paid));
        let extra = tokio::time::timeout(orders_sqlx::LISTENER_SWEEP * 2, sub.next()).await;
        assert!(extra.is_err(), "nothing twice, nothing more: {extra:?}");
        storage.close().await;
    })
    .await;
}

/// Thousands of events committed at once (a bulk import, or a listener
/// cut off for a while) reach a subscriber whole, in order, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_events_arrives_whole_in_order_once() {
    within_two_minutes(async {
        const BURST: usize = 2500;
        let Some(db) = common::PgDatabase::create().await else {
            return;
        };
        let store = db.store().await;
        let notifier = store
            .notifier_with_capacity(2 * BURST)
            .await
            .expect("notifier");
        let storage = Storage::postgres(store.clone(), notifier.clone());
        let orders = engine(&storage);
        let (id, created) = place(&orders, "burst").await;
        let mut sub = notifier
            .subscribe(Topic::All, Some(created))
            .await
            .expect("subscribe");
        let ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note)
             SELECT order_id, 'pending', 'paid', at, actor, 'burst ' || n
             FROM orders_order_events, generate_series(1, $2) AS n WHERE id = $1
             RETURNING id",
        )
        .bind(i64::try_from(created.get()).expect("id"))
        .bind(BURST as i64)
        .fetch_all(store.pool())
        .await
        .expect("burst");
        assert_eq!(ids.len(), BURST);
        let mut got = Vec::with_capacity(BURST);
        while got.len() < BURST {
            let event = next(&mut sub).await;
            assert_eq!(event.order_id, id);
            got.push(event.id.get() as i64);
        }
        let mut expected = ids.clone();
        expected.sort_unstable();
        assert_eq!(got, expected, "every event, in id order");
        let extra = tokio::time::timeout(orders_sqlx::LISTENER_SWEEP * 2, sub.next()).await;
        assert!(extra.is_err(), "nothing twice: {extra:?}");
        store.close().await;
    })
    .await;
}

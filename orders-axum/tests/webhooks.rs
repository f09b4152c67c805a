//! The delivery worker against a real receiver on a real port, over real
//! stores: every event delivered and signed, in order per order; failures
//! retried as the policy spaces them (on a test clock); an attempt the
//! store cannot record is sent again after its lease; a restart
//! mid-backlog loses and repeats nothing; an address refused at delivery;
//! two instances on one PostgreSQL deliver each item once; a stop waits for
//! the requests in flight and records them; a payment update
//! named as such, and sent to status filters when it moved the status.
#![cfg(feature = "webhooks")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use hmac::{Hmac, Mac};
use orders_axum::webhooks::{DeliveryWorker, WorkerConfig};
use orders_core::ids::WebhookId;
use orders_core::order::{Actor, Order, OrderStatus, Transition};
use orders_core::ports::{Clock, ManualClock, OutboxStore, PageRequest, Store, SystemClock};
use orders_core::testkit::{cart_with, engine, form, product};
use orders_core::webhook::{
    DeliveryStatus, EventFilter, NewWebhook, RetryPolicy, Webhook, WebhookSecret, WebhookUrl,
};
use orders_sqlx::SqliteStore;
use serde_json::Value;
use sha2::Sha256;

#[path = "common/postgres.rs"]
mod postgres;
use postgres::Database;

/// What the receiver heard: each request's body, parsed, in arrival order.
#[derive(Default)]
struct Heard {
    bodies: Vec<Value>,
    /// Answer 503 to this many requests first.
    fail_first: usize,
    answered: usize,
    /// Requests that arrived, answered or not yet.
    arrived: usize,
    /// How long to take over each answer.
    delay: Duration,
}

/// A webhook receiver on a free port that checks every signature (a bad
/// one fails the test) and records what it accepted.
struct Receiver {
    url: String,
    heard: Arc<Mutex<Heard>>,
    secret: Arc<Mutex<String>>,
}

impl Receiver {
    async fn start() -> Self {
        let heard = Arc::new(Mutex::new(Heard::default()));
        let secret = Arc::new(Mutex::new(String::new()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state((heard.clone(), secret.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, heard, secret }
    }

    fn accepted(&self) -> Vec<Value> {
        self.heard.lock().unwrap().bodies.clone()
    }

    /// Waits (up to 20 s) until it has accepted `n` deliveries.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            let got = self.accepted();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("only {} of {n} deliveries arrived", self.accepted().len());
    }
}

type Shared = (Arc<Mutex<Heard>>, Arc<Mutex<String>>);

async fn receive(
    State((heard, secret)): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let delay = {
        let mut heard = heard.lock().unwrap();
        heard.arrived += 1;
        heard.delay
    };
    tokio::time::sleep(delay).await;
    let header = headers
        .get("orders-signature")
        .and_then(|v| v.to_str().ok())
        .expect("a signature header");
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .expect("t=…,v1=…");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.lock().unwrap().as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "the signature verifies");
    let mut heard = heard.lock().unwrap();
    heard.answered += 1;
    if heard.answered <= heard.fail_first {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let value: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        headers.get("orders-delivery").and_then(|v| v.to_str().ok()),
        value["id"].as_str(),
        "the delivery id in a header too"
    );
    heard.bodies.push(value);
    StatusCode::NO_CONTENT
}

async fn webhook(store: &Arc<dyn OutboxStore>, receiver: &Receiver, url: Option<&str>) -> Webhook {
    let secret = WebhookSecret::from_random_bytes(&[9; 32]);
    *receiver.secret.lock().unwrap() = secret.expose().to_owned();
    store
        .insert_webhook(&NewWebhook {
            id: WebhookId::generate(),
            url: WebhookUrl::parse(url.unwrap_or(&receiver.url)).expect("url"),
            events: EventFilter::All,
            secret,
            created_at: Utc::now(),
        })
        .await
        .expect("webhook")
}

/// Places `n` cash orders and moves each to paid: 2 events an order.
async fn orders_with_two_events(store: &Arc<dyn OutboxStore>, n: usize) -> Vec<Order> {
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "3.00", 1000).await;
    let mut placed = Vec::new();
    for i in 0..n {
        let who = orders_core::ids::CustomerId::parse(&format!("c{i}-{}", WebhookId::generate()))
            .unwrap();
        let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
        let order = orders
            .checkout(&who, &cart, form(None), None)
            .await
            .expect("checkout")
            .order;
        let change = orders_core::order::plan_transition(
            &order,
            Transition::to(OrderStatus::Paid),
            Actor::system(),
            &[],
            Utc::now(),
        )
        .expect("pending may become paid");
        store.change_status(&change).await.expect("pay");
        placed.push(order);
    }
    placed
}

fn config() -> WorkerConfig {
    WorkerConfig {
        poll: Duration::from_millis(20),
        allow_private: true,
        ..WorkerConfig::default()
    }
}

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn OutboxStore> {
    let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
    let store = SqliteStore::connect(&url).await.expect("open");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

/// Each order's events arrive in order, each delivery once.
fn assert_in_order_per_order(bodies: &[Value]) {
    let mut last: HashMap<String, String> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for body in bodies {
        assert!(
            ids.insert(body["id"].as_str().unwrap().to_owned()),
            "delivered twice: {body}"
        );
        let order = body["data"]["order_id"].as_str().unwrap().to_owned();
        let event = body["data"]["id"].as_str().unwrap().to_owned();
        if let Some(before) = last.insert(order, event.clone()) {
            assert!(before < event, "out of order: {before} then {event}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_signed_once_in_order_per_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let receiver = Receiver::start().await;
    webhook(&store, &receiver, None).await;
    let placed = orders_with_two_events(&store, 5).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = DeliveryWorker::new(store.clone(), Arc::new(SystemClock), config());
    let running = tokio::spawn(worker.run(stopped));

    let bodies = receiver.wait_for(10).await;
    assert_in_order_per_order(&bodies);
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types.iter().filter(|t| **t == "order.created").count(), 5);
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "order.status_changed")
            .count(),
        5
    );
    let first = &bodies[0];
    assert!(
        placed
            .iter()
            .any(|o| first["data"]["order_id"] == o.id().as_str())
    );
    assert_eq!(first["created_at"], first["data"]["at"]);
    stop.send(true).unwrap();
    running.await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.accepted().len(), 10, "nothing more");
    assert_eq!(store.pending_deliveries().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_update_is_order_payment_updated_and_a_status_change_when_it_moved() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let payments = Receiver::start().await;
    let statuses = Receiver::start().await;
    for (receiver, name) in [
        (&payments, "order.payment_updated"),
        (&statuses, "order.status_changed"),
    ] {
        let secret = WebhookSecret::from_random_bytes(&[7; 32]);
        *receiver.secret.lock().unwrap() = secret.expose().to_owned();
        store
            .insert_webhook(&NewWebhook {
                id: WebhookId::generate(),
                url: WebhookUrl::parse(&receiver.url).expect("url"),
                events: EventFilter::parse(&[name]).expect("filter"),
                secret,
                created_at: Utc::now(),
            })
            .await
            .expect("webhook");
    }
    // Placed awaiting the customer's action, then confirmed: authorised
    // (awaiting_payment -> paid), then captured (paid -> paid).
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "3.00", 10).await;
    let who = orders_core::ids::CustomerId::parse("payer").unwrap();
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let action = orders_core::ports::TestGateway::REQUIRES_ACTION_CARD;
    let order = orders
        .checkout(&who, &cart, form(Some(action)), None)
        .await
        .expect("checkout")
        .order;
    assert_eq!(order.status(), OrderStatus::AwaitingPayment);
    let paid = orders
        .confirm_payment(&who, order.id())
        .await
        .expect("confirm");
    assert_eq!(paid.status(), OrderStatus::Paid);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = DeliveryWorker::new(store.clone(), Arc::new(SystemClock), config());
    let running = tokio::spawn(worker.run(stopped));
    payments.wait_for(2).await;
    let to_statuses = statuses.wait_for(1).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(store.pending_deliveries().await.unwrap(), 0);
    assert_eq!(
        payments.accepted().len(),
        2,
        "the authorisation and the capture"
    );
    assert_eq!(
        statuses.accepted().len(),
        1,
        "only the one that moved the status"
    );
    let moved = &to_statuses[0];
    assert_eq!(moved["type"], "order.payment_updated");
    assert_eq!(moved["data"]["type"], "payment_updated");
    assert_eq!(moved["data"]["from"], "awaiting_payment");
    assert_eq!(moved["data"]["to"], "paid");
    assert_eq!(moved["data"]["data"]["status"], "authorized");
    for body in payments.accepted() {
        assert_eq!(body["type"], "order.payment_updated", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_as_the_policy_spaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let receiver = Receiver::start().await;
    receiver.heard.lock().unwrap().fail_first = 3;
    let hook = webhook(&store, &receiver, None).await;
    let placed = orders_with_two_events(&store, 1).await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let policy = RetryPolicy {
        first_delay: chrono::Duration::seconds(2),
        ..RetryPolicy::default()
    };
    let worker = DeliveryWorker::new(
        store.clone(),
        clock.clone(),
        WorkerConfig { policy, ..config() },
    );

    let attempts = |n: u32| {
        let store = store.clone();
        let hook = hook.id.clone();
        async move {
            for _ in 0..200 {
                let page = store
                    .deliveries(&hook, &PageRequest::first(10))
                    .await
                    .unwrap();
                let oldest = page.items.last().cloned().expect("a delivery");
                if oldest.attempts >= n {
                    return oldest;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("attempt {n} never recorded");
        }
    };
    let mut expected_wait = 2.0;
    for failure in 1..=3 {
        let started = clock.now();
        assert_eq!(
            worker.round().await.unwrap(),
            1,
            "the first event only: the second waits behind it"
        );
        let d = attempts(failure).await;
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(d.last_error.as_deref(), Some("HTTP 503"));
        let wait = (d.next_attempt_at - started).num_milliseconds() as f64 / 1000.0;
        assert!(
            wait <= expected_wait && wait > expected_wait * 0.75,
            "failure {failure}: waits {wait} s, not about {expected_wait} s"
        );
        // Not before its time.
        clock.set(d.next_attempt_at - chrono::Duration::milliseconds(1));
        assert_eq!(worker.round().await.unwrap(), 0, "not due yet");
        clock.set(d.next_attempt_at);
        expected_wait *= 2.0;
    }
    assert_eq!(worker.round().await.unwrap(), 1);
    let bodies = receiver.wait_for(1).await;
    assert_eq!(bodies[0]["type"], "order.created");
    assert_eq!(bodies[0]["data"]["order_id"], placed[0].id().as_str());
    let delivered = attempts(4).await;
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    // Then the order's second event.
    for _ in 0..100 {
        if worker.round().await.unwrap() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bodies = receiver.wait_for(2).await;
    assert_eq!(bodies[1]["type"], "order.status_changed");
}

/// The recorder's writes fail (a trigger refuses every finished attempt,
/// as a full disk would): the receiver heard the delivery, but it stays
/// pending and leased; once the lease runs out it is claimed and sent
/// again under the same delivery id (at least once), and recorded when
/// the store takes writes again. Nothing behind it is lost or reordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_cannot_be_recorded_is_sent_again_after_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
    let sqlite = SqliteStore::connect(&url).await.expect("open");
    sqlite.migrate().await.expect("migrate");
    let pool = sqlite.pool().clone();
    let store: Arc<dyn OutboxStore> = Arc::new(sqlite);
    let receiver = Receiver::start().await;
    let hook = webhook(&store, &receiver, None).await;
    orders_with_two_events(&store, 1).await;
    sqlx::query(
        "CREATE TRIGGER refuse_records BEFORE UPDATE OF status ON orders_deliveries \
         BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END",
    )
    .execute(&pool)
    .await
    .expect("trigger");
    let start = Utc::now();
    let clock = Arc::new(ManualClock::new(start));
    let worker = DeliveryWorker::new(store.clone(), clock.clone(), config());
    let oldest = || async {
        store
            .deliveries(&hook.id, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .last()
            .cloned()
            .expect("a delivery")
    };

    assert_eq!(worker.round().await.unwrap(), 1, "the order's first event");
    let first = receiver.wait_for(1).await;
    // The recorder tries three times, then leaves it to its lease.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let held = oldest().await;
    assert_eq!(held.status, DeliveryStatus::Pending, "not recorded");
    assert_eq!(held.attempts, 0, "not recorded");
    assert_eq!(worker.round().await.unwrap(), 0, "still leased");
    assert_eq!(receiver.accepted().len(), 1, "nothing else sent meanwhile");

    // The store takes writes again; the lease runs out.
    sqlx::query("DROP TRIGGER refuse_records")
        .execute(&pool)
        .await
        .expect("drop trigger");
    clock.set(start + chrono::Duration::seconds(60));
    assert_eq!(worker.round().await.unwrap(), 1, "claimed again");
    let again = receiver.wait_for(2).await;
    assert_eq!(again[1]["id"], first[0]["id"], "the same delivery, again");
    for _ in 0..200 {
        if oldest().await.status == DeliveryStatus::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded = oldest().await;
    assert_eq!(recorded.status, DeliveryStatus::Delivered);
    assert_eq!(recorded.attempts, 1, "the recorded attempt");
    // Then the order's second event, once.
    for _ in 0..100 {
        if worker.round().await.unwrap() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bodies = receiver.wait_for(3).await;
    assert_eq!(bodies[2]["type"], "order.status_changed");
    assert_in_order_per_order(&bodies[1..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_backlog_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    {
        let store = sqlite(&dir).await;
        webhook(&store, &receiver, None).await;
        orders_with_two_events(&store, 10).await;
        // A first instance delivers part of the backlog, then stops.
        let worker = DeliveryWorker::new(
            store.clone(),
            Arc::new(SystemClock),
            WorkerConfig {
                batch: 4,
                ..config()
            },
        );
        worker.round().await.unwrap();
        receiver.wait_for(4).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = receiver.accepted().len();
    assert!(before < 20, "part of it: {before}");
    // A new process on the same file finishes it.
    let store = sqlite(&dir).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(
        DeliveryWorker::new(store.clone(), Arc::new(SystemClock), config()).run(stopped),
    );
    let bodies = receiver.wait_for(20).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(bodies.len(), 20);
    assert_in_order_per_order(&bodies);
}

/// A stopping worker waits for its requests in flight and records them: a
/// delivery the receiver is still answering when the process is told to
/// stop is recorded as delivered before `run` returns. (Left leased, it
/// held its order's later events up until the lease ran out, and was sent
/// again: the server's restart test failed so under load.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_waits_for_the_requests_in_flight_and_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let receiver = Receiver::start().await;
    receiver.heard.lock().unwrap().delay = Duration::from_millis(500);
    let hook = webhook(&store, &receiver, None).await;
    orders_with_two_events(&store, 1).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(
        DeliveryWorker::new(store.clone(), Arc::new(SystemClock), config()).run(stopped),
    );
    for _ in 0..400 {
        if receiver.heard.lock().unwrap().arrived > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        receiver.heard.lock().unwrap().arrived,
        1,
        "the first request"
    );
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(receiver.accepted().len(), 1, "answered before run returned");
    let deliveries = store
        .deliveries(&hook.id, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    let (second, first) = (&deliveries[0], &deliveries[1]);
    assert_eq!(first.status, DeliveryStatus::Delivered, "{first:?}");
    assert_eq!(first.attempts, 1);
    assert_eq!(second.status, DeliveryStatus::Pending, "{second:?}");
    assert_eq!(second.attempts, 0, "not started after the stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_loopback_is_refused_at_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let receiver = Receiver::start().await;
    // Stored as if it had passed the check at creation (a rebinding name).
    let port = receiver.url.rsplit(':').next().unwrap();
    let hook = webhook(&store, &receiver, Some(&format!("http://localhost:{port}"))).await;
    orders_with_two_events(&store, 1).await;
    let worker = DeliveryWorker::new(
        store.clone(),
        Arc::new(SystemClock),
        WorkerConfig {
            allow_private: false,
            ..config()
        },
    );
    assert_eq!(worker.round().await.unwrap(), 1);
    let mut last_error = None;
    for _ in 0..200 {
        let page = store
            .deliveries(&hook.id, &PageRequest::first(10))
            .await
            .unwrap();
        let oldest = page.items.last().cloned().unwrap();
        if oldest.attempts == 1 {
            last_error = oldest.last_error;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last_error = last_error.expect("attempted");
    assert!(
        last_error.contains("no address a webhook may reach"),
        "{last_error}"
    );
    assert!(receiver.accepted().is_empty());
    assert_eq!(receiver.heard.lock().unwrap().answered, 0, "never called");

    // An IP literal too.
    let literal = webhook(&store, &receiver, None).await;
    orders_with_two_events(&store, 1).await;
    worker.round().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let page = store
        .deliveries(&literal.id, &PageRequest::first(10))
        .await
        .unwrap();
    let oldest = page.items.last().cloned().unwrap();
    assert_eq!(
        oldest.last_error.as_deref(),
        Some("refused: the target is a private address")
    );
    assert_eq!(receiver.heard.lock().unwrap().answered, 0, "never called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_deliver_each_item_once() {
    let Some(db) = Database::create("webhooks").await else {
        return;
    };
    let open = || async {
        let store = orders_sqlx::PgStore::connect(&db.url)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        Arc::new(store) as Arc<dyn OutboxStore>
    };
    let (a, b) = (open().await, open().await);
    let receiver = Receiver::start().await;
    webhook(&a, &receiver, None).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|store| {
            let worker = DeliveryWorker::new(store, Arc::new(SystemClock), config());
            tokio::spawn(worker.run(stopped.clone()))
        })
        .collect();
    // Orders placed on both instances while both deliver.
    let (left, right) = tokio::join!(orders_with_two_events(&a, 8), orders_with_two_events(&b, 8));
    assert_eq!(left.len() + right.len(), 16);
    let bodies = receiver.wait_for(32).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(receiver.accepted().len(), 32, "each once");
    assert_in_order_per_order(&bodies);
    assert_eq!(a.pending_deliveries().await.unwrap(), 0);
}

/// Deliveries per second to a receiver that answers at once, from a
/// backlog of `n` events, on `store`: the figure BENCHMARKS.md reports.
async fn delivery_rate(store: Arc<dyn OutboxStore>, label: &str, n: usize) {
    let receiver = Receiver::start().await;
    webhook(&store, &receiver, None).await;
    orders_with_two_events(&store, n / 2).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = std::time::Instant::now();
    let worker = DeliveryWorker::new(store.clone(), Arc::new(SystemClock), config());
    let running = tokio::spawn(worker.run(stopped));
    receiver.wait_for(n).await;
    let seconds = started.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    running.await.unwrap();
    println!(
        "{label}: {n} deliveries in {seconds:.2} s = {:.0}/s",
        n as f64 / seconds
    );
}

/// `cargo test -p orders-axum --all-features --test webhooks -- --ignored --nocapture`
/// (debug build; PostgreSQL from `ORDERS_TEST_PG_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn deliveries_per_second() {
    let dir = tempfile::tempdir().unwrap();
    delivery_rate(sqlite(&dir).await, "SQLite", 2000).await;
    if let Some(db) = Database::create("webhooks").await {
        let store = orders_sqlx::PgStore::connect(&db.url)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        delivery_rate(Arc::new(store), "PostgreSQL", 2000).await;
    }
}

//! Slow receivers: a webhook whose receiver answers late, or never within
//! the timeout, holds up none of the others' deliveries, and its attempts
//! fail as timed out and are retried; one webhook gets as many requests at
//! once as [`DeliveryWorker::max_in_flight`] allows, no more, each order's
//! events still one after the other.
#![cfg(feature = "webhooks")]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use chrono::Utc;
use orders_axum::webhooks::{DeliveryWorker, WorkerConfig};
use orders_core::ids::{CustomerId, WebhookId};
use orders_core::order::{Actor, OrderStatus, Transition};
use orders_core::ports::{OutboxStore, PageRequest, Store, SystemClock};
use orders_core::testkit::{cart_with, engine, form, product};
use orders_core::webhook::{
    DeliveryStatus, EventFilter, NewWebhook, Webhook, WebhookSecret, WebhookUrl,
};
use orders_sqlx::SqliteStore;

/// A receiver answering 200 after `delay`; counts what it answered.
async fn receiver(delay: Duration) -> (String, Arc<AtomicUsize>) {
    let answered = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State((delay, answered)): State<(Duration, Arc<AtomicUsize>)>| async move {
                    tokio::time::sleep(delay).await;
                    answered.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state((delay, answered.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, answered)
}

async fn webhook(store: &Arc<dyn OutboxStore>, url: &str) -> Webhook {
    store
        .insert_webhook(&NewWebhook {
            id: WebhookId::generate(),
            url: WebhookUrl::parse(url).unwrap(),
            events: EventFilter::All,
            secret: WebhookSecret::from_random_bytes(&[3; 32]),
            created_at: Utc::now(),
        })
        .await
        .unwrap()
}

/// `n` orders, one event each.
async fn orders(store: &Arc<dyn OutboxStore>, n: usize) {
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "1.00", 1000).await;
    for i in 0..n {
        let who = CustomerId::parse(&format!("slow-{i}")).unwrap();
        let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
        orders
            .checkout(&who, &cart, form(None), None)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_holds_up_none_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("slow.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn OutboxStore> = Arc::new(store);
    let (slow_url, slow_answered) = receiver(Duration::from_secs(30)).await;
    let (fast_url, fast_answered) = receiver(Duration::ZERO).await;
    let slow = webhook(&store, &slow_url).await;
    webhook(&store, &fast_url).await;
    orders(&store, 40).await;

    let config = WorkerConfig {
        poll: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
        batch: 16,
        per_webhook: 4,
        allow_private: true,
        ..WorkerConfig::default()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn(
        DeliveryWorker::new(store.clone(), Arc::new(SystemClock), config).run(stopped),
    );
    while fast_answered.load(Ordering::SeqCst) < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the fast receiver waited: {} of 40",
            fast_answered.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fast_took = started.elapsed();
    assert!(
        fast_took < Duration::from_millis(900),
        "40 deliveries to the fast receiver took {fast_took:?}, within the slow one's timeout"
    );

    // The slow receiver's attempts time out and wait for their retry.
    let mut timed_out = None;
    for _ in 0..200 {
        let page = store
            .deliveries(&slow.id, &PageRequest::first(100))
            .await
            .unwrap();
        if let Some(d) = page.items.iter().find(|d| d.attempts > 0) {
            timed_out = Some(d.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let timed_out = timed_out.expect("an attempt to the slow receiver was recorded");
    assert_eq!(timed_out.status, DeliveryStatus::Pending);
    assert_eq!(
        timed_out.last_error.as_deref(),
        Some("no answer within 1 s")
    );
    assert_eq!(slow_answered.load(Ordering::SeqCst), 0);
    stop.send(true).unwrap();
    running.await.unwrap();
}

/// What the counting receiver saw: requests at once now and at most, the
/// orders whose `order.created` it answered, and each arrival that came
/// before its order's earlier event was answered.
#[derive(Default)]
struct Seen {
    now: usize,
    peak: usize,
    arrived: usize,
    created_answered: HashSet<String>,
    too_early: Vec<String>,
}

/// A receiver answering 204 after `delay`, counting as [`Seen`] says.
async fn counting_receiver(delay: Duration) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State((delay, seen)): State<(Duration, Arc<Mutex<Seen>>)>,
                 body: axum::body::Bytes| async move {
                    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let order = body["data"]["order_id"].as_str().unwrap().to_owned();
                    let created = body["type"] == "order.created";
                    {
                        let mut seen = seen.lock().unwrap();
                        seen.now += 1;
                        seen.peak = seen.peak.max(seen.now);
                        seen.arrived += 1;
                        if !created && !seen.created_answered.contains(&order) {
                            seen.too_early.push(order.clone());
                        }
                    }
                    tokio::time::sleep(delay).await;
                    let mut seen = seen.lock().unwrap();
                    seen.now -= 1;
                    if created {
                        seen.created_answered.insert(order);
                    }
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state((delay, seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// `n` orders placed and paid: two events each.
async fn paid_orders(store: &Arc<dyn OutboxStore>, n: usize) {
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "1.00", 1000).await;
    for i in 0..n {
        let who = CustomerId::parse(&format!("busy-{i}")).unwrap();
        let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
        let order = orders
            .checkout(&who, &cart, form(None), None)
            .await
            .unwrap()
            .order;
        let change = orders_core::order::plan_transition(
            &order,
            Transition::to(OrderStatus::Paid),
            Actor::system(),
            &[],
            Utc::now(),
        )
        .unwrap();
        store.change_status(&change).await.unwrap();
    }
}

#[test]
fn the_default_allows_many_requests_in_flight_per_webhook() {
    assert_eq!(WorkerConfig::default().per_webhook, 64);
    assert!(WorkerConfig::default().batch >= 2 * 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_is_reached_never_passed_and_orders_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("busy.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn OutboxStore> = Arc::new(store);
    let (url, seen) = counting_receiver(Duration::from_millis(200)).await;
    webhook(&store, &url).await;
    paid_orders(&store, 24).await;

    let config = WorkerConfig {
        poll: Duration::from_millis(20),
        batch: 16,
        per_webhook: 4,
        allow_private: true,
        ..WorkerConfig::default()
    };
    let worker =
        DeliveryWorker::new(store.clone(), Arc::new(SystemClock), config).max_in_flight(12);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    let started = Instant::now();
    while seen.lock().unwrap().arrived < 48 || seen.lock().unwrap().now > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "only {} of 48 deliveries arrived",
            seen.lock().unwrap().arrived
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.arrived, 48, "each delivery once");
    assert_eq!(seen.peak, 12, "as many at once as allowed, no more");
    assert_eq!(
        seen.too_early,
        Vec::<String>::new(),
        "a status change sent before its order's creation was answered"
    );
}

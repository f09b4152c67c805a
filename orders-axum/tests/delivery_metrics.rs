//! Features `webhooks` and `metrics`: the delivery series move as a real
//! worker delivers to real receivers on real ports, scraped over HTTP
//! from a real `/metrics`: attempts by outcome per webhook, the backlog
//! of pending deliveries, then a dead one (a short retry policy on a
//! test clock), over a SQLite file.
#![cfg(all(feature = "webhooks", feature = "metrics"))]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use orders_axum::metrics::Metrics;
use orders_axum::webhooks::{DeliveryWorker, WorkerConfig};
use orders_core::ids::{CustomerId, WebhookId};
use orders_core::order::{Actor, OrderStatus, Transition};
use orders_core::ports::{Clock, ManualClock, OutboxStore, Store};
use orders_core::testkit::{cart_with, engine, form, product};
use orders_core::webhook::{EventFilter, NewWebhook, RetryPolicy, WebhookSecret, WebhookUrl};
use orders_sqlx::SqliteStore;

/// Serves `app` on a free port of 127.0.0.1 and returns its address.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A receiver that answers every delivery with `status`.
async fn receiver(status: StatusCode) -> String {
    let base = serve(Router::new().route("/hook", post(move || async move { status }))).await;
    format!("{base}/hook")
}

/// Every sample of the document at `url`, by series as written.
async fn scrape(url: &str) -> HashMap<String, f64> {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series value");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn attempts(hook: &WebhookId, outcome: &str) -> String {
    format!(
        "orders_delivery_attempts_total{{consumer=\"webhooks\",webhook=\"{hook}\",outcome=\"{outcome}\"}}"
    )
}

fn gauge(name: &str, hook: &WebhookId) -> String {
    format!("orders_{name}{{consumer=\"webhooks\",webhook=\"{hook}\"}}")
}

/// Runs rounds until `settled` holds of a scrape (the worker reads the
/// counts at most once a second), for up to 10 s, and returns that scrape.
async fn until(
    worker: &DeliveryWorker,
    scrape_url: &str,
    what: &str,
    settled: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    for _ in 0..100 {
        worker.round().await.unwrap();
        let now = scrape(scrape_url).await;
        if settled(&now) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never showed: {:?}", scrape(scrape_url).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_backlog_and_dead_items_move_per_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("metrics.db").display());
    let sqlite = SqliteStore::connect(&url).await.expect("open");
    sqlite.migrate().await.expect("migrate");
    let store: Arc<dyn OutboxStore> = Arc::new(sqlite);
    let metrics = Metrics::new();
    let scrape_url = format!(
        "{}/metrics",
        serve(Router::new().route("/metrics", metrics.endpoint())).await
    );

    let mut hooks = Vec::new();
    for status in [StatusCode::NO_CONTENT, StatusCode::SERVICE_UNAVAILABLE] {
        let hook = store
            .insert_webhook(&NewWebhook {
                id: WebhookId::generate(),
                url: WebhookUrl::parse(&receiver(status).await).unwrap(),
                events: EventFilter::All,
                secret: WebhookSecret::from_random_bytes(&[3; 32]),
                created_at: Utc::now(),
            })
            .await
            .unwrap();
        hooks.push(hook.id);
    }
    let [good, bad] = [hooks[0].clone(), hooks[1].clone()];
    // One order, two events: created, then paid.
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "3.00", 10).await;
    let who = CustomerId::parse("metrics-buyer").unwrap();
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let order = orders
        .checkout(&who, &cart, form(None), None)
        .await
        .unwrap()
        .order;
    let paid = orders_core::order::plan_transition(
        &order,
        Transition::to(OrderStatus::Paid),
        Actor::system(),
        &[],
        Utc::now(),
    )
    .unwrap();
    store.change_status(&paid).await.unwrap();

    // Two failures in a row are the end: 2 s, then 4 s is past the 3 s window.
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let policy = RetryPolicy {
        first_delay: chrono::Duration::seconds(2),
        give_up_after: chrono::Duration::seconds(3),
        ..RetryPolicy::default()
    };
    let worker = DeliveryWorker::new(
        store.clone(),
        clock.clone(),
        WorkerConfig {
            policy,
            poll: Duration::from_millis(20),
            allow_private: true,
            ..WorkerConfig::default()
        },
    )
    .metrics(&metrics);

    let before = scrape(&scrape_url).await;
    assert!(
        before.keys().all(|k| !k.starts_with("orders_delivery")),
        "no delivery series before the worker ran: {before:?}"
    );
    let get = |s: &HashMap<String, f64>, k: &str| s.get(k).copied().unwrap_or(0.0);

    // The receiver that answers: both events delivered, its backlog gone.
    // The failing one: its first event failed once, both still pending.
    let now = until(&worker, &scrape_url, "the first attempts", |s| {
        get(s, &attempts(&good, "delivered")) == 2.0 && get(s, &attempts(&bad, "failed")) == 1.0
    })
    .await;
    assert_eq!(get(&now, &attempts(&bad, "delivered")), 0.0);
    assert_eq!(get(&now, &attempts(&good, "failed")), 0.0);
    let now = until(&worker, &scrape_url, "the backlog", |s| {
        !s.contains_key(&gauge("delivery_backlog", &good))
            && get(s, &gauge("delivery_backlog", &bad)) == 2.0
    })
    .await;
    assert_eq!(get(&now, &gauge("deliveries_dead", &bad)), 0.0);

    // Due again, 2 s on: the second failure gives up; the order's next
    // event, free to go then and recorded as long ago, dies at its first.
    clock.set(clock.now() + chrono::Duration::seconds(2));
    let now = until(&worker, &scrape_url, "the dead deliveries", |s| {
        get(s, &attempts(&bad, "dead")) == 2.0 && get(s, &gauge("deliveries_dead", &bad)) == 2.0
    })
    .await;
    assert_eq!(get(&now, &attempts(&bad, "failed")), 1.0, "{now:?}");
    assert_eq!(
        now.get(&gauge("delivery_backlog", &bad)),
        Some(&0.0),
        "{now:?}"
    );
    assert_eq!(get(&now, &attempts(&good, "delivered")), 2.0);
}

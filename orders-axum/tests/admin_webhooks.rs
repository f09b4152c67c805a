//! The panel's webhook pages (feature `admin`) over a real socket, signed
//! in as staff with the session and CSRF cookies kept by hand: the list
//! with backlog and dead counts, create (the secret shown once, bad and
//! private targets refused on the field), a dead delivery retried (only
//! with the form's CSRF token), delete; and no pages when the host did
//! not turn webhooks on.
#![cfg(feature = "admin")]

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::ports::{ClaimLimits, DeliveryStore, Lease, OutboxStore, PageRequest};
use orders_core::testkit;
use orders_core::webhook::{AttemptOutcome, DeliveryStatus, RetryPolicy, WEBHOOK_CONSUMER};
use reqwest::StatusCode;

mod panel;

use panel::*;

/// The panel on a free port, over `store`, with webhooks or without.
async fn spawn(store: Arc<MemoryStore>, webhooks: bool) -> (SocketAddr, orders_core::Orders) {
    let (orders, _) = testkit::engine(store.clone());
    let addr = serve_panel(&orders, |admin| {
        if webhooks {
            admin.webhooks(store as Arc<dyn OutboxStore>, false)
        } else {
            admin
        }
    })
    .await;
    (addr, orders)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_create_see_retry_and_delete_webhooks() {
    let store = Arc::new(MemoryStore::new());
    let (addr, orders) = spawn(store.clone(), true).await;
    let mut browser = Browser::staff(addr).await;

    let empty = browser.get("/admin/webhooks").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("No webhooks yet"));
    assert!(empty.body.contains("aria-current=\"page\">Webhooks</a>"));

    // Refused on the field, nothing made: not http(s), a loopback target.
    for (url, why) in [
        ("ftp://1.1.1.1/in", "http"),
        ("http://127.0.0.1:9/in", "private"),
    ] {
        let page = browser
            .submit(
                "/admin/webhooks",
                "/admin/webhooks",
                &[("url", url), ("events", "*")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(
            page.body.contains("id=\"error-url\""),
            "{url}: {}",
            page.body
        );
        assert!(
            page.body.to_lowercase().contains(why),
            "{url}: {}",
            page.body
        );
    }
    assert!(store.webhooks().await.unwrap().is_empty());

    // Made: the secret shown once.
    let made = browser
        .submit(
            "/admin/webhooks",
            "/admin/webhooks",
            &[
                ("url", "https://1.1.1.1/orders"),
                ("events", "order.created, order.status_changed"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let hooks = store.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 1);
    let hook = hooks[0].clone();
    let secret = hook.secret.expose().to_owned();
    assert_eq!(
        between(&made.body, "<code id=\"secret\" class=\"mono\">", "<"),
        Some(secret.as_str())
    );
    assert_eq!(
        hook.events.names(),
        ["order.created", "order.status_changed"]
    );
    let listed = browser.get("/admin/webhooks").await;
    assert!(listed.body.contains("https://1.1.1.1/orders"));
    assert!(
        !listed.body.contains(&secret),
        "the secret is shown once only"
    );

    // An order's two events; the first delivery dies.
    let p = testkit::product(&orders, "2.00", 5).await;
    let who = CustomerId::parse("buyer").unwrap();
    let cart = testkit::cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let order = orders
        .checkout(&who, &cart, testkit::form(None), None)
        .await
        .unwrap()
        .order;
    let paid = orders_core::order::plan_transition(
        &order,
        orders_core::order::Transition::to(orders_core::order::OrderStatus::Paid),
        orders_core::order::Actor::system(),
        &[],
        Utc::now(),
    )
    .unwrap();
    <MemoryStore as orders_core::ports::OrderStore>::change_status(&store, &paid)
        .await
        .unwrap();
    let now = Utc::now();
    while store.fan_out(WEBHOOK_CONSUMER, 100, now).await.unwrap() > 0 {}
    let lease = Lease {
        token: "t".into(),
        until: now + chrono::Duration::minutes(1),
    };
    let claimed = store
        .claim_deliveries(now, &lease, &ClaimLimits::total(10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the second waits behind the first");
    let policy = RetryPolicy {
        give_up_after: chrono::Duration::zero(),
        ..RetryPolicy::default()
    };
    let dead =
        claimed[0]
            .delivery
            .after_attempt(&AttemptOutcome::Failed("HTTP 503".into()), now, &policy);
    store.record_attempt(&dead, "t").await.unwrap();

    let listed = browser.get("/admin/webhooks").await;
    assert_eq!(
        between(&listed.body, "class=\"num backlog\">", "<"),
        Some("1")
    );
    assert_eq!(between(&listed.body, "class=\"num dead\">", "<"), Some("1"));
    let path = format!("/admin/webhooks/{}", hook.id.as_str());
    let shown = browser.get(&path).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains(&format!(
        "data-id=\"{}\" data-status=\"dead\"",
        dead.id.as_str()
    )));
    assert!(shown.body.contains("HTTP 503"));
    let retry = format!("{path}/deliveries/{}/retry", dead.id.as_str());
    assert_eq!(shown.body.matches("/retry\"").count(), 1, "dead ones only");

    // Without the form's token: refused, still dead.
    let forged = browser.post(&retry, &[("csrf_token", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let status_of = |store: Arc<MemoryStore>, hook: orders_core::webhook::Webhook| async move {
        let page = store
            .deliveries(&hook.id, &PageRequest::first(10))
            .await
            .unwrap();
        page.items.last().unwrap().status
    };
    assert_eq!(
        status_of(store.clone(), hook.clone()).await,
        DeliveryStatus::Dead
    );
    let retried = browser.submit(&path, &retry, &[]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    assert!(retried.location.starts_with(&format!("{path}?retried=")));
    assert_eq!(
        status_of(store.clone(), hook.clone()).await,
        DeliveryStatus::Pending
    );
    let again = browser.submit(&path, &retry, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "only a dead one");

    // Deleted, with its deliveries.
    let deleted = browser
        .submit("/admin/webhooks", &format!("{path}/delete"), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(store.webhooks().await.unwrap().is_empty());
    assert_eq!(browser.get(&path).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_webhooks_there_are_no_pages_and_no_link() {
    let (addr, _) = spawn(Arc::new(MemoryStore::new()), false).await;
    let mut browser = Browser::staff(addr).await;
    assert_eq!(
        browser.get("/admin/webhooks").await.status,
        StatusCode::NOT_FOUND
    );
    let orders = browser.get("/admin/orders").await;
    assert_eq!(orders.status, StatusCode::OK);
    assert!(!orders.body.contains("/admin/webhooks"));
}

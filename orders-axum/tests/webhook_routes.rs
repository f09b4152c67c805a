//! The webhook admin routes over the real router on a real port: staff
//! only, bodies checked as the core's form says, SSRF refused at creation,
//! the secret shown once, deliveries listed and a dead one retried.

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::{ADA, STAFF, spawn_on, spawn_with};
use orders_core::memory::MemoryStore;
use orders_core::ports::{ClaimLimits, DeliveryStore, Lease};
use orders_core::webhook::{AttemptOutcome, RetryPolicy, WEBHOOK_CONSUMER};
use serde_json::json;

const HOOKS: &str = "/api/admin/webhooks";

#[tokio::test]
async fn staff_only() {
    let app = spawn_with(|api| api.webhooks(Arc::new(MemoryStore::new()), true)).await;
    let anonymous = app.get(HOOKS, None).await;
    anonymous.problem(401, "unauthorized");
    app.get(HOOKS, Some(ADA)).await.problem(403, "forbidden");
    let body = json!({"url": "http://127.0.0.1:9/in", "events": ["*"]});
    app.post(HOOKS, ADA, body).await.problem(403, "forbidden");
    app.get(HOOKS, Some(STAFF)).await.ok(200);
}

#[tokio::test]
async fn without_webhooks_enabled_the_routes_are_not_found() {
    let app = spawn_with(|api| api).await;
    app.get(HOOKS, Some(STAFF)).await.problem(404, "not_found");
}

#[tokio::test]
async fn bad_bodies_are_refused_by_field_and_store_nothing() {
    let store = Arc::new(MemoryStore::new());
    let app = spawn_on(store.clone(), |api| api.webhooks(store.clone(), false)).await;
    let cases = [
        (json!({}), vec!["events", "url"]),
        (
            json!({"url": "ftp://example.com/", "events": ["*"]}),
            vec!["url"],
        ),
        (
            json!({"url": "https://example.com/", "events": []}),
            vec!["events"],
        ),
        (
            json!({"url": "https://example.com/", "events": ["order.eaten"]}),
            vec!["events"],
        ),
        (
            json!({"url": 7, "events": "order.created"}),
            vec!["events", "url"],
        ),
        (
            json!({"url": "http://127.0.0.1:8080/in", "events": ["*"]}),
            vec!["url"],
        ),
        (
            json!({"url": "http://localhost/in", "events": ["*"]}),
            vec!["url"],
        ),
        (
            json!({"url": "http://169.254.169.254/latest", "events": ["*"]}),
            vec!["url"],
        ),
        (
            json!({"url": "http://[::1]/in", "events": ["*"]}),
            vec!["url"],
        ),
    ];
    for (body, fields) in cases {
        let resp = app.post(HOOKS, STAFF, body.clone()).await;
        resp.problem(422, "validation");
        resp.fields(&fields);
    }
    let private = app
        .post(
            HOOKS,
            STAFF,
            json!({"url": "http://10.0.0.8/in", "events": ["*"]}),
        )
        .await;
    let message = &private.body["errors"]["url"][0];
    assert_eq!(
        message,
        "must not point to a private, loopback or link-local address"
    );
    assert!(store.webhooks().await.unwrap().is_empty(), "nothing stored");
}

#[tokio::test]
async fn webhooks_are_created_listed_retried_and_deleted() {
    let store = Arc::new(MemoryStore::new());
    let app = spawn_on(store.clone(), |api| api.webhooks(store.clone(), true)).await;
    let created = app
        .post(
            HOOKS,
            STAFF,
            json!({"url": "http://127.0.0.1:9/in", "events": ["order.created", "order.created"]}),
        )
        .await;
    let body = created.ok(201).clone();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["url"], "http://127.0.0.1:9/in");
    assert_eq!(body["events"], json!(["order.created"]));
    let secret = body["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );

    let listed = app.get(HOOKS, Some(STAFF)).await;
    let items = listed.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert!(items[0].get("secret").is_none(), "the secret is shown once");

    // An order, its delivery recorded and then dead.
    let order = app.order(ADA, false).await;
    store
        .fan_out(WEBHOOK_CONSUMER, 100, Utc::now())
        .await
        .unwrap();
    let deliveries = format!("{HOOKS}/{id}/deliveries");
    let page = app.get(&deliveries, Some(STAFF)).await.ok(200).clone();
    let delivery = &page["items"][0];
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["order_id"], order["id"]);
    let delivery_id = delivery["id"].as_str().unwrap().to_owned();
    let retry = format!("{deliveries}/{delivery_id}/retry");
    app.post(&retry, STAFF, json!({}))
        .await
        .problem(409, "not_dead");

    let lease = Lease {
        token: "t".into(),
        until: Utc::now() + chrono::Duration::minutes(1),
    };
    let claimed = store
        .claim_deliveries(Utc::now(), &lease, &ClaimLimits::total(10))
        .await
        .unwrap();
    let dead = claimed[0].delivery.after_attempt(
        &AttemptOutcome::Failed("HTTP 500".into()),
        Utc::now(),
        &RetryPolicy {
            give_up_after: chrono::Duration::zero(),
            ..RetryPolicy::default()
        },
    );
    store.record_attempt(&dead, "t").await.unwrap();
    let page = app.get(&deliveries, Some(STAFF)).await.ok(200).clone();
    assert_eq!(page["items"][0]["status"], "dead");
    assert_eq!(page["items"][0]["last_error"], "HTTP 500");
    let retried = app.post(&retry, STAFF, json!({})).await.ok(200).clone();
    assert_eq!(retried["status"], "pending");
    app.post(&format!("{deliveries}/nope/retry"), STAFF, json!({}))
        .await
        .problem(404, "not_found");
    app.get(&format!("{deliveries}?cursor=zzz"), Some(STAFF))
        .await
        .problem(422, "validation");

    let delete = app.delete(&format!("{HOOKS}/{id}"), STAFF).await;
    assert_eq!(delete.status.as_u16(), 204);
    app.delete(&format!("{HOOKS}/{id}"), STAFF)
        .await
        .problem(404, "not_found");
    app.get(&deliveries, Some(STAFF))
        .await
        .problem(404, "not_found");
}

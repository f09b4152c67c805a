//! Guest shoppers over HTTP (API.md "Guest shoppers"), on the real router
//! and a real port, over the in-memory store, a SQLite file and (with
//! `ORDERS_TEST_PG_URL` or `ORDERS_REQUIRE_PG=1`) a fresh PostgreSQL
//! database: a guest cart and its token, guest checkout and the order
//! token (HTTP and websocket), claims that merge (one line capped) and
//! adopt, and the current cart after signing out and in.

mod common;
#[path = "common/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use orders_core::memory::MemoryStore;
use orders_core::ports::{Store, TestGateway};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

/// A server over `store`, and its OpenAPI document.
async fn app_on(store: Arc<dyn Store>) -> (App, Value) {
    let app = spawn_paying_on(store, Arc::new(TestGateway::new())).await;
    let doc = app.get("/api/openapi.json", None).await.ok(200).clone();
    (app, doc)
}

/// A request with any of a bearer token, a cart token and an order token.
async fn call(
    app: &App,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let mut request = app.client.request(method, app.url(path));
    for (name, value) in headers {
        request = if *name == "bearer" {
            request.bearer_auth(value)
        } else {
            request.header(*name, *value)
        };
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    Resp {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A guest cart: its id and token.
async fn guest_cart(app: &App, doc: &Value) -> (String, String) {
    let made = call(app, Method::POST, "/api/carts", &[], Some(json!({}))).await;
    let body = made.ok(201);
    assert_documented(doc, "post", "/api/carts", 201, body);
    let token = body["cart_token"]
        .as_str()
        .expect("a cart token")
        .to_owned();
    (body["id"].as_str().unwrap().to_owned(), token)
}

async fn add(app: &App, cart: &str, auth: (&str, &str), product: &str, quantity: u32) -> Resp {
    call(
        app,
        Method::POST,
        &format!("/api/carts/{cart}/items"),
        &[auth],
        Some(json!({"product_id": product, "quantity": quantity})),
    )
    .await
}

fn quantities(cart: &Value) -> Vec<(String, u64)> {
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["product_id"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A guest makes a cart, uses every cart route with its token, checks out
/// with an email, and opens the order with its order token (HTTP and
/// websocket); wrong and missing tokens are 404.
async fn a_guest_shops_and_checks_out(app: &App, doc: &Value) {
    let product = app.product("10.00", 20).await;
    let pid = product.id().as_str();
    let (cart, token) = guest_cart(app, doc).await;
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    let mine = ("x-cart-token", token.as_str());

    let added = add(app, &cart, mine, pid, 2).await;
    assert_documented(doc, "post", "/api/carts/{id}/items", 200, added.ok(200));
    let read = call(
        app,
        Method::GET,
        &format!("/api/carts/{cart}"),
        &[mine],
        None,
    )
    .await;
    assert_eq!(quantities(read.ok(200)), vec![(pid.to_owned(), 2)]);
    let set = call(
        app,
        Method::PATCH,
        &format!("/api/carts/{cart}/items/{pid}"),
        &[mine],
        Some(json!({"quantity": 3})),
    )
    .await;
    assert_eq!(quantities(set.ok(200)), vec![(pid.to_owned(), 3)]);
    let discount = call(
        app,
        Method::DELETE,
        &format!("/api/carts/{cart}/discount"),
        &[mine],
        None,
    )
    .await;
    discount.ok(200);

    // Wrong, missing, and another cart's token: 404, as another's cart.
    let (other, other_token) = guest_cart(app, doc).await;
    for headers in [
        vec![("x-cart-token", "not-the-token")],
        vec![("x-cart-token", other_token.as_str())],
        vec![("bearer", ADA)],
    ] {
        let refused = call(
            app,
            Method::GET,
            &format!("/api/carts/{cart}"),
            &headers,
            None,
        )
        .await;
        refused.problem(404, "not_found");
        let refused = add(app, &cart, headers[0], pid, 1).await;
        refused.problem(404, "not_found");
    }
    // A customer with a guest's token cannot reach another cart with it.
    let ada_cart = app.cart(ADA).await;
    let refused = call(
        app,
        Method::GET,
        &format!("/api/carts/{ada_cart}"),
        &[("x-cart-token", token.as_str())],
        None,
    )
    .await;
    refused.problem(404, "not_found");
    let _ = other;

    // Checkout: the email is required.
    let mut no_email = checkout_card(CARD_OK);
    no_email.as_object_mut().unwrap().remove("email");
    let path = format!("/api/carts/{cart}/checkout");
    call(app, Method::POST, &path, &[mine], Some(no_email))
        .await
        .fields(&["email"]);
    let placed = call(
        app,
        Method::POST,
        &path,
        &[mine],
        Some(checkout_card(CARD_OK)),
    )
    .await;
    let order = placed.ok(201).clone();
    assert_documented(doc, "post", "/api/carts/{id}/checkout", 201, &order);
    let order_token = order["order_token"].as_str().expect("an order token");
    let id = order["id"].as_str().unwrap();
    assert_eq!(app.stock(&product).await, 17, "the stock is taken");

    let with = ("x-order-token", order_token);
    let read = call(
        app,
        Method::GET,
        &format!("/api/orders/{id}"),
        &[with],
        None,
    )
    .await;
    let read = read.ok(200);
    assert_eq!(read["id"], id);
    assert!(read.get("order_token").is_none(), "shown once");
    assert_documented(doc, "get", "/api/orders/{id}", 200, read);
    let events = call(
        app,
        Method::GET,
        &format!("/api/orders/{id}/events"),
        &[with],
        None,
    )
    .await;
    let events = events.ok(200)["items"].as_array().unwrap().clone();
    assert!(
        events[0]["from"].is_null(),
        "its creation first: {events:?}"
    );
    assert_eq!(events.last().unwrap()["to"], "paid");

    // The websocket with `?order_token=`.
    let url = format!(
        "ws://{}/api/orders/{id}/track?order_token={order_token}",
        app.addr
    );
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(5), connect_async(url))
        .await
        .expect("connects in time")
        .expect("upgraded");
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = first else {
        panic!("a text frame: {first:?}")
    };
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["order"]["id"], id);

    // Wrong tokens, a customer's order, and no token at all.
    let wrong = (
        "x-order-token",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    call(
        app,
        Method::GET,
        &format!("/api/orders/{id}"),
        &[wrong],
        None,
    )
    .await
    .problem(404, "not_found");
    let ada_order = app.order(ADA, false).await;
    let ada_id = ada_order["id"].as_str().unwrap();
    call(
        app,
        Method::GET,
        &format!("/api/orders/{ada_id}"),
        &[with],
        None,
    )
    .await
    .problem(404, "not_found");
    call(
        app,
        Method::GET,
        &format!("/api/orders/{id}"),
        &[("bearer", BOB)],
        None,
    )
    .await
    .problem(404, "not_found");
    call(app, Method::GET, &format!("/api/orders/{id}"), &[], None)
        .await
        .problem(401, "unauthorized");
    let bad_socket = format!("ws://{}/api/orders/{id}/track?order_token=nope", app.addr);
    match connect_async(bad_socket).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404)
        }
        other => panic!("refused before the upgrade: {other:?}"),
    }

    // Cancelling with the token: the live socket hears it.
    let cancelled = call(
        app,
        Method::POST,
        &format!("/api/orders/{id}/cancel"),
        &[with],
        None,
    )
    .await;
    assert_eq!(cancelled.ok(200)["status"], "cancelled");
    let next = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = next else {
        panic!("a text frame: {next:?}")
    };
    let event: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(event["event"]["to"], "cancelled");
    assert_eq!(app.stock(&product).await, 20, "the stock is back");
}

/// A customer claims a guest cart: merged into their open cart, one line
/// capped at 999 and listed in `merge_warnings`, the guest cart closed.
async fn a_claim_merges_and_caps(app: &App, doc: &Value) {
    let (a, b) = (app.product("1.00", 5).await, app.product("2.00", 5).await);
    let mine = app.cart_with(BOB, &a, 998).await;
    let (cart, token) = guest_cart(app, doc).await;
    let guest = ("x-cart-token", token.as_str());
    add(app, &cart, guest, a.id().as_str(), 5).await.ok(200);
    add(app, &cart, guest, b.id().as_str(), 2).await.ok(200);

    let path = format!("/api/carts/{cart}/claim");
    // The bearer alone (the cart token missing), or a wrong one: 404.
    call(app, Method::POST, &path, &[("bearer", BOB)], None)
        .await
        .problem(404, "not_found");
    call(
        app,
        Method::POST,
        &path,
        &[("bearer", BOB), ("x-cart-token", "wrong")],
        None,
    )
    .await
    .problem(404, "not_found");
    call(app, Method::POST, &path, &[guest], None)
        .await
        .problem(401, "unauthorized");

    let claimed = call(app, Method::POST, &path, &[("bearer", BOB), guest], None).await;
    let body = claimed.ok(200).clone();
    assert_documented(doc, "post", "/api/carts/{id}/claim", 200, &body);
    assert_eq!(body["id"], mine.as_str());
    assert_eq!(
        quantities(&body),
        vec![(a.id().to_string(), 999), (b.id().to_string(), 2)]
    );
    let warnings = body["merge_warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["product_id"], a.id().as_str());
    assert_eq!(warnings[0]["reason"], "capped");
    assert_eq!(warnings[0]["quantity"], 5);
    assert_eq!(warnings[0]["merged"], 1);

    // The guest cart is closed: its token still reads it, changes are 409.
    add(app, &cart, guest, b.id().as_str(), 1)
        .await
        .problem(409, "cart_closed");
    call(app, Method::POST, &path, &[("bearer", BOB), guest], None)
        .await
        .problem(409, "cart_closed");
}

/// A customer with no open cart adopts the guest cart; it is their
/// current cart, after signing out and in too (a new token, same user).
async fn a_claim_adopts_and_the_cart_stays(app: &App, doc: &Value) {
    let product = app.product("3.00", 5).await;
    let (cart, token) = guest_cart(app, doc).await;
    let guest = ("x-cart-token", token.as_str());
    add(app, &cart, guest, product.id().as_str(), 2)
        .await
        .ok(200);
    call(
        app,
        Method::GET,
        "/api/carts/current",
        &[("bearer", STAFF)],
        None,
    )
    .await
    .problem(404, "not_found");

    let path = format!("/api/carts/{cart}/claim");
    let claimed = call(app, Method::POST, &path, &[("bearer", STAFF), guest], None).await;
    let body = claimed.ok(200);
    assert_eq!(body["id"], cart.as_str(), "adopted");
    assert_eq!(body["merge_warnings"], json!([]));
    // The guest's token no longer opens it; the customer's bearer does.
    call(
        app,
        Method::GET,
        &format!("/api/carts/{cart}"),
        &[guest],
        None,
    )
    .await
    .problem(404, "not_found");

    // "Signing out and in": the same user, a later request.
    let current = call(
        app,
        Method::GET,
        "/api/carts/current",
        &[("bearer", STAFF)],
        None,
    )
    .await;
    let current = current.ok(200);
    assert_documented(doc, "get", "/api/carts/current", 200, current);
    assert_eq!(current["id"], cart.as_str());
    assert_eq!(quantities(current), vec![(product.id().to_string(), 2)]);
    call(app, Method::GET, "/api/carts/current", &[], None)
        .await
        .problem(401, "unauthorized");
}

async fn every_story(store: Arc<dyn Store>) {
    let (app, doc) = app_on(store).await;
    a_guest_shops_and_checks_out(&app, &doc).await;
    a_claim_merges_and_caps(&app, &doc).await;
    a_claim_adopts_and_the_cart_stays(&app, &doc).await;
}

#[tokio::test]
async fn on_the_memory_store() {
    every_story(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let store = orders_sqlx::SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    every_story(Arc::new(store)).await;
}

#[tokio::test]
async fn on_postgres() {
    let Some(db) = postgres::Database::create("guests").await else {
        return;
    };
    let store = orders_sqlx::PgStore::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    every_story(Arc::new(store)).await;
}

#[tokio::test]
async fn guest_carts_are_limited_per_address() {
    let app = spawn_with(|api| api.guest_cart_limit(3)).await;
    for _ in 0..3 {
        call(&app, Method::POST, "/api/carts", &[], None)
            .await
            .ok(201);
    }
    let refused = call(&app, Method::POST, "/api/carts", &[], None).await;
    refused.problem(429, "too_many_guest_carts");
    assert!(refused.headers.contains_key("retry-after"));
    // A customer's carts are not counted.
    app.cart(ADA).await;
    // A bad bearer token is still 401, never a guest cart.
    call(
        &app,
        Method::POST,
        "/api/carts",
        &[("bearer", "nobody")],
        None,
    )
    .await
    .problem(401, "unauthorized");
}

//! The JSON API over a real socket with a real client.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

// ---------------------------------------------------------------- plumbing

#[tokio::test]
async fn health_and_request_ids() {
    let app = spawn_app().await;
    let health = app.get("/api/health", None).await;
    assert_eq!(health.ok(200), &json!({"status": "ok"}));
    assert!(health.headers.contains_key("x-request-id"));

    let response = app
        .client
        .get(app.url("/api/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let app = spawn_app().await;
    app.get("/api/nope", None).await.problem(404, "not_found");
    app.get("/api/carts/x/nope", Some(ADA))
        .await
        .problem(404, "not_found");
    app.send(Method::DELETE, "/api/products", None, None)
        .await
        .problem(405, "method_not_allowed");
    app.send(Method::PUT, "/api/carts/x/checkout", Some(ADA), None)
        .await
        .problem(405, "method_not_allowed");
}

#[tokio::test]
async fn host_routes_share_the_conventions() {
    let app = spawn_app().await;
    let login = app.post("/api/auth/login", ADA, json!({})).await;
    login.problem(401, "bad_credentials");
    assert!(login.headers.contains_key("x-request-id"));
    app.get("/api/auth/login", None)
        .await
        .problem(405, "method_not_allowed");
}

#[tokio::test]
async fn credentials() {
    let app = spawn_app().await;
    let none = app.get("/api/orders", None).await;
    none.problem(401, "unauthorized");
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    app.get("/api/orders", Some("forged"))
        .await
        .problem(401, "unauthorized");
    // 401 comes before any body or id check.
    app.send(Method::POST, "/api/carts/x/items", None, None)
        .await
        .problem(401, "unauthorized");
    for (method, path) in [
        (Method::GET, "/api/admin/orders"),
        (Method::GET, "/api/admin/products"),
        (Method::POST, "/api/admin/products"),
        (Method::PATCH, "/api/admin/products/x"),
        (Method::GET, "/api/admin/orders/x"),
        (Method::POST, "/api/admin/orders/x/transition"),
        (Method::POST, "/api/admin/discounts"),
        (Method::GET, "/api/admin/discounts"),
        (Method::PATCH, "/api/admin/discounts/x"),
    ] {
        app.send(method.clone(), path, Some(ADA), Some(json!({})))
            .await
            .problem(403, "forbidden");
        app.send(method, path, None, Some(json!({})))
            .await
            .problem(401, "unauthorized");
    }
}

#[tokio::test]
async fn bodies_400_413_415_422() {
    let app = spawn_app().await;
    let cart = app.cart(ADA).await;
    let items = format!("/api/carts/{cart}/items");
    app.raw(&items, ADA, Some("application/json"), b"{nope".to_vec())
        .await
        .problem(400, "bad_request");
    app.raw(&items, ADA, Some("application/json"), b"[1, 2]".to_vec())
        .await
        .problem(400, "bad_request");
    app.raw(&items, ADA, Some("application/json"), b"".to_vec())
        .await
        .problem(400, "bad_request");
    app.raw(&items, ADA, Some("text/plain"), b"{}".to_vec())
        .await
        .problem(415, "unsupported_media_type");
    app.raw(&items, ADA, None, b"{}".to_vec())
        .await
        .problem(415, "unsupported_media_type");
    let big =
        serde_json::to_vec(&json!({"product_id": "x".repeat(70 * 1024), "quantity": 1})).unwrap();
    app.raw(&items, ADA, Some("application/json"), big)
        .await
        .problem(413, "payload_too_large");
    // Every mistyped or missing field at once.
    let wrong = app
        .post(&items, ADA, json!({"product_id": 5, "quantity": "2"}))
        .await;
    wrong.fields(&["product_id", "quantity"]);
    app.post(&items, ADA, json!({}))
        .await
        .fields(&["product_id", "quantity"]);
}

#[tokio::test]
async fn body_limit_is_configurable() {
    let app = spawn_with(|api| api.body_limit(100)).await;
    let cart = app.cart(ADA).await;
    let body = serde_json::to_vec(&json!({"product_id": "x".repeat(200), "quantity": 1})).unwrap();
    app.raw(
        &format!("/api/carts/{cart}/items"),
        ADA,
        Some("application/json"),
        body,
    )
    .await
    .problem(413, "payload_too_large");
}

// --------------------------------------------------------------- catalogue

#[tokio::test]
async fn public_catalogue() {
    let app = spawn_app().await;
    let on_sale = app.product("5.00", 3).await;
    let hidden = app.product("6.00", 3).await;
    app.patch(
        &format!("/api/admin/products/{}", hidden.id()),
        STAFF,
        json!({"active": false}),
    )
    .await
    .ok(200);

    let list = app.get("/api/products", None).await;
    let ids: Vec<&str> = list.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [on_sale.id().as_str()]);
    assert!(list.body["next_cursor"].is_null());

    let one = app
        .get(&format!("/api/products/{}", on_sale.id()), None)
        .await;
    let one = one.ok(200);
    for key in [
        "id",
        "sku",
        "name",
        "description",
        "price",
        "currency",
        "stock",
        "active",
    ] {
        assert!(one.get(key).is_some(), "{key}");
    }
    assert_eq!(one["price"], "5.00");
    assert_eq!(one["currency"], "USD");
    app.get(&format!("/api/products/{}", hidden.id()), None)
        .await
        .problem(404, "not_found");
    app.get(&format!("/api/products/{}", "x".repeat(100)), None)
        .await
        .problem(404, "not_found");
    app.get("/api/products?limit=0", None)
        .await
        .fields(&["limit"]);
    app.get("/api/products?limit=101", None)
        .await
        .fields(&["limit"]);
    app.get("/api/products?limit=abc", None)
        .await
        .fields(&["limit"]);
    app.get("/api/products?cursor=forged", None)
        .await
        .fields(&["cursor"]);
}

#[tokio::test]
async fn pagination_follows_next_cursor() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.product("1.00", 1).await;
    }
    let first = app.get("/api/products?limit=2", None).await;
    assert_eq!(first.ok(200)["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(&format!("/api/products?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(second.ok(200)["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn admin_products() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/admin/products",
            STAFF,
            json!({"sku": "MUG-1", "name": "Mug", "price": "12.00", "currency": "USD", "stock": 5}),
        )
        .await;
    let product = created.ok(201).clone();
    assert_eq!(product["active"], true);
    assert_eq!(product["description"], "");
    let id = product["id"].as_str().unwrap();

    app.post(
        "/api/admin/products",
        STAFF,
        json!({"sku": "MUG-1", "name": "Mug", "price": "12.00", "currency": "USD", "stock": 5}),
    )
    .await
    .problem(409, "duplicate");
    app.post(
        "/api/admin/products",
        STAFF,
        json!({"sku": "MUG-2", "name": "Mug", "price": "-1", "currency": "USD", "stock": -5}),
    )
    .await
    .fields(&["price", "stock"]);
    app.post(
        "/api/admin/products",
        STAFF,
        json!({"sku": "bad sku", "name": "", "price": 3, "currency": "XXX", "stock": "5", "active": "yes"}),
    )
    .await
    .fields(&["price", "stock", "active"]);
    app.post(
        "/api/admin/products",
        STAFF,
        json!({"sku": "bad sku", "name": " ", "price": "1", "currency": "XXX", "stock": 1}),
    )
    .await
    .fields(&["sku", "name", "currency"]);

    let patched = app
        .patch(
            &format!("/api/admin/products/{id}"),
            STAFF,
            json!({"price": "9.50", "stock": 7, "name": "Big mug", "description": "Blue",
                   "version": product["version"]}),
        )
        .await;
    let patched = patched.ok(200);
    assert_eq!(
        (&patched["price"], &patched["stock"], &patched["name"]),
        (&json!("9.50"), &json!(7), &json!("Big mug"))
    );
    app.patch(
        &format!("/api/admin/products/{id}"),
        STAFF,
        json!({"stock": -1, "price": "abc"}),
    )
    .await
    .fields(&["stock", "price"]);
    app.patch(
        "/api/admin/products/unknown",
        STAFF,
        json!({"stock": 1, "version": 1}),
    )
    .await
    .problem(404, "not_found");
    let one = app
        .get(&format!("/api/admin/products/{id}"), Some(STAFF))
        .await;
    assert_eq!(one.ok(200)["stock"], 7);
    let all = app.get("/api/admin/products", Some(STAFF)).await;
    assert_eq!(all.ok(200)["items"].as_array().unwrap().len(), 1);
}

// -------------------------------------------------------------------- carts

#[tokio::test]
async fn carts() {
    let app = spawn_app().await;
    let tea = app.product("4.50", 10).await;

    let empty = app.send(Method::POST, "/api/carts", Some(ADA), None).await;
    assert_eq!(empty.ok(201)["currency"], "USD");
    let eur = app
        .post("/api/carts", ADA, json!({"currency": "EUR"}))
        .await;
    assert_eq!(eur.ok(201)["currency"], "EUR");
    app.post("/api/carts", ADA, json!({"currency": "XYZ"}))
        .await
        .fields(&["currency"]);

    let cart = app.cart(ADA).await;
    let items = format!("/api/carts/{cart}/items");
    let added = app
        .post(
            &items,
            ADA,
            json!({"product_id": tea.id().as_str(), "quantity": 2}),
        )
        .await;
    let added = added.ok(200);
    assert_eq!(added["lines"][0]["quantity"], 2);
    let again = app
        .post(
            &items,
            ADA,
            json!({"product_id": tea.id().as_str(), "quantity": 3}),
        )
        .await;
    assert_eq!(again.ok(200)["lines"][0]["quantity"], 5);
    assert_eq!(again.body["subtotal"], "22.50");

    for quantity in [0, 1000, -1] {
        app.post(
            &items,
            ADA,
            json!({"product_id": tea.id().as_str(), "quantity": quantity}),
        )
        .await
        .fields(&["quantity"]);
    }
    app.post(
        &items,
        ADA,
        json!({"product_id": tea.id().as_str(), "quantity": 995}),
    )
    .await
    .fields(&["quantity"]);
    app.post(&items, ADA, json!({"product_id": "unknown", "quantity": 1}))
        .await
        .fields(&["product_id"]);

    let line = format!("/api/carts/{cart}/items/{}", tea.id());
    let set = app.patch(&line, ADA, json!({"quantity": 1})).await;
    assert_eq!(set.ok(200)["lines"][0]["quantity"], 1);
    app.patch(&line, ADA, json!({"quantity": 1000}))
        .await
        .fields(&["quantity"]);
    let removed = app.patch(&line, ADA, json!({"quantity": 0})).await;
    assert_eq!(removed.ok(200)["lines"], json!([]));
    app.delete(&line, ADA).await.problem(404, "not_found");
    app.post(
        &items,
        ADA,
        json!({"product_id": tea.id().as_str(), "quantity": 1}),
    )
    .await
    .ok(200);
    let deleted = app.delete(&line, ADA).await;
    assert_eq!(deleted.ok(200)["lines"], json!([]));

    // Priced for another destination.
    app.post(
        &items,
        ADA,
        json!({"product_id": tea.id().as_str(), "quantity": 1}),
    )
    .await
    .ok(200);
    let standard = app.get(&format!("/api/carts/{cart}"), Some(ADA)).await;
    let express = app
        .get(
            &format!("/api/carts/{cart}?country=GB&shipping_method=express"),
            Some(ADA),
        )
        .await;
    assert_ne!(
        standard.ok(200)["shipping_total"],
        express.ok(200)["shipping_total"]
    );
    app.get(
        &format!("/api/carts/{cart}?shipping_method=teleport"),
        Some(ADA),
    )
    .await
    .fields(&["shipping_method"]);
    app.get(&format!("/api/carts/{cart}?country=ZZ"), Some(ADA))
        .await
        .fields(&["country"]);

    // A product in another currency.
    let eur_cart = eur.body["id"].as_str().unwrap();
    app.post(
        &format!("/api/carts/{eur_cart}/items"),
        ADA,
        json!({"product_id": tea.id().as_str(), "quantity": 1}),
    )
    .await
    .problem(409, "currency_mismatch");
}

#[tokio::test]
async fn another_customers_cart_is_not_found() {
    let app = spawn_app().await;
    let tea = app.product("4.50", 10).await;
    let cart = app.cart_with(ADA, &tea, 1).await;
    let missing = app.get("/api/carts/no-such-cart", Some(BOB)).await;
    let theirs = app.get(&format!("/api/carts/{cart}"), Some(BOB)).await;
    theirs.problem(404, "not_found");
    assert_eq!(missing.body, theirs.body);
    app.post(
        &format!("/api/carts/{cart}/items"),
        BOB,
        json!({"product_id": tea.id().as_str(), "quantity": 1}),
    )
    .await
    .problem(404, "not_found");
    app.delete(&format!("/api/carts/{cart}/items/{}", tea.id()), BOB)
        .await
        .problem(404, "not_found");
    app.checkout(BOB, &cart, checkout_cash(), None)
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn discounts() {
    let app = spawn_app().await;
    let tea = app.product("20.00", 10).await;
    let created = app
        .post(
            "/api/admin/discounts",
            STAFF,
            json!({"code": "welcome10", "kind": "percent", "value": "10"}),
        )
        .await;
    let created = created.ok(201);
    assert_eq!(
        (&created["code"], &created["kind"], &created["value"]),
        (&json!("WELCOME10"), &json!("percent"), &json!("10"))
    );
    app.post(
        "/api/admin/discounts",
        STAFF,
        json!({"code": "FIVE", "kind": "fixed", "value": "5", "min_subtotal": "50", "max_uses": 3,
               "expires_at": "2099-01-01T00:00:00Z"}),
    )
    .await
    .ok(201);
    app.post(
        "/api/admin/discounts",
        STAFF,
        json!({"code": "WELCOME10", "kind": "percent", "value": "10"}),
    )
    .await
    .problem(409, "duplicate");
    app.post(
        "/api/admin/discounts",
        STAFF,
        json!({"code": "X", "kind": "bogus", "value": "10", "max_uses": 0, "expires_at": "soon"}),
    )
    .await
    .fields(&["kind", "max_uses", "expires_at"]);
    let list = app.get("/api/admin/discounts", Some(STAFF)).await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 2);

    let cart = app.cart_with(ADA, &tea, 1).await;
    let discount = format!("/api/carts/{cart}/discount");
    let applied = app.post(&discount, ADA, json!({"code": "welcome10"})).await;
    let applied = applied.ok(200);
    assert_eq!(applied["discount_code"], "WELCOME10");
    assert_eq!(applied["discount_total"], "2.00");
    app.post(&discount, ADA, json!({"code": "NOPE"}))
        .await
        .fields(&["code"]);
    // Below the minimum subtotal.
    app.post(&discount, ADA, json!({"code": "FIVE"}))
        .await
        .fields(&["code"]);
    let removed = app.delete(&discount, ADA).await;
    assert!(removed.ok(200)["discount_code"].is_null());
}

#[tokio::test]
async fn staff_disable_and_enable_a_code() {
    let app = spawn_app().await;
    let tea = app.product("20.00", 10).await;
    app.post(
        "/api/admin/discounts",
        STAFF,
        json!({"code": "PAUSE", "kind": "percent", "value": "10"}),
    )
    .await
    .ok(201);
    let cart = app.cart_with(ADA, &tea, 1).await;
    let discount = format!("/api/carts/{cart}/discount");
    app.post(&discount, ADA, json!({"code": "pause"}))
        .await
        .ok(200);
    let off = app
        .patch(
            "/api/admin/discounts/pause",
            STAFF,
            json!({"active": false}),
        )
        .await;
    let off = off.ok(200);
    assert_eq!(
        (&off["code"], &off["active"]),
        (&json!("PAUSE"), &json!(false))
    );
    // Refused at checkout, nothing taken; refused when applied.
    app.checkout(ADA, &cart, checkout_card(CARD_OK), None)
        .await
        .problem(409, "discount_unavailable");
    assert_eq!(app.stock(&tea).await, 10);
    let other = app.cart_with(ADA, &tea, 1).await;
    app.post(
        &format!("/api/carts/{other}/discount"),
        ADA,
        json!({"code": "PAUSE"}),
    )
    .await
    .fields(&["code"]);
    // Bad bodies and unknown codes.
    app.patch("/api/admin/discounts/PAUSE", STAFF, json!({"active": "no"}))
        .await
        .fields(&["active"]);
    app.patch("/api/admin/discounts/PAUSE", STAFF, json!({}))
        .await
        .fields(&["active"]);
    app.patch("/api/admin/discounts/NOPE", STAFF, json!({"active": true}))
        .await
        .problem(404, "not_found");
    // Enabled again, the first cart checks out with it.
    let on = app
        .patch("/api/admin/discounts/PAUSE", STAFF, json!({"active": true}))
        .await;
    assert_eq!(on.ok(200)["active"], true);
    let order = app.checkout(ADA, &cart, checkout_card(CARD_OK), None).await;
    assert_eq!(order.ok(201)["discount_total"], "2.00");
}

#[tokio::test]
async fn a_code_limited_per_customer_is_refused_the_second_time() {
    let app = spawn_app().await;
    let tea = app.product("20.00", 10).await;
    let created = app
        .post(
            "/api/admin/discounts",
            STAFF,
            json!({"code": "ONCEEACH", "kind": "fixed", "value": "5", "max_uses_per_customer": 1}),
        )
        .await;
    assert_eq!(created.ok(201)["max_uses_per_customer"], 1);
    app.post(
        "/api/admin/discounts",
        STAFF,
        json!({"code": "BAD", "kind": "fixed", "value": "5", "max_uses_per_customer": 0}),
    )
    .await
    .fields(&["max_uses_per_customer"]);
    let (first, second) = (
        app.cart_with(ADA, &tea, 1).await,
        app.cart_with(ADA, &tea, 1).await,
    );
    for cart in [&first, &second] {
        app.post(
            &format!("/api/carts/{cart}/discount"),
            ADA,
            json!({"code": "ONCEEACH"}),
        )
        .await
        .ok(200);
    }
    app.checkout(ADA, &first, checkout_card(CARD_OK), None)
        .await
        .ok(201);
    let refused = app
        .checkout(ADA, &second, checkout_card(CARD_OK), None)
        .await;
    let detail = refused.problem(409, "discount_unavailable");
    assert!(
        detail.to_string().contains("already used"),
        "says the customer used it up: {detail}"
    );
    assert_eq!(app.stock(&tea).await, 9, "the refusal took nothing");
}

// ----------------------------------------------------------------- checkout

#[tokio::test]
async fn card_checkout_is_paid_and_keeps_no_card() {
    let app = spawn_app().await;
    let tea = app.product("10.00", 5).await;
    let cart = app.cart_with(ADA, &tea, 2).await;
    let placed = app.checkout(ADA, &cart, checkout_card(CARD_OK), None).await;
    let order = placed.ok(201);
    assert_eq!(order["status"], "paid");
    assert_eq!(order["payment"]["last4"], "4242");
    assert_eq!(order["payment"]["method"], "card");
    assert!(!order.to_string().contains(CARD_OK));
    assert!(!order.to_string().contains("\"cvc\""));
    assert_eq!(app.stock(&tea).await, 3);
    // The cart is closed now.
    app.checkout(ADA, &cart, checkout_card(CARD_OK), None)
        .await
        .problem(409, "cart_closed");
    app.post(
        &format!("/api/carts/{cart}/items"),
        ADA,
        json!({"product_id": tea.id().as_str(), "quantity": 1}),
    )
    .await
    .problem(409, "cart_closed");
}

#[tokio::test]
async fn cash_on_delivery_is_pending() {
    let app = spawn_app().await;
    let order = app.order(ADA, false).await;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["payment"]["method"], "cash_on_delivery");
    assert!(order["payment"]["last4"].is_null());
}

#[tokio::test]
async fn a_declined_card_takes_nothing() {
    let app = spawn_app().await;
    let tea = app.product("10.00", 5).await;
    let cart = app.cart_with(ADA, &tea, 2).await;
    let declined = app
        .checkout(ADA, &cart, checkout_card(CARD_DECLINED), None)
        .await;
    declined.fields(&["payment.card.number"]);
    assert!(
        declined.body["errors"]["payment.card.number"][0]
            .as_str()
            .unwrap()
            .contains("declined")
    );
    assert!(!declined.body.to_string().contains(CARD_DECLINED));
    assert_eq!(app.stock(&tea).await, 5);
    let orders = app.get("/api/orders", Some(ADA)).await;
    assert_eq!(orders.ok(200)["items"], json!([]));
    // The cart is still open: a good card goes through.
    app.checkout(ADA, &cart, checkout_card(CARD_OK), None)
        .await
        .ok(201);
}

#[tokio::test]
async fn a_bad_form_reports_every_field_at_once() {
    let app = spawn_app().await;
    let tea = app.product("10.00", 5).await;
    let cart = app.cart_with(ADA, &tea, 1).await;
    let bad = json!({
        "email": "not-an-email",
        "shipping_address": {"full_name": "", "line1": "1 Main St", "city": "Springfield",
                             "postal_code": "", "country": "US"},
        "shipping_method": "teleport",
        "payment": {"method": "card", "card": {"number": "4242424242424241", "exp_month": 13,
                    "exp_year": 2040, "cvc": "1", "holder": "Ada"}}
    });
    app.checkout(ADA, &cart, bad, None).await.fields(&[
        "email",
        "shipping_address.full_name",
        "shipping_address.postal_code",
        "shipping_method",
        "payment.card.number",
        "payment.card.exp_month",
        "payment.card.cvc",
    ]);
    app.checkout(ADA, &cart, json!({}), None).await.fields(&[
        "email",
        "shipping_address",
        "shipping_method",
        "payment",
    ]);
    // Wrong JSON types and an unknown enum value, every one reported.
    let mistyped = json!({
        "email": 42,
        "shipping_address": {"full_name": "Ada", "line1": ["x"], "city": "S", "postal_code": 12345, "country": "US"},
        "shipping_method": "standard",
        "payment": {"method": "card", "card": {"number": 4242424242424242u64, "exp_month": "12",
                    "exp_year": 2040, "cvc": "123", "holder": "Ada"}}
    });
    let response = app.checkout(ADA, &cart, mistyped, None).await;
    response.fields(&[
        "email",
        "shipping_address.line1",
        "shipping_address.postal_code",
        "payment.card.number",
        "payment.card.exp_month",
    ]);
    assert!(!response.body.to_string().contains("4242424242424242"));
    let mut unknown_method = checkout_cash();
    unknown_method["payment"]["method"] = json!("barter");
    app.checkout(ADA, &cart, unknown_method, None)
        .await
        .fields(&["payment.method"]);
    assert_eq!(app.stock(&tea).await, 5);
}

#[tokio::test]
async fn idempotent_checkout() {
    let app = spawn_app().await;
    let tea = app.product("10.00", 5).await;
    let cart = app.cart_with(ADA, &tea, 1).await;
    let first = app
        .checkout(ADA, &cart, checkout_card(CARD_OK), Some("key-1"))
        .await;
    let again = app
        .checkout(ADA, &cart, checkout_card(CARD_OK), Some("key-1"))
        .await;
    assert_eq!(first.ok(201)["id"], again.ok(200)["id"]);
    assert_eq!(app.stock(&tea).await, 4);
    let mut other = checkout_card(CARD_OK);
    other["email"] = json!("someone@example.com");
    app.checkout(ADA, &cart, other, Some("key-1"))
        .await
        .problem(409, "idempotency_mismatch");
    let cart2 = app.cart_with(ADA, &tea, 1).await;
    app.checkout(ADA, &cart2, checkout_card(CARD_OK), Some(&"k".repeat(256)))
        .await
        .fields(&["Idempotency-Key"]);
    app.checkout(ADA, &cart2, checkout_card(CARD_OK), Some(&"k".repeat(255)))
        .await
        .ok(201);
}

#[tokio::test]
async fn an_add_past_the_stock_is_accepted_and_checkout_names_the_product() {
    // API.md's contract: an add answers 200 whatever the stock; the stock
    // is decided at checkout, all or nothing (the storefront's pages check
    // it at once through `Orders::add_to_cart_within_stock`).
    let app = spawn_app().await;
    let scarce = app.product("10.00", 2).await;
    let cart = app.cart_with(ADA, &scarce, 2).await;
    let added = app
        .post(
            &format!("/api/carts/{cart}/items"),
            ADA,
            json!({"product_id": scarce.id().as_str(), "quantity": 1}),
        )
        .await;
    assert_eq!(added.ok(200)["lines"][0]["quantity"], 3);
    let refused = app.checkout(ADA, &cart, checkout_cash(), None).await;
    assert_eq!(
        refused.problem(409, "insufficient_stock")["product_ids"],
        json!([scarce.id().as_str()])
    );
    assert_eq!(
        app.get(&format!("/api/carts/{cart}"), Some(ADA))
            .await
            .ok(200)["lines"][0]["quantity"],
        3
    );
}

#[tokio::test]
async fn stock_empty_carts_and_changed_prices() {
    let app = spawn_app().await;
    let scarce = app.product("10.00", 1).await;
    let a = app.cart_with(ADA, &scarce, 1).await;
    let b = app.cart_with(BOB, &scarce, 1).await;
    app.checkout(ADA, &a, checkout_cash(), None).await.ok(201);
    let short = app.checkout(BOB, &b, checkout_cash(), None).await;
    assert_eq!(
        short.problem(409, "insufficient_stock")["product_ids"],
        json!([scarce.id().as_str()])
    );

    let empty = app.cart(ADA).await;
    app.checkout(ADA, &empty, checkout_cash(), None)
        .await
        .problem(409, "cart_empty");

    let tea = app.product("10.00", 5).await;
    let cart = app.cart_with(ADA, &tea, 1).await;
    let mut body = checkout_cash();
    body["expected_total"] = json!("1.00");
    let changed = app.checkout(ADA, &cart, body, None).await;
    assert_eq!(changed.problem(409, "price_changed")["total"], "14.99");
    assert_eq!(app.stock(&tea).await, 5);
}

// ------------------------------------------------------------------- orders

#[tokio::test]
async fn customer_orders() {
    let app = spawn_app().await;
    let order = app.order(ADA, true).await;
    let id = order["id"].as_str().unwrap();
    let pending = app.order(ADA, false).await;

    let list = app.get("/api/orders", Some(ADA)).await;
    let items = list.ok(200)["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], pending["id"], "newest first");
    let paid = app.get("/api/orders?status=paid", Some(ADA)).await;
    assert_eq!(paid.ok(200)["items"].as_array().unwrap().len(), 1);
    app.get("/api/orders?status=lost", Some(ADA))
        .await
        .fields(&["status"]);
    assert_eq!(
        app.get("/api/orders", Some(BOB)).await.ok(200)["items"],
        json!([])
    );

    let one = app.get(&format!("/api/orders/{id}"), Some(ADA)).await;
    assert_eq!(one.ok(200)["id"], id);
    for key in [
        "number",
        "status",
        "currency",
        "email",
        "lines",
        "subtotal",
        "discount_total",
        "shipping_total",
        "tax_total",
        "total",
        "shipping_address",
        "shipping_method",
        "payment",
        "tracking_number",
        "created_at",
        "updated_at",
        "version",
    ] {
        assert!(one.body.get(key).is_some(), "{key}");
    }
    let events = app
        .get(&format!("/api/orders/{id}/events"), Some(ADA))
        .await;
    let events = events.ok(200)["items"].as_array().unwrap();
    // The placement, then the capture (its payment in `data`).
    assert_eq!(events.len(), 2);
    assert!(events[0]["from"].is_null());
    assert_eq!(events[0]["to"], "paid");
    assert_eq!(events[0]["type"], "status_changed");
    assert_eq!(events[1]["type"], "payment_updated");
    assert_eq!(
        (&events[1]["from"], &events[1]["to"]),
        (&json!("paid"), &json!("paid"))
    );
    assert_eq!(events[1]["data"]["status"], "captured");

    // Not yours: exactly like a missing one.
    let missing = app.get("/api/orders/no-such-order", Some(BOB)).await;
    let theirs = app.get(&format!("/api/orders/{id}"), Some(BOB)).await;
    theirs.problem(404, "not_found");
    assert_eq!(missing.body, theirs.body);
    app.get(&format!("/api/orders/{id}/events"), Some(BOB))
        .await
        .problem(404, "not_found");
    app.send(
        Method::POST,
        &format!("/api/orders/{id}/cancel"),
        Some(BOB),
        None,
    )
    .await
    .problem(404, "not_found");
    // Staff may read anyone's order on these routes.
    app.get(&format!("/api/orders/{id}"), Some(STAFF))
        .await
        .ok(200);

    let cancelled = app
        .send(
            Method::POST,
            &format!("/api/orders/{id}/cancel"),
            Some(ADA),
            None,
        )
        .await;
    assert_eq!(cancelled.ok(200)["status"], "cancelled");
    app.post(
        &format!("/api/orders/{id}/cancel"),
        ADA,
        json!({"note": "again"}),
    )
    .await
    .problem(409, "invalid_transition");
    let pending_id = pending["id"].as_str().unwrap();
    let with_note = app
        .post(
            &format!("/api/orders/{pending_id}/cancel"),
            ADA,
            json!({"note": "changed my mind"}),
        )
        .await;
    assert_eq!(with_note.ok(200)["status"], "cancelled");
}

#[tokio::test]
async fn admin_orders_and_transitions() {
    let app = spawn_app().await;
    let order = app.order(ADA, true).await;
    let id = order["id"].as_str().unwrap();
    app.order(BOB, false).await;

    let all = app.get("/api/admin/orders", Some(STAFF)).await;
    assert_eq!(all.ok(200)["items"].as_array().unwrap().len(), 2);
    let paid = app.get("/api/admin/orders?status=paid", Some(STAFF)).await;
    assert_eq!(paid.ok(200)["items"].as_array().unwrap().len(), 1);
    let by_email = app
        .get("/api/admin/orders?email=ADA@example.com", Some(STAFF))
        .await;
    assert_eq!(by_email.ok(200)["items"].as_array().unwrap().len(), 2);
    let number = order["number"].as_str().unwrap();
    let by_number = app
        .get(&format!("/api/admin/orders?q={number}"), Some(STAFF))
        .await;
    assert_eq!(by_number.ok(200)["items"][0]["id"], id);
    app.get("/api/admin/orders?status=nope&limit=500", Some(STAFF))
        .await
        .fields(&["status", "limit"]);
    app.get(&format!("/api/admin/orders/{id}"), Some(STAFF))
        .await
        .ok(200);
    app.get("/api/admin/orders/unknown", Some(STAFF))
        .await
        .problem(404, "not_found");

    let transition = format!("/api/admin/orders/{id}/transition");
    let processing = app
        .post(&transition, STAFF, json!({"to": "processing"}))
        .await;
    assert_eq!(processing.ok(200)["status"], "processing");
    app.post(&transition, STAFF, json!({"to": "shipped"}))
        .await
        .fields(&["tracking_number"]);
    app.post(&transition, STAFF, json!({"to": "teleported"}))
        .await
        .fields(&["to"]);
    app.post(&transition, STAFF, json!({"to": 3}))
        .await
        .fields(&["to"]);
    let shipped = app
        .post(
            &transition,
            STAFF,
            json!({"to": "shipped", "tracking_number": "1Z999", "note": "on its way"}),
        )
        .await;
    let shipped = shipped.ok(200);
    assert_eq!(shipped["status"], "shipped");
    assert_eq!(shipped["tracking_number"], "1Z999");
    app.post(&transition, STAFF, json!({"to": "paid"}))
        .await
        .problem(409, "invalid_transition");
    let events = app
        .get(&format!("/api/admin/orders/{id}/events"), Some(STAFF))
        .await;
    let events = events.ok(200)["items"].as_array().unwrap();
    // Placed, captured, processing, shipped.
    assert_eq!(events.len(), 4);
    assert!(events[2]["id"].as_str() < events[3]["id"].as_str());
    assert_eq!(events[3]["actor"], "staff:staff");
    assert_eq!(events[3]["note"], "on its way");
}

// ------------------------------------------------------------------ OpenAPI

/// Every route of API.md but `/api/auth/*` (the host's), with its method.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/health"),
    ("get", "/api/openapi.json"),
    ("get", "/api/products"),
    ("get", "/api/products/{id}"),
    ("post", "/api/carts"),
    ("get", "/api/carts/{id}"),
    ("post", "/api/carts/{id}/items"),
    ("patch", "/api/carts/{id}/items/{product_id}"),
    ("delete", "/api/carts/{id}/items/{product_id}"),
    ("post", "/api/carts/{id}/discount"),
    ("delete", "/api/carts/{id}/discount"),
    ("post", "/api/carts/{id}/checkout"),
    ("get", "/api/orders"),
    ("get", "/api/orders/{id}"),
    ("get", "/api/orders/{id}/events"),
    ("post", "/api/orders/{id}/cancel"),
    ("get", "/api/orders/{id}/track"),
    ("post", "/api/admin/products"),
    ("patch", "/api/admin/products/{id}"),
    ("get", "/api/admin/orders"),
    ("get", "/api/admin/orders/{id}"),
    ("post", "/api/admin/orders/{id}/transition"),
    ("post", "/api/admin/discounts"),
    ("get", "/api/admin/stream"),
];

#[tokio::test]
async fn openapi_lists_every_route() {
    let app = spawn_app().await;
    let doc = app.get("/api/openapi.json", None).await;
    assert!(doc.content_type().starts_with("application/json"));
    let doc = doc.ok(200);
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path) in ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    // The host's merged paths are there too, under the mount path.
    assert!(doc["paths"]["/api/auth/login"]["post"].is_object());
    // Every documented path answers something other than 404-no-route.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if !["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                continue;
            }
            let concrete = path.replace("{id}", "x").replace("{product_id}", "y");
            let response = app
                .send(
                    method.to_uppercase().parse().unwrap(),
                    &concrete,
                    None,
                    None,
                )
                .await;
            assert_ne!(response.body["detail"], "no such route", "{method} {path}");
            assert_ne!(response.status.as_u16(), 405, "{method} {path}");
        }
    }
}

/// What a mainstream client generator needs of the document: one
/// operationId per operation (they become method names), and a request
/// body marked required only where the route refuses a request without one.
#[tokio::test]
async fn operation_ids_are_unique_and_optional_bodies_are_optional() {
    let app = spawn_app().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let mut seen = std::collections::HashMap::new();
    let mut bodies = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            if let Some(earlier) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} on {earlier} and {method} {path}");
            }
            if operation["requestBody"].is_object() {
                let required = operation["requestBody"]["required"] == true;
                bodies.push((method.clone(), path.clone(), required));
            }
        }
    }
    assert!(seen.len() >= ROUTES.len(), "{} operations", seen.len());
    for (method, path, required) in bodies {
        // Send no body at all: a route that takes that must not say the
        // body is required, and one that refuses it must.
        let concrete = path.replace("{id}", "x").replace("{product_id}", "y");
        let token = if path.starts_with("/api/admin") {
            STAFF
        } else {
            ADA
        };
        let response = app
            .send(
                method.to_uppercase().parse().unwrap(),
                &concrete,
                Some(token),
                None,
            )
            .await;
        let refused_for_its_body = matches!(response.status.as_u16(), 400 | 415 | 422);
        if !required {
            assert!(
                !refused_for_its_body,
                "{method} {path}: optional body, but an empty request answered {} {}",
                response.status, response.body
            );
        }
    }
    // An optional body is "this object, or none": not required, and not
    // `oneOf [object, null]` (which generated clients cannot leave out).
    for (path, what) in [
        ("/api/orders/{id}/cancel", "cancel's note"),
        ("/api/carts", "a cart's currency"),
    ] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert_ne!(body["required"], true, "{what} is optional: {body}");
        let schema = &body["content"]["application/json"]["schema"];
        assert!(schema["$ref"].is_string(), "{what}: {schema}");
    }
}

#[tokio::test]
async fn responses_match_their_schemas() {
    let app = spawn_app().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let check = |method: &str, path: &str, status: u16, value: &Value| {
        assert_documented(&doc, method, path, status, value);
    };

    app.post(
        "/api/admin/discounts",
        STAFF,
        json!({"code": "TEN", "kind": "fixed", "value": "1", "min_subtotal": "2", "max_uses": 5,
               "expires_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let product = app
        .post(
            "/api/admin/products",
            STAFF,
            json!({"sku": "S-1", "name": "Tea", "description": "Black", "price": "3.00", "currency": "USD", "stock": 9}),
        )
        .await;
    check("post", "/api/admin/products", 201, product.ok(201));
    let product_id = product.body["id"].as_str().unwrap().to_owned();
    let products = app.get("/api/products", None).await;
    check("get", "/api/products", 200, products.ok(200));
    let discounts = app.get("/api/admin/discounts", Some(STAFF)).await;
    check("get", "/api/admin/discounts", 200, discounts.ok(200));

    let cart = app.cart(ADA).await;
    app.post(
        &format!("/api/carts/{cart}/items"),
        ADA,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await;
    let priced = app
        .post(
            &format!("/api/carts/{cart}/discount"),
            ADA,
            json!({"code": "TEN"}),
        )
        .await;
    check("post", "/api/carts/{id}/discount", 200, priced.ok(200));
    let mut body = checkout_card(CARD_OK);
    body["shipping_address"]["line2"] = json!("Flat 2");
    body["shipping_address"]["region"] = json!("IL");
    body["shipping_address"]["phone"] = json!("+1 555 0100");
    let order = app.checkout(ADA, &cart, body, None).await;
    check("post", "/api/carts/{id}/checkout", 201, order.ok(201));
    let id = order.body["id"].as_str().unwrap().to_owned();
    let shipped = app
        .post(
            &format!("/api/admin/orders/{id}/transition"),
            STAFF,
            json!({"to": "processing", "note": "packing"}),
        )
        .await;
    check(
        "post",
        "/api/admin/orders/{id}/transition",
        200,
        shipped.ok(200),
    );
    let events = app
        .get(&format!("/api/orders/{id}/events"), Some(ADA))
        .await;
    check("get", "/api/orders/{id}/events", 200, events.ok(200));
    let orders = app.get("/api/orders", Some(ADA)).await;
    check("get", "/api/orders", 200, orders.ok(200));
    let health = app.get("/api/health", None).await;
    check("get", "/api/health", 200, health.ok(200));

    // Problems, with field errors and extensions.
    let invalid = app.checkout(ADA, &cart, json!({}), None).await;
    check("post", "/api/carts/{id}/checkout", 422, &invalid.body);
    let closed = app.checkout(ADA, &cart, checkout_cash(), None).await;
    check("post", "/api/carts/{id}/checkout", 409, &closed.body);
    let unauthorized = app.get("/api/orders", None).await;
    check("get", "/api/orders", 401, &unauthorized.body);
}

#[tokio::test]
async fn a_101st_line_is_cart_full() {
    let app = spawn_app().await;
    let cart = app.cart(ADA).await;
    let items = format!("/api/carts/{cart}/items");
    for _ in 0..100 {
        let product = app.product("1.00", 1).await;
        app.post(
            &items,
            ADA,
            json!({"product_id": product.id().as_str(), "quantity": 1}),
        )
        .await
        .ok(200);
    }
    let one_more = app.product("1.00", 1).await;
    let full = app
        .post(
            &items,
            ADA,
            json!({"product_id": one_more.id().as_str(), "quantity": 1}),
        )
        .await;
    full.problem(422, "cart_full");
    full.fields(&["product_id"]);
}

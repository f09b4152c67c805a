//! `PATCH /api/admin/products/{id}` and versions: a stale edit is a 409
//! `stale` carrying the product as stored, documented as such; an absolute
//! stock needs a version; adjustments need none. (The whole sequence, on
//! SQLite and PostgreSQL through the real binary, is
//! `examples/server/tests/stale_writes.rs`.)

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn stale_edits_are_refused_with_the_current_product() {
    let app = spawn_app().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let product = app.product("4.00", 10).await;
    let path = format!("/api/admin/products/{}", product.id());
    let opened = app.get(&path, Some(STAFF)).await.ok(200).clone();
    assert_eq!(opened["version"], 1);
    assert_documented(&doc, "get", "/api/admin/products/{id}", 200, &opened);

    let cart = app.cart_with(ADA, &product, 3).await;
    app.checkout(ADA, &cart, checkout_cash(), None)
        .await
        .ok(201);

    let stale = app
        .patch(
            &path,
            STAFF,
            json!({"name": "Renamed", "stock": 10, "version": 1}),
        )
        .await;
    let body = stale.problem(409, "stale");
    assert_documented(&doc, "patch", "/api/admin/products/{id}", 409, body);
    assert_eq!(body["current"]["stock"], 7);
    assert_eq!(body["current"]["version"], 2, "the sale moved it on");
    assert_eq!(app.stock(&product).await, 7);

    let fresh = app
        .patch(&path, STAFF, json!({"name": "Renamed", "version": 2}))
        .await;
    assert_documented(
        &doc,
        "patch",
        "/api/admin/products/{id}",
        200,
        fresh.ok(200),
    );
    assert_eq!(
        (&fresh.body["stock"], &fresh.body["version"]),
        (&json!(7), &json!(3))
    );
}

#[tokio::test]
async fn absolute_stock_needs_a_version_and_adjustments_do_not() {
    let app = spawn_app().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let product = app.product("4.00", 10).await;
    let path = format!("/api/admin/products/{}", product.id());

    let missing = app.patch(&path, STAFF, json!({"stock": 3})).await;
    missing.fields(&["version"]);
    assert_documented(
        &doc,
        "patch",
        "/api/admin/products/{id}",
        422,
        &missing.body,
    );
    // Every bad field at once, the version rule among them.
    app.patch(
        &path,
        STAFF,
        json!({"stock": 3, "name": " ", "stock_adjustment": 1}),
    )
    .await
    .fields(&["version", "name", "stock_adjustment"]);
    app.patch(&path, STAFF, json!({"stock_adjustment": "+5"}))
        .await
        .fields(&["stock_adjustment"]);
    assert_eq!(app.stock(&product).await, 10, "nothing changed");

    let plus = app
        .patch(&path, STAFF, json!({"stock_adjustment": 5}))
        .await;
    assert_eq!(plus.ok(200)["stock"], 15);
    let minus = app
        .patch(&path, STAFF, json!({"stock_adjustment": -16}))
        .await;
    minus.fields(&["stock_adjustment"]);
    let message = minus.body["errors"]["stock_adjustment"][0]
        .as_str()
        .unwrap();
    assert!(message.contains("15 in stock"), "{message}");
    let counted = app
        .patch(
            &path,
            STAFF,
            json!({"stock": 4, "version": plus.body["version"]}),
        )
        .await;
    assert_eq!(counted.ok(200)["stock"], 4);
    // A version, when sent, is checked whatever else the edit does.
    let stale: Value = app
        .patch(&path, STAFF, json!({"stock_adjustment": 1, "version": 1}))
        .await
        .problem(409, "stale")
        .clone();
    assert_eq!(stale["current"]["stock"], 4);
}

//! Hostile input over the real router on a real port: bodies over the
//! limit, deep nesting, megabyte strings, control and direction-changing
//! characters, numbers at and past every bound, and every field of the
//! checkout body with the wrong JSON type. Each gets a clear 4xx (never a
//! 500), and nothing is written: stock, the cart (lines and version) and the
//! order list are as they were.

mod common;

use std::io::{Read, Write};

use common::*;
use orders_core::catalogue::Product;
use serde_json::{Value, json};

/// What a refused request must leave untouched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    stock: u32,
    cart: Value,
    orders: Value,
    products: usize,
}

async fn snapshot(app: &App, product: &Product, cart: &str) -> Snapshot {
    let cart = app.get(&format!("/api/carts/{cart}"), Some(ADA)).await;
    let orders = app.get("/api/admin/orders", Some(STAFF)).await;
    let mut products = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            Some(c) => format!("/api/products?limit=100&cursor={c}"),
            None => "/api/products?limit=100".to_owned(),
        };
        let page = app.get(&path, None).await;
        products += page.ok(200)["items"].as_array().unwrap().len();
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Snapshot {
        stock: app.stock(product).await,
        cart: cart.ok(200).clone(),
        orders: orders.ok(200)["items"].clone(),
        products,
    }
}

/// A 4xx problem document, never a 500.
#[track_caller]
fn client_error(resp: &Resp) {
    assert!(
        resp.status.is_client_error(),
        "expected a 4xx, got {}: {:#}",
        resp.status,
        resp.body
    );
    assert_eq!(resp.content_type(), "application/problem+json");
}

fn checkout_path(cart: &str) -> String {
    format!("/api/carts/{cart}/checkout")
}

/// Sends `body` with chunked transfer encoding (no `Content-Length`) on a
/// plain socket and returns the status code.
fn chunked_post(addr: std::net::SocketAddr, path: &str, token: &str, body: &[u8]) -> u16 {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer 413 and close before it has read everything.
    for chunk in body.chunks(8192) {
        let framed = [
            format!("{:x}\r\n", chunk.len()).as_bytes(),
            chunk,
            b"\r\n".as_slice(),
        ]
        .concat();
        if stream.write_all(&framed).is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_write_nothing() {
    let app = spawn_app().await;
    let product = app.product("10.00", 50).await;
    let cart = app.cart_with(ADA, &product, 1).await;
    let before = snapshot(&app, &product, &cart).await;

    let mut body = checkout_cash();
    body["shipping_address"]["full_name"] = "A".repeat(65 * 1024).into();
    let bytes = serde_json::to_vec(&body).unwrap();
    app.raw(
        &checkout_path(&cart),
        ADA,
        Some("application/json"),
        bytes.clone(),
    )
    .await
    .problem(413, "payload_too_large");
    // Without a Content-Length, the limit holds as the body streams in.
    let addr = app.addr;
    let path = checkout_path(&cart);
    let status = tokio::task::spawn_blocking(move || chunked_post(addr, &path, ADA, &bytes))
        .await
        .unwrap();
    assert_eq!(status, 413);
    // An admin body too.
    let product_body = json!({"sku": "BIG", "name": "x".repeat(70 * 1024), "price": "1.00",
                              "currency": "USD", "stock": 1});
    app.raw(
        "/api/admin/products",
        STAFF,
        Some("application/json"),
        serde_json::to_vec(&product_body).unwrap(),
    )
    .await
    .problem(413, "payload_too_large");
    // Just under the limit is parsed (and refused for its content, not its size).
    let mut body = checkout_cash();
    body["shipping_address"]["full_name"] = "A".repeat(60 * 1024).into();
    app.checkout(ADA, &cart, body, None)
        .await
        .fields(&["shipping_address.full_name"]);

    assert_eq!(snapshot(&app, &product, &cart).await, before);
}

#[tokio::test]
async fn deep_nesting_is_400_and_the_server_survives() {
    let app = spawn_app().await;
    let product = app.product("10.00", 50).await;
    let cart = app.cart_with(ADA, &product, 1).await;
    let before = snapshot(&app, &product, &cart).await;
    let arrays = "[".repeat(10_000);
    let objects = "{\"a\":".repeat(10_000);
    let in_a_field = format!("{{\"email\": {}", "[".repeat(20_000));
    let closed = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let targets = [
        checkout_path(&cart),
        format!("/api/carts/{cart}/items"),
        "/api/carts".to_owned(),
        "/api/admin/products".to_owned(),
    ];
    for body in [&arrays, &objects, &in_a_field, &closed] {
        for path in &targets {
            let token = if path.contains("admin") { STAFF } else { ADA };
            let resp = app
                .raw(
                    path,
                    token,
                    Some("application/json"),
                    body.clone().into_bytes(),
                )
                .await;
            resp.problem(400, "bad_request");
        }
    }
    // Still serving.
    app.get("/api/health", None).await.ok(200);
    assert_eq!(snapshot(&app, &product, &cart).await, before);
}

#[tokio::test]
async fn megabyte_strings_are_422_on_their_field() {
    let app = spawn_with(|api| api.body_limit(8 * 1024 * 1024)).await;
    let product = app.product("10.00", 50).await;
    let cart = app.cart_with(ADA, &product, 1).await;
    let before = snapshot(&app, &product, &cart).await;
    let mega = "é".repeat(512 * 1024); // 1 MiB of UTF-8
    for path in [
        "email",
        "shipping_address.full_name",
        "shipping_address.line1",
        "shipping_address.line2",
        "shipping_address.city",
        "shipping_address.region",
        "shipping_address.postal_code",
        "shipping_address.phone",
        "shipping_method",
        "payment.card.number",
        "payment.card.cvc",
        "payment.card.holder",
        "expected_total",
    ] {
        let mut body = checkout_card(CARD_OK);
        set(&mut body, path, mega.clone().into());
        let resp = app.checkout(ADA, &cart, body, None).await;
        resp.fields(&[path]);
        assert!(
            resp.body.to_string().len() < 4096,
            "{path}: the value is echoed back"
        );
    }
    // Elsewhere: a product id, a discount code, a currency, an admin name.
    app.post(
        &format!("/api/carts/{cart}/items"),
        ADA,
        json!({"product_id": mega, "quantity": 1}),
    )
    .await
    .fields(&["product_id"]);
    app.post(
        &format!("/api/carts/{cart}/discount"),
        ADA,
        json!({"code": mega}),
    )
    .await
    .fields(&["code"]);
    app.post("/api/carts", ADA, json!({"currency": mega}))
        .await
        .fields(&["currency"]);
    app.post(
        "/api/admin/products",
        STAFF,
        json!({"sku": "MEGA-1", "name": mega, "price": "1.00", "currency": "USD", "stock": 1}),
    )
    .await
    .fields(&["name"]);
    // A megabyte idempotency key is 422 on the header (or refused by the
    // HTTP layer as too large a header), never a 500.
    let resp = app
        .checkout(ADA, &cart, checkout_cash(), Some(&"k".repeat(1024 * 1024)))
        .await;
    assert!(resp.status.is_client_error(), "{}", resp.status);
    assert_eq!(snapshot(&app, &product, &cart).await, before);
}

fn set(body: &mut Value, path: &str, value: Value) {
    let mut target = body;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            target[key] = value;
            return;
        }
        target = &mut target[key];
    }
}

#[tokio::test]
async fn control_and_bidi_characters_are_422_and_other_scripts_round_trip() {
    let app = spawn_app().await;
    let product = app.product("10.00", 50).await;
    let cart = app.cart_with(ADA, &product, 1).await;
    let before = snapshot(&app, &product, &cart).await;
    let text_fields = [
        "shipping_address.full_name",
        "shipping_address.line1",
        "shipping_address.line2",
        "shipping_address.city",
        "shipping_address.region",
        "payment.card.holder",
    ];
    for bad in [
        "Ada\u{0}Lovelace",
        "Ada\nLovelace",
        "Ada\rLovelace",
        "Ada\u{1b}[31m",
        "Ada\u{7f}",
        "Ada\u{85}Lovelace", // NEL: whitespace to `trim`, so only mid-text
        "\u{202E}ecalevoL adA",
        "Ada\u{202D}",
        "Ada\u{2066}x\u{2069}",
    ] {
        for path in text_fields {
            let mut body = checkout_card(CARD_OK);
            set(&mut body, path, bad.into());
            app.checkout(ADA, &cart, body, None).await.fields(&[path]);
        }
        let mut body = checkout_card(CARD_OK);
        body["email"] = format!("ada{bad}@example.com").into();
        app.checkout(ADA, &cart, body, None)
            .await
            .fields(&["email"]);
    }
    assert_eq!(snapshot(&app, &product, &cart).await, before);

    // The direction marks keyboards insert are refused in an email only.
    for mark in ["\u{200F}", "\u{061C}", "\u{200E}"] {
        let mut body = checkout_card(CARD_OK);
        body["email"] = format!("ada{mark}@example.com").into();
        app.checkout(ADA, &cart, body, None)
            .await
            .fields(&["email"]);
    }
    assert_eq!(snapshot(&app, &product, &cart).await, before);

    // Right-to-left scripts are names like any other, kept exactly, with
    // the direction marks, joiners and combining marks people type.
    let mut body = checkout_cash();
    body["shipping_address"]["full_name"] = "עדה לאבלייס\u{200F}".into();
    body["shipping_address"]["line1"] = "شارع\u{061C} 12".into();
    body["shipping_address"]["line2"] = "می\u{200C}خواهم 👩\u{200D}💻 e\u{301}".into();
    body["shipping_address"]["city"] = "Zoë Żółć 日本".into();
    let order = app.checkout(ADA, &cart, body, None).await;
    let order = order.ok(201);
    let id = order["id"].as_str().unwrap();
    let stored = app.get(&format!("/api/orders/{id}"), Some(ADA)).await;
    let address = &stored.ok(200)["shipping_address"];
    assert_eq!(address["full_name"], "עדה לאבלייס\u{200F}");
    assert_eq!(address["line1"], "شارع\u{061C} 12");
    assert_eq!(address["line2"], "می\u{200C}خواهم 👩\u{200D}💻 e\u{301}");
    assert_eq!(address["city"], "Zoë Żółć 日本");
}

#[tokio::test]
async fn quantities_at_and_past_every_bound() {
    let app = spawn_app().await;
    let product = app.product("1.00", 5000).await;
    let cart = app.cart(ADA).await;
    let items = format!("/api/carts/{cart}/items");
    let line = format!("/api/carts/{cart}/items/{}", product.id().as_str());
    let before = snapshot(&app, &product, &cart).await;
    let refused = [
        json!(0),
        json!(-1),
        json!(1000),
        json!(u32::MAX),
        json!(9_007_199_254_740_992_u64), // 2^53
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5),
        json!("2"),
        json!(true),
        json!([]),
        json!({}),
        Value::Null,
    ];
    for quantity in &refused {
        let resp = app
            .post(
                &items,
                ADA,
                json!({"product_id": product.id().as_str(), "quantity": quantity}),
            )
            .await;
        resp.fields(&["quantity"]);
    }
    // Exponent notation on the wire is a number: past the bound, or with a
    // fraction part, it is refused.
    for raw in ["1e3", "2e-1"] {
        let body = format!(
            r#"{{"product_id": "{}", "quantity": {raw}}}"#,
            product.id().as_str()
        );
        app.raw(&items, ADA, Some("application/json"), body.into_bytes())
            .await
            .fields(&["quantity"]);
    }
    assert_eq!(snapshot(&app, &product, &cart).await, before);

    // 1 and 999 are the bounds that are accepted; 999 + 1 is past the bound.
    let cart_body = app
        .post(
            &items,
            ADA,
            json!({"product_id": product.id().as_str(), "quantity": 999}),
        )
        .await;
    assert_eq!(cart_body.ok(200)["lines"][0]["quantity"], 999);
    let full = snapshot(&app, &product, &cart).await;
    app.post(
        &items,
        ADA,
        json!({"product_id": product.id().as_str(), "quantity": 1}),
    )
    .await
    .fields(&["quantity"]);
    for quantity in refused.iter().filter(|q| **q != json!(0)) {
        app.patch(&line, ADA, json!({"quantity": quantity}))
            .await
            .fields(&["quantity"]);
    }
    assert_eq!(snapshot(&app, &product, &cart).await, full);
    let one = app.patch(&line, ADA, json!({"quantity": 1})).await;
    assert_eq!(one.ok(200)["lines"][0]["quantity"], 1);
    // A number with no fraction is that integer, as JSON Schema counts
    // integers (the document says `integer`): 2.0 is 2, and 1E0 adds 1.
    let two = app.patch(&line, ADA, json!({"quantity": 2.0})).await;
    assert_eq!(two.ok(200)["lines"][0]["quantity"], 2);
    let body = format!(
        r#"{{"product_id": "{}", "quantity": 1E0}}"#,
        product.id().as_str()
    );
    let three = app
        .raw(&items, ADA, Some("application/json"), body.into_bytes())
        .await;
    assert_eq!(three.ok(200)["lines"][0]["quantity"], 3);
    let removed = app.patch(&line, ADA, json!({"quantity": 0})).await;
    assert_eq!(removed.ok(200)["lines"], json!([]));
}

#[tokio::test]
async fn prices_and_stock_at_and_past_every_bound() {
    let app = spawn_app().await;
    let product = app.product("10.00", 50).await;
    let cart = app.cart_with(ADA, &product, 1).await;
    let before = snapshot(&app, &product, &cart).await;
    let create = |sku: &str, price: Value, stock: Value| json!({"sku": sku, "name": "Bound", "price": price, "currency": "USD", "stock": stock});
    for (i, price) in [
        json!("-0.01"),
        json!("-1"),
        json!("1e3"),
        json!("1E3"),
        json!("1.999"),
        json!("1000000000000.01"),
        json!("99999999999999999999999999999999"),
        json!("NaN"),
        json!("Infinity"),
        json!(""),
        json!(" 1.00"),
        json!("+1"),
        json!("1,00"),
        json!("0x10"),
        json!(1000),
        json!(12.5),
        json!(true),
        json!([]),
        Value::Null,
    ]
    .into_iter()
    .enumerate()
    {
        app.post(
            "/api/admin/products",
            STAFF,
            create(&format!("P-{i}"), price, json!(1)),
        )
        .await
        .fields(&["price"]);
    }
    for (i, stock) in [
        json!(-1),
        json!(i64::MIN),
        json!(u64::from(u32::MAX) + 1),
        json!(9_007_199_254_740_992_u64),
        json!(u64::MAX),
        json!(1.5),
        json!("5"),
        Value::Null,
    ]
    .into_iter()
    .enumerate()
    {
        app.post(
            "/api/admin/products",
            STAFF,
            create(&format!("S-{i}"), json!("1.00"), stock),
        )
        .await
        .fields(&["stock"]);
    }
    // Exponent notation for a price sent as a raw JSON number.
    let raw = r#"{"sku": "RAW-1", "name": "Raw", "price": 1e3, "currency": "USD", "stock": 1}"#;
    app.raw(
        "/api/admin/products",
        STAFF,
        Some("application/json"),
        raw.into(),
    )
    .await
    .fields(&["price"]);
    // A patch past a bound changes nothing.
    let patch = format!("/api/admin/products/{}", product.id().as_str());
    for body in [
        json!({"price": "-1"}),
        json!({"price": "1e3"}),
        json!({"stock": -1}),
        json!({"stock": u64::from(u32::MAX) + 1}),
        json!({"price": 5}),
    ] {
        client_error(&app.patch(&patch, STAFF, body).await);
    }
    // The expected total is money too.
    for total in [json!("1e3"), json!(42.5), json!("-1"), json!("abc")] {
        let mut body = checkout_cash();
        body["expected_total"] = total;
        app.checkout(ADA, &cart, body, None)
            .await
            .fields(&["expected_total"]);
    }
    assert_eq!(snapshot(&app, &product, &cart).await, before);
    let patched = app
        .get(&format!("/api/products/{}", product.id().as_str()), None)
        .await;
    assert_eq!(patched.ok(200)["price"], "10.00");
    assert_eq!(patched.body["stock"], 50);

    // The accepted bounds: zero, a cent, a trillion; stock 0 and u32::MAX.
    for (sku, price, shown, stock) in [
        ("B-0", "0", "0.00", 0_u64),
        ("B-1", "0.01", "0.01", 1),
        (
            "B-2",
            "1000000000000",
            "1000000000000.00",
            u64::from(u32::MAX),
        ),
    ] {
        let created = app
            .post(
                "/api/admin/products",
                STAFF,
                create(sku, json!(price), json!(stock)),
            )
            .await;
        let created = created.ok(201);
        assert_eq!(created["stock"], stock);
        assert_eq!(created["price"], shown);
    }
}

/// The JSON types every checkout field must not have, by declared type.
fn wrong_values(kind: &str) -> Vec<Value> {
    let mut values = vec![json!(true), json!([]), json!([1])];
    if kind != "string" {
        values.push(json!("12"));
    }
    if kind != "object" {
        values.push(json!({}));
    }
    if kind != "integer" {
        values.push(json!(5));
    }
    if kind == "integer" {
        values.push(json!(12.5));
    }
    values
}

#[tokio::test]
async fn every_checkout_field_with_the_wrong_type_is_422_and_writes_nothing() {
    let app = spawn_app().await;
    let product = app.product("10.00", 50).await;
    let cart = app.cart_with(ADA, &product, 2).await;
    let before = snapshot(&app, &product, &cart).await;
    let fields = [
        ("email", "string"),
        ("shipping_address", "object"),
        ("shipping_address.full_name", "string"),
        ("shipping_address.line1", "string"),
        ("shipping_address.line2", "string"),
        ("shipping_address.city", "string"),
        ("shipping_address.region", "string"),
        ("shipping_address.postal_code", "string"),
        ("shipping_address.country", "string"),
        ("shipping_address.phone", "string"),
        ("shipping_method", "string"),
        ("payment", "object"),
        ("payment.method", "string"),
        ("payment.card", "object"),
        ("payment.card.number", "string"),
        ("payment.card.exp_month", "integer"),
        ("payment.card.exp_year", "integer"),
        ("payment.card.cvc", "string"),
        ("payment.card.holder", "string"),
        ("expected_total", "string"),
    ];
    let mut cases = 0;
    for (path, kind) in fields {
        for value in wrong_values(kind) {
            let mut body = checkout_card(CARD_OK);
            set(&mut body, path, value.clone());
            let key = format!("wrong-{cases}");
            let resp = app.checkout(ADA, &cart, body, Some(&key)).await;
            assert_eq!(
                resp.status.as_u16(),
                422,
                "{path} = {value}: {:#}",
                resp.body
            );
            resp.fields(&[path]);
            cases += 1;
        }
    }
    // Integer fields at their bounds.
    for value in [
        json!(u64::MAX),
        json!(i64::MIN),
        json!(9_007_199_254_740_993_u64),
    ] {
        for path in ["payment.card.exp_month", "payment.card.exp_year"] {
            let mut body = checkout_card(CARD_OK);
            set(&mut body, path, value.clone());
            client_error(&app.checkout(ADA, &cart, body, None).await);
            cases += 1;
        }
    }
    // Not an object at all: 400.
    for raw in ["[]", "null", "\"checkout\"", "42", "true"] {
        app.raw(
            &checkout_path(&cart),
            ADA,
            Some("application/json"),
            raw.into(),
        )
        .await
        .problem(400, "bad_request");
        cases += 1;
    }
    assert!(cases > 100, "{cases}");
    assert_eq!(snapshot(&app, &product, &cart).await, before);
    // The cart is still open and checks out normally afterwards.
    app.checkout(ADA, &cart, checkout_card(CARD_OK), None)
        .await
        .ok(201);
    assert_eq!(app.stock(&product).await, 48);
}

//! After the sale, in a real headless Chromium against the real
//! `orders-server` binary, the customer's order page open all along:
//! 1. staff ship one of the two lines from the admin page; the customer
//!    sees "partially_shipped" and the tracking number without a reload;
//! 2. staff ship the rest; the customer sees "shipped"; both shipments are
//!    delivered (through the API);
//! 3. the customer asks to return one unit from the order page;
//! 4. staff approve it, receive it back into stock and refund it from the
//!    admin page (the refund's amount shown on its confirmation page);
//! 5. the customer's page shows the refund without a reload, and the
//!    product's stock is back by one.
//!
//! Needs Chromium and ChromeDriver as `browser.rs` says.

mod browser_support;
mod common;

use browser_support::{Driver, css, fill, screenshot, submit, text, until_text};
use common::{CARD_OK, STAFF_EMAIL, STAFF_PASSWORD, Server};
use fantoccini::Client;
use serde_json::{Value, json};

const PASSWORD: &str = "a long password";

async fn sign_in_admin(browser: &Client, server: &Server) {
    browser.goto(&server.url("/admin/login")).await.unwrap();
    fill(browser, "form#login", "email", STAFF_EMAIL).await;
    fill(browser, "form#login", "password", STAFF_PASSWORD).await;
    submit(browser, "form#login").await;
}

/// The stock of `product` as staff read it.
async fn stock(server: &Server, staff: &str, product: &str) -> u64 {
    let path = format!("/api/admin/products/{product}");
    let (status, body) = server.call("GET", &path, Some(staff), None).await;
    assert_eq!(status, 200, "{body}");
    body["stock"].as_u64().unwrap()
}

async fn order(server: &Server, staff: &str, id: &str) -> Value {
    let path = format!("/api/admin/orders/{id}");
    server.call("GET", &path, Some(staff), None).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_ship_in_two_parts_and_refund_a_return_while_the_customer_watches() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let staff_token = server.staff().await;
    let mug = server.product(&staff_token, 10).await;
    let tee = server.product(&staff_token, 10).await;

    // The customer registers in the browser; their order (2 mugs, 1 tee)
    // is placed through the API with the same account.
    let customer = driver.browser().await;
    customer.goto(&server.url("/register")).await.unwrap();
    let email = format!("watcher{}@example.com", common::unique());
    fill(&customer, "form#register", "email", &email).await;
    fill(&customer, "form#register", "password", PASSWORD).await;
    submit(&customer, "form#register").await;
    let login = json!({"email": email, "password": PASSWORD});
    let (_, session) = server
        .call("POST", "/api/auth/login", None, Some(login))
        .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let cart = server.cart(&token, &mug, 2).await;
    let item = json!({"product_id": tee, "quantity": 1});
    let path = format!("/api/carts/{cart}/items");
    assert_eq!(
        server.call("POST", &path, Some(&token), Some(item)).await.0,
        200
    );
    let (code, placed) = server.checkout(&token, &cart, CARD_OK).await;
    assert_eq!(code, 201, "{placed}");
    let id = placed["id"].as_str().unwrap().to_owned();
    let mugs_in_stock = stock(&server, &staff_token, &mug).await;
    customer
        .goto(&server.url(&format!("/orders/{id}")))
        .await
        .unwrap();
    assert_eq!(text(&customer, "#order-status").await, "Paid");
    css(&customer, "#cancel-form").await;

    // 1. Staff ship the mugs only, from the admin page.
    let staff = driver.browser().await;
    sign_in_admin(&staff, &server).await;
    let admin_page = server.url(&format!("/admin/orders/{id}"));
    staff.goto(&admin_page).await.unwrap();
    fill(&staff, "form#fulfil-form", &format!("qty_{tee}"), "0").await;
    fill(&staff, "form#fulfil-form", "carrier", "DHL").await;
    fill(&staff, "form#fulfil-form", "tracking_number", "TRK-MUGS").await;
    submit(&staff, "form#fulfil-form").await;
    assert_eq!(text(&staff, "#order-status").await, "partially_shipped");

    let status = until_text(&customer, "#order-status", |t| t == "Partly shipped").await;
    assert_eq!(status, "Partly shipped");
    until_text(&customer, "#order-shipments", |t| t.contains("TRK-MUGS")).await;
    screenshot(&customer, "storefront-order-partially-shipped").await;

    // 2. The rest ships; both shipments are delivered.
    fill(&staff, "form#fulfil-form", "tracking_number", "TRK-TEE").await;
    submit(&staff, "form#fulfil-form").await;
    until_text(&customer, "#order-status", |t| t == "Shipped").await;
    until_text(&customer, "#order-shipments", |t| t.contains("TRK-TEE")).await;
    let shipped = order(&server, &staff_token, &id).await;
    for fulfilment in shipped["fulfilments"].as_array().unwrap() {
        let path = format!(
            "/api/admin/fulfilments/{}/delivered",
            fulfilment["id"].as_str().unwrap()
        );
        let (code, body) = server.call("POST", &path, Some(&staff_token), None).await;
        assert_eq!(code, 200, "{body}");
    }
    until_text(&customer, "#order-status", |t| t == "Delivered").await;

    // 3. The customer asks to return one mug (the form came with the
    // delivery, without a reload).
    css(&customer, "form#return-form").await;
    fill(&customer, "form#return-form", &format!("qty_{mug}"), "1").await;
    fill(&customer, "form#return-form", "reason", "One is enough").await;
    submit(&customer, "form#return-form").await;
    until_text(&customer, "#order-returns", |t| t.contains("Requested")).await;
    screenshot(&customer, "storefront-order-return").await;

    // 4. Staff approve, receive with restock, and refund it.
    staff.goto(&admin_page).await.unwrap();
    submit(&staff, "#order-returns form[action$='/approve']").await;
    submit(&staff, "#order-returns form[action$='/receive']").await;
    submit(&staff, "#order-returns form[action$='/refund']").await;
    let question = text(&staff, "#confirm-question").await;
    assert!(question.contains("USD"), "the amount is shown: {question}");
    screenshot(&staff, "admin-refund-confirm").await;
    submit(&staff, "#confirm form").await;
    // The timeline names who acted: the staff member's email, "customer".
    let timeline = text(&staff, "#order-events").await;
    assert!(timeline.contains(STAFF_EMAIL), "{timeline}");
    assert!(
        timeline.contains("customer") && !timeline.contains("staff:"),
        "{timeline}"
    );
    let refunded = order(&server, &staff_token, &id).await;
    let amount = refunded["refunds"][0]["amount"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(refunded["refunded_total"], amount);

    // 5. The customer's page shows it live; the mug is back in stock.
    let shown = until_text(&customer, "#order-refunds", |t| t.contains(&amount)).await;
    assert!(shown.contains("USD"), "{shown}");
    until_text(&customer, "#order-returns", |t| t.contains("Refunded")).await;
    screenshot(&customer, "storefront-order-refunded").await;
    assert_eq!(stock(&server, &staff_token, &mug).await, mugs_in_stock + 1);
}

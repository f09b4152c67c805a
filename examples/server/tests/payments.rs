//! Payments with the built-in test gateway, through the real binary on a
//! real port: an expired 3-D Secure hold is cancelled and its stock
//! returned by the sweeper (and a hold within its time is not); the
//! storefront's "Complete payment" form pays an order awaiting payment, or
//! cancels it when the customer's action failed; no other script origin is
//! allowed than the shop's own. With Stripe: `payments_stripe.rs`.

mod common;

use std::time::{Duration, Instant};

use common::pages::{page_customer, post_form, write_config};
use common::{Server, create_staff, hidden, sqlite_url};
use serde_json::{Value, json};

/// A checkout body paying with a test gateway token.
fn token_checkout(token: &str) -> Value {
    let mut body = common::checkout_body(common::CARD_OK);
    body["payment"] = json!({"method": "card", "token": token});
    body
}

async fn stock(server: &Server, product: &str) -> i64 {
    let (status, body) = server
        .call("GET", &format!("/api/products/{product}"), None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["stock"].as_i64().expect("a stock")
}

/// Polls the order until `done` says so (at most `within`).
async fn until_order(
    server: &Server,
    token: &str,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, order) = server
            .call("GET", &format!("/api/orders/{id}"), Some(token), None)
            .await;
        assert_eq!(status, 200, "{order}");
        if done(&order) {
            return order;
        }
        assert!(
            Instant::now() < deadline,
            "order {id} is still {} after {within:?}:\n{}",
            order["status"],
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_sweeper_cancels_an_expired_hold_and_returns_its_stock() {
    let (url, _dir) = sqlite_url();
    sweeper_story(&url).await;
}

#[tokio::test]
async fn the_sweeper_cancels_an_expired_hold_on_postgresql() {
    let Some(database) = common::PgDatabase::create() else {
        return;
    };
    sweeper_story(&database.url).await;
}

/// A 3-D Secure checkout over HTTP on a server whose holds last a second:
/// the sweeper cancels the order and returns its stock; a late confirm
/// changes nothing.
async fn sweeper_story(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    create_staff(url);
    let config = write_config(&dir, "[payments]\nhold = \"1s\"\nsweep_interval = \"1s\"\n");
    let server = Server::start_with(url, &["--config", &config]);
    let staff = server.staff().await;
    let product = server.product(&staff, 5).await;
    let customer = server.customer().await;
    let cart = server.cart(&customer, &product, 2).await;

    let (status, order) = server
        .call(
            "POST",
            &format!("/api/carts/{cart}/checkout"),
            Some(&customer),
            Some(token_checkout("test_requires_action")),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "awaiting_payment", "{order}");
    assert_eq!(order["payment"]["status"], "requires_action", "{order}");
    assert_eq!(
        stock(&server, &product).await,
        3,
        "the hold takes the stock"
    );
    let id = order["id"].as_str().unwrap();

    let order = until_order(&server, &customer, id, Duration::from_secs(20), |o| {
        o["status"] != "awaiting_payment"
    })
    .await;
    assert_eq!(order["status"], "cancelled", "{order}");
    assert_eq!(order["payment"]["status"], "voided", "{order}");
    assert_eq!(stock(&server, &product).await, 5, "the stock is back");
    // Confirming now is too late: the order stays cancelled, nothing paid.
    let (status, again) = server
        .call(
            "POST",
            &format!("/api/orders/{id}/payment/confirm"),
            Some(&customer),
            None,
        )
        .await;
    assert!(status < 500, "{status} {again}");
    let order = until_order(&server, &customer, id, Duration::ZERO, |_| true).await;
    assert_eq!(order["status"], "cancelled", "{order}");
    assert_eq!(stock(&server, &product).await, 5);
}

#[tokio::test]
async fn a_hold_within_its_time_is_left_alone_by_the_sweeper() {
    let (url, dir) = sqlite_url();
    create_staff(&url);
    let config = write_config(&dir, "[payments]\nhold = \"1h\"\nsweep_interval = \"1s\"\n");
    let server = Server::start_with(&url, &["--config", &config]);
    let staff = server.staff().await;
    let product = server.product(&staff, 5).await;
    let customer = server.customer().await;
    let cart = server.cart(&customer, &product, 1).await;
    let (status, order) = server
        .call(
            "POST",
            &format!("/api/carts/{cart}/checkout"),
            Some(&customer),
            Some(token_checkout("test_requires_action")),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap();
    // Two whole sweeps go by after the checkout (each logs a line at
    // debug): the order still waits.
    let sweeps = |logs: &str| logs.matches("payment sweep").count();
    let before = sweeps(&server.logs());
    let deadline = Instant::now() + Duration::from_secs(15);
    while sweeps(&server.logs()) < before + 2 {
        assert!(
            Instant::now() < deadline,
            "no sweep ran:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let order = until_order(&server, &customer, id, Duration::ZERO, |_| true).await;
    assert_eq!(order["status"], "awaiting_payment", "{order}");
    assert_eq!(stock(&server, &product).await, 4);
}

#[tokio::test]
async fn the_complete_payment_form_pays_an_order_awaiting_payment() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let server = Server::start(&url);
    let staff = server.staff().await;
    let product = server.product(&staff, 5).await;
    let client = page_customer(&server).await;
    let page = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = hidden(&page.text().await.unwrap(), "csrf_token");
    let added = post_form(
        &client,
        server.url("/cart/items"),
        &[
            ("csrf_token", csrf.as_str()),
            ("product_id", product.as_str()),
            ("quantity", "1"),
        ],
    )
    .await;
    assert_eq!(added.status(), 303);
    let form = client
        .get(server.url("/checkout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("name=\"payment.card.number\""),
        "the test gateway's card fields"
    );
    assert!(
        !form.contains("card-element"),
        "no Stripe.js without Stripe"
    );
    let key = hidden(&form, "idempotency_key");
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("email", "ada@example.com"),
        ("shipping_address.full_name", "Ada Lovelace"),
        ("shipping_address.line1", "12 St James's Square"),
        ("shipping_address.city", "London"),
        ("shipping_address.postal_code", "SW1Y 4JH"),
        ("shipping_address.country", "GB"),
        ("shipping_method", "standard"),
        ("payment.method", "card"),
        ("payment.card.number", "4000002500003155"),
        ("payment.card.exp_month", "12"),
        ("payment.card.exp_year", "2030"),
        ("payment.card.cvc", "123"),
        ("payment.card.holder", "Ada Lovelace"),
    ];
    let placed = post_form(&client, server.url("/checkout"), &fields).await;
    assert_eq!(placed.status(), 303, "{}", placed.text().await.unwrap());
    let location = placed.headers()["location"].to_str().unwrap().to_owned();
    let order_path = location.split('?').next().unwrap().to_owned();
    let page = client
        .get(server.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("awaiting_payment"), "{page}");
    assert!(page.contains("id=\"complete-payment\""), "{page}");
    assert!(
        !page.contains("data-client-secret"),
        "no SDK with the test gateway"
    );
    let confirm = post_form(
        &client,
        server.url(&format!("{order_path}/payment/confirm")),
        &[("csrf_token", csrf.as_str())],
    )
    .await;
    assert_eq!(confirm.status(), 303);
    let page = client
        .get(server.url(&order_path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-status=\"paid\""), "{page}");
    assert!(page.contains("\">Paid</span>"), "{page}");
    assert!(page.contains("Paid</p>"), "the payment panel: {page}");
    assert!(
        !page.contains("id=\"complete-payment\""),
        "nothing left to complete"
    );
    // Without the CSRF token the confirm route is refused.
    let forged = post_form(
        &client,
        server.url(&format!("{order_path}/payment/confirm")),
        &[("x", "y")],
    )
    .await;
    assert_eq!(forged.status(), 403);
}

#[tokio::test]
async fn a_failed_action_completed_on_the_order_page_cancels_the_order_and_returns_the_stock() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let server = Server::start(&url);
    let staff = server.staff().await;
    let product = server.product(&staff, 5).await;
    let customer = server.customer().await;
    let cart = server.cart(&customer, &product, 2).await;
    let (status, order) = server
        .call(
            "POST",
            &format!("/api/carts/{cart}/checkout"),
            Some(&customer),
            Some(token_checkout("test_requires_action_fails")),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "awaiting_payment", "{order}");
    assert_eq!(stock(&server, &product).await, 3);
    let id = order["id"].as_str().unwrap();

    // The same customer's pages: the session cookie holds the API token.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(
        &format!("orders_session={customer}; Path=/"),
        &server.url("/").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(server.url(&format!("/orders/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"complete-payment\""), "{page}");
    let csrf = hidden(&page, "csrf_token");
    let confirm = post_form(
        &client,
        server.url(&format!("/orders/{id}/payment/confirm")),
        &[("csrf_token", csrf.as_str())],
    )
    .await;
    assert_eq!(confirm.status(), 303);
    let page = client
        .get(server.url(&format!("/orders/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-status=\"cancelled\""), "{page}");
    assert!(page.contains("\">Cancelled</span>"), "{page}");
    assert!(
        page.contains("<p id=\"order-payment\">") && page.contains("Failed, nothing charged</p>"),
        "{page}"
    );
    assert!(
        !page.contains("id=\"complete-payment\""),
        "nothing left to complete"
    );
    assert_eq!(stock(&server, &product).await, 5, "the stock is back");
}

#[tokio::test]
async fn with_the_test_gateway_no_other_script_origin_is_allowed() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url);
    let index = reqwest::get(server.url("/")).await.unwrap();
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("frame-src"), "{csp}");
}

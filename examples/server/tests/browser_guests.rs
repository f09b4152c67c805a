//! Guests in a real headless Chromium against the real `orders-server`:
//! 1. a visitor adds to the cart without signing in, checks out with an
//!    email and the card typed into Stripe.js's fields (a real localstripe),
//!    gets the confirmation email (a real aiosmtpd) and opens the order
//!    through its link in a fresh browser with no session, the page live;
//! 2. a guest cart is merged into the customer's cart at sign-in, its one
//!    capped line named on the cart page, and the cart is still there
//!    after signing out and in again.
//!
//! Screenshots at desktop and phone width (390×844) under the target
//! directory. Needs Chromium and ChromeDriver, localstripe and aiosmtpd
//! (see `browser_payments.rs` and `mail.rs`); without them the tests say
//! so and pass, unless `ORDERS_REQUIRE_BROWSER`, `ORDERS_REQUIRE_STRIPE`
//! or `ORDERS_REQUIRE_SMTP` is `1`.

mod browser_support;
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use browser_support::{
    Driver, choose, css, fill, screenshot, set_country, submit, until_text, url,
};
use common::smtp::{messages, smtp};
use common::{Server, create_staff, sqlite_url};
use fantoccini::Client;
use serde_json::{Value, json};

/// One browser story at a time (see `browser_payments.rs`).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Saves `name` at desktop width, then at phone width, and back.
async fn screenshots(browser: &Client, name: &str) {
    screenshot(browser, &format!("{name}-desktop")).await;
    browser.set_window_size(390, 844).await.unwrap();
    screenshot(browser, &format!("{name}-phone")).await;
    browser.set_window_size(1280, 1000).await.unwrap();
}

/// The first message to `to` whose subject ends with `ending`, waited for.
async fn mail_to(dir: &Path, to: &str, ending: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = messages(dir).into_iter().find(|m| {
            m["envelope_to"] == json!([to])
                && m["subject"].as_str().is_some_and(|s| s.ends_with(ending))
        });
        if let Some(found) = found {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no message to {to} ending {ending:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The address after `label: ` in a message's text.
fn link_in(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no {label:?} link in {text}"))
        .trim()
        .to_owned()
}

/// A product named `name` with plenty of stock; its id.
async fn product(server: &Server, staff: &str, name: &str) -> String {
    let body = json!({"sku": format!("SKU-{}", common::unique()), "name": name,
                      "price": "4.50", "currency": "USD", "stock": 5000});
    let (status, body) = server
        .call("POST", "/api/admin/products", Some(staff), Some(body))
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Adds `quantity` of `product` from its page, as a visitor would.
async fn add_from_page(browser: &Client, base: &str, product: &str, quantity: &str) {
    browser
        .goto(&format!("{base}/products/{product}"))
        .await
        .unwrap();
    fill(browser, "form#add-to-cart", "quantity", quantity).await;
    submit(browser, "form#add-to-cart").await;
    css(browser, "tr.cart-line").await;
    let at = url(browser).await;
    assert!(at.ends_with("/cart"), "to the cart, not to sign in: {at}");
}

/// Fills the checkout's contact, address and shipping, card chosen.
async fn fill_address(browser: &Client, email: &str) {
    let form = "form#checkout";
    for (name, text) in [
        ("email", email),
        ("shipping_address.full_name", "Ada Lovelace"),
        ("shipping_address.line1", "12 St James's Square"),
        ("shipping_address.city", "London"),
        ("shipping_address.postal_code", "SW1Y 4JH"),
    ] {
        fill(browser, form, name, text).await;
    }
    set_country(browser, "GB").await;
    choose(browser, form, "shipping_method", "standard").await;
    choose(browser, form, "payment.method", "card").await;
}

#[cfg(feature = "stripe")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_buys_with_the_card_and_opens_the_order_from_the_email() {
    use browser_support::localstripe::Localstripe;

    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let Some(stripe) = Localstripe::start() else {
        return;
    };
    let inbox = tempfile::tempdir().unwrap();
    let Some((_sink, port)) = smtp(inbox.path()) else {
        return;
    };
    let (database, dir) = sqlite_url();
    create_staff(&database);
    let config = dir.path().join("shop.toml");
    std::fs::write(
        &config,
        format!(
            "[payments]\nprovider = \"stripe\"\napi_base = \"{0}\"\njs_url = \"{0}/js.stripe.com/v3/\"\n\
             [mail]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\ntls = \"none\"\nfrom = \"Shop <orders@shop.example>\"\n",
            stripe.url()
        ),
    )
    .unwrap();
    let env = [
        ("ORDERS_STRIPE_SECRET_KEY", "sk_test_orders_browser"),
        ("ORDERS_STRIPE_WEBHOOK_SECRET", "whsec_orders_browser"),
        ("ORDERS_STRIPE_PUBLISHABLE_KEY", "pk_test_orders_browser"),
    ];
    let server = Server::start_limited(
        &database,
        &["--config", config.to_str().unwrap()],
        &env,
        None,
    );
    let staff = server.staff().await;
    let tea = product(&server, &staff, "Guest tea").await;

    // A visitor, never signed in, adds to the cart.
    let guest = driver.browser().await;
    add_from_page(&guest, &server.base, &tea, "2").await;
    let cookie = guest
        .get_named_cookie("orders_cart")
        .await
        .expect("a cart cookie");
    assert!(cookie.value().contains('.'), "the cart's id and its token");
    assert_eq!(cookie.http_only(), Some(true));
    screenshots(&guest, "storefront-guest-cart").await;

    // Checkout with an email and the card in Stripe.js's fields.
    css(&guest, "a#to-checkout").await.click().await.unwrap();
    css(&guest, "form#checkout").await;
    let email = format!("guest{}@example.com", common::unique());
    fill_address(&guest, &email).await;
    for (field, text) in [
        ("number", "4242424242424242"),
        ("exp_month", "12"),
        ("exp_year", "30"),
        ("cvc", "123"),
        ("postal_code", "42424"),
    ] {
        css(
            &guest,
            &format!("#card-element input[placeholder='{field}']"),
        )
        .await
        .send_keys(text)
        .await
        .expect("type into Stripe.js's card field");
    }
    screenshots(&guest, "storefront-guest-checkout").await;
    submit(&guest, "form#checkout").await;
    assert_eq!(
        until_text(&guest, "#order-status", |t| !t.is_empty()).await,
        "Paid",
        "on {}",
        url(&guest).await
    );
    let number = until_text(&guest, "#order-number", |t| !t.is_empty()).await;
    let shown = css(&guest, "#guest-order-link a")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("the confirmation page's link");
    assert!(shown.contains("token="), "{shown}");
    screenshots(&guest, "storefront-guest-order-placed").await;
    guest.close().await.unwrap();

    // The confirmation email carries the link; a fresh browser opens it.
    let mail = mail_to(inbox.path(), &email, "confirmed").await;
    assert_eq!(mail["subject"], format!("Order {number} confirmed"));
    let link = link_in(mail["text"].as_str().unwrap(), "View your order");
    assert!(link.ends_with(&shown), "{link} is the page's {shown}");
    let later = driver.browser().await;
    later.goto(&link).await.unwrap();
    assert_eq!(
        until_text(&later, "#order-number", |t| !t.is_empty()).await,
        number
    );
    assert_eq!(
        until_text(&later, "#order-status", |t| !t.is_empty()).await,
        "Paid"
    );
    assert!(
        later.get_named_cookie("orders_session").await.is_err(),
        "no session"
    );
    // The page is live through the order token.
    until_text(&later, "#live", |t| !t.is_empty()).await;
    screenshots(&later, "storefront-guest-order-from-email").await;
    // A tampered link opens nothing.
    later
        .goto(&link.replace("token=", "token=x"))
        .await
        .unwrap();
    assert!(
        later
            .find(fantoccini::Locator::Css("#order-number"))
            .await
            .is_err(),
        "a wrong token is not found"
    );
    later.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cart_is_merged_at_sign_in_and_the_capped_line_is_named() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, _dir) = sqlite_url();
    create_staff(&database);
    let server = Server::start(&database);
    let staff = server.staff().await;
    let (tea, mug) = (
        product(&server, &staff, "Capped tea").await,
        product(&server, &staff, "Plain mug").await,
    );
    // A customer whose account's cart already holds 998 teas.
    let email = format!("merge{}@example.com", common::unique());
    let (status, account) = server
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": email, "password": "password 123"})),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    server
        .cart(account["token"].as_str().unwrap(), &tea, 998)
        .await;

    // Signed out, they add 5 teas and 2 mugs as a guest, then sign in.
    let browser = driver.browser().await;
    add_from_page(&browser, &server.base, &tea, "5").await;
    add_from_page(&browser, &server.base, &mug, "2").await;
    browser
        .goto(&format!("{}/login", server.base))
        .await
        .unwrap();
    fill(&browser, "form#login", "email", &email).await;
    fill(&browser, "form#login", "password", "password 123").await;
    submit(&browser, "form#login").await;
    let notice = until_text(&browser, "#cart-notice", |t| !t.is_empty()).await;
    assert!(
        notice.contains("Capped tea") && notice.contains("1 of 5"),
        "the capped line is named: {notice}"
    );
    assert!(!notice.contains("Plain mug"), "{notice}");
    let lines = cart_lines(&browser).await;
    assert_eq!(
        lines,
        vec![("Capped tea".to_owned(), 999), ("Plain mug".to_owned(), 2)]
    );
    screenshots(&browser, "storefront-guest-cart-merged").await;

    // Sign out and in again: the cart comes back.
    submit(&browser, "form#logout").await;
    browser
        .goto(&format!("{}/login", server.base))
        .await
        .unwrap();
    fill(&browser, "form#login", "email", &email).await;
    fill(&browser, "form#login", "password", "password 123").await;
    submit(&browser, "form#login").await;
    until_text(&browser, "#whoami", |t| t.contains(&email)).await;
    browser
        .goto(&format!("{}/cart", server.base))
        .await
        .unwrap();
    css(&browser, "tr.cart-line").await;
    assert_eq!(
        cart_lines(&browser).await,
        vec![("Capped tea".to_owned(), 999), ("Plain mug".to_owned(), 2)],
        "the open cart survives signing out and in"
    );
    browser.close().await.unwrap();
}

/// The cart page's lines: product name and quantity.
async fn cart_lines(browser: &Client) -> Vec<(String, u32)> {
    let rows = browser
        .find_all(fantoccini::Locator::Css("tr.cart-line"))
        .await
        .unwrap();
    let mut lines = Vec::new();
    for row in rows {
        let name = row
            .find(fantoccini::Locator::Css("bdi"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let quantity = row
            .find(fantoccini::Locator::Css("input[name='quantity']"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        lines.push((name, quantity.parse().unwrap_or(0)));
    }
    lines
}

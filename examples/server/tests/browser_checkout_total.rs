//! The total shown is the total charged, in a real headless Chromium
//! against the real `orders-server` binary (demo shop: standard shipping
//! 4.99, free from 50; express 14.99; VAT for GB, none for the US):
//! 1. the checkout's total follows the shipping method and the country as
//!    they change, equals the API's price of the same cart for the same
//!    choices, and is exactly what the card is charged;
//! 2. with JavaScript off, the "Review total" step prices the page for the
//!    form's choices; a total that changed without a review is refused
//!    (`price_changed`), re-shown, and nothing is charged;
//! 3. stock: the product page says how many are left, adding more is
//!    refused naming the product, and a checkout refused for stock offers
//!    to reduce the line;
//! 4. at phone width (390×844): no page scrolls sideways, the signed-in
//!    email is not broken mid-word, the total sits above Place order, a
//!    failed submit puts the focus on the error summary, and the admin's
//!    order list shows many orders per screen.
//!
//! Screenshots at desktop and phone width go under the target directory.
//! Needs Chromium and ChromeDriver (see `browser.rs`).

mod browser_support;
mod common;

use browser_support::{
    Driver, choose, css, fill, is_present, screenshot, set_country, submit, text, until_text, url,
};
use common::{STAFF_EMAIL, STAFF_PASSWORD, Server};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// One story at a time (two cores; each drives its own Chromium and server).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PASSWORD: &str = "a long password";
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 1000);

/// A browser with JavaScript turned off (its own profile).
async fn browser_without_scripts(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": browser_support::CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1000",
            ],
            "prefs": {"profile.managed_default_content_settings.javascript": 2},
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Registers a fresh customer in `browser`; returns the email and an API
/// token of the same account (to read what the API says).
async fn register(browser: &Client, server: &Server, name: &str) -> (String, String) {
    let email = format!("{name}{}@example.com", common::unique());
    browser.goto(&server.url("/register")).await.unwrap();
    fill(browser, "form#register", "email", &email).await;
    fill(browser, "form#register", "password", PASSWORD).await;
    submit(browser, "form#register").await;
    until_text(browser, "#whoami", |t| t.contains(&email)).await;
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (email, body["token"].as_str().unwrap().to_owned())
}

/// A new product at 12.00 USD with `stock` units, made by staff.
async fn product(server: &Server, name: &str, stock: u32) -> String {
    let staff = server.staff().await;
    let body = json!({"sku": format!("SKU-{}", common::unique()), "name": name,
                      "price": "12.00", "currency": "USD", "stock": stock});
    let (status, body) = server
        .call("POST", "/api/admin/products", Some(&staff), Some(body))
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Adds `quantity` of `product` on its page; returns the page it led to.
async fn add(browser: &Client, server: &Server, product: &str, quantity: u32) {
    browser
        .goto(&server.url(&format!("/products/{product}")))
        .await
        .unwrap();
    fill(
        browser,
        "form#add-to-cart",
        "quantity",
        &quantity.to_string(),
    )
    .await;
    submit(browser, "form#add-to-cart").await;
}

/// The id of the browser's open cart (its cart cookie).
async fn cart_id(browser: &Client) -> String {
    browser
        .get_named_cookie("orders_cart")
        .await
        .expect("a cart cookie")
        .value()
        .to_owned()
}

/// The API's total for the cart priced for `country` and `method`.
async fn api_total(
    server: &Server,
    token: &str,
    cart: &str,
    country: &str,
    method: &str,
) -> String {
    let (status, body) = server
        .call(
            "GET",
            &format!("/api/carts/{cart}?country={country}&shipping_method={method}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["total"].as_str().unwrap().to_owned()
}

/// `133.79 USD` → `133.79`.
fn amount(shown: &str) -> String {
    shown
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Fills the address (in `country`), contact and test card; leaves the
/// country and the method as they are.
async fn fill_details(browser: &Client, city: &str, postal_code: &str, card: bool) {
    let form = "form#checkout";
    for (name, value) in [
        ("email", "ada@example.com"),
        ("shipping_address.full_name", "Ada Lovelace"),
        ("shipping_address.line1", "12 St James's Square"),
        ("shipping_address.city", city),
        ("shipping_address.postal_code", postal_code),
    ] {
        fill(browser, form, name, value).await;
    }
    if card {
        choose(browser, form, "payment.method", "card").await;
        for (name, value) in [
            ("payment.card.number", common::CARD_OK),
            ("payment.card.exp_month", "12"),
            ("payment.card.exp_year", "2030"),
            ("payment.card.cvc", "123"),
            ("payment.card.holder", "Ada Lovelace"),
        ] {
            fill(browser, form, name, value).await;
        }
    } else {
        choose(browser, form, "payment.method", "cash_on_delivery").await;
    }
}

/// The order the browser's page shows, through the API.
async fn order_of_page(browser: &Client, server: &Server, token: &str) -> Value {
    let page = url(browser).await;
    let id = page
        .split("/orders/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_else(|| panic!("an order page, not {page}"));
    let (status, order) = server
        .call("GET", &format!("/api/orders/{id}"), Some(token), None)
        .await;
    assert_eq!(status, 200, "{order}");
    order
}

/// Makes the page's viewport `width`×`height` (the window's frame, if
/// any, added around it).
async fn resize(browser: &Client, (width, height): (u32, u32)) {
    browser
        .set_window_size(width, height)
        .await
        .expect("resize");
    let inner = script(browser, "return [window.innerWidth, window.innerHeight];").await;
    let frame = |i: usize, want: u32| {
        let got = inner[i].as_u64().unwrap_or(u64::from(want));
        u32::try_from(u64::from(want).saturating_sub(got)).unwrap_or(0)
    };
    let (extra_w, extra_h) = (frame(0, width), frame(1, height));
    if extra_w > 0 || extra_h > 0 {
        browser
            .set_window_size(width + extra_w, height + extra_h)
            .await
            .expect("resize");
    }
}

async fn script(browser: &Client, source: &str) -> Value {
    browser.execute(source, vec![]).await.expect("a script")
}

/// Whether the page scrolls sideways at its current width.
async fn overflows(browser: &Client) -> (i64, i64) {
    let sizes = script(
        browser,
        "return [document.documentElement.scrollWidth, window.innerWidth];",
    )
    .await;
    (
        sizes[0].as_i64().unwrap_or_default(),
        sizes[1].as_i64().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_follows_method_and_country_and_is_the_amount_charged() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let tea = product(&server, "Assam tea", 50).await;
    let customer = driver.browser().await;
    let (_, token) = register(&customer, &server, "shopper").await;
    add(&customer, &server, &tea, 2).await;
    customer.goto(&server.url("/checkout")).await.unwrap();
    let cart = cart_id(&customer).await;

    // Each method shows its price beside it.
    assert_eq!(
        text(&customer, "#field-shipping_method-standard-price").await,
        "4.99 USD"
    );
    assert_eq!(
        text(&customer, "#field-shipping_method-express-price").await,
        "14.99 USD"
    );
    // The shop's defaults: the US, standard shipping (24.00 + 4.99).
    let first = text(&customer, "#checkout-due").await;
    assert_eq!(first, "28.99 USD");
    assert_eq!(
        amount(&first),
        api_total(&server, &token, &cart, "US", "standard").await
    );

    // Express: the total follows at once, without a reload.
    choose(&customer, "form#checkout", "shipping_method", "express").await;
    let express = until_text(&customer, "#checkout-due", |t| t != first).await;
    assert_eq!(
        amount(&express),
        api_total(&server, &token, &cart, "US", "express").await
    );
    assert_eq!(text(&customer, "#checkout-shipping").await, "14.99 USD");

    // Great Britain: VAT on top.
    set_country(&customer, "GB").await;
    let gb = until_text(&customer, "#checkout-due", |t| t != express).await;
    assert_eq!(
        amount(&gb),
        api_total(&server, &token, &cart, "GB", "express").await
    );
    assert_ne!(text(&customer, "#checkout-tax").await, "0.00 USD");
    assert_eq!(text(&customer, "#checkout-total").await, gb);
    assert!(
        text(&customer, "#checkout-due-for")
            .await
            .contains("United Kingdom"),
        "the total says what it is for"
    );
    let select = css(&customer, "#field-shipping_address-country").await;
    let shown = select
        .find(Locator::Css("option:checked"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(shown, "United Kingdom", "countries by name");
    screenshot(&customer, "checkout-total-desktop").await;
    resize(&customer, PHONE).await;
    screenshot(&customer, "checkout-total-phone").await;
    resize(&customer, DESKTOP).await;

    // Placed: the card is charged exactly the total shown.
    fill_details(&customer, "London", "SW1Y 4JH", true).await;
    submit(&customer, "form#checkout").await;
    until_text(&customer, "#order-status", |t| !t.is_empty()).await;
    let order = order_of_page(&customer, &server, &token).await;
    assert_eq!(order["total"].as_str(), Some(amount(&gb).as_str()));
    assert_eq!(
        order["payment"]["captured"].as_str(),
        Some(amount(&gb).as_str()),
        "the gateway charged the total shown: {order}"
    );
    assert_eq!(order["shipping_method"], "express");
    // The order page speaks in words, with the address as the UK writes it.
    assert_eq!(text(&customer, "#order-status").await, "Paid");
    let payment = text(&customer, "#order-payment").await;
    assert!(
        payment.contains("ending in 4242") && payment.contains("Paid"),
        "{payment}"
    );
    let address = text(&customer, "#order-address").await;
    assert!(
        address.ends_with("London\nSW1Y 4JH\nUnited Kingdom"),
        "{address:?}"
    );
    assert!(
        text(&customer, "#order-shipping-method")
            .await
            .starts_with("Express shipping")
    );
    customer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_scripts_the_review_step_shows_the_total_and_a_stale_one_is_refused() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let tea = product(&server, "Darjeeling", 50).await;
    let customer = browser_without_scripts(&driver).await;
    let (_, token) = register(&customer, &server, "noscript").await;
    add(&customer, &server, &tea, 1).await;
    customer.goto(&server.url("/checkout")).await.unwrap();
    let cart = cart_id(&customer).await;
    assert!(
        css(&customer, "#review-total")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "without scripts the review button is there"
    );
    let first = text(&customer, "#checkout-due").await;

    // Germany by express, then Review: the server prices the page for them.
    fill_details(&customer, "Berlin", "10115", false).await;
    set_country(&customer, "DE").await;
    choose(&customer, "form#checkout", "shipping_method", "express").await;
    assert_eq!(
        text(&customer, "#checkout-due").await,
        first,
        "nothing changes without a script until the review"
    );
    css(&customer, "#review-total").await.click().await.unwrap();
    let reviewed = until_text(&customer, "#checkout-due", |t| t != first).await;
    assert_eq!(
        amount(&reviewed),
        api_total(&server, &token, &cart, "DE", "express").await
    );
    assert!(is_present(&customer, "#checkout-notice").await);
    screenshot(&customer, "checkout-review-no-script").await;

    // Changed to France without a review: the total shown is not the one
    // due; the shop refuses it, shows the new one, and charges nothing.
    set_country(&customer, "FR").await;
    fill(&customer, "form#checkout", "shipping_address.city", "Paris").await;
    fill(
        &customer,
        "form#checkout",
        "shipping_address.postal_code",
        "75001",
    )
    .await;
    submit(&customer, "form#checkout").await;
    let france = api_total(&server, &token, &cart, "FR", "express").await;
    assert_ne!(
        france,
        amount(&reviewed),
        "FR and DE tax differ in the demo"
    );
    let summary = text(&customer, "#form-errors").await;
    assert!(summary.contains("total changed"), "{summary}");
    assert!(summary.contains(&france), "{summary}");
    assert_eq!(amount(&text(&customer, "#checkout-due").await), france);
    let (_, orders) = server.call("GET", "/api/orders", Some(&token), None).await;
    assert_eq!(orders["items"], json!([]), "nothing was placed");
    screenshot(&customer, "checkout-price-changed-no-script").await;

    // Placed from the refreshed page: the total shown.
    submit(&customer, "form#checkout").await;
    until_text(&customer, "#order-status", |t| !t.is_empty()).await;
    let order = order_of_page(&customer, &server, &token).await;
    assert_eq!(order["total"].as_str(), Some(france.as_str()));
    let address = text(&customer, "#order-address").await;
    assert!(address.contains("75001 Paris\nFrance"), "{address:?}");
    customer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_is_shown_an_over_stock_add_names_the_product_and_a_short_line_can_be_reduced() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let scarce = product(&server, "Silver Needle", 3).await;
    let customer = driver.browser().await;
    register(&customer, &server, "stock").await;

    customer
        .goto(&server.url(&format!("/products/{scarce}")))
        .await
        .unwrap();
    assert_eq!(text(&customer, "#product-stock").await, "Only 3 left");
    add(&customer, &server, &scarce, 4).await;
    let error = text(&customer, "#error-quantity").await;
    assert!(
        error.contains("Silver Needle") && error.contains('3'),
        "the refusal names the product and what is left: {error}"
    );
    screenshot(&customer, "product-over-stock").await;

    // Two in the cart, then two are sold elsewhere: the checkout says so.
    add(&customer, &server, &scarce, 2).await;
    css(&customer, "tr.cart-line").await;
    let staff = server.staff().await;
    let (status, body) = server
        .call(
            "PATCH",
            &format!("/api/admin/products/{scarce}"),
            Some(&staff),
            Some(json!({"stock_adjustment": -2})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    customer.goto(&server.url("/checkout")).await.unwrap();
    fill_details(&customer, "London", "SW1Y 4JH", false).await;
    set_country(&customer, "GB").await;
    submit(&customer, "form#checkout").await;
    let line = text(&customer, "#stock-problems .stock-line").await;
    assert!(
        line.contains("Silver Needle") && line.contains("only 1 left"),
        "{line}"
    );
    screenshot(&customer, "checkout-stock-refused").await;
    submit(&customer, "#stock-problems form.reduce").await;
    let quantity = css(&customer, "tr.cart-line input[name='quantity']")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(quantity, "1", "reduced to what is left");
    customer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_phone_width_nothing_overflows_and_the_total_sits_above_the_button() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let tea = product(&server, "Genmaicha", 500).await;
    let customer = driver.browser().await;
    resize(&customer, PHONE).await;
    // A long email, as people have.
    let email = format!(
        "maximilian.alexander.longname{}@example-company.co.uk",
        common::unique()
    );
    customer.goto(&server.url("/register")).await.unwrap();
    fill(&customer, "form#register", "email", &email).await;
    fill(&customer, "form#register", "password", PASSWORD).await;
    submit(&customer, "form#register").await;
    until_text(&customer, "#whoami", |t| !t.is_empty()).await;
    let width = i64::from(PHONE.0);
    let inner = script(&customer, "return [window.innerWidth, window.innerHeight];").await;
    assert_eq!(inner, json!([width, PHONE.1]), "the viewport is 390×844");

    // The email is on one line, cut with an ellipsis, never broken.
    let lines = script(
        &customer,
        "var e = document.getElementById('whoami');\
         var h = parseFloat(getComputedStyle(e).lineHeight) || 24;\
         return [e.getBoundingClientRect().height, h, getComputedStyle(e).textOverflow];",
    )
    .await;
    let height = lines[0].as_f64().unwrap_or_default();
    let line = lines[1].as_f64().unwrap_or(24.0);
    assert!(height < line * 1.5, "the email wraps: {lines}");
    assert_eq!(lines[2], "ellipsis");

    add(&customer, &server, &tea, 1).await;
    for page in ["/", &format!("/products/{tea}"), "/cart", "/checkout"] {
        customer.goto(&server.url(page)).await.unwrap();
        let (scroll, inner) = overflows(&customer).await;
        assert!(
            scroll <= inner,
            "{page} scrolls sideways: {scroll} > {inner}"
        );
    }

    // The total is above Place order, and both fit on one screen.
    let boxes = script(
        &customer,
        "var t = document.getElementById('checkout-due').getBoundingClientRect();\
         var b = document.getElementById('place-order').getBoundingClientRect();\
         return [t.top, t.bottom, b.top, b.bottom];",
    )
    .await;
    let at = |i: usize| boxes[i].as_f64().unwrap_or_default();
    assert!(at(1) <= at(2), "the total is above the button: {boxes}");
    assert!(
        at(3) - at(0) < f64::from(PHONE.1),
        "the total and the button fit on one screen: {boxes}"
    );
    css(&customer, "#place-order")
        .await
        .click()
        .await
        .expect("scroll to and press Place order");
    let focused = script(
        &customer,
        "return document.activeElement && document.activeElement.id;",
    )
    .await;
    let deadline = std::time::Instant::now() + browser_support::LIVE;
    let mut focused = focused;
    while focused != "form-errors" && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        focused = script(
            &customer,
            "return document.activeElement && document.activeElement.id;",
        )
        .await;
    }
    assert_eq!(focused, "form-errors", "focus on the error summary");
    let (scroll, inner) = overflows(&customer).await;
    assert!(scroll <= inner, "the failed checkout scrolls sideways");
    screenshot(&customer, "checkout-errors-phone").await;

    // The admin's order list: many orders on one phone screen.
    let token = server.customer().await;
    for _ in 0..12 {
        let cart = server.cart(&token, &tea, 1).await;
        let (status, body) = server.checkout(&token, &cart, common::CARD_OK).await;
        assert_eq!(status, 201, "{body}");
    }
    let staff = driver.browser().await;
    resize(&staff, PHONE).await;
    staff.goto(&server.url("/admin/login")).await.unwrap();
    fill(&staff, "form#login", "email", STAFF_EMAIL).await;
    fill(&staff, "form#login", "password", STAFF_PASSWORD).await;
    submit(&staff, "form#login").await;
    staff.goto(&server.url("/admin/orders")).await.unwrap();
    css(&staff, "#orders tr.order-row").await;
    let visible = script(
        &staff,
        "var rows = document.querySelectorAll('#orders tr.order-row');\
         var n = 0; for (var i = 0; i < rows.length; i++) {\
           if (rows[i].getBoundingClientRect().bottom <= window.innerHeight) n++; }\
         return [n, rows.length, rows[0].getBoundingClientRect().height];",
    )
    .await;
    screenshot(&staff, "admin-orders-phone").await;
    let shown = visible[0].as_i64().unwrap_or_default();
    assert!(shown >= 6, "orders on one phone screen: {visible}");
    let (scroll, inner) = overflows(&staff).await;
    assert!(scroll <= inner, "the admin list scrolls sideways");
    resize(&staff, DESKTOP).await;
    screenshot(&staff, "admin-orders-desktop").await;
    staff.close().await.unwrap();
    customer.close().await.unwrap();
}

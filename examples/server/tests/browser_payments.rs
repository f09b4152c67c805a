//! 3-D Secure in a real headless Chromium against the real `orders-server`
//! binary:
//! 1. with the built-in test gateway, the 3-D Secure test card
//!    (4000002500003155) leaves the order awaiting payment; the order
//!    page's "Complete payment" form pays it; paid another way (the API),
//!    the open page follows live and hides the form;
//! 2. with Stripe (a real localstripe on a free port), the checkout's card
//!    fields are Stripe.js Elements (localstripe's Stripe.js); the card
//!    becomes a payment method in the browser, Stripe.js runs 3-D Secure
//!    on the order page, and the order ends paid (or, the authentication
//!    failed, cancelled with its stock back). Every request the browser
//!    sends the shop goes through a recording proxy: none carries the
//!    card number, the checkout carries a token.
//!
//! Needs Chromium and ChromeDriver (see `browser.rs`) and localstripe
//! (`ORDERS_LOCALSTRIPE_VENV`, default `/var/cache/orders-ci/venv-localstripe`).
//! Without them the tests say so and pass, unless `ORDERS_REQUIRE_BROWSER=1`
//! (or `ORDERS_REQUIRE_STRIPE=1` for localstripe).

mod browser_support;
mod common;

use browser_support::{
    Driver, choose, css, fill, screenshot, set_country, submit, until_text, url,
};
use common::Server;
use fantoccini::{Client, Locator};

/// One browser story at a time: each drives its own Chromium, server (and
/// localstripe), and on a machine of two cores the live waits would
/// otherwise race each other's start-ups.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The 3-D Secure test card (Stripe's, and the test gateway's).
const CARD_3DS: &str = "4000002500003155";

/// Registers a fresh customer at `base`, puts one demo product in the cart
/// and opens the checkout; returns the product's id.
async fn customer_with_a_cart(browser: &Client, base: &str) -> String {
    browser.goto(&format!("{base}/register")).await.unwrap();
    let email = format!("payer{}@example.com", common::unique());
    fill(browser, "form#register", "email", &email).await;
    fill(browser, "form#register", "password", "a long password").await;
    submit(browser, "form#register").await;
    until_text(browser, "#whoami", |t| t.contains(&email)).await;
    browser.goto(&format!("{base}/")).await.unwrap();
    let link = css(browser, "a.product-link")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("a product link");
    browser.goto(&format!("{base}{link}")).await.unwrap();
    submit(browser, "form#add-to-cart").await;
    css(browser, "tr.cart-line").await;
    css(browser, "a#to-checkout").await.click().await.unwrap();
    css(browser, "form#checkout").await;
    link.rsplit('/').next().unwrap().to_owned()
}

/// Fills the contact, address and shipping of the checkout, card chosen.
async fn fill_address(browser: &Client) {
    let form = "form#checkout";
    for (name, text) in [
        ("email", "ada@example.com"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_test_gateway_a_3ds_card_is_completed_on_the_order_page() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, _dir) = common::sqlite_url();
    let server = Server::start(&database);
    let customer = driver.browser().await;
    customer_with_a_cart(&customer, &server.base).await;
    fill_address(&customer).await;
    for (name, text) in [
        ("payment.card.number", CARD_3DS),
        ("payment.card.exp_month", "12"),
        ("payment.card.exp_year", "2030"),
        ("payment.card.cvc", "123"),
        ("payment.card.holder", "Ada Lovelace"),
    ] {
        fill(&customer, "form#checkout", name, text).await;
    }
    submit(&customer, "form#checkout").await;

    assert_eq!(
        until_text(&customer, "#order-status", |t| !t.is_empty()).await,
        "Waiting for your payment",
        "on {}",
        url(&customer).await
    );
    css(&customer, "form#complete-payment").await;
    screenshot(&customer, "storefront-order-awaiting-payment").await;
    submit(&customer, "form#complete-payment").await;
    assert_eq!(
        until_text(&customer, "#order-status", |t| !t.is_empty()).await,
        "Paid"
    );
    let payment = until_text(&customer, "#order-payment", |t| !t.is_empty()).await;
    assert!(
        payment.contains("3155") && payment.contains("— Paid"),
        "{payment}"
    );
    assert!(
        customer
            .find_all(Locator::Css("form#complete-payment"))
            .await
            .unwrap()
            .is_empty(),
        "nothing left to complete"
    );
    customer.close().await.unwrap();
    assert!(
        !server.logs().contains(CARD_3DS),
        "no card number in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_paid_elsewhere_leaves_awaiting_payment_on_the_open_page_without_a_reload() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, _dir) = common::sqlite_url();
    let server = Server::start(&database);
    let customer = driver.browser().await;
    customer_with_a_cart(&customer, &server.base).await;
    fill_address(&customer).await;
    for (name, text) in [
        ("payment.card.number", CARD_3DS),
        ("payment.card.exp_month", "12"),
        ("payment.card.exp_year", "2030"),
        ("payment.card.cvc", "123"),
        ("payment.card.holder", "Ada Lovelace"),
    ] {
        fill(&customer, "form#checkout", name, text).await;
    }
    submit(&customer, "form#checkout").await;
    until_text(&customer, "#order-status", |t| {
        t == "Waiting for your payment"
    })
    .await;
    until_text(&customer, "#live", |t| !t.is_empty()).await;
    let page = url(&customer).await;
    let id = css(&customer, "body")
        .await
        .attr("data-order-id")
        .await
        .unwrap()
        .expect("the order page names its order");

    // The customer's return arrives another way (the API, as a provider's
    // redirect would): the open page follows.
    let token = customer
        .get_named_cookie("orders_session")
        .await
        .expect("signed in")
        .value()
        .to_owned();
    let (status, order) = server
        .call(
            "POST",
            &format!("/api/orders/{id}/payment/confirm"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(
        until_text(&customer, "#order-status", |t| t == "Paid").await,
        "Paid"
    );
    let deadline = std::time::Instant::now() + browser_support::LIVE;
    while css(&customer, "#payment-action")
        .await
        .is_displayed()
        .await
        .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the Complete payment panel is still shown"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(url(&customer).await, page, "never reloaded");
    customer.close().await.unwrap();
}

/// Stripe through a real localstripe, and the shop behind a recording proxy.
#[cfg(feature = "stripe")]
mod stripe {
    use std::time::Duration;

    use fantoccini::{Client, Locator};

    use super::browser_support::localstripe::Localstripe;
    use super::browser_support::proxy::{Received, RecordingProxy};
    use super::browser_support::{Driver, css, screenshot, submit, until_text, url};
    use super::common::{self, Server};
    use super::{CARD_3DS, ONE_AT_A_TIME, customer_with_a_cart, fill_address};

    /// A shop on Stripe (a localstripe) that the browser reaches through a
    /// recording proxy.
    struct StripeShop {
        server: Server,
        proxy: RecordingProxy,
        _stripe: Localstripe,
        _dir: tempfile::TempDir,
    }

    async fn stripe_shop() -> Option<StripeShop> {
        let stripe = Localstripe::start()?;
        let (database, dir) = common::sqlite_url();
        let config = dir.path().join("shop.toml");
        std::fs::write(
            &config,
            format!(
                "[payments]\nprovider = \"stripe\"\napi_base = \"{0}\"\njs_url = \"{0}/js.stripe.com/v3/\"\n",
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
        let proxy = RecordingProxy::start(&server.base).await;
        Some(StripeShop {
            server,
            proxy,
            _stripe: stripe,
            _dir: dir,
        })
    }

    async fn stock(server: &Server, product: &str) -> i64 {
        let (status, body) = server
            .call("GET", &format!("/api/products/{product}"), None, None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["stock"].as_i64().expect("a stock")
    }

    /// Checks out with the 3-D Secure card typed into Stripe.js's card
    /// fields; ends on the order page with Stripe.js's 3-D Secure dialog
    /// open. Returns the product's id and its stock before the checkout.
    async fn checkout_to_3ds(customer: &Client, shop: &StripeShop) -> (String, i64) {
        let product = customer_with_a_cart(customer, &shop.proxy.base).await;
        let before = stock(&shop.server, &product).await;
        fill_address(customer).await;
        assert!(
            customer
                .find_all(Locator::Css("[name^='payment.card.']"))
                .await
                .unwrap()
                .is_empty(),
            "no card input of the shop's own"
        );
        // localstripe's Stripe.js mounts its card fields in #card-element.
        for (field, text) in [
            ("number", CARD_3DS),
            ("exp_month", "12"),
            ("exp_year", "30"),
            ("cvc", "123"),
            ("postal_code", "42424"),
        ] {
            css(
                customer,
                &format!("#card-element input[placeholder='{field}']"),
            )
            .await
            .send_keys(text)
            .await
            .expect("type into Stripe.js's card field");
        }
        screenshot(customer, "storefront-checkout-stripe").await;
        submit(customer, "form#checkout").await;
        assert_eq!(
            until_text(customer, "#order-status", |t| !t.is_empty()).await,
            "Waiting for your payment",
            "on {}",
            url(customer).await
        );
        assert_eq!(
            stock(&shop.server, &product).await,
            before - 1,
            "the order holds its stock"
        );
        (product, before)
    }

    /// Answers Stripe.js's 3-D Secure dialog with `button`.
    async fn answer_3ds(customer: &Client, button: &str) {
        let xpath = format!("//button[normalize-space()='{button}']");
        let found = match customer
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath(&xpath))
            .await
        {
            Ok(found) => found,
            Err(e) => panic!("no 3-D Secure dialog on {}: {e}", url(customer).await),
        };
        screenshot(customer, "storefront-order-stripe-3ds").await;
        found.click().await.expect("answer 3-D Secure");
    }

    /// No request that reached the shop carries the card number, in any
    /// spelling (digits of the path and body together).
    fn assert_no_card_number(seen: &[Received]) {
        for request in seen {
            let digits: String = request
                .body
                .chars()
                .chain(request.path.chars())
                .filter(char::is_ascii_digit)
                .collect();
            assert!(
                !digits.contains(CARD_3DS),
                "the card number reached the shop: {} {} {}",
                request.method,
                request.path,
                request.body
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_stripe_the_card_stays_in_stripe_js_and_3ds_completes_to_a_paid_order() {
        let _turn = ONE_AT_A_TIME.lock().await;
        let Some(driver) = Driver::start().await else {
            return;
        };
        let Some(shop) = stripe_shop().await else {
            return;
        };
        let customer = driver.browser().await;
        checkout_to_3ds(&customer, &shop).await;
        answer_3ds(&customer, "Complete authentication").await;
        assert_eq!(
            until_text(&customer, "#order-status", |t| t == "Paid").await,
            "Paid"
        );
        let payment = until_text(&customer, "#order-payment", |t| t.contains("— Paid")).await;
        assert!(payment.contains("— Paid"), "{payment}");
        screenshot(&customer, "storefront-order-stripe-paid").await;
        customer.close().await.unwrap();

        let seen = shop.proxy.requests();
        let checkout = seen
            .iter()
            .find(|r| r.method == "POST" && r.path == "/checkout")
            .expect("the checkout went through the proxy");
        assert!(
            checkout.body.contains("payment.token=card_"),
            "the checkout carries Stripe.js's payment method: {}",
            checkout.body
        );
        assert!(
            seen.iter()
                .any(|r| r.method == "POST" && r.path.ends_with("/payment/confirm")),
            "the page posted the confirm after 3-D Secure"
        );
        assert_no_card_number(&seen);
        assert!(
            !shop.server.logs().contains(CARD_3DS),
            "no card number in the logs"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_stripe_a_failed_3ds_cancels_the_order_and_returns_its_stock() {
        let _turn = ONE_AT_A_TIME.lock().await;
        let Some(driver) = Driver::start().await else {
            return;
        };
        let Some(shop) = stripe_shop().await else {
            return;
        };
        let customer = driver.browser().await;
        let (product, before) = checkout_to_3ds(&customer, &shop).await;
        answer_3ds(&customer, "Fail authentication").await;
        assert_eq!(
            until_text(&customer, "#order-status", |t| t == "Cancelled").await,
            "Cancelled"
        );
        assert_eq!(
            stock(&shop.server, &product).await,
            before,
            "the stock is back"
        );
        customer.close().await.unwrap();
        assert_no_card_number(&shop.proxy.requests());
    }
}

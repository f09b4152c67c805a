//! The storefront pages against the real `orders-server` binary on a real
//! port, through a real HTTP client with a cookie store (redirects are not
//! followed, so every 303 is checked where it happens).

mod common;

use std::sync::Arc;

use common::{CARD_DECLINED, CARD_OK, Server};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

/// One browser: a cookie jar and a client that does not follow redirects.
struct Browser<'a> {
    server: &'a Server,
    jar: Arc<Jar>,
    client: reqwest::Client,
}

/// An answer: status, headers, body.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The CSRF token of the page's first form.
    fn csrf(&self) -> String {
        input_value(&self.body, "name=\"csrf_token\"").expect("a CSRF field")
    }

    fn has_id(&self, id: &str) -> bool {
        self.body.contains(&format!("id=\"{id}\""))
    }

    /// The `value` of the input with `id`.
    fn value(&self, id: &str) -> String {
        input_value(&self.body, &format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in\n{}", self.body))
    }

    /// The text of the element with `id` (up to its first child tag).
    fn text(&self, id: &str) -> String {
        let needle = format!("id=\"{id}\"");
        let at = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no #{id} in\n{}", self.body));
        let rest = &self.body[at..];
        let start = rest.find('>').unwrap() + 1;
        let end = rest[start..].find('<').unwrap() + start;
        unescape(rest[start..end].trim())
    }

    /// The whole tag that carries `id`.
    fn tag(&self, id: &str) -> String {
        tag_with(&self.body, &format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in\n{}", self.body))
            .to_owned()
    }
}

/// The tag containing `needle`.
fn tag_with<'h>(html: &'h str, needle: &str) -> Option<&'h str> {
    let at = html.find(needle)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    Some(&html[start..=end])
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

fn input_value(html: &str, needle: &str) -> Option<String> {
    attr(tag_with(html, needle)?, "value")
}

fn unescape(text: &str) -> String {
    text.replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// Every `href` of `a` tags with class `class`.
fn links(html: &str, class: &str) -> Vec<String> {
    let needle = format!("class=\"{class}\"");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&needle) {
        let start = rest[..at].rfind('<').unwrap();
        let end = at + rest[at..].find('>').unwrap();
        if let Some(href) = attr(&rest[start..=end], "href") {
            found.push(href);
        }
        rest = &rest[end..];
    }
    found
}

impl<'a> Browser<'a> {
    fn new(server: &'a Server) -> Self {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            server,
            jar,
            client,
        }
    }

    async fn answer(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Page {
        let response = self.client.get(self.server.url(path)).send().await.unwrap();
        Self::answer(response).await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(self.server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        Self::answer(response).await
    }

    /// GETs `page` for its form's token, then POSTs `fields` to `action`.
    async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let url = self.server.url("/").parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .unwrap()
            .split("; ")
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    }

    /// The session token, for checking through the JSON API.
    fn token(&self) -> String {
        self.cookie("orders_session").expect("signed in")
    }

    /// Registers a fresh account through the register form.
    async fn register(&self) -> String {
        let email = format!("shopper{}@example.com", common::unique());
        let done = self
            .submit(
                "/register",
                "/register",
                &[
                    ("email", &email),
                    ("password", "a long password"),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location(), "/");
        assert_http_only(&done.headers);
        email
    }

    /// The products the home page links to.
    async fn products(&self) -> Vec<String> {
        let home = self.get("/").await;
        assert_eq!(home.status, StatusCode::OK);
        let mut products = links(&home.body, "product-link");
        products.dedup();
        products
    }

    /// Adds `quantity` of the product at `path` through its page's form.
    async fn add(&self, path: &str, quantity: &str) -> Page {
        let id = path.rsplit('/').next().unwrap();
        self.submit(
            path,
            "/cart/items",
            &[("product_id", id), ("quantity", quantity)],
        )
        .await
    }

    async fn cart_lines(&self) -> Vec<String> {
        let cart = self.get("/cart").await;
        assert_eq!(cart.status, StatusCode::OK, "{}", cart.body);
        let mut lines = Vec::new();
        let mut rest = cart.body.as_str();
        while let Some(at) = rest.find("<tr class=\"cart-line\"") {
            let tag = tag_with(&rest[at..], "class=\"cart-line\"").unwrap();
            lines.push(attr(tag, "data-product-id").unwrap());
            rest = &rest[at + 10..];
        }
        lines
    }

    async fn api(&self, path: &str) -> Value {
        let (status, body) = self
            .server
            .call("GET", path, Some(&self.token()), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Whether `html` holds `text` escaped (and never raw).
fn escaped(html: &str, text: &str) -> bool {
    let named = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let numeric = text
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;");
    !html.contains(text) && (html.contains(&named) || html.contains(&numeric))
}

fn assert_http_only(headers: &HeaderMap) {
    for cookie in headers.get_all(SET_COOKIE) {
        let text = cookie.to_str().unwrap();
        assert!(text.contains("HttpOnly"), "{text}");
        assert!(text.contains("SameSite=Lax"), "{text}");
    }
}

/// The checkout fields, with `postal_code` and `card` varying.
fn checkout_fields<'f>(postal_code: &'f str, card: &'f str) -> Vec<(&'f str, &'f str)> {
    vec![
        ("email", "ada@example.com"),
        ("shipping_address.full_name", "Ada Lovelace"),
        ("shipping_address.line1", "12 St James's Square"),
        ("shipping_address.line2", ""),
        ("shipping_address.city", "London"),
        ("shipping_address.region", ""),
        ("shipping_address.postal_code", postal_code),
        ("shipping_address.country", "GB"),
        ("shipping_address.phone", "+44 20 7946 0958"),
        ("shipping_method", "standard"),
        ("payment.method", "card"),
        ("payment.card.number", card),
        ("payment.card.exp_month", "12"),
        ("payment.card.exp_year", "2030"),
        ("payment.card.cvc", "123"),
        ("payment.card.holder", "Ada Lovelace"),
    ]
}

/// Submits the checkout form as rendered by `form` (its CSRF token and
/// idempotency key) with `fields`.
async fn checkout(browser: &Browser<'_>, form: &Page, fields: &[(&str, &str)]) -> Page {
    let csrf = form.csrf();
    let key = input_value(&form.body, "name=\"idempotency_key\"").expect("an idempotency key");
    let mut all = vec![
        ("csrf_token", csrf.as_str()),
        ("idempotency_key", key.as_str()),
    ];
    all.extend_from_slice(fields);
    browser.post("/checkout", &all).await
}

fn assert_kept_values(page: &Page) {
    assert_eq!(page.value("field-email"), "ada@example.com");
    assert_eq!(
        page.value("field-shipping_address-full_name"),
        "Ada Lovelace"
    );
    assert_eq!(
        page.value("field-shipping_address-line1"),
        "12 St James's Square"
    );
    assert_eq!(page.value("field-shipping_address-city"), "London");
    assert_eq!(page.value("field-payment-card-exp_month"), "12");
    assert_eq!(page.value("field-payment-card-holder"), "Ada Lovelace");
    assert_eq!(page.value("field-payment-card-number"), "");
    assert_eq!(page.value("field-payment-card-cvc"), "");
    assert!(
        page.body
            .contains("<option value=\"GB\" selected>United Kingdom</option>")
    );
    assert!(
        !page.body.contains(CARD_DECLINED),
        "the card number is never echoed"
    );
    assert!(!page.body.contains(CARD_OK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_registers_fills_a_cart_and_checks_out_through_the_pages() {
    let (database, _dir) = common::sqlite_url();
    let server = Server::start(&database);
    let shopper = Browser::new(&server);
    let email = shopper.register().await;
    let home = shopper.get("/").await;
    assert_eq!(home.text("whoami"), email);

    // Two products, through their pages' forms.
    let products = shopper.products().await;
    assert!(products.len() >= 2, "{products:?}");
    let (first, second) = (&products[0], &products[1]);
    let product = shopper.get(first).await;
    assert!(product.has_id("add-to-cart"));
    assert_eq!(product.value("field-quantity"), "1");
    for path in [first, second] {
        let added = shopper.add(path, "1").await;
        assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
        assert_eq!(added.location(), "/cart");
    }
    let ids: Vec<String> = [first, second]
        .iter()
        .map(|p| p.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(shopper.cart_lines().await.len(), 2);

    // A bad quantity is refused beside the field.
    let refused = shopper.add(first, "1000").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has_id("error-quantity"));
    assert!(
        refused
            .tag("field-quantity")
            .contains("aria-invalid=\"true\"")
    );

    // Quantity change, 0 removes, the remove button removes.
    let changed = shopper
        .submit(
            "/cart",
            &format!("/cart/items/{}", ids[0]),
            &[("quantity", "5")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    let cart = shopper.get("/cart").await;
    assert_eq!(cart.value(&format!("quantity-{}", ids[0])), "5");
    let zero = shopper
        .submit(
            "/cart",
            &format!("/cart/items/{}", ids[1]),
            &[("quantity", "0")],
        )
        .await;
    assert_eq!(zero.status, StatusCode::SEE_OTHER);
    assert_eq!(shopper.cart_lines().await, vec![ids[0].clone()]);
    shopper.add(second, "2").await;
    let removed = shopper
        .submit("/cart", &format!("/cart/items/{}/remove", ids[1]), &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(shopper.cart_lines().await, vec![ids[0].clone()]);
    shopper.add(second, "1").await;
    assert_eq!(shopper.cart_lines().await.len(), 2);

    // A bad discount code, then the demo one.
    let bad = shopper
        .submit("/cart", "/cart/discount", &[("code", "NOT-A-CODE")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(!bad.text("error-code").is_empty());
    assert_eq!(bad.value("field-code"), "NOT-A-CODE");
    let good = shopper
        .submit("/cart", "/cart/discount", &[("code", "WELCOME10")])
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.body);
    let cart = shopper.get("/cart").await;
    let cart_id = shopper.cookie("orders_cart").expect("a cart cookie");
    let api_cart = shopper.api(&format!("/api/carts/{cart_id}")).await;
    assert_eq!(api_cart["discount_code"], "WELCOME10");
    for (id, field) in [
        ("cart-subtotal", "subtotal"),
        ("cart-shipping", "shipping_total"),
        ("cart-tax", "tax_total"),
        ("cart-total", "total"),
    ] {
        assert_eq!(
            cart.text(id),
            format!("{} USD", api_cart[field].as_str().unwrap()),
            "{id}"
        );
    }
    assert_eq!(
        cart.text("cart-discount"),
        format!("−{} USD", api_cart["discount_total"].as_str().unwrap())
    );
    assert_ne!(api_cart["discount_total"], "0.00");
    assert!(cart.has_id("to-checkout"));

    // A bad postal code and a declined card.
    let form = shopper.get("/checkout").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.value("field-email"), email, "the account's email");
    let failed = checkout(
        &shopper,
        &form,
        &checkout_fields("NOT A CODE", CARD_DECLINED),
    )
    .await;
    assert_eq!(
        failed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        failed.body
    );
    assert!(failed.has_id("form-errors"));
    assert!(!failed.text("error-shipping_address-postal_code").is_empty());
    let postal = failed.tag("field-shipping_address-postal_code");
    assert!(postal.contains("aria-invalid=\"true\""), "{postal}");
    assert!(
        postal.contains("aria-describedby=\"error-shipping_address-postal_code\""),
        "{postal}"
    );
    assert_eq!(
        failed.value("field-shipping_address-postal_code"),
        "NOT A CODE"
    );
    assert_kept_values(&failed);
    // The core validates every field before it tries the card: the decline
    // comes once the address is right (or at once, should it ever tell).
    let declined = if failed.has_id("error-payment-card-number") {
        failed
    } else {
        let again = checkout(
            &shopper,
            &failed,
            &checkout_fields("SW1Y 4JH", CARD_DECLINED),
        )
        .await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!again.has_id("error-shipping_address-postal_code"));
        again
    };
    let message = declined.text("error-payment-card-number");
    assert!(message.contains("declined"), "{message}");
    assert!(
        declined
            .tag("field-payment-card-number")
            .contains("aria-describedby=\"error-payment-card-number\"")
    );
    assert_kept_values(&declined);
    let history = shopper.api("/api/orders").await;
    assert_eq!(history["items"], json!([]), "no order yet");

    // Corrected, and submitted twice at once: one order, its page.
    let fields = checkout_fields("SW1Y 4JH", CARD_OK);
    let (one, two) = tokio::join!(
        checkout(&shopper, &declined, &fields),
        checkout(&shopper, &declined, &fields)
    );
    for placed in [&one, &two] {
        assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    }
    let history = shopper.api("/api/orders").await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "a double submit makes one order: {history}");
    let order_id = items[0]["id"].as_str().unwrap();
    let order_path = format!("/orders/{order_id}?placed=1");
    // Each submit lands on that order, or on the history while the other
    // one is still placing it.
    for placed in [&one, &two] {
        let location = placed.location();
        assert!(
            location == order_path || location == "/orders",
            "{location}"
        );
    }
    let location = [&one, &two]
        .iter()
        .map(|p| p.location())
        .find(|l| *l == order_path)
        .expect("one submit lands on the order");
    let order = shopper.get(&location).await;
    assert_eq!(order.status, StatusCode::OK);
    assert_eq!(order.text("order-status"), "Paid");
    assert_eq!(
        order.text("order-number"),
        items[0]["number"].as_str().unwrap()
    );
    assert!(
        order
            .body
            .contains(&format!("data-order-id=\"{order_id}\""))
    );
    assert!(order.has_id("order-events"));
    assert!(order.body.contains("ending in 4242"));
    assert!(order.body.contains("SW1Y 4JH"));

    // The history lists it; the cart is empty again.
    let orders = shopper.get("/orders").await;
    assert_eq!(
        links(&orders.body, "order-link"),
        vec![format!("/orders/{order_id}")]
    );
    assert!(orders.body.contains("class=\"order-row\""));
    assert!(shopper.cart_lines().await.is_empty());
    let after = shopper.get("/checkout").await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "an empty cart has no checkout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_a_valid_csrf_token_is_refused_and_changes_nothing() {
    let (database, _dir) = common::sqlite_url();
    let server = Server::start(&database);
    let shopper = Browser::new(&server);
    shopper.register().await;
    let products = shopper.products().await;
    let id = products[0].rsplit('/').next().unwrap().to_owned();

    let missing = shopper
        .post("/cart/items", &[("product_id", &id), ("quantity", "1")])
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(
        missing.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let wrong = shopper
        .post(
            "/cart/items",
            &[
                ("csrf_token", &"0".repeat(64)),
                ("product_id", &id),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Another browser's token does not work either.
    let other = Browser::new(&server);
    let foreign = other.get("/login").await.csrf();
    let stolen = shopper
        .post(
            "/cart/items",
            &[
                ("csrf_token", &foreign),
                ("product_id", &id),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    assert!(shopper.cart_lines().await.is_empty(), "nothing was added");
    assert!(shopper.cookie("orders_cart").is_none());

    // With a cart: changes and checkout without the token change nothing.
    shopper.add(&products[0], "2").await;
    let cart_id = shopper.cookie("orders_cart").unwrap();
    let before = shopper.api(&format!("/api/carts/{cart_id}")).await;
    for (path, fields) in [
        (format!("/cart/items/{id}"), vec![("quantity", "7")]),
        (format!("/cart/items/{id}/remove"), vec![]),
        ("/cart/discount".to_owned(), vec![("code", "WELCOME10")]),
        ("/checkout".to_owned(), checkout_fields("SW1Y 4JH", CARD_OK)),
    ] {
        let refused = shopper.post(&path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    let after = shopper.api(&format!("/api/carts/{cart_id}")).await;
    assert_eq!(before, after);
    assert_eq!(shopper.api("/api/orders").await["items"], json!([]));

    // Signing out needs the token too.
    let logout = shopper.post("/logout", &[]).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    assert!(shopper.get("/").await.has_id("whoami"), "still signed in");
    let out = shopper.submit("/", "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!shopper.get("/").await.has_id("whoami"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_need_a_customer_send_visitors_to_sign_in_and_back() {
    let (database, _dir) = common::sqlite_url();
    let server = Server::start(&database);
    let visitor = Browser::new(&server);
    let page = visitor.get("/orders").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=%2Forders");
    // A visitor shops as a guest: an empty cart, and no checkout without one.
    assert_eq!(visitor.get("/cart").await.status, StatusCode::OK);
    let page = visitor.get("/checkout").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/cart");
    let login = visitor.get("/login?next=%2Fcheckout").await;
    assert!(login.has_id("login"));
    assert_eq!(
        input_value(&login.body, "name=\"next\"").unwrap(),
        "/checkout"
    );

    // An account, then sign in through the form.
    let email = format!("back{}@example.com", common::unique());
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": email, "password": "password 123"})),
        )
        .await;
    assert_eq!(status, 201);
    let wrong = visitor
        .submit(
            "/login",
            "/login",
            &[
                ("email", &email),
                ("password", "not it at all"),
                ("next", "/checkout"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.text("error-password").is_empty());
    assert_eq!(wrong.value("field-email"), email);
    assert!(visitor.cookie("orders_session").is_none());
    let signed_in = visitor
        .submit(
            "/login",
            "/login",
            &[
                ("email", &email),
                ("password", "password 123"),
                ("next", "/checkout"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), "/checkout");
    assert_http_only(&signed_in.headers);
    assert_eq!(visitor.get("/").await.text("whoami"), email);

    // No open redirect.
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let page = visitor
            .submit(
                "/login",
                "/login",
                &[
                    ("email", &email),
                    ("password", "password 123"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(page.location(), "/", "{next}");
    }

    // Registering with a taken email or a short password: errors beside
    // the fields.
    let taken = visitor
        .submit(
            "/register",
            "/register",
            &[("email", &email), ("password", "short")],
        )
        .await;
    assert!(taken.status.is_client_error(), "{}", taken.status);
    assert!(taken.has_id("error-password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_customers_order_page_is_not_found() {
    let (database, _dir) = common::sqlite_url();
    let server = Server::start(&database);
    let owner = server.customer().await;
    let products = Browser::new(&server).products().await;
    let product = products[0].rsplit('/').next().unwrap();
    let cart = server.cart(&owner, product, 1).await;
    let (status, order) = server.checkout(&owner, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    let path = format!("/orders/{}", order["id"].as_str().unwrap());

    let stranger = Browser::new(&server);
    stranger.register().await;
    let page = stranger.get(&path).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!page.has_id("order-status"));
    let missing = stranger.get("/orders/not-an-order").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let anonymous = Browser::new(&server).get(&path).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_small_escaped_and_sent_with_the_security_headers() {
    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let staff = server.staff().await;
    let (status, product) = server
        .call(
            "POST",
            "/api/admin/products",
            Some(&staff),
            Some(
                json!({"sku": "XSS-1", "name": "<script>alert(1)</script> Mug",
                        "description": "\"quoted\" & <b>bold</b>", "price": "25.00",
                        "currency": "USD", "stock": 3}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let product_path = format!("/products/{}", product["id"].as_str().unwrap());

    let shopper = Browser::new(&server);
    let anonymous: Vec<Page> = vec![
        shopper.get("/").await,
        shopper.get(&product_path).await,
        shopper.get("/login").await,
        shopper.get("/register").await,
        shopper.get("/no/such/page").await,
        shopper.post("/cart/items", &[]).await,
    ];
    shopper.register().await;
    shopper.add(&product_path, "1").await;
    let form = shopper.get("/checkout").await;
    let placed = checkout(&shopper, &form, &checkout_fields("SW1Y 4JH", CARD_OK)).await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    let failed = {
        shopper.add(&product_path, "1").await;
        let form = shopper.get("/checkout").await;
        checkout(&shopper, &form, &checkout_fields("", "1234")).await
    };
    assert_eq!(failed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let signed_in = vec![
        shopper.get("/").await,
        shopper.get("/cart").await,
        form,
        failed,
        shopper.get("/orders").await,
        shopper.get(&placed.location()).await,
    ];
    for page in anonymous.iter().chain(&signed_in) {
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        let script_src = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .expect("a script-src");
        assert!(!script_src.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_http_only(&page.headers);
        assert!(page.body.len() < 100 * 1024, "{} bytes", page.body.len());
        let lower = page.body.to_lowercase();
        assert!(!lower.contains("<script>"), "no inline script");
        assert!(!lower.contains(" style="), "no style attribute");
        for handler in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onchange=",
            " oninput=",
        ] {
            assert!(!lower.contains(handler), "{handler}");
        }
    }

    // The name is escaped wherever it shows.
    for page in [&anonymous[0], &anonymous[1], &signed_in[1], &signed_in[5]] {
        assert!(!page.body.contains("<script>alert(1)</script>"));
        assert!(escaped(&page.body, "<script>alert(1)</script> Mug"));
    }
    assert!(escaped(&anonymous[1].body, "\"quoted\" & <b>bold</b>"));
    assert_eq!(anonymous[4].status, StatusCode::NOT_FOUND);
    assert_eq!(anonymous[5].status, StatusCode::FORBIDDEN);

    // The assets: hashed names, long cache, the right types, same headers.
    let home = &anonymous[0].body;
    let css = attr(tag_with(home, "rel=\"stylesheet\"").unwrap(), "href").unwrap();
    let js = attr(tag_with(home, "<script src=").unwrap(), "src").unwrap();
    for (path, kind) in [(&css, "text/css"), (&js, "text/javascript")] {
        assert!(path.starts_with("/assets/storefront-"), "{path}");
        let asset = shopper.get(path).await;
        assert_eq!(asset.status, StatusCode::OK);
        assert!(
            asset.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            asset.headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(asset.headers["x-content-type-options"], "nosniff");
    }
    assert_eq!(
        shopper
            .get("/assets/storefront-000000000000.css")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The API keeps its own 404 beside the pages.
    let api = shopper.get("/api/no-such-route").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.headers["content-type"], "application/problem+json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_page_socket_follows_the_order_with_the_session_cookie_only() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let shopper = Browser::new(&server);
    shopper.register().await;
    let products = shopper.products().await;
    shopper.add(&products[0], "1").await;
    let form = shopper.get("/checkout").await;
    let placed = checkout(&shopper, &form, &checkout_fields("SW1Y 4JH", CARD_OK)).await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    let page = shopper.get(&placed.location()).await;
    let order_id = attr(
        tag_with(&page.body, "data-order-id=").unwrap(),
        "data-order-id",
    )
    .unwrap();
    let script = attr(tag_with(&page.body, "<script src=").unwrap(), "src").unwrap();
    let js = shopper.get(&script).await.body;
    assert!(js.contains("/track"), "the page's script follows the order");

    // What the page's script does: the socket, with the cookie the browser
    // sends and the page's own origin, and no token in the URL.
    let socket = |origin: String| {
        let mut request = server
            .ws_url(&format!("/api/orders/{order_id}/track"))
            .into_client_request()
            .unwrap();
        let cookie = format!("orders_session={}", shopper.token());
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let (mut ws, _) = socket(server.base.clone()).await.expect("same origin");
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("a snapshot in time")
        .unwrap()
        .unwrap();
    let frame: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(frame["type"], "snapshot");
    assert_eq!(frame["order"]["id"], order_id.as_str());
    assert_eq!(frame["order"]["status"], "paid");

    // A staff move reaches the socket.
    let staff = server.staff().await;
    let (status, body) = server.transition(&staff, &order_id, "processing").await;
    assert_eq!(status, 200, "{body}");
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("the event in time")
        .unwrap()
        .unwrap();
    let frame: Value = serde_json::from_str(next.to_text().unwrap()).unwrap();
    assert_eq!(frame["type"], "event");
    assert_eq!(frame["event"]["to"], "processing");

    // Another site's page cannot use the cookie.
    assert!(socket("http://evil.example".to_owned()).await.is_err());
}

/// A checkout counter of the server's `/metrics` (`placed`, `validation`…).
async fn checkouts(server: &Server, outcome: &str) -> f64 {
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("orders_checkouts_total{{outcome=\"{outcome}\"}} ");
    let line = text.lines().find(|line| line.starts_with(&series));
    line.unwrap_or_else(|| panic!("no {series} in\n{text}"))[series.len()..]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_checkout_page_counts_its_checkouts_as_the_api_does() {
    let (url, _dir) = common::sqlite_url();
    let server = Server::start(&url);
    let shopper = Browser::new(&server);
    shopper.register().await;
    let product = shopper.products().await.remove(0);
    assert_eq!(
        shopper.add(&product, "1").await.status,
        StatusCode::SEE_OTHER
    );
    let (placed, invalid) = (
        checkouts(&server, "placed").await,
        checkouts(&server, "validation").await,
    );

    let form = shopper.get("/checkout").await;
    let refused = checkout(&shopper, &form, &checkout_fields("NOT A CODE", CARD_OK)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(checkouts(&server, "validation").await - invalid, 1.0);
    let done = checkout(&shopper, &refused, &checkout_fields("SW1Y 4JH", CARD_OK)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(checkouts(&server, "placed").await - placed, 1.0);
}

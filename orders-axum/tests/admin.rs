//! The admin panel (feature `admin`) over a real socket with a real HTTP
//! client: redirects are not followed and cookies are kept by hand, so
//! every status, `Location` and `Set-Cookie` is checked as sent.
#![cfg(feature = "admin")]

#[path = "admin_support/mod.rs"]
mod support;

use support::*;

#[allow(unused_imports)]
use support::reexports::*;

// ------------------------------------------------------------ signing in

#[tokio::test]
async fn staff_sign_in_sets_an_http_only_same_site_cookie() {
    let app = spawn(25).await;
    let mut browser = Browser::new(&app);
    let login = browser.get("/admin/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.has("<form id=\"login\""));
    assert!(login.has("<label for=\"field-email\">"));
    assert!(
        login
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("orders_csrf=")),
        "the CSRF id cookie comes with the first form"
    );

    let token = login.csrf();
    let done = browser
        .post(
            "/admin/login",
            &[
                ("email", STAFF_EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), "/admin/");
    let session = done
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("orders_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: {session}");

    for path in ["/admin/", "/admin"] {
        let orders = browser.get(path).await;
        assert_eq!(orders.status, StatusCode::OK, "{path}");
        assert!(orders.has("<table id=\"orders\""), "{path}");
        assert_eq!(orders.text_of("whoami").as_deref(), Some(STAFF_EMAIL));
    }

    // Behind a TLS proxy the cookie is Secure.
    let mut tls = Browser::new(&app);
    let token = tls.get("/admin/login").await.csrf();
    let response = tls
        .http
        .post(format!("{}/admin/login", tls.base))
        .header("cookie", tls.cookie_header())
        .header("x-forwarded-proto", "https")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("email", STAFF_EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ]))
        .send()
        .await
        .unwrap();
    let page = tls.keep(response).await;
    assert!(
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with("orders_session=") && c.contains("Secure"))
    );

    // Signing out ends the host's session and deletes the cookie.
    let out = browser.submit("/admin/", "/admin/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/admin/login");
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("orders_session=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(app.users.signed_out.lock().unwrap().len(), 1);
    assert_eq!(browser.get("/admin/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signed_in_staff_skip_the_form_and_wrong_methods_get_a_page() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let login = browser.get("/admin/login").await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.location(), "/admin/");
    let wrong = browser.get("/admin/logout").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong.has("Method not allowed"));
}

#[tokio::test]
async fn wrong_passwords_and_customers_are_refused() {
    let app = spawn(25).await;
    let mut browser = Browser::new(&app);
    let wrong = browser.sign_in(STAFF_EMAIL, "not it").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.has("Wrong email or password"));
    assert!(wrong.has(&format!("value=\"{STAFF_EMAIL}\"")), "email kept");
    assert!(!wrong.has("not it"), "the password is never echoed");

    let customer = browser.sign_in(CUSTOMER_EMAIL, PASSWORD).await;
    assert_eq!(customer.status, StatusCode::FORBIDDEN);
    assert!(customer.has("not a staff account"));
    assert!(
        !customer
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("orders_session=")),
        "no session cookie for a customer"
    );
    assert!(!customer.has("<table id=\"orders\""));
    assert_eq!(
        app.users.signed_out.lock().unwrap().len(),
        1,
        "the customer's new session was closed again"
    );

    let limited = browser.sign_in(LIMITED_EMAIL, PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers["retry-after"], "60");
    assert!(limited.has("Try again in 60 seconds"));

    let empty = browser.sign_in("", "").await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.has("id=\"error-email\""));
}

#[tokio::test]
async fn a_customer_session_gets_403_pages() {
    let app = spawn(25).await;
    let order = place(&app, "ada@example.com", true).await;
    app.users
        .sessions
        .lock()
        .unwrap()
        .insert("customer-token".into(), caller(CUSTOMER_EMAIL, false));
    let mut browser = Browser::new(&app);
    browser
        .cookies
        .insert("orders_session".into(), "customer-token".into());
    for path in [
        "/admin/".to_owned(),
        "/admin/orders".to_owned(),
        format!("/admin/orders/{}", order.id().as_str()),
        "/admin/products".to_owned(),
        "/admin/products/new".to_owned(),
        "/admin/discounts".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.has("Staff only"), "{path}");
        assert!(!page.has("ada@example.com"), "no order data on {path}");
    }
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_the_sign_in_page() {
    let app = spawn(25).await;
    let mut browser = Browser::new(&app);
    for path in [
        "/admin",
        "/admin/",
        "/admin/orders",
        "/admin/orders/x",
        "/admin/products",
        "/admin/discounts",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/admin/login", "{path}");
    }
    // An expired or unknown token is the same as none.
    browser
        .cookies
        .insert("orders_session".into(), "forgotten".into());
    assert_eq!(browser.get("/admin/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_unreachable_user_store_is_a_503_page_with_retry_after() {
    let app = spawn(25).await;
    let mut browser = Browser::new(&app);
    browser
        .cookies
        .insert("orders_session".into(), DOWN_TOKEN.into());
    let page = browser.get("/admin/orders").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.headers.contains_key("retry-after"));
    assert!(page.has("not answering"));
}

// ------------------------------------------------------------------ CSRF

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_refused_and_change_nothing() {
    let app = spawn(25).await;
    let order = advance(
        &app,
        &place(&app, "ada@example.com", true).await,
        &[OrderStatus::Processing],
    )
    .await;
    let mut browser = staff(&app).await;
    let action = format!("/admin/orders/{}/transition", order.id().as_str());
    let page = format!("/admin/orders/{}", order.id().as_str());
    let real = browser.get(&page).await.csrf();

    let mut other = Browser::new(&app);
    let foreign = other.get("/admin/login").await.csrf();
    for token in [
        None,
        Some("forged"),
        Some(foreign.as_str()),
        Some(&real[..63]),
    ] {
        let mut fields = vec![("to", "cancelled")];
        if let Some(token) = token {
            fields.push(("csrf_token", token));
        }
        let refused = browser.post(&action, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(refused.has("security token"));
        assert_eq!(status_of(&app, &order).await, OrderStatus::Processing);
    }

    let refused = browser
        .post(
            "/admin/products",
            &[
                ("sku", "X-1"),
                ("name", "X"),
                ("price", "1.00"),
                ("currency", "USD"),
                ("stock", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let products = app
        .orders
        .list_products(false, &orders_core::ports::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(products.items.len(), 1, "only the order's product");

    // The login form is protected too (login CSRF).
    let mut fresh = Browser::new(&app);
    let login = fresh
        .post(
            "/admin/login",
            &[("email", STAFF_EMAIL), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);

    // With the page's own token it goes through.
    let ok = browser
        .post(
            &action,
            &[
                ("to", "cancelled"),
                ("confirmed", "yes"),
                ("csrf_token", &real),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app, &order).await, OrderStatus::Cancelled);
}

#[tokio::test]
async fn a_planted_csrf_cookie_and_its_token_are_refused_for_a_signed_in_staff() {
    let app = spawn(25).await;
    let order = advance(
        &app,
        &place(&app, "ada@example.com", true).await,
        &[OrderStatus::Processing],
    )
    .await;
    // The attacker's own browser: a CSRF id and the token the sign-in page
    // gives for it, with no session.
    let mut attacker = Browser::new(&app);
    let planted_token = attacker.get("/admin/login").await.csrf();
    let planted_id = attacker.cookies["orders_csrf"].clone();

    // The victim signs in, then the attacker's id is planted in its browser.
    let mut victim = staff(&app).await;
    victim.cookies.insert("orders_csrf".into(), planted_id);
    let action = format!("/admin/orders/{}/transition", order.id().as_str());
    let forged = victim
        .post(
            &action,
            &[("to", "cancelled"), ("csrf_token", &planted_token)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_eq!(status_of(&app, &order).await, OrderStatus::Processing);

    // A form the victim's own session loads with that id still works.
    let page = format!("/admin/orders/{}", order.id().as_str());
    let own = victim.get(&page).await.csrf();
    assert_ne!(own, planted_token);
    let ok = victim
        .post(
            &action,
            &[
                ("to", "cancelled"),
                ("confirmed", "yes"),
                ("csrf_token", &own),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(status_of(&app, &order).await, OrderStatus::Cancelled);
}

#[tokio::test]
async fn customer_text_is_isolated_so_it_cannot_reorder_the_page() {
    let app = spawn(25).await;
    let product = testkit::product(&app.orders, "10.00", 100).await;
    let customer = CustomerId::parse("shopper").unwrap();
    let cart = testkit::cart_with(&app.orders, &customer, &[(product.id(), 1)]).await;
    let mut form = testkit::form(None);
    let address = form.shipping_address.as_mut().unwrap();
    // Hebrew with the direction mark a Hebrew keyboard adds after a number.
    address.full_name = Some("עדה לאבלייס 12\u{200F}".into());
    address.line1 = Some("שדרות רוטשילד 1".into());
    let order = app
        .orders
        .checkout(&customer, &cart, form, None)
        .await
        .unwrap()
        .order;

    let mut browser = staff(&app).await;
    let page = browser
        .get(&format!("/admin/orders/{}", order.id().as_str()))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "עדה לאבלייס 12\u{200F}",
        "שדרות רוטשילד 1",
        "ada@example.com",
    ] {
        assert!(
            page.has(&format!("<bdi>{text}</bdi>")),
            "{text} is not isolated:\n{}",
            page.body
        );
    }
    let list = browser.get("/admin/orders").await;
    assert!(list.has("<bdi>ada@example.com</bdi>"), "{}", list.body);
}

// ---------------------------------------------------------------- orders

#[tokio::test]
async fn the_orders_list_filters_searches_and_pages_newest_first() {
    let app = spawn(2).await;
    let a = place(&app, "ann@example.com", true).await;
    let b = place(&app, "bea@example.org", false).await;
    let c = advance(
        &app,
        &place(&app, "cat@example.com", true).await,
        &[OrderStatus::Processing],
    )
    .await;
    let ids = |orders: &[&Order]| -> Vec<String> {
        orders.iter().map(|o| o.id().as_str().to_owned()).collect()
    };
    let mut browser = staff(&app).await;

    // Newest first, two a page.
    let first = browser.get("/admin/").await;
    assert_eq!(first.order_rows(), ids(&[&c, &b]));
    assert!(first.has("<td data-label=\"Total\" class=\"num\">14.99 USD</td>"));
    assert!(first.has("<span class=\"badge badge-processing\">processing</span>"));
    let next = between(&first.body, "id=\"next-page\" href=\"", "\"")
        .expect("a next page link")
        .replace("&amp;", "&");
    let second = browser.get(&next).await;
    assert_eq!(second.order_rows(), ids(&[&a]));
    assert!(!second.has("id=\"next-page\""), "the last page");

    // Status filter.
    let paid = browser.get("/admin/orders?status=paid").await;
    assert_eq!(paid.order_rows(), ids(&[&a]));
    assert!(paid.has("<option value=\"paid\" selected>"));
    let processing = browser.get("/admin/orders?status=processing").await;
    assert_eq!(processing.order_rows(), ids(&[&c]));
    let bad = browser.get("/admin/orders?status=lost").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Search by number and by email.
    let by_number = browser
        .get(&format!("/admin/orders?q={}", b.number()))
        .await;
    assert_eq!(by_number.order_rows(), ids(&[&b]));
    let by_hash = browser
        .get(&format!("/admin/orders?q=%23{}", b.number()))
        .await;
    assert_eq!(by_hash.order_rows(), ids(&[&b]));
    let by_email = browser.get("/admin/orders?q=example.org").await;
    assert_eq!(by_email.order_rows(), ids(&[&b]));
    assert!(by_email.has("value=\"example.org\""), "the search is kept");
    let none = browser.get("/admin/orders?q=nobody").await;
    assert!(none.order_rows().is_empty());
    assert!(none.has("No orders match"));
    let both = browser.get("/admin/orders?q=example.com&status=paid").await;
    assert_eq!(both.order_rows(), ids(&[&a]));

    // The row fragment the live list inserts.
    let row = browser
        .get(&format!("/admin/orders/{}/row", a.id().as_str()))
        .await;
    assert_eq!(row.status, StatusCode::OK);
    assert_eq!(row.order_rows(), ids(&[&a]));
    assert!(!row.has("<html"), "a fragment");
}

#[tokio::test]
async fn the_order_page_offers_exactly_the_legal_moves() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    use OrderStatus::*;
    const CARD: Option<&str> = Some("4242424242424242");
    // Waits for the customer's action (3-D Secure).
    const ACTION: Option<&str> = Some(orders_core::ports::TestGateway::REQUIRES_ACTION_CARD);
    let paths: [(Option<&str>, &[OrderStatus]); 8] = [
        (None, &[]),
        (ACTION, &[]),
        (CARD, &[]),
        (CARD, &[Processing]),
        (CARD, &[Processing, Shipped]),
        (CARD, &[Processing, Shipped, Delivered]),
        (CARD, &[Cancelled]),
        (CARD, &[Refunded]),
    ];
    let mut seen = Vec::new();
    for (card, path) in paths {
        let placed = place_paying(&app, "ann@example.com", card).await;
        let order = advance(&app, &placed, path).await;
        let page = browser
            .get(&format!("/admin/orders/{}", order.id().as_str()))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        // Only the payment moves an order from awaiting_payment to paid.
        let mut expected: Vec<String> = order
            .status()
            .next()
            .iter()
            .filter(|to| !(order.status() == AwaitingPayment && **to == Paid))
            // Partly shipping is the fulfilment form's (admin_aftersale.rs).
            .filter(|to| **to != PartiallyShipped)
            .map(|s| s.as_str().to_owned())
            .collect();
        expected.sort();
        assert_eq!(page.moves(), expected, "from {}", order.status());
        assert_eq!(
            page.text_of("order-status").as_deref(),
            Some(order.status().as_str())
        );
        for to in &expected {
            assert!(page.has(&format!(">Mark {to}</button>")), "{to}");
        }
        if order.status() == AwaitingPayment {
            assert!(!page.has(">Mark paid</button>"));
        }
        assert!(page.has("<ol id=\"order-events\""));
        // The placement, the capture of a card paid at once, the moves.
        let captured = usize::from(card == CARD);
        assert_eq!(
            page.body.matches("<li data-event-id=").count(),
            path.len() + 1 + captured
        );
        seen.push(order.status());
    }
    seen.sort();
    // A partly shipped order's page is checked in admin_aftersale.rs.
    let all: Vec<OrderStatus> = OrderStatus::ALL
        .iter()
        .copied()
        .filter(|s| *s != PartiallyShipped)
        .collect();
    assert_eq!(seen, all, "every status was checked");
}

#[tokio::test]
async fn shipping_needs_a_tracking_number() {
    let app = spawn(25).await;
    let order = advance(
        &app,
        &place(&app, "ann@example.com", true).await,
        &[OrderStatus::Processing],
    )
    .await;
    let mut browser = staff(&app).await;
    let page = format!("/admin/orders/{}", order.id().as_str());
    let action = format!("{page}/transition");

    let missing = browser
        .submit(
            &page,
            &action,
            &[
                ("to", "shipped"),
                ("tracking_number", "  "),
                ("note", "boxed"),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing.has("id=\"error-tracking_number\""),
        "{}",
        missing.body
    );
    assert!(missing.has("value=\"boxed\""), "the note is kept");
    assert_eq!(
        missing.text_of("order-status").as_deref(),
        Some("processing")
    );
    assert_eq!(status_of(&app, &order).await, OrderStatus::Processing);

    // A move the table does not allow (a stale page) is shown, not applied.
    let illegal = browser.submit(&page, &action, &[("to", "delivered")]).await;
    assert_eq!(illegal.status, StatusCode::CONFLICT);
    assert!(illegal.has("id=\"form-errors\""));
    assert_eq!(status_of(&app, &order).await, OrderStatus::Processing);
    let unknown = browser.submit(&page, &action, &[("to", "lost")]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    let shipped = browser
        .submit(
            &page,
            &action,
            &[("to", "shipped"), ("tracking_number", "TRACK-123-GB")],
        )
        .await;
    assert_eq!(shipped.status, StatusCode::SEE_OTHER);
    assert!(shipped.location().starts_with(&page));
    let after = browser.get(shipped.location()).await;
    assert_eq!(after.text_of("order-status").as_deref(), Some("shipped"));
    assert_eq!(
        after.text_of("order-tracking").as_deref(),
        Some("TRACK-123-GB")
    );
    assert_eq!(after.moves(), ["delivered"]);
    assert_eq!(status_of(&app, &order).await, OrderStatus::Shipped);
    let events = app
        .orders
        .order_events(orders_core::Access::Staff, order.id())
        .await
        .unwrap();
    assert!(events.last().unwrap().actor.as_str().starts_with("staff:"));
}

#[tokio::test]
async fn the_order_page_shows_the_order() {
    let app = spawn(25).await;
    let order = place(&app, "ann@example.com", true).await;
    let mut browser = staff(&app).await;
    let page = browser
        .get(&format!("/admin/orders/{}", order.id().as_str()))
        .await;
    assert_eq!(
        page.text_of("order-number"),
        Some(order.number().to_string())
    );
    assert_eq!(page.text_of("order-total").as_deref(), Some("14.99 USD"));
    assert!(page.has("Conformance product"));
    assert!(page.has("Ada Lovelace") && page.has("12345 Springfield"));
    assert_eq!(
        page.text_of("order-payment").as_deref(),
        Some("Visa ending 4242")
    );
    assert!(!page.has("4242424242424242"), "never the card number");
    assert!(page.has(&format!("data-order-id=\"{}\"", order.id().as_str())));
}

#[tokio::test]
async fn bad_ids_are_404_pages() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    for path in [
        "/admin/orders/nope",
        "/admin/orders/nope/row",
        "/admin/products/nope",
        "/admin/nowhere",
        "/admin/assets/admin-000000.css",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.has("Not found"), "{path}");
    }
    let post = browser
        .submit(
            "/admin/",
            "/admin/orders/nope/transition",
            &[("to", "paid")],
        )
        .await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
}

// -------------------------------------------------------------- products

#[tokio::test]
async fn products_are_created_and_edited() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let fields = [
        ("sku", "MUG-1"),
        ("name", "Enamel mug"),
        ("description", "Blue"),
        ("price", "12.00"),
        ("currency", "USD"),
        ("stock", "5"),
        ("active", "on"),
    ];
    let created = browser
        .submit("/admin/products/new", "/admin/products", &fields)
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let edit_path = created.location().split('?').next().unwrap().to_owned();
    let id: orders_core::ids::ProductId = edit_path.rsplit('/').next().unwrap().parse().unwrap();
    let product = app.orders.product(&id).await.unwrap();
    assert_eq!(product.price().to_string(), "12.00");
    assert_eq!(product.stock(), 5);
    assert!(product.active());
    let list = browser.get("/admin/products").await;
    assert!(list.has("MUG-1") && list.has("12.00 USD"));

    // The same SKU again: the error is on the form, with what was typed.
    let mut again = fields;
    again[1] = ("name", "Second mug");
    let duplicate = browser
        .submit("/admin/products/new", "/admin/products", &again)
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(duplicate.has("id=\"error-sku\""), "{}", duplicate.body);
    assert!(duplicate.has("value=\"Second mug\""));
    assert!(duplicate.has("aria-invalid=\"true\""));

    // Bad fields: every one reported at once.
    let bad = browser
        .submit(
            "/admin/products/new",
            "/admin/products",
            &[
                ("sku", "bad sku!"),
                ("name", ""),
                ("price", "-1"),
                ("currency", "USD"),
                ("stock", "many"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["sku", "name", "price", "stock"] {
        assert!(
            bad.has(&format!("id=\"error-{field}\"")),
            "{field}: {}",
            bad.body
        );
    }
    assert!(bad.has("value=\"many\""));

    // Edit price, stock and active.
    let saved = browser
        .submit(
            &edit_path,
            &edit_path,
            &[
                ("name", "Enamel mug"),
                ("description", "Blue"),
                ("price", "9.50"),
                ("stock", "42"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let product = app.orders.product(&id).await.unwrap();
    assert_eq!(product.price().to_string(), "9.50");
    assert_eq!(product.stock(), 42);
    assert!(!product.active(), "unticked");
    let page = browser.get(saved.location()).await;
    assert!(page.has("Changes saved"));
    assert!(page.has("value=\"9.50\""));

    let negative = browser
        .submit(
            &edit_path,
            &edit_path,
            &[
                ("name", "Enamel mug"),
                ("price", "9.50"),
                ("stock", "-3"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(negative.has("id=\"error-stock\""));
    assert_eq!(
        app.orders.product(&id).await.unwrap().stock(),
        42,
        "unchanged"
    );
}

/// Saves the edit form `page` as loaded, renamed "Renamed", with `stock`
/// (a count) and `stock_adjustment` as given.
async fn save(browser: &mut Browser, path: &str, page: &Page, stock: (&str, &str)) -> Page {
    let (csrf, version) = (page.csrf(), page.version().expect("a version field"));
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("version", version.as_str()),
        ("name", "Renamed"),
        ("price", "10.00"),
        ("stock", stock.0),
        ("stock_adjustment", stock.1),
        ("active", "on"),
    ];
    browser.post(path, &fields).await
}

/// A save of the edit form opened before a sale is refused (409) and the
/// form shown again with the current values and version; saved again from
/// there, it lands, and the stock stays as the sale left it.
#[tokio::test]
async fn a_stale_product_save_is_refused_with_the_current_values() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let product = testkit::product(&app.orders, "10.00", 10).await;
    let path = format!("/admin/products/{}", product.id().as_str());
    let opened = browser.get(&path).await;
    assert_eq!(opened.text_of("current-stock").as_deref(), Some("10"));
    let customer = CustomerId::parse("shopper").unwrap();
    let cart = testkit::cart_with(&app.orders, &customer, &[(product.id(), 3)]).await;
    app.orders
        .checkout(&customer, &cart, testkit::form(None), None)
        .await
        .unwrap();

    let refused = save(&mut browser, &path, &opened, ("", "")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.has("This product changed since you opened it"));
    assert_eq!(refused.text_of("current-stock").as_deref(), Some("7"));
    assert!(
        refused.has("value=\"Conformance product\""),
        "the current name"
    );
    assert_eq!(refused.version().as_deref(), Some("2"));
    let stored = app.orders.product(product.id()).await.unwrap();
    assert_eq!(
        (stored.stock(), stored.name().as_str()),
        (7, "Conformance product")
    );

    let saved = save(&mut browser, &path, &refused, ("", "")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = app.orders.product(product.id()).await.unwrap();
    assert_eq!((stored.stock(), stored.name().as_str()), (7, "Renamed"));

    // A count and an adjustment together: refused on the form.
    let form = browser.get(&path).await;
    let refused = save(&mut browser, &path, &form, ("3", "+1")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"error-stock_adjustment\""));
    assert_eq!(app.orders.product(product.id()).await.unwrap(), stored);
}

#[tokio::test]
async fn product_names_are_escaped() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let created = browser
        .submit(
            "/admin/products/new",
            "/admin/products",
            &[
                ("sku", "XSS-1"),
                ("name", "<script>alert(1)</script>"),
                ("price", "1.00"),
                ("currency", "USD"),
                ("stock", "1"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    for path in ["/admin/products", created.location()] {
        let page = browser.get(path).await;
        assert!(!page.has("<script>alert(1)"), "{path}");
        let escaped = [
            "&#60;script&#62;alert(1)&#60;/script&#62;",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
        ];
        assert!(escaped.iter().any(|e| page.has(e)), "{path}: {}", page.body);
    }
}

// ------------------------------------------------------------- discounts

#[tokio::test]
async fn discount_codes_are_created_with_field_errors_shown() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let bad = browser
        .submit(
            "/admin/discounts",
            "/admin/discounts",
            &[
                ("code", "SPRING"),
                ("kind", "percent"),
                ("value", "250"),
                ("max_uses", "0"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("id=\"error-value\""), "{}", bad.body);
    assert!(bad.has("id=\"error-max_uses\""));
    assert!(bad.has("value=\"SPRING\""), "typed values kept");
    assert!(bad.has("id=\"form-errors\""));

    let ok = browser
        .submit(
            "/admin/discounts",
            "/admin/discounts",
            &[
                ("code", "SPRING"),
                ("kind", "percent"),
                ("value", "15"),
                ("max_uses", "10"),
                ("min_subtotal", "20.00"),
                ("expires_at", "2040-03-01T12:00"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let list = browser.get(ok.location()).await;
    assert!(list.has("SPRING") && list.has("15 %") && list.has("0 / 10"));
    assert!(list.has("2040-03-01 12:00 UTC") && list.has("20.00 USD"));

    let duplicate = browser
        .submit(
            "/admin/discounts",
            "/admin/discounts",
            &[("code", "SPRING"), ("kind", "fixed"), ("value", "5.00")],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(duplicate.has("id=\"error-code\""));
    let page = app
        .orders
        .list_discounts(&orders_core::ports::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

#[tokio::test]
async fn staff_disable_and_enable_a_code_from_the_list() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let created = browser
        .submit(
            "/admin/discounts",
            "/admin/discounts",
            &[
                ("code", "ONCE"),
                ("kind", "percent"),
                ("value", "10"),
                ("max_uses_per_customer", "1"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let list = browser.get(created.location()).await;
    assert!(list.has("Active") && list.has("aria-label=\"Disable ONCE\""));
    let off = browser
        .submit("/admin/discounts", "/admin/discounts/ONCE/disable", &[])
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    let code = orders_core::discount::DiscountCode::parse("ONCE").unwrap();
    let stored = app
        .orders
        .list_discounts(&orders_core::ports::PageRequest::first(10))
        .await
        .unwrap();
    assert!(
        stored
            .items
            .iter()
            .any(|d| d.code() == &code && !d.active() && d.max_uses_per_customer() == Some(1))
    );
    let list = browser.get(off.location()).await;
    assert!(list.has("Code ONCE disabled.") && list.has("aria-label=\"Enable ONCE\""));
    let on = browser
        .submit("/admin/discounts", "/admin/discounts/ONCE/enable", &[])
        .await;
    assert_eq!(on.status, StatusCode::SEE_OTHER);
    let list = browser.get(on.location()).await;
    assert!(list.has("Code ONCE enabled.") && list.has("aria-label=\"Disable ONCE\""));
    for path in [
        "/admin/discounts/NOPE/disable",
        "/admin/discounts/ONCE/explode",
    ] {
        let missing = browser.submit("/admin/discounts", path, &[]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
    }
}

// ---------------------------------------------------- every page's basics

#[tokio::test]
async fn every_page_is_small_and_sends_the_security_headers() {
    let app = spawn(25).await;
    let order = place(&app, "ann@example.com", true).await;
    let product = testkit::product(&app.orders, "3.00", 1).await;
    let mut browser = staff(&app).await;
    let index = browser.get("/admin/").await;
    let css = between(&index.body, "<link rel=\"stylesheet\" href=\"", "\"")
        .unwrap()
        .to_owned();
    let js = between(&index.body, "<script src=\"", "\"")
        .unwrap()
        .to_owned();
    let paths = [
        "/admin/".to_owned(),
        "/admin/orders?status=paid".to_owned(),
        format!("/admin/orders/{}", order.id().as_str()),
        format!("/admin/orders/{}/row", order.id().as_str()),
        "/admin/products".to_owned(),
        "/admin/products/new".to_owned(),
        format!("/admin/products/{}", product.id().as_str()),
        "/admin/discounts".to_owned(),
        "/admin/missing".to_owned(),
        css.clone(),
        js.clone(),
    ];
    let mut anonymous = Browser::new(&app);
    let mut pages = vec![(
        "/admin/login".to_owned(),
        anonymous.get("/admin/login").await,
    )];
    for path in &paths {
        pages.push((path.clone(), browser.get(path).await));
    }
    for (path, page) in &pages {
        assert!(
            page.status == StatusCode::OK || page.status == StatusCode::NOT_FOUND,
            "{path}: {}",
            page.status
        );
        let header = |name: &str| {
            page.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("{path}: no {name}"))
        };
        let csp = header("content-security-policy");
        let script_src = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
        assert!(!script_src.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert!(
            page.body.len() < 100 * 1024,
            "{path}: {} bytes",
            page.body.len()
        );
        if page.body.starts_with("<!doctype html>") {
            assert!(!page.body.contains("<script>"), "{path}: no inline script");
            assert!(!page.body.contains(" style=\""), "{path}: no inline style");
            assert!(
                !page.body.contains(" onclick="),
                "{path}: no inline handler"
            );
        }
    }
    let asset = browser.get(&css).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(
        asset.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        asset.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let script = browser.get(&js).await;
    assert!(
        script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.has("/admin/stream"));
}

// ------------------------------------------------------------------- live

#[tokio::test]
async fn the_panel_session_opens_the_admin_stream_from_its_own_origin_only() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = spawn(25).await;
    let browser = staff(&app).await;
    let session = browser.cookies["orders_session"].clone();
    let request = |origin: &str| {
        let mut request = format!("ws://{}/api/admin/stream", app.addr)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert(
            "cookie",
            format!("orders_session={session}").parse().unwrap(),
        );
        headers.insert("origin", origin.parse().unwrap());
        request
    };
    let wait = Duration::from_secs(5);

    let foreign = tokio::time::timeout(
        wait,
        tokio_tungstenite::connect_async(request("http://evil.example")),
    )
    .await
    .unwrap();
    assert!(
        foreign.is_err(),
        "another site's page cannot use the cookie"
    );

    let (mut socket, _) = tokio::time::timeout(
        wait,
        tokio_tungstenite::connect_async(request(&format!("http://{}", app.addr))),
    )
    .await
    .unwrap()
    .expect("the panel's page opens the stream");
    let order = place(&app, "ann@example.com", true).await;
    let mut event = None;
    for _ in 0..10 {
        match tokio::time::timeout(wait, socket.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                event = Some(serde_json::from_str::<serde_json::Value>(&text).unwrap());
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("the stream ended: {other:?}"),
        }
    }
    let event = event.expect("an event frame");
    assert_eq!(event["type"], "event");
    assert_eq!(event["event"]["order_id"], order.id().as_str());
    assert!(event["event"]["from"].is_null(), "the order's creation");
}

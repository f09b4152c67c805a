//! Access control of the HTML pages of the real `orders-server` binary:
//! every page route of the storefront (`/`) and the staff panel (`/admin/`)
//! for four callers, anonymous, customer A, customer B and staff, signed in
//! by the session cookie the pages set (it holds the same token as the
//! API's bearer), each with the status it must answer. A's order page is
//! 404 for B, exactly like a missing order; the panel is 403 for customers
//! and sends anonymous visitors to its sign-in page; a state-changing POST
//! without its CSRF token is 403 for everyone and changes nothing.
//! (The `/api` routes have their table in `access.rs`.)

mod common;

use common::*;
use serde_json::json;

/// Statuses for anonymous, A, B, staff.
type Expect = [u16; 4];

const PAGES: &[(&str, &str, Expect)] = &[
    // The storefront: public pages.
    ("GET", "/", [200, 200, 200, 200]),
    ("GET", "/products/{product}", [200, 200, 200, 200]),
    ("GET", "/products/{missing}", [404, 404, 404, 404]),
    ("GET", "/login", [200, 200, 200, 200]),
    ("GET", "/register", [200, 200, 200, 200]),
    ("GET", "/password/forgot", [200, 200, 200, 200]),
    // Without a live token the reset page says the link is dead.
    ("GET", "/password/reset", [410, 410, 410, 410]),
    ("GET", "/password/reset/done", [200, 200, 200, 200]),
    ("GET", "/account", [303, 200, 200, 200]),
    // The storefront: a customer's own pages. The storefront is every
    // account's own shop, staff included: staff read other people's
    // orders in the panel, not here.
    // A visitor's cart page is a guest's (empty until they add).
    ("GET", "/cart", [200, 200, 200, 200]),
    ("GET", "/orders", [303, 200, 200, 200]),
    ("GET", "/orders/{order}", [303, 200, 404, 404]),
    ("GET", "/orders/{missing}", [303, 404, 404, 404]),
    // The panel.
    // Signed-in staff are sent on to the panel.
    ("GET", "/admin/login", [200, 200, 200, 303]),
    ("GET", "/admin/", [303, 403, 403, 200]),
    ("GET", "/admin/orders", [303, 403, 403, 200]),
    ("GET", "/admin/orders/{order}", [303, 403, 403, 200]),
    ("GET", "/admin/orders/{order}/row", [303, 403, 403, 200]),
    ("GET", "/admin/orders/{missing}", [303, 403, 403, 404]),
    ("GET", "/admin/products", [303, 403, 403, 200]),
    ("GET", "/admin/products/new", [303, 403, 403, 200]),
    ("GET", "/admin/products/{product}", [303, 403, 403, 200]),
    ("GET", "/admin/discounts", [303, 403, 403, 200]),
    // Every state-changing form, posted without its CSRF token.
    ("POST", "/cart/items", [403, 403, 403, 403]),
    ("POST", "/cart/items/{product}", [403, 403, 403, 403]),
    ("POST", "/cart/items/{product}/remove", [403, 403, 403, 403]),
    ("POST", "/cart/discount", [403, 403, 403, 403]),
    ("POST", "/cart/discount/remove", [403, 403, 403, 403]),
    ("POST", "/checkout", [403, 403, 403, 403]),
    ("POST", "/login", [403, 403, 403, 403]),
    ("POST", "/register", [403, 403, 403, 403]),
    ("POST", "/logout", [403, 403, 403, 403]),
    ("POST", "/admin/login", [403, 403, 403, 403]),
    ("POST", "/admin/logout", [403, 403, 403, 403]),
    (
        "POST",
        "/admin/orders/{order}/transition",
        [403, 403, 403, 403],
    ),
    ("POST", "/admin/products", [403, 403, 403, 403]),
    ("POST", "/admin/products/{product}", [403, 403, 403, 403]),
    (
        "POST",
        "/admin/products/{product}/image",
        [403, 403, 403, 403],
    ),
    ("POST", "/admin/discounts", [403, 403, 403, 403]),
    (
        "POST",
        "/admin/discounts/WELCOME10/disable",
        [403, 403, 403, 403],
    ),
    ("POST", "/password/forgot", [403, 403, 403, 403]),
    ("POST", "/password/reset", [403, 403, 403, 403]),
    ("POST", "/account/email", [403, 403, 403, 403]),
    ("POST", "/account/password", [403, 403, 403, 403]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_for_every_caller() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let server = Server::start(&url);
    let staff = server.staff().await;
    let a = server.customer().await;
    let b = server.customer().await;
    let product = server.product(&staff, 100).await;
    let cart = server.cart(&a, &product, 1).await;
    let mut body = checkout_body(CARD_OK);
    body["payment"] = json!({"method": "cash_on_delivery"});
    let (status, order) = server
        .call(
            "POST",
            &format!("/api/carts/{cart}/checkout"),
            Some(&a),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let order = order["id"].as_str().unwrap().to_owned();
    let missing = "0".repeat(26);

    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callers = [None, Some(&a), Some(&b), Some(&staff)];
    let mut wrong = Vec::new();
    for (method, path, expect) in PAGES {
        let path = path
            .replace("{product}", &product)
            .replace("{order}", &order)
            .replace("{missing}", &missing);
        for (who, (token, expected)) in callers.iter().zip(expect).enumerate() {
            let mut request = match *method {
                "GET" => plain.get(server.url(&path)),
                _ => plain
                    .post(server.url(&path))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("to=cancelled&quantity=0&code=WELCOME10&price=0.01&stock=0"),
            };
            if let Some(token) = token {
                request = request.header("cookie", format!("orders_session={token}"));
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let html = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html"));
            if status != *expected {
                wrong.push(format!(
                    "{method} {path} as {}: {status}, expected {expected}",
                    ["anonymous", "A", "B", "staff"][who]
                ));
            }
            if status == 303 && *method == "GET" && token.is_none() {
                let to_login = if path.starts_with("/admin") {
                    location.starts_with("/admin/login")
                } else {
                    location.starts_with("/login?next=")
                };
                assert!(to_login, "{method} {path}: 303 to {location:?}");
            }
            if status != 303 {
                assert!(html, "{method} {path}: a {status} page is HTML");
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Nothing the forged POSTs asked for happened.
    let (_, seen) = server
        .call("GET", &format!("/api/orders/{order}"), Some(&a), None)
        .await;
    assert_eq!(seen["status"], "pending", "{seen}");
    let (_, product_now) = server
        .call("GET", &format!("/api/products/{product}"), None, None)
        .await;
    assert_eq!(product_now["price"], "10.00");
    assert_eq!(product_now["stock"], 99);
    let (_, cart_now) = server
        .call("GET", &format!("/api/carts/{cart}"), Some(&a), None)
        .await;
    assert_eq!(cart_now["lines"].as_array().map(Vec::len), Some(1));
}

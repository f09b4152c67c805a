//! Access control of the real `orders-server` binary: every `/api` route of
//! API.md (and both websockets) for four callers, anonymous, customer A,
//! customer B and staff, each with the status it must answer.
//!
//! Rows that act on an object use a fresh object of A's for each caller, so
//! one caller's success cannot change what the next one sees. When B gets
//! its 404, A's object is checked unchanged, and the 404 is the same
//! document a missing id gets. The table is checked against the OpenAPI
//! document, so a new `/api` route without a row fails this test.
//! (The HTML pages have their own rows elsewhere.)

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The callers, in the order of each row's expected statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    A,
    B,
    Staff,
}

const CALLERS: [Who; 4] = [Who::Anonymous, Who::A, Who::B, Who::Staff];

/// What a row's path is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    /// Nothing of A's.
    Nothing,
    /// A fresh open cart of A's holding 3 of the product.
    Cart,
    /// A fresh pending (cash on delivery) order of A's.
    Order,
}

struct Row {
    method: &'static str,
    /// With `{cart}`, `{order}`, `{product}`, `{unique}` placeholders.
    path: &'static str,
    body: Option<Value>,
    object: Object,
    /// Statuses for anonymous, A, B, staff.
    expect: [u16; 4],
    /// A websocket route (101 is the upgrade).
    websocket: bool,
}

fn row(
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    object: Object,
    expect: [u16; 4],
) -> Row {
    Row {
        method,
        path,
        body,
        object,
        expect,
        websocket: false,
    }
}

fn table() -> Vec<Row> {
    use Object::*;
    let item = json!({"product_id": "{product}", "quantity": 1});
    vec![
        // Public.
        row("GET", "/api/health", None, Nothing, [200, 200, 200, 200]),
        row(
            "GET",
            "/api/openapi.json",
            None,
            Nothing,
            [200, 200, 200, 200],
        ),
        row("GET", "/api/products", None, Nothing, [200, 200, 200, 200]),
        row(
            "GET",
            "/api/products/{product}",
            None,
            Nothing,
            [200, 200, 200, 200],
        ),
        row(
            "POST",
            "/api/auth/register",
            Some(json!({"email": "r{unique}@example.com", "password": "password 123"})),
            Nothing,
            [201, 201, 201, 201],
        ),
        row(
            "POST",
            "/api/auth/login",
            Some(json!({"email": "{a_email}", "password": "password 123"})),
            Nothing,
            [200, 200, 200, 200],
        ),
        // Logout runs with a throwaway token of the caller (see `run`).
        row(
            "POST",
            "/api/auth/logout",
            None,
            Nothing,
            [401, 204, 204, 204],
        ),
        // Customer routes: A's cart is nobody else's, staff included.
        // Without credentials, a guest's cart (with its `cart_token`).
        row(
            "POST",
            "/api/carts",
            Some(json!({})),
            Nothing,
            [201, 201, 201, 201],
        ),
        // Everyone has an open cart by now (the row above).
        row(
            "GET",
            "/api/carts/current",
            None,
            Cart,
            [401, 200, 200, 200],
        ),
        // A claim needs the guest cart's `X-Cart-Token` too: without it,
        // even the owner's bearer is 404.
        row(
            "POST",
            "/api/carts/{cart}/claim",
            None,
            Cart,
            [401, 404, 404, 404],
        ),
        row("GET", "/api/carts/{cart}", None, Cart, [401, 200, 404, 404]),
        row(
            "POST",
            "/api/carts/{cart}/items",
            Some(item),
            Cart,
            [401, 200, 404, 404],
        ),
        row(
            "PATCH",
            "/api/carts/{cart}/items/{product}",
            Some(json!({"quantity": 2})),
            Cart,
            [401, 200, 404, 404],
        ),
        row(
            "DELETE",
            "/api/carts/{cart}/items/{product}",
            None,
            Cart,
            [401, 200, 404, 404],
        ),
        row(
            "POST",
            "/api/carts/{cart}/discount",
            Some(json!({"code": "WELCOME10"})),
            Cart,
            [401, 200, 404, 404],
        ),
        row(
            "DELETE",
            "/api/carts/{cart}/discount",
            None,
            Cart,
            [401, 200, 404, 404],
        ),
        row(
            "POST",
            "/api/carts/{cart}/checkout",
            Some(checkout_body(CARD_OK)),
            Cart,
            [401, 201, 404, 404],
        ),
        // Orders: staff see every order, but cancel only their own here
        // (they move others' through the admin transition).
        row("GET", "/api/orders", None, Nothing, [401, 200, 200, 200]),
        row(
            "GET",
            "/api/orders/{order}",
            None,
            Order,
            [401, 200, 404, 200],
        ),
        row(
            "GET",
            "/api/orders/{order}/events",
            None,
            Order,
            [401, 200, 404, 200],
        ),
        // The owner's return from their bank: nothing to complete on a
        // paid order, which comes back as it is.
        row(
            "POST",
            "/api/orders/{order}/payment/confirm",
            None,
            Order,
            [401, 200, 404, 404],
        ),
        row(
            "POST",
            "/api/orders/{order}/cancel",
            Some(json!({})),
            Order,
            [401, 200, 404, 404],
        ),
        Row {
            websocket: true,
            ..row(
                "GET",
                "/api/orders/{order}/track",
                None,
                Order,
                [401, 101, 404, 101],
            )
        },
        // A return is the owner's own request; A's pending order has not
        // been delivered.
        row(
            "POST",
            "/api/orders/{order}/returns",
            Some(
                json!({"lines": [{"product_id": "{product}", "quantity": 1}], "reason": "Too big"}),
            ),
            Order,
            [401, 409, 404, 404],
        ),
        // Admin: 401 without credentials, 403 for customers.
        row(
            "POST",
            "/api/admin/products",
            Some(
                json!({"sku": "ACL-{unique}", "name": "ACL", "price": "1.00", "currency": "USD", "stock": 1}),
            ),
            Nothing,
            [401, 403, 403, 201],
        ),
        row(
            "GET",
            "/api/admin/products",
            None,
            Nothing,
            [401, 403, 403, 200],
        ),
        row(
            "GET",
            "/api/admin/products/{product}",
            None,
            Nothing,
            [401, 403, 403, 200],
        ),
        row(
            "PATCH",
            "/api/admin/products/{product}",
            Some(json!({"stock_adjustment": 1000})),
            Nothing,
            [401, 403, 403, 200],
        ),
        row(
            "GET",
            "/api/admin/orders",
            None,
            Nothing,
            [401, 403, 403, 200],
        ),
        row(
            "GET",
            "/api/admin/orders/{order}",
            None,
            Order,
            [401, 403, 403, 200],
        ),
        row(
            "GET",
            "/api/admin/orders/{order}/events",
            None,
            Order,
            [401, 403, 403, 200],
        ),
        row(
            "POST",
            "/api/admin/orders/{order}/transition",
            Some(json!({"to": "paid"})),
            Order,
            [401, 403, 403, 200],
        ),
        // After the sale: a pending cash order cannot ship, has nothing
        // to refund, and takes notes.
        row(
            "POST",
            "/api/admin/orders/{order}/fulfilments",
            Some(
                json!({"lines": [{"product_id": "{product}", "quantity": 1}], "tracking_number": "TRK{unique}"}),
            ),
            Order,
            [401, 403, 403, 409],
        ),
        row(
            "POST",
            "/api/admin/fulfilments/{unique}/delivered",
            None,
            Nothing,
            [401, 403, 403, 404],
        ),
        row(
            "POST",
            "/api/admin/orders/{order}/refunds",
            Some(json!({"amount": "0.01"})),
            Order,
            [401, 403, 403, 422],
        ),
        row(
            "POST",
            "/api/admin/orders/{order}/notes",
            Some(json!({"text": "Called the customer", "visible_to_customer": false})),
            Order,
            [401, 403, 403, 201],
        ),
        row(
            "POST",
            "/api/admin/returns/{unique}/approve",
            None,
            Nothing,
            [401, 403, 403, 404],
        ),
        row(
            "POST",
            "/api/admin/returns/{unique}/reject",
            Some(json!({"note": "Worn"})),
            Nothing,
            [401, 403, 403, 404],
        ),
        row(
            "POST",
            "/api/admin/returns/{unique}/receive",
            Some(json!({"restock": true})),
            Nothing,
            [401, 403, 403, 404],
        ),
        row(
            "POST",
            "/api/admin/discounts",
            Some(json!({"code": "ACL{unique}", "kind": "percent", "value": "5"})),
            Nothing,
            [401, 403, 403, 201],
        ),
        row(
            "GET",
            "/api/admin/discounts",
            None,
            Nothing,
            [401, 403, 403, 200],
        ),
        row(
            "PATCH",
            "/api/admin/discounts/{unique}",
            Some(json!({"active": false})),
            Nothing,
            [401, 403, 403, 404],
        ),
        row(
            "POST",
            "/api/admin/webhooks",
            Some(json!({"url": "https://93.184.216.34/hooks/{unique}", "events": ["*"]})),
            Nothing,
            [401, 403, 403, 201],
        ),
        row(
            "GET",
            "/api/admin/webhooks",
            None,
            Nothing,
            [401, 403, 403, 200],
        ),
        row(
            "DELETE",
            "/api/admin/webhooks/{unique}",
            None,
            Nothing,
            [401, 403, 403, 404],
        ),
        row(
            "GET",
            "/api/admin/webhooks/{unique}/deliveries",
            None,
            Nothing,
            [401, 403, 403, 404],
        ),
        row(
            "POST",
            "/api/admin/webhooks/{unique}/deliveries/{unique}/retry",
            None,
            Nothing,
            [401, 403, 403, 404],
        ),
        // A provider's webhook: no caller identity (a signature instead);
        // a provider that is not the shop's is unknown to everyone.
        row(
            "POST",
            "/api/payments/webhooks/{unique}",
            Some(json!({"id": "evt_1"})),
            Nothing,
            [404, 404, 404, 404],
        ),
        Row {
            websocket: true,
            ..row(
                "GET",
                "/api/admin/stream",
                None,
                Nothing,
                [401, 403, 403, 101],
            )
        },
    ]
}

/// The shop and its four callers.
struct Shop {
    server: Server,
    staff: String,
    a: String,
    a_email: String,
    b: String,
    product: String,
}

impl Shop {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Anonymous => None,
            Who::A => Some(&self.a),
            Who::B => Some(&self.b),
            Who::Staff => Some(&self.staff),
        }
    }

    async fn register(&self, email: &str) -> String {
        let (status, body) = self
            .server
            .call(
                "POST",
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": "password 123"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// A fresh token of `who` (for logout), by logging in again.
    async fn fresh_token(&self, who: Who) -> Option<String> {
        let (email, password) = match who {
            Who::Anonymous => return None,
            Who::A => (self.a_email.clone(), "password 123"),
            Who::B => return Some(self.b.clone()), // B's only token: logout is its last row
            Who::Staff => (STAFF_EMAIL.to_owned(), STAFF_PASSWORD),
        };
        let (status, body) = self
            .server
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        Some(body["token"].as_str().unwrap().to_owned())
    }

    async fn cart(&self) -> String {
        self.server.cart(&self.a, &self.product, 3).await
    }

    async fn order(&self) -> String {
        let cart = self.cart().await;
        let mut body = checkout_body(CARD_OK);
        body["payment"] = json!({"method": "cash_on_delivery"});
        let (status, order) = self
            .server
            .call(
                "POST",
                &format!("/api/carts/{cart}/checkout"),
                Some(&self.a),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(order["status"], "pending");
        order["id"].as_str().unwrap().to_owned()
    }

    /// A's view of the object, to check that B changed nothing.
    async fn as_a(&self, object: Object, id: &str) -> Value {
        let path = match object {
            Object::Nothing => return Value::Null,
            Object::Cart => format!("/api/carts/{id}"),
            Object::Order => format!("/api/orders/{id}"),
        };
        let (status, body) = self.server.call("GET", &path, Some(&self.a), None).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

fn fill_json(value: &Value, values: &[(&str, &str)]) -> Value {
    match value {
        Value::String(s) => Value::String(fill(s, values)),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_json(v, values)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, values)).collect()),
        other => other.clone(),
    }
}

/// The status of a websocket handshake, with the token in the
/// `Authorization` header or in `?access_token=`.
async fn ws_status(server: &Server, path: &str, token: Option<&str>, in_query: bool) -> u16 {
    let url = match (token, in_query) {
        (Some(token), true) => server.ws_url(&format!("{path}?access_token={token}")),
        _ => server.ws_url(path),
    };
    let mut request = url.into_client_request().unwrap();
    if let (Some(token), false) = (token, in_query) {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, response)) => {
            let _ = socket.close(None).await;
            response.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{path}: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_for_every_caller() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let server = Server::start(&url);
    let staff = server.staff().await;
    let product = server.product(&staff, 100_000).await;
    let a_email = format!("a{}@example.com", unique());
    let mut shop = Shop {
        server,
        staff,
        a: String::new(),
        a_email: a_email.clone(),
        b: String::new(),
        product,
    };
    shop.a = shop.register(&a_email).await;
    shop.b = shop.register(&format!("b{}@example.com", unique())).await;

    // Every documented /api operation has a row, and every row is documented.
    let (status, doc) = shop
        .server
        .call("GET", "/api/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| format!("{} {}", m.to_uppercase(), normalise(path)))
        })
        .collect();
    let rows = table();
    let covered: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.method, normalise(r.path)))
        .collect();
    assert_eq!(
        documented.difference(&covered).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented routes without a row"
    );
    assert_eq!(
        covered.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "rows for undocumented routes"
    );

    // What a missing object answers, to compare B's 404 with.
    let (_, missing_cart) = shop
        .server
        .call("GET", "/api/carts/0000000000000000", Some(&shop.b), None)
        .await;
    let (_, missing_order) = shop
        .server
        .call("GET", "/api/orders/0000000000000000", Some(&shop.b), None)
        .await;

    let mut failures = Vec::new();
    let mut checked = 0;
    // B's logout goes last: it revokes B's only token.
    let (logout, others): (Vec<&Row>, Vec<&Row>) =
        rows.iter().partition(|r| r.path == "/api/auth/logout");
    for row in others.into_iter().chain(logout) {
        for (i, who) in CALLERS.into_iter().enumerate() {
            let object = match row.object {
                Object::Nothing => String::new(),
                Object::Cart => shop.cart().await,
                Object::Order => shop.order().await,
            };
            let before = shop.as_a(row.object, &object).await;
            let unique = unique();
            let values = [
                ("cart", object.as_str()),
                ("order", object.as_str()),
                ("product", shop.product.as_str()),
                ("unique", unique.as_str()),
                ("a_email", shop.a_email.as_str()),
            ];
            let path = fill(row.path, &values);
            let fresh = if row.path == "/api/auth/logout" {
                shop.fresh_token(who).await
            } else {
                shop.token(who).map(str::to_owned)
            };
            let token = fresh.as_deref();
            let expected = row.expect[i];
            let mut got = Vec::new();
            let mut body = Value::Null;
            if row.websocket {
                got.push(ws_status(&shop.server, &path, token, false).await);
                got.push(ws_status(&shop.server, &path, token, true).await);
            } else {
                let (status, answer) = shop
                    .server
                    .call(
                        row.method,
                        &path,
                        token,
                        row.body.as_ref().map(|b| fill_json(b, &values)),
                    )
                    .await;
                got.push(status);
                body = answer;
            }
            checked += got.len();
            if got.iter().any(|s| *s != expected) {
                failures.push(format!(
                    "{} {} as {who:?}: expected {expected}, got {got:?} {body}",
                    row.method, row.path
                ));
                continue;
            }
            if matches!(expected, 401 | 403 | 404) && !row.websocket {
                let code = match expected {
                    401 => "unauthorized",
                    403 => "forbidden",
                    _ => "not_found",
                };
                if body["status"] != expected || body["code"] != code {
                    failures.push(format!(
                        "{} {} as {who:?}: not a {code} problem: {body}",
                        row.method, row.path
                    ));
                }
            }
            if who == Who::B && expected == 404 && row.object != Object::Nothing {
                // Exactly what a missing one answers, and A's object unchanged.
                let missing = match row.object {
                    Object::Cart => &missing_cart,
                    _ => &missing_order,
                };
                if !row.websocket
                    && (body["code"] != missing["code"]
                        || body["title"] != missing["title"]
                        || body["detail"] != missing["detail"])
                {
                    failures.push(format!(
                        "{}: {body} differs from a missing one's {missing}",
                        row.path
                    ));
                }
                let after = shop.as_a(row.object, &object).await;
                if after != before {
                    failures.push(format!(
                        "{} {} as B changed A's object",
                        row.method, row.path
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 120, "{checked}");

    // A bad token is anonymous everywhere: 401, on a customer, an admin
    // and a websocket route.
    for (method, path) in [
        ("GET", "/api/orders"),
        ("GET", "/api/admin/orders"),
        // A bad token never makes a guest cart.
        ("POST", "/api/carts"),
    ] {
        let (status, body) = shop
            .server
            .call(method, path, Some("not-a-token"), Some(json!({})))
            .await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    assert_eq!(
        ws_status(&shop.server, "/api/admin/stream", Some("not-a-token"), true).await,
        401
    );
}

/// `/api/carts/{id}` and `/api/carts/{cart}` alike: placeholders erased.
fn normalise(path: &str) -> String {
    let path = if path.starts_with("/api") {
        path.to_owned()
    } else {
        format!("/api{path}")
    };
    path.split('/')
        .map(|part| if part.starts_with('{') { "{}" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

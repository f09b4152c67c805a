//! A NUL (or another control character) in any text a client sends is a
//! 4xx before it reaches a database, on SQLite and on PostgreSQL (which
//! refuses NUL in text outright, so a NUL that got through was a 500).

mod common;

use common::{PgDatabase, Server, create_staff};
use serde_json::{Value, json};

/// Every route that takes client text in its path, query or body, with a
/// NUL in that text, and the field the 422 must name (`None`: any 4xx).
fn probes(cart: &str) -> Vec<(&'static str, String, Option<Value>, Option<&'static str>)> {
    vec![
        ("GET", "/api/admin/orders?q=a%00b".into(), None, Some("q")),
        (
            "GET",
            "/api/admin/orders?email=ada%00@example.com".into(),
            None,
            Some("email"),
        ),
        (
            "GET",
            "/api/admin/orders?status=pa%00id".into(),
            None,
            Some("status"),
        ),
        ("GET", "/api/admin/orders?cursor=a%00b".into(), None, None),
        ("GET", "/api/orders?cursor=a%00b".into(), None, None),
        ("GET", "/api/products?cursor=a%00b".into(), None, None),
        ("GET", "/api/products/a%00b".into(), None, None),
        ("GET", "/api/orders/a%00b".into(), None, None),
        ("GET", "/api/orders/a%00b/events".into(), None, None),
        ("GET", "/api/carts/a%00b".into(), None, None),
        (
            "POST",
            format!("/api/carts/{cart}/items"),
            Some(json!({"product_id": "x\u{0}y", "quantity": 1})),
            Some("product_id"),
        ),
        (
            "POST",
            format!("/api/carts/{cart}/discount"),
            Some(json!({"code": "WELCOME\u{0}10"})),
            Some("code"),
        ),
        (
            "PATCH",
            format!("/api/carts/{cart}/items/a%00b"),
            Some(json!({"quantity": 1})),
            None,
        ),
        (
            "POST",
            "/api/carts".into(),
            Some(json!({"currency": "US\u{0}D"})),
            Some("currency"),
        ),
        (
            "POST",
            "/api/auth/register".into(),
            Some(json!({"email": "a\u{0}@example.com", "password": "password 123"})),
            Some("email"),
        ),
        (
            "POST",
            "/api/admin/discounts".into(),
            Some(json!({"code": "A\u{0}B", "kind": "percent", "value": "10"})),
            Some("code"),
        ),
        (
            "POST",
            "/api/admin/products".into(),
            Some(
                json!({"sku": "A\u{0}B", "name": "n\u{0}", "price": "1.00", "currency": "USD", "stock": 1}),
            ),
            Some("sku"),
        ),
        (
            "POST",
            "/api/admin/orders/a%00b/transition".into(),
            Some(json!({"to": "paid"})),
            None,
        ),
        (
            "GET",
            "/api/orders/a%00b/track?after=a%00b".into(),
            None,
            None,
        ),
    ]
}

async fn every_nul_is_refused_before_the_database(database_url: &str) {
    create_staff(database_url);
    let server = Server::start(database_url);
    let staff = server.staff().await;
    let (status, cart) = server
        .call("POST", "/api/carts", Some(&staff), Some(json!({})))
        .await;
    assert_eq!(status, 201, "{cart}");
    let cart = cart["id"].as_str().unwrap().to_owned();

    for (method, path, body, field) in probes(&cart) {
        let (status, answer) = server.call(method, &path, Some(&staff), body).await;
        assert!(
            (400..500).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        if let Some(field) = field {
            assert_eq!(status, 422, "{method} {path}: {answer}");
            assert!(
                answer["errors"][field].is_array(),
                "{method} {path}: no error on {field}: {answer}"
            );
        }
    }

    // The panel's search box: the staff session cookie is the same token.
    let page = server
        .client
        .get(server.url("/admin/orders?q=a%00b"))
        .header("cookie", format!("orders_session={staff}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 422, "the panel's search with a NUL");
    let text = page.text().await.unwrap();
    assert!(text.contains("q:"), "the page names the field: {text}");

    // Nothing above was a server error, and the server still answers.
    let (status, _) = server.call("GET", "/api/health", None, None).await;
    assert_eq!(status, 200);
    let logs = server.logs();
    assert!(!logs.contains("ERROR"), "an error was logged:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_anywhere_is_a_4xx_on_sqlite() {
    let (url, _dir) = common::sqlite_url();
    every_nul_is_refused_before_the_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_anywhere_is_a_4xx_on_postgres() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    every_nul_is_refused_before_the_database(&db.url).await;
}

//! The `shared_postgres` example, run as written against a fresh PostgreSQL
//! database on a real port: the host's users buy through the orders API at
//! `/shop/api` while the host's own `/products` lists its own `products`
//! table, the store's tables sitting beside it; started twice on the same
//! database; and it shuts down when asked.
//!
//! Skipped when neither `ORDERS_TEST_PG_URL` nor `ORDERS_REQUIRE_PG` is set;
//! with them, an unreachable server fails the test.

#[allow(dead_code)]
#[path = "../examples/shared_postgres.rs"]
mod shared_postgres;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};

/// A fresh database on the test server, dropped at the end.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Option<Self> {
        let configured = std::env::var("ORDERS_TEST_PG_URL").ok();
        let required = std::env::var("ORDERS_REQUIRE_PG").is_ok_and(|v| v == "1");
        if configured.is_none() && !required {
            println!("skipped: set ORDERS_TEST_PG_URL (or ORDERS_REQUIRE_PG=1) to run it");
            return None;
        }
        let admin =
            configured.unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        let name = format!(
            "orders_test_{}_shared_example_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            std::process::id()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (server, _) = admin.rsplit_once('/').expect("a URL with a database");
        let url = format!("{server}/{name}");
        Some(Self { admin, name, url })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // On a thread of its own: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&admin).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                });
        })
        .join();
    }
}

/// The example served on a free port; stops when the sender is dropped or
/// sent to.
struct Running {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    client: reqwest::Client,
}

impl Running {
    async fn start(url: &str) -> Self {
        let db = PgPool::connect(url).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            shared_postgres::serve(listener, db, async {
                let _ = stopped.await;
            })
            .await
            .expect("the example serves");
        });
        let client = reqwest::Client::new();
        // Ready once the host's own route answers (its migrations ran).
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("{base}/products")).send().await
                && r.status().is_success()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Self {
            base,
            stop,
            task,
            client,
        }
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(std::time::Duration::from_secs(10), self.task)
            .await
            .expect("a graceful shutdown within 10 s")
            .unwrap();
    }
}

fn checkout() -> Value {
    json!({
        "email": "ada@example.com",
        "shipping_address": {"full_name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield",
                             "postal_code": "12345", "country": "US"},
        "shipping_method": "standard",
        "payment": {"method": "cash_on_delivery"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_postgres_example_sells_beside_the_hosts_own_products() {
    let Some(db) = Database::create().await else {
        return;
    };
    let shop = Running::start(&db.url).await;
    // The host's own rows, in its own tables.
    let host = PgPool::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO products (sku, title) VALUES ('TEA-1', 'The host''s own tea');
         INSERT INTO api_keys (key, user_id, email, is_staff) VALUES
             ('key-ada', 'ada', 'ada@example.com', false),
             ('key-staff', 'staff', 'staff@example.com', true)",
    )
    .execute(&host)
    .await
    .unwrap();

    // Staff adds a product with the same SKU to the store's catalogue.
    let (status, product) = shop
        .call(
            "POST",
            "/shop/api/admin/products",
            "key-staff",
            Some(json!({"sku": "TEA-1", "name": "Store tea", "price": "4.50",
                        "currency": "USD", "stock": 5})),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let product_id = product["id"].as_str().unwrap().to_owned();

    // Ada buys it.
    let (status, cart) = shop
        .call("POST", "/shop/api/carts", "key-ada", Some(json!({})))
        .await;
    assert_eq!(status, 201, "{cart}");
    let cart = cart["id"].as_str().unwrap().to_owned();
    let (status, body) = shop
        .call(
            "POST",
            &format!("/shop/api/carts/{cart}/items"),
            "key-ada",
            Some(json!({"product_id": product_id, "quantity": 2})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, order) = shop
        .call(
            "POST",
            &format!("/shop/api/carts/{cart}/checkout"),
            "key-ada",
            Some(checkout()),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let (status, _) = shop
        .call("GET", "/shop/api/orders", "nobody's key", None)
        .await;
    assert_eq!(status, 401, "an unknown key identifies nobody");

    // The host's route reads its own table, untouched by the store.
    let (status, titles) = shop.call("GET", "/products", "", None).await;
    assert_eq!((status, titles), (200, json!(["The host's own tea"])));
    shop.stop().await;

    // Started again on the same database: both migrators find their
    // history, and the order is there.
    let shop = Running::start(&db.url).await;
    let (status, history) = shop.call("GET", "/shop/api/orders", "key-ada", None).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["items"][0]["id"], order["id"], "{history}");
    let stock: i64 = sqlx::query_scalar("SELECT stock FROM orders_products WHERE sku = 'TEA-1'")
        .fetch_one(&host)
        .await
        .unwrap();
    assert_eq!(stock, 3);
    shop.stop().await;
    host.close().await;
}

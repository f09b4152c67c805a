//! The embedding examples (`orders-axum/examples/`), each started as it is
//! written on a real port, on a real SQLite file, driven with a real HTTP
//! client and shut down through its shutdown future; and their lines of
//! glue counted against the targets and against README.md's table.
#![cfg(feature = "serve")]

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/minimal.rs"]
mod minimal;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/stateful_host.rs"]
mod stateful_host;
#[cfg(feature = "admin")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/with_panel.rs"]
mod with_panel;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orders_core::testkit;
use orders_sqlx::Storage;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A SQLite file of one test, removed (with its WAL files) when dropped.
struct Database {
    path: PathBuf,
}

impl Database {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "orders-example-{}-{}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            path: std::env::temp_dir().join(name),
        }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// A product the journey can buy, created in the file before the
    /// example opens it (the example's migration then has nothing to do).
    async fn with_product(self) -> Self {
        let storage = Storage::open_migrated(&self.url()).await.unwrap();
        let (orders, _gateway) = testkit::engine(storage.store());
        testkit::product(&orders, "4.50", 10).await;
        storage.close().await;
        self
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An example's `run`, serving on a free port until told to stop.
struct Running {
    base: String,
    stop: oneshot::Sender<()>,
    done: JoinHandle<Result<(), Error>>,
}

impl Running {
    async fn start<F, Fut>(run: F) -> Self
    where
        F: FnOnce(TcpListener, Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let done = tokio::spawn(run(listener, shutdown));
        Self { base, stop, done }
    }

    /// Resolves the example's shutdown future: `run` must return `Ok`
    /// promptly (its graceful shutdown), and the port stop answering.
    async fn shut_down(self) {
        self.stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(15), self.done)
            .await
            .expect("the example shut down within its deadline")
            .unwrap();
        result.expect("run returned Ok");
        assert!(reqwest::get(format!("{}/", self.base)).await.is_err());
    }
}

/// A customer's journey through the shop's JSON API at `/shop/api` with
/// the bearer `token`: the catalogue, a cart, an item, a checkout, the
/// order in the history.
async fn journey(base: &str, token: &str) {
    let http = reqwest::Client::new();
    let api = format!("{base}/shop/api");
    let products: Value = http
        .get(format!("{api}/products"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product_id = products["items"][0]["id"].as_str().expect("a product");
    let call = |request: reqwest::RequestBuilder| async move {
        let response = request.bearer_auth(token).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (status, body)
    };

    let (status, cart) = call(http.post(format!("{api}/carts")).json(&json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{cart}");
    let cart_id = cart["id"].as_str().unwrap();
    let (status, cart) = call(
        http.post(format!("{api}/carts/{cart_id}/items"))
            .json(&json!({"product_id": product_id, "quantity": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    let (status, order) = call(
        http.post(format!("{api}/carts/{cart_id}/checkout"))
            .header("idempotency-key", "journey-1")
            .json(&checkout_body()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "paid");
    let (status, history) = call(http.get(format!("{api}/orders"))).await;
    assert_eq!(status, StatusCode::OK);
    let listed = history["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{history}");
    assert_eq!(listed[0]["id"], order["id"]);

    let anonymous = http.get(format!("{api}/orders")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

fn checkout_body() -> Value {
    json!({
        "email": "ada@example.com",
        "shipping_address": {"full_name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield",
                             "postal_code": "12345", "country": "US"},
        "shipping_method": "standard",
        "payment": {"method": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                                               "exp_year": 2040, "cvc": "123", "holder": "Ada Lovelace"}}
    })
}

async fn text(url: String) -> (StatusCode, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn minimal_serves_the_hosts_routes_and_the_shop_and_shuts_down() {
    let database = Database::new().with_product().await;
    let url = database.url();
    let app = Running::start(|listener, shutdown| async move {
        minimal::run(listener, &url, minimal::Users::demo(), shutdown).await
    })
    .await;

    assert_eq!(
        text(format!("{}/", app.base)).await,
        (StatusCode::OK, "the host's home page".to_owned())
    );
    journey(&app.base, "key-of-ada").await;
    let (status, doc) = text(format!("{}/shop/api/openapi.json", app.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc.contains("\"/shop/api/products\""),
        "paths under the mount"
    );
    app.shut_down().await;
}

#[tokio::test]
async fn stateful_host_routes_read_the_hosts_state_beside_the_shop() {
    let database = Database::new().with_product().await;
    let url = database.url();
    let app = Running::start(|listener, shutdown| async move {
        let state = stateful_host::AppState::demo();
        stateful_host::run(listener, &url, state, shutdown).await
    })
    .await;

    assert_eq!(
        text(format!("{}/", app.base)).await,
        (StatusCode::OK, "Welcome to Tea & Co".to_owned())
    );
    assert_eq!(
        text(format!("{}/users/count", app.base)).await,
        (StatusCode::OK, "1".to_owned())
    );
    journey(&app.base, "key-of-ada").await;
    app.shut_down().await;
}

#[cfg(feature = "admin")]
#[tokio::test]
async fn with_panel_lets_staff_sign_in_to_the_panel_beside_the_api() {
    let database = Database::new().with_product().await;
    let url = database.url();
    let users = with_panel::Users::demo();
    let host = users.clone();
    let app = Running::start(|listener, shutdown| async move {
        with_panel::run(listener, &url, host, shutdown).await
    })
    .await;

    let (status, login) = text(format!("{}/shop/admin/login", app.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(login.contains("name=\"password\""), "{login}");
    // The panel's script opens the API's websockets where the API is.
    assert!(login.contains("/shop/api"), "{login}");

    // A customer of the host's: the API's journey with a session token.
    let token = users
        .login("ada@example.com", "ada password")
        .unwrap()
        .unwrap();
    journey(&app.base, &token).await;

    // Staff sign in through the panel's form (the host's SignIn) and see
    // the order.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(format!("{}/shop/admin/login", app.base))
        .send()
        .await
        .unwrap();
    let csrf_cookie = cookie(&page, "orders_csrf");
    let body = page.text().await.unwrap();
    let csrf = between(&body, "name=\"csrf_token\" value=\"", "\"");
    let signed_in = browser
        .post(format!("{}/shop/admin/login", app.base))
        .header("cookie", format!("orders_csrf={csrf_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "staff@example.com"),
            ("password", "staff password"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()["location"], "/shop/admin/");
    let session = cookie(&signed_in, "orders_session");
    let cookies = format!("orders_csrf={csrf_cookie}; orders_session={session}");
    let orders = browser
        .get(format!("{}/shop/admin/", app.base))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(orders.status(), StatusCode::OK);
    let page = orders.text().await.unwrap();
    assert!(page.contains("ada@example.com"));

    // Signing out ends the host's session (its SignIn::sign_out).
    let signed_out = browser
        .post(format!("{}/shop/admin/logout", app.base))
        .header("cookie", &cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[(
            "csrf_token",
            between(&page, "name=\"csrf_token\" value=\"", "\"").as_str(),
        )]))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert!(users.session(&session).unwrap().is_none());
    let after = browser
        .get(format!("{}/shop/admin/", app.base))
        .header("cookie", format!("orders_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.headers()["location"], "/shop/admin/login");

    // A customer's password opens no panel session, and theirs is closed.
    let refused = browser
        .post(format!("{}/shop/admin/login", app.base))
        .header("cookie", format!("orders_csrf={csrf_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "ada@example.com"),
            ("password", "ada password"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get("set-cookie").is_none());
    app.shut_down().await;
}

#[cfg(feature = "admin")]
fn cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

#[cfg(feature = "admin")]
fn form(fields: &[(&str, &str)]) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    body.extend_pairs(fields);
    body.finish()
}

#[cfg(feature = "admin")]
fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).expect("the start marker") + start.len();
    let len = text[from..].find(end).expect("the end marker");
    text[from..from + len].to_owned()
}

// ------------------------------------------------------------ glue counts

/// The lines of glue of an example: the non-blank, non-comment lines
/// between each `// glue:start` and the next `// glue:end`.
fn glue_lines(source: &str) -> usize {
    let mut inside = false;
    let mut count = 0;
    for line in source.lines().map(str::trim) {
        match line {
            "// glue:start" => {
                assert!(!inside, "glue:start inside glue");
                inside = true;
            }
            "// glue:end" => {
                assert!(inside, "glue:end without glue:start");
                inside = false;
            }
            _ if inside && !line.is_empty() && !line.starts_with("//") => count += 1,
            _ => {}
        }
    }
    assert!(!inside, "glue:start without glue:end");
    count
}

fn example(name: &str) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::read_to_string(path).ok()
}

/// The count README.md's table gives for `name`: the last cell of the
/// row whose first cell names the file.
fn readme_count(readme: &str, name: &str) -> Option<usize> {
    let rows = readme.lines().filter(|line| line.starts_with('|'));
    let cells = rows
        .map(|row| row.trim().trim_matches('|').split('|').collect::<Vec<_>>())
        .find(|cells| cells[0].contains(&format!("`{name}`")))?;
    cells.last()?.trim().parse().ok()
}

#[test]
fn glue_counts_meet_the_targets_and_match_the_readme() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let count = |name: &str| glue_lines(&example(name).unwrap());
    let minimal = count("minimal.rs");
    let with_panel = count("with_panel.rs");
    assert!(minimal <= 15, "minimal.rs has {minimal} lines of glue");
    assert!(
        with_panel <= minimal + 10,
        "the panel adds {} lines of glue",
        with_panel - minimal
    );

    let mut names = vec!["minimal.rs", "with_panel.rs", "stateful_host.rs"];
    // Written by another change; counted once it exists.
    if example("shared_postgres.rs").is_some() {
        names.push("shared_postgres.rs");
    }
    for name in names {
        assert_eq!(
            readme_count(&readme, name),
            Some(count(name)),
            "README.md's glue count of {name}"
        );
    }
}

#[test]
fn glue_is_counted_between_the_markers_without_blanks_or_comments() {
    let source = "fn host() {}\n// glue:start\nlet a = 1;\n\n    // a comment\nlet b = 2;\n// glue:end\nlet c = 3;\n  // glue:start\nimpl X {}\n  // glue:end\n";
    assert_eq!(glue_lines(source), 3);
    assert_eq!(
        readme_count("| [`a.rs`](x) | what | 12 |", "a.rs"),
        Some(12)
    );
    assert_eq!(
        readme_count("| `b.rs` | more than `a.rs` | 3 |", "a.rs"),
        None
    );
}

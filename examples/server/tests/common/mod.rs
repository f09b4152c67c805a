//! Starting the real `orders-server` binary on a free port, and talking to
//! it with a real HTTP and websocket client.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub mod faults;
pub mod pages;
pub mod smtp;

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const STAFF_EMAIL: &str = "staff@example.com";
pub const STAFF_PASSWORD: &str = "staff password 1";

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orders-server"))
}

/// A running server process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub output: Arc<Mutex<String>>,
    pub client: reqwest::Client,
}

impl Server {
    /// Starts `orders-server serve --demo` on `database_url` and waits for
    /// its `listening on` line.
    pub fn start(database_url: &str) -> Server {
        Self::start_with(database_url, &[])
    }

    /// As [`Server::start`], with more command-line arguments.
    pub fn start_with(database_url: &str, extra: &[&str]) -> Server {
        Self::launch(binary(), database_url, extra, &[])
    }

    /// As [`Server::start_with`], with environment variables, under a soft
    /// open-files limit of `open_files` (`ulimit -Sn`) when given.
    pub fn start_limited(
        database_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        open_files: Option<u32>,
    ) -> Server {
        let command = match open_files {
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell.args([
                    "-c",
                    &format!("ulimit -Sn {limit} && exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_orders-server"),
                ]);
                shell
            }
            None => binary(),
        };
        Self::launch(command, database_url, extra, env)
    }

    fn launch(
        mut command: Command,
        database_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        // 127.0.0.1:0 unless `extra` binds elsewhere.
        let bind: &[&str] = if extra.contains(&"--bind") {
            &[]
        } else {
            &["--bind", "127.0.0.1:0"]
        };
        let mut child = command
            .args(["--database-url", database_url, "serve", "--demo"])
            .args(bind)
            .args(extra)
            .envs(env.iter().copied())
            .env("ORDERS_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start orders-server");
        let output = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0_u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => panic!("the server did not start:\n{}", output.lock().unwrap()),
        };
        Server {
            child,
            base,
            output,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Registers a fresh customer and returns its token.
    pub async fn customer(&self) -> String {
        let email = format!("c{}@example.com", unique());
        let (status, body) = self
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

    /// Logs the staff account in (see [`create_staff`]).
    pub async fn staff(&self) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(json!({"email": STAFF_EMAIL, "password": STAFF_PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Moves order `id` to status `to` through the admin API, as `staff`.
    pub async fn transition(&self, staff: &str, id: &str, to: &str) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/api/admin/orders/{id}/transition"),
            Some(staff),
            Some(json!({ "to": to })),
        )
        .await
    }

    /// A new product with `stock` units at 10.00 USD.
    pub async fn product(&self, staff: &str, stock: u32) -> String {
        let body = json!({"sku": format!("SKU-{}", unique()), "name": "Test product", "price": "10.00", "currency": "USD", "stock": stock});
        let (status, body) = self
            .call("POST", "/api/admin/products", Some(staff), Some(body))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A cart holding `quantity` of `product`.
    pub async fn cart(&self, token: &str, product: &str, quantity: u32) -> String {
        let (status, cart) = self
            .call("POST", "/api/carts", Some(token), Some(json!({})))
            .await;
        assert_eq!(status, 201, "{cart}");
        let id = cart["id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/carts/{id}/items"),
                Some(token),
                Some(json!({"product_id": product, "quantity": quantity})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        id
    }

    pub async fn checkout(&self, token: &str, cart: &str, card: &str) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/api/carts/{cart}/checkout"),
            Some(token),
            Some(checkout_body(card)),
        )
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `orders-server create-superuser` for the staff account.
pub fn create_staff(database_url: &str) {
    let output = binary()
        .args([
            "--database-url",
            database_url,
            "create-superuser",
            "--email",
            STAFF_EMAIL,
            "--password",
            STAFF_PASSWORD,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("create-superuser");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn checkout_body(card: &str) -> Value {
    json!({
        "email": "ada@example.com",
        "shipping_address": {"full_name": "Ada Lovelace", "line1": "12 St James's Square", "line2": null,
                             "city": "London", "region": null, "postal_code": "SW1Y 4JH", "country": "GB",
                             "phone": "+44 20 7946 0958"},
        "shipping_method": "standard",
        "payment": {"method": "card", "card": {"number": card, "exp_month": 12, "exp_year": 2030,
                                               "cvc": "123", "holder": "Ada Lovelace"}}
    })
}

pub fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{nanos}{n}")
}

/// A SQLite database URL in a temporary folder (kept alive by the guard).
pub fn sqlite_url() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    (url, dir)
}

/// A fresh PostgreSQL database for one test, dropped afterwards. `None`
/// (after saying so) when PostgreSQL is unreachable, unless
/// `ORDERS_REQUIRE_PG=1`, which makes that a failure.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin: String,
}

impl PgDatabase {
    pub fn create() -> Option<Self> {
        let admin = std::env::var("ORDERS_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "orders_test_{}_server_{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            unique()
        );
        let created = psql(&admin, &format!("CREATE DATABASE \"{name}\""));
        if let Err(why) = created {
            if std::env::var("ORDERS_REQUIRE_PG").is_ok_and(|v| v == "1") {
                panic!(
                    "PostgreSQL is required (ORDERS_REQUIRE_PG=1) but unusable at {admin}: {why}"
                );
            }
            println!(
                "PostgreSQL tests skipped: set ORDERS_TEST_PG_URL or start PostgreSQL ({why})"
            );
            return None;
        }
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("ORDERS_TEST_PG_URL must name a database: {admin}"),
        };
        Some(Self { url, name, admin })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}

/// Runs one statement with `psql` (which ships with PostgreSQL).
fn psql(url: &str, sql: &str) -> Result<(), String> {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// The next JSON text frame of a websocket (pings and pongs skipped);
/// panics after 10 s or on any other frame.
pub async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .expect("a valid frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The `value` of the first form field named `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at..];
    let start = rest.find("value=\"").expect("a value") + 7;
    let end = start + rest[start..].find('"').expect("a closing quote");
    rest[start..end].to_owned()
}

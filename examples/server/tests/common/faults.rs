//! Helpers of the fault tests (`faults_*.rs`): a throwaway PostgreSQL
//! cluster a test may stop and start at will, a checkout load that records
//! every request it makes, and an audit of the database's tables.
//!
//! The machine's own PostgreSQL (port 5432) is shared by every test, so a
//! test that takes the database away starts a cluster of its own with
//! `initdb` and `pg_ctl`, on a free port, in a temporary folder (run as the
//! `postgres` user when the tests run as root, since `initdb` refuses
//! root).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::checkout_body;

/// Whether these tests run as root (then PostgreSQL runs as `postgres`).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The folder of the newest PostgreSQL server binaries on this machine.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A free TCP port on 127.0.0.1 (free when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A PostgreSQL cluster of one test's own; stopped and deleted when dropped.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    /// The port it listens on (127.0.0.1 only).
    pub port: u16,
}

impl PgCluster {
    /// Creates and starts a cluster. `None` (after saying so) when this
    /// machine has no PostgreSQL server binaries, unless
    /// `ORDERS_REQUIRE_PG=1`, which makes that a failure.
    pub fn start() -> Option<Self> {
        let Some(bin) = pg_bin() else {
            if std::env::var("ORDERS_REQUIRE_PG").is_ok_and(|v| v == "1") {
                panic!(
                    "PostgreSQL is required (ORDERS_REQUIRE_PG=1) but no server binaries are in /usr/lib/postgresql/*/bin"
                );
            }
            println!("skipped: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin");
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary folder");
        let as_postgres = running_as_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres", &dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the cluster folder failed");
        }
        let mut cluster = Self {
            dir,
            bin,
            as_postgres,
            port: 0,
        };
        let data = cluster.data().display().to_string();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-N",
                "-E",
                "UTF8",
            ],
        );
        // A port found free may be taken before the server binds it: retry.
        for attempt in 1..=3 {
            cluster.port = free_port();
            if cluster.try_start() {
                return Some(cluster);
            }
            assert!(
                attempt < 3,
                "the test cluster did not start:\n{}",
                cluster.log()
            );
        }
        unreachable!()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.current_dir(self.dir.path());
        command
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let output = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            output.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn try_start(&self) -> bool {
        let settings = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        // `-l` sends the server's output to a file: without it the server
        // would inherit (and hold open) this command's pipes.
        self.command("pg_ctl")
            .args(["-D", &self.data().display().to_string()])
            .args(["-l", &self.log_path().display().to_string()])
            .args(["-o", &settings, "-w", "-t", "30", "start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: every backend
    /// killed, no checkpoint), returning when it is down.
    pub fn stop(&self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts it again on the same port (crash recovery runs first).
    pub fn resume(&self) {
        assert!(
            self.try_start(),
            "the test cluster did not restart:\n{}",
            self.log()
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data().display().to_string()])
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One request the load made.
#[derive(Debug, Clone)]
pub struct Sample {
    /// What it was (`"cart"`, `"add"`, `"checkout"`, `"cancel"`, `"health"`).
    pub what: &'static str,
    /// When it was sent.
    pub started: Instant,
    /// How long until its whole answer arrived.
    pub elapsed: Duration,
    /// Its status; 0 when no answer came (connection refused or reset, or
    /// the client's timeout).
    pub status: u16,
    /// Whether the answer carried `Retry-After`.
    pub retry_after: bool,
    /// The problem's `code`, if any.
    pub code: Option<String>,
}

/// How long a load client waits for any answer before giving up (a hang).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for load: its own connection pool and a timeout.
pub fn load_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("client")
}

/// Sends one request and records it; never panics on a failed request.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    what: &'static str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    idempotency_key: Option<&str>,
) -> (Sample, Value) {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let started = Instant::now();
    let (status, retry_after, body) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            match response.bytes().await {
                Ok(bytes) => (
                    status,
                    retry_after,
                    serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                ),
                Err(_) => (0, false, Value::Null),
            }
        }
        Err(_) => (0, false, Value::Null),
    };
    let sample = Sample {
        what,
        started,
        elapsed: started.elapsed(),
        status,
        retry_after,
        code: body["code"].as_str().map(str::to_owned),
    };
    (sample, body)
}

/// Many customers buying at once until told to stop: each repeats "new
/// cart, add a product, check out (with an idempotency key)", and cancels
/// every fourth order it places. Every request is recorded.
pub struct CheckoutLoad {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    placed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl CheckoutLoad {
    /// Starts one client per token, buying among `products`. With
    /// `stop_on_no_answer`, a client stops at its first request that gets
    /// no answer (the server was killed); otherwise it carries on.
    pub fn start(
        base: &str,
        tokens: Vec<String>,
        products: Vec<String>,
        stop_on_no_answer: bool,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let placed = Arc::new(AtomicU64::new(0));
        // Keys unique to this load: a key reused with another cart is refused.
        let run = super::unique();
        let tasks = tokens
            .into_iter()
            .enumerate()
            .map(|(client_no, token)| {
                let (stop, samples, placed) = (stop.clone(), samples.clone(), placed.clone());
                let products = products.clone();
                let base = base.to_owned();
                let run = run.clone();
                tokio::spawn(async move {
                    let client = load_client();
                    let record = |s: Sample| samples.lock().unwrap().push(s);
                    let mut round = 0_usize;
                    // Bounded: the test stops the load long before this.
                    while !stop.load(Ordering::Relaxed) && round < 100_000 {
                        round += 1;
                        let product = &products[(client_no + round) % products.len()];
                        let quantity = 1 + (round % 3) as u64;
                        let post = reqwest::Method::POST;
                        let (s, cart) = send(
                            &client,
                            &base,
                            "cart",
                            post.clone(),
                            "/api/carts",
                            Some(&token),
                            Some(&json!({})),
                            None,
                        )
                        .await;
                        let (status, no_answer) = (s.status, s.status == 0);
                        record(s);
                        if no_answer && stop_on_no_answer {
                            break;
                        }
                        if status != 201 {
                            continue;
                        }
                        let cart = cart["id"].as_str().unwrap_or_default().to_owned();
                        let (s, _) = send(
                            &client,
                            &base,
                            "add",
                            post.clone(),
                            &format!("/api/carts/{cart}/items"),
                            Some(&token),
                            Some(&json!({"product_id": product, "quantity": quantity})),
                            None,
                        )
                        .await;
                        let (status, no_answer) = (s.status, s.status == 0);
                        record(s);
                        if no_answer && stop_on_no_answer {
                            break;
                        }
                        if status != 200 {
                            continue;
                        }
                        let key = format!("load-{run}-{client_no}-{round}");
                        let (s, order) = send(
                            &client,
                            &base,
                            "checkout",
                            post.clone(),
                            &format!("/api/carts/{cart}/checkout"),
                            Some(&token),
                            Some(&checkout_body(super::CARD_OK)),
                            Some(&key),
                        )
                        .await;
                        let (status, no_answer) = (s.status, s.status == 0);
                        record(s);
                        if no_answer && stop_on_no_answer {
                            break;
                        }
                        if status != 201 {
                            continue;
                        }
                        let placed_no = placed.fetch_add(1, Ordering::Relaxed);
                        if placed_no % 4 == 3 {
                            let id = order["id"].as_str().unwrap_or_default();
                            let (s, _) = send(
                                &client,
                                &base,
                                "cancel",
                                post,
                                &format!("/api/orders/{id}/cancel"),
                                Some(&token),
                                None,
                                None,
                            )
                            .await;
                            let no_answer = s.status == 0;
                            record(s);
                            if no_answer && stop_on_no_answer {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            samples,
            placed,
            tasks,
        }
    }

    /// Orders placed so far (201 answers).
    pub fn placed(&self) -> u64 {
        self.placed.load(Ordering::Relaxed)
    }

    /// A copy of the samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }

    /// Stops every client (each finishes its current request) and returns
    /// every sample.
    pub async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            tokio::time::timeout(CLIENT_TIMEOUT * 5, task)
                .await
                .expect("a load client did not stop")
                .expect("a load client panicked");
        }
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

/// Waits (polling, with a deadline) until `check` holds; returns how long
/// that took, or `None` at the deadline.
pub async fn poll_until<F, Fut>(deadline: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < deadline {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// What the tables say about stock, orders and idempotency records.
#[derive(Debug, Default)]
pub struct Audit {
    /// Stock per product id.
    pub stock: HashMap<String, i64>,
    /// Units in non-cancelled orders, per product id.
    pub sold: HashMap<String, i64>,
    /// Orders in all.
    pub orders: i64,
    /// Orders that are cancelled.
    pub cancelled: i64,
    /// Orders without a single line.
    pub without_lines: i64,
    /// Orders without their first event (`from` null).
    pub without_first_event: i64,
    /// Events in all.
    pub events: i64,
    /// Idempotency records naming an order that does not exist.
    pub dangling_keys: i64,
    /// Idempotency records naming an order.
    pub completed_keys: i64,
    /// Idempotency records still in progress (their request died).
    pub open_keys: i64,
    /// Carts checked out (each must have made one order).
    pub carts_checked_out: i64,
}

const STOCK: &str = "SELECT id, stock FROM orders_products";
const SOLD: &str = "SELECT l.product_id, CAST(SUM(l.quantity) AS BIGINT) FROM orders_order_lines l \
     JOIN orders_orders o ON o.id = l.order_id WHERE o.status <> 'cancelled' GROUP BY l.product_id";
const COUNTS: &str = "SELECT \
     (SELECT COUNT(*) FROM orders_orders), \
     (SELECT COUNT(*) FROM orders_orders WHERE status = 'cancelled'), \
     (SELECT COUNT(*) FROM orders_orders o WHERE NOT EXISTS (SELECT 1 FROM orders_order_lines l WHERE l.order_id = o.id)), \
     (SELECT COUNT(*) FROM orders_orders o WHERE NOT EXISTS \
         (SELECT 1 FROM orders_order_events e WHERE e.order_id = o.id AND e.from_status IS NULL)), \
     (SELECT COUNT(*) FROM orders_order_events), \
     (SELECT COUNT(*) FROM orders_idempotency_keys k WHERE k.order_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM orders_orders o WHERE o.id = k.order_id)), \
     (SELECT COUNT(*) FROM orders_idempotency_keys WHERE order_id IS NOT NULL), \
     (SELECT COUNT(*) FROM orders_idempotency_keys WHERE order_id IS NULL), \
     (SELECT COUNT(*) FROM orders_carts WHERE status = 'checked_out')";

type Counts = (i64, i64, i64, i64, i64, i64, i64, i64, i64);

/// Reads the tables of the database at `url` (SQLite or PostgreSQL)
/// directly, all in one snapshot.
///
/// One snapshot matters: a server killed with `kill -9` leaves its
/// statements running inside PostgreSQL, which commits them after the
/// process is gone. Stock read before such a commit and order lines read
/// after it would add up to more than there ever was.
pub async fn audit(url: &str) -> Audit {
    macro_rules! read {
        ($pool:expr, $snapshot:expr) => {{
            let pool = $pool;
            let mut tx = pool.begin().await.expect("begin the audit's snapshot");
            if let Some(snapshot) = $snapshot {
                sqlx::query(snapshot).execute(&mut *tx).await.unwrap();
            }
            let stock: Vec<(String, i64)> =
                sqlx::query_as(STOCK).fetch_all(&mut *tx).await.unwrap();
            let sold: Vec<(String, i64)> = sqlx::query_as(SOLD).fetch_all(&mut *tx).await.unwrap();
            let counts: Counts = sqlx::query_as(COUNTS).fetch_one(&mut *tx).await.unwrap();
            tx.rollback().await.unwrap();
            pool.close().await;
            (stock, sold, counts)
        }};
    }
    let (stock, sold, counts) = if url.starts_with("sqlite:") {
        // A deferred SQLite transaction reads one snapshot from its first
        // SELECT on.
        read!(
            sqlx::SqlitePool::connect(url).await.expect("open SQLite"),
            None::<&str>
        )
    } else {
        read!(
            sqlx::PgPool::connect(url)
                .await
                .expect("connect PostgreSQL"),
            Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        )
    };
    Audit {
        stock: stock.into_iter().collect(),
        sold: sold.into_iter().collect(),
        orders: counts.0,
        cancelled: counts.1,
        without_lines: counts.2,
        without_first_event: counts.3,
        events: counts.4,
        dangling_keys: counts.5,
        completed_keys: counts.6,
        open_keys: counts.7,
        carts_checked_out: counts.8,
    }
}

impl Audit {
    /// Panics unless every order is complete, every completed idempotency
    /// record names an existing order, every checked-out cart made one
    /// order, and for every product `initial = stock + sold`.
    pub fn assert_consistent(&self, initial: &HashMap<String, i64>) {
        assert_eq!(self.without_lines, 0, "orders without lines: {self:?}");
        assert_eq!(
            self.without_first_event, 0,
            "orders without their first event: {self:?}"
        );
        assert_eq!(
            self.dangling_keys, 0,
            "idempotency records naming no order: {self:?}"
        );
        assert_eq!(
            self.carts_checked_out, self.orders,
            "checked-out carts and orders differ: {self:?}"
        );
        assert!(
            self.completed_keys <= self.orders,
            "more completed idempotency records than orders: {self:?}"
        );
        assert_eq!(
            initial.len(),
            self.stock.len(),
            "products appeared or vanished"
        );
        for (product, before) in initial {
            let now = self.stock[product];
            let sold = self.sold.get(product).copied().unwrap_or(0);
            assert_eq!(
                *before,
                now + sold,
                "stock of {product} not conserved: {before} at first, {now} now, {sold} in orders"
            );
        }
    }
}

/// Stock per product, read from the tables.
pub async fn stock(url: &str) -> HashMap<String, i64> {
    audit(url).await.stock
}

/// The slowest of `samples` matching `keep`.
pub fn slowest(samples: &[Sample], keep: impl Fn(&Sample) -> bool) -> Duration {
    samples
        .iter()
        .filter(|s| keep(s))
        .map(|s| s.elapsed)
        .max()
        .unwrap_or_default()
}

/// The `q`-quantile (0..=1) of the durations.
pub fn quantile(mut values: Vec<Duration>, q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort();
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index.min(values.len() - 1)]
}

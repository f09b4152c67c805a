//! The mail worker against a real SMTP server (aiosmtpd, from the virtual
//! environment `.ci/run` installs, started by each test on a free port)
//! over real stores: the messages arrive with the right recipients,
//! subjects and tracking number, and no internal note; with the server
//! down, mail waits and then goes out once; a restart mid-backlog loses
//! and repeats nothing; two instances on one PostgreSQL send each mail
//! once.
#![cfg(feature = "mail")]

use std::collections::HashSet;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use orders_axum::mail::{MailWorker, MailWorkerConfig, SmtpConfig, SmtpMailer, TlsMode};
use orders_core::ids::CustomerId;
use orders_core::mail::{Mail, MailKind};
use orders_core::order::{Actor, Note, Order, OrderStatus, TrackingNumber, Transition};
use orders_core::ports::{MailboxStore, Store, SystemClock};
use orders_core::testkit::{cart_with, engine, form, product};
use orders_core::webhook::{DeliveryStatus, RetryPolicy};
use orders_sqlx::SqliteStore;
use serde_json::Value;

/// A real SMTP server on a port of its own, writing what it accepts into
/// a folder; killed on drop.
struct Smtp {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

fn python() -> PathBuf {
    std::env::var_os("ORDERS_AIOSMTPD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/orders-ci/venv-aiosmtpd"))
        .join("bin")
        .join("python")
}

impl Smtp {
    /// A server for a free port, not started; `None` (with a message) when
    /// aiosmtpd is not installed and `ORDERS_REQUIRE_SMTP` is not `1`.
    fn new() -> Option<Self> {
        let installed = Command::new(python())
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("ORDERS_REQUIRE_SMTP").as_deref() != Ok("1"),
                "ORDERS_REQUIRE_SMTP=1 but aiosmtpd is missing from {} (.ci/run installs it)",
                python().display()
            );
            eprintln!(
                "SKIPPED: aiosmtpd is not installed (set ORDERS_AIOSMTPD_VENV, or run .ci/run once)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Some(Self {
            child: None,
            port,
            dir: tempfile::tempdir().expect("a folder"),
        })
    }

    /// Starts it and waits until it accepts connections.
    fn start(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let child = Command::new(python())
            .arg(script)
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What it accepted, in arrival order.
    fn messages(&self) -> Vec<Value> {
        let mut found: Vec<(std::time::SystemTime, Value)> = std::fs::read_dir(self.dir.path())
            .expect("the folder")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| {
                let text = std::fs::read_to_string(e.path()).expect("a message");
                let at = e.metadata().and_then(|m| m.modified()).expect("a time");
                (at, serde_json::from_str(&text).expect("JSON"))
            })
            .collect();
        found.sort_by_key(|(at, _)| *at);
        found.into_iter().map(|(_, v)| v).collect()
    }

    /// Waits (up to 20 s) for `n` messages, then a little more, and
    /// returns all it has (a repeat would show as more than `n`).
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            if self.messages().len() >= n {
                tokio::time::sleep(Duration::from_millis(500)).await;
                return self.messages();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("only {} of {n} messages arrived", self.messages().len());
    }

    fn mailer(&self) -> Arc<SmtpMailer> {
        Arc::new(
            SmtpMailer::new(&SmtpConfig {
                host: "127.0.0.1".into(),
                port: self.port,
                tls: TlsMode::None,
                from: "Shop <shop@example.com>".into(),
                credentials: None,
                timeout: Duration::from_secs(5),
            })
            .expect("a mailer"),
        )
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config() -> MailWorkerConfig {
    MailWorkerConfig {
        policy: RetryPolicy {
            first_delay: chrono::Duration::milliseconds(100),
            max_delay: chrono::Duration::milliseconds(400),
            ..RetryPolicy::default()
        },
        poll: Duration::from_millis(20),
        ..MailWorkerConfig::default()
    }
}

/// Starts a worker over `store` sending to `smtp`; the sender stops it.
fn run_worker(
    store: Arc<dyn MailboxStore>,
    smtp: &Smtp,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = MailWorker::new(store, smtp.mailer(), Arc::new(SystemClock), config());
    (stop, tokio::spawn(worker.run(stopped)))
}

/// A cash order placed by a new customer with `email`.
async fn place(store: &Arc<dyn MailboxStore>, email: &str) -> Order {
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "3.00", 1000).await;
    let who = CustomerId::generate();
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let mut checkout = form(None);
    checkout.email = Some(email.to_owned());
    orders
        .checkout(&who, &cart, checkout, None)
        .await
        .expect("checkout")
        .order
}

/// Moves `order` on by staff, with an internal note.
async fn advance(store: &Arc<dyn MailboxStore>, order: Order, to: OrderStatus) -> Order {
    let transition = Transition {
        to,
        note: Some(Note::parse("internal: customer is difficult").expect("note")),
        tracking_number: (to == OrderStatus::Shipped)
            .then(|| TrackingNumber::parse("TRK-42").expect("tracking")),
    };
    let change =
        orders_core::order::plan_transition(&order, transition, Actor::system(), &[], Utc::now())
            .expect("an allowed move");
    store.change_status(&change).await.expect("moved").0
}

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn MailboxStore> {
    let url = format!("sqlite://{}", dir.path().join("mail.db").display());
    let store = SqliteStore::connect(&url).await.expect("open");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_with_recipients_subjects_and_tracking_number() {
    let Some(mut smtp) = Smtp::new() else {
        return;
    };
    smtp.start();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let ada = place(&store, "ada@example.com").await;
    let mut shipped = ada.clone();
    for to in [
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
    ] {
        shipped = advance(&store, shipped, to).await;
    }
    let bea = place(&store, "Bea.Smith@Example.org").await;
    advance(&store, bea.clone(), OrderStatus::Cancelled).await;

    let (stop, worker) = run_worker(store.clone(), &smtp);
    let got = smtp.wait_for(4).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(got.len(), 4, "each mail once: {got:#?}");

    let to = |m: &Value| m["envelope_to"][0].as_str().unwrap().to_owned();
    let subjects = |who: &str| -> Vec<String> {
        got.iter()
            .filter(|m| to(m) == who)
            .map(|m| m["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    let (a, b) = (ada.number(), bea.number());
    assert_eq!(
        subjects("ada@example.com"),
        [
            format!("Order {a} confirmed"),
            format!("Order {a} has shipped")
        ],
        "Ada's, in order"
    );
    assert_eq!(
        subjects("Bea.Smith@example.org"),
        [
            format!("Order {b} confirmed"),
            format!("Order {b} cancelled")
        ]
    );
    for m in &got {
        assert_eq!(
            m["envelope_to"].as_array().unwrap().len(),
            1,
            "one recipient"
        );
        assert_eq!(
            m["to"], m["envelope_to"][0],
            "the header names the recipient"
        );
        assert_eq!(m["envelope_from"], "shop@example.com");
        assert_eq!(m["content_type"], "multipart/alternative");
        for part in ["text", "html"] {
            let body = m[part].as_str().expect("both parts");
            assert!(
                !body.contains("difficult"),
                "never an internal note: {body}"
            );
        }
    }
    let ship = got
        .iter()
        .find(|m| m["subject"].as_str().unwrap().ends_with("has shipped"))
        .unwrap();
    assert!(
        ship["text"]
            .as_str()
            .unwrap()
            .contains("Tracking number: TRK-42")
    );
    assert!(ship["html"].as_str().unwrap().contains("TRK-42"));

    // Each message carries its mail's stable id, and the store says sent.
    let events = store.order_events(ada.id()).await.unwrap();
    let id = Mail::id_for(events.last().unwrap().id);
    assert_eq!(ship["message_id"], format!("<{id}@example.com>"));
    let mails = store.order_mails(ada.id()).await.unwrap();
    let kinds: Vec<MailKind> = mails.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [MailKind::Placed, MailKind::Shipped]);
    assert!(
        mails
            .iter()
            .all(|m| m.status == DeliveryStatus::Delivered && m.attempts == 1)
    );
    assert_eq!(store.pending_mails().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_while_the_server_is_down_then_goes_out_once() {
    let Some(mut smtp) = Smtp::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let order = place(&store, "ada@example.com").await;
    let (stop, worker) = run_worker(store.clone(), &smtp);

    // Down: every attempt fails, the mail stays pending with its error.
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = loop {
        let mails = store.order_mails(order.id()).await.unwrap();
        if mails.first().is_some_and(|m| m.attempts >= 3) {
            break mails[0].clone();
        }
        assert!(Instant::now() < deadline, "no attempts: {mails:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(waiting.status, DeliveryStatus::Pending, "{waiting:?}");
    assert!(waiting.last_error.is_some(), "{waiting:?}");
    assert_eq!(store.pending_mails().await.unwrap(), 1);

    // Back: it goes out, once.
    smtp.start();
    let got = smtp.wait_for(1).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(got.len(), 1, "sent once: {got:#?}");
    assert_eq!(got[0]["envelope_to"][0], "ada@example.com");
    let sent = &store.order_mails(order.id()).await.unwrap()[0];
    assert_eq!(sent.status, DeliveryStatus::Delivered);
    assert!(sent.attempts > waiting.attempts);
    assert_eq!(got[0]["message_id"], format!("<{}@example.com>", sent.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_backlog_loses_and_repeats_nothing() {
    let Some(mut smtp) = Smtp::new() else {
        return;
    };
    smtp.start();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    for i in 0..6 {
        place(&store, &format!("c{i}@example.com")).await;
    }
    // The first process sends one mail a round, and stops part way.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let one_by_one = MailWorkerConfig {
        batch: 1,
        ..config()
    };
    let first = MailWorker::new(
        store.clone(),
        smtp.mailer(),
        Arc::new(SystemClock),
        one_by_one,
    );
    let running = tokio::spawn(first.run(stopped));
    while smtp.messages().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap();
    let before = smtp.messages().len();
    assert!(before < 6, "stopped mid-backlog ({before} sent)");
    drop(store);

    // A new process on the same file carries on.
    let store = sqlite(&dir).await;
    let (stop, worker) = run_worker(store.clone(), &smtp);
    let got = smtp.wait_for(6).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    let to: HashSet<&str> = got
        .iter()
        .map(|m| m["envelope_to"][0].as_str().unwrap())
        .collect();
    assert_eq!((got.len(), to.len()), (6, 6), "each customer's mail once");
    assert_eq!(store.pending_mails().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_send_each_mail_once() {
    let Some(mut smtp) = Smtp::new() else {
        return;
    };
    let Some(db) = Database::create().await else {
        return;
    };
    smtp.start();
    let open = || async {
        let store = orders_sqlx::PgStore::connect(&db.url)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        Arc::new(store) as Arc<dyn MailboxStore>
    };
    let (a, b) = (open().await, open().await);
    let (stop_a, worker_a) = run_worker(a.clone(), &smtp);
    let (stop_b, worker_b) = run_worker(b.clone(), &smtp);
    // Orders placed on both instances while both send.
    let place_on = |store: Arc<dyn MailboxStore>, side: &'static str| async move {
        for i in 0..6 {
            let order = place(&store, &format!("{side}{i}@example.com")).await;
            advance(&store, order, OrderStatus::Cancelled).await;
        }
    };
    tokio::join!(place_on(a.clone(), "a"), place_on(b.clone(), "b"));
    let got = smtp.wait_for(24).await;
    for stop in [stop_a, stop_b] {
        stop.send(true).unwrap();
    }
    worker_a.await.unwrap();
    worker_b.await.unwrap();
    let ids: HashSet<&str> = got
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!((got.len(), ids.len()), (24, 24), "each mail once");
    for side in ["a", "b"] {
        for i in 0..6 {
            let to = format!("{side}{i}@example.com");
            let subjects: Vec<&str> = got
                .iter()
                .filter(|m| m["envelope_to"][0] == to.as_str())
                .map(|m| m["subject"].as_str().unwrap())
                .collect();
            assert_eq!(subjects.len(), 2, "{to}: {subjects:?}");
            assert!(
                subjects[0].ends_with("confirmed") && subjects[1].ends_with("cancelled"),
                "{to}: in order: {subjects:?}"
            );
        }
    }
    assert_eq!(a.pending_mails().await.unwrap(), 0);
}

/// A fresh PostgreSQL database, dropped at the end; `None` (skipped)
/// unless `ORDERS_TEST_PG_URL` or `ORDERS_REQUIRE_PG` is set.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Option<Self> {
        use sqlx::Connection;
        let configured = std::env::var("ORDERS_TEST_PG_URL").ok();
        let required = std::env::var("ORDERS_REQUIRE_PG").is_ok_and(|v| v == "1");
        if configured.is_none() && !required {
            println!("skipped: set ORDERS_TEST_PG_URL (or ORDERS_REQUIRE_PG=1) to run it");
            return None;
        }
        let admin =
            configured.unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        let name = format!("orders_test_mail_{}", CustomerId::generate());
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
        use sqlx::Connection;
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // On a thread of its own: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
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

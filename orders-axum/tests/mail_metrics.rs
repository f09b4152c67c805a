//! Features `mail` and `metrics`: the customer email series move as a real
//! mail worker tries a real SMTP port with nothing listening (the server
//! is down), scraped over HTTP from a real `/metrics`: failed attempts and
//! the backlog first, then, under a short retry policy, dead mails and an
//! empty backlog, over a SQLite file.
#![cfg(all(feature = "mail", feature = "metrics"))]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use orders_axum::mail::{MailWorker, MailWorkerConfig, SmtpConfig, SmtpMailer, TlsMode};
use orders_axum::metrics::Metrics;
use orders_core::ids::CustomerId;
use orders_core::order::Order;
use orders_core::ports::{MailboxStore, Store, SystemClock};
use orders_core::testkit::{cart_with, engine, form, product};
use orders_core::webhook::RetryPolicy;
use orders_sqlx::SqliteStore;

/// Serves `app` on a free port of 127.0.0.1 and returns its address.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Every sample of the document at `url`, by series as written.
async fn scrape(url: &str) -> HashMap<String, f64> {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series value");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// Scrapes `url` until `done` holds of the samples (up to 20 s).
async fn until(url: &str, what: &str, done: impl Fn(&HashMap<String, f64>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let samples = scrape(url).await;
        if done(&samples) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {samples:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sample(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
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

/// A mailer for a port of 127.0.0.1 where nothing listens.
fn down_mailer() -> Arc<SmtpMailer> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    Arc::new(
        SmtpMailer::new(&SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            from: "Shop <shop@example.com>".into(),
            credentials: None,
            timeout: Duration::from_secs(2),
        })
        .expect("a mailer"),
    )
}

const FAILED: &str = "orders_mail_attempts_total{outcome=\"failed\"}";
const DEAD: &str = "orders_mail_attempts_total{outcome=\"dead\"}";
const BACKLOG: &str = "orders_mail_backlog";
const DEAD_NOW: &str = "orders_mails_dead";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_backlog_then_dead_mails_are_scraped() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mail.db").display());
    let sqlite = SqliteStore::connect(&url).await.expect("open");
    sqlite.migrate().await.expect("migrate");
    let store: Arc<dyn MailboxStore> = Arc::new(sqlite);
    let metrics = Metrics::new();
    let base = serve(Router::new().route("/metrics", metrics.endpoint())).await;
    let at = format!("{base}/metrics");
    let before = scrape(&at).await;
    assert_eq!(sample(&before, FAILED), 0.0, "no attempts yet");
    assert_eq!(sample(&before, BACKLOG), 0.0);

    place(&store, "ada@example.com").await;
    place(&store, "bob@example.com").await;
    // Waits long enough for the backlog to be read while both are pending,
    // and gives up a second after the first failure.
    let config = MailWorkerConfig {
        policy: RetryPolicy {
            first_delay: chrono::Duration::milliseconds(300),
            max_delay: chrono::Duration::milliseconds(300),
            give_up_after: chrono::Duration::milliseconds(1500),
        },
        poll: Duration::from_millis(20),
        ..MailWorkerConfig::default()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = MailWorker::new(store.clone(), down_mailer(), Arc::new(SystemClock), config)
        .metrics(&metrics);
    let running = tokio::spawn(worker.run(stopped));

    until(&at, "failed attempts and a backlog of two", |s| {
        sample(s, FAILED) >= 2.0 && sample(s, BACKLOG) == 2.0
    })
    .await;
    until(&at, "two dead mails and no backlog", |s| {
        sample(s, DEAD) == 2.0 && sample(s, DEAD_NOW) == 2.0 && sample(s, BACKLOG) == 0.0
    })
    .await;
    assert_eq!(store.dead_mails().await.unwrap(), 2);
    assert_eq!(store.pending_mails().await.unwrap(), 0);
    stop.send(true).unwrap();
    running.await.unwrap();
}

//! The server is killed (`kill -9`) in the middle of a checkout load, on
//! SQLite and on PostgreSQL, then restarted on the same database, three
//! times over.
//!
//! After each kill, and again after each restart, the tables are read
//! directly: for every product the stock it started with equals its stock
//! now plus the units in its non-cancelled orders; every order has its
//! lines and its first event; every checked-out cart made exactly one
//! order; every completed idempotency record names an existing order. The
//! restarted server must then take orders again.
//!
//! `cargo test -p orders-server --test faults_kill -- --nocapture` prints
//! the figures.

mod common;

use std::time::Duration;

use common::faults::{CheckoutLoad, audit, poll_until, stock};
use common::{CARD_OK, PgDatabase, Server, create_staff, sqlite_url};

/// Kill-and-restart rounds per backend.
const ROUNDS: usize = 3;
/// Concurrent customers.
const CLIENTS: usize = 16;

async fn kill_mid_checkout(url: &str, backend: &str) {
    create_staff(url);
    let mut server = Server::start(url);
    let staff = server.staff().await;
    let mut products = Vec::new();
    for _ in 0..4 {
        products.push(server.product(&staff, 1_000_000).await);
    }
    let mut tokens = Vec::new();
    for _ in 0..CLIENTS {
        tokens.push(server.customer().await);
    }
    let initial = stock(url).await;
    let (mut in_flight, mut in_flight_checkouts, mut answered) = (0, 0, 0);

    for round in 1..=ROUNDS {
        // Arrange: many customers checking out.
        let load = CheckoutLoad::start(&server.base, tokens.clone(), products.clone(), true);
        let warm = poll_until(Duration::from_secs(30), || async { load.placed() >= 20 }).await;
        assert!(
            warm.is_some(),
            "round {round}: no orders placed:\n{}",
            server.logs()
        );

        // Act: SIGKILL, no chance to finish anything.
        server.child.kill().expect("kill -9");
        server.child.wait().expect("wait");
        let samples = load.finish().await;
        let cut: Vec<_> = samples.iter().filter(|s| s.status == 0).collect();
        in_flight += cut.len();
        in_flight_checkouts += cut.iter().filter(|s| s.what == "checkout").count();
        answered += samples
            .iter()
            .filter(|s| s.what == "checkout" && s.status == 201)
            .count();
        assert!(
            !cut.is_empty(),
            "round {round}: no request was in flight at the kill"
        );
        let bad: Vec<_> = samples
            .iter()
            .filter(|s| !matches!(s.status, 0 | 200 | 201))
            .collect();
        assert!(bad.is_empty(), "round {round}: failed requests: {bad:#?}");

        // Assert: the database as the dead process left it.
        let after_kill = audit(url).await;
        after_kill.assert_consistent(&initial);
        assert!(after_kill.orders as usize >= answered);

        // Restart on the same database: still consistent, and it sells.
        server = Server::start(url);
        let restarted = audit(url).await;
        restarted.assert_consistent(&initial);
        let token = &tokens[0];
        let cart = server.cart(token, &products[0], 1).await;
        let (status, body) = server.checkout(token, &cart, CARD_OK).await;
        assert_eq!(status, 201, "round {round}: checkout after restart: {body}");
        answered += 1;
        let last = audit(url).await;
        last.assert_consistent(&initial);
        println!(
            "faults_kill {backend} round {round}: {} requests, {} in flight at the kill ({} checkouts); \
             orders {} ({} cancelled), events {}, idempotency records {} completed / {} in progress",
            samples.len(),
            cut.len(),
            cut.iter().filter(|s| s.what == "checkout").count(),
            last.orders,
            last.cancelled,
            last.events,
            last.completed_keys,
            last.open_keys,
        );
    }
    let last = audit(url).await;
    println!(
        "faults_kill {backend}: {ROUNDS} kills, {in_flight} requests cut ({in_flight_checkouts} checkouts), \
         {answered} orders answered 201, {} orders checked on {} products",
        last.orders,
        last.stock.len()
    );
    let _ = server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_checkout_on_sqlite_loses_nothing() {
    let (url, _dir) = sqlite_url();
    kill_mid_checkout(&url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_checkout_on_postgres_loses_nothing() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    kill_mid_checkout(&db.url, "postgres").await;
}

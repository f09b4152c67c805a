//! The database goes away under load, then comes back.
//!
//! The real `orders-server` runs on a PostgreSQL cluster of this test's own
//! (the machine's shared one stays up), under a checkout load and a health
//! poller. The cluster is stopped (`pg_ctl stop -m immediate`), kept down
//! for a few seconds and started again. While it is down every request must
//! answer 503 with `Retry-After` within a second; once it is back the same
//! server process must answer `/api/health` and place orders again within 5
//! seconds; and afterwards no order may be partial and no unit of stock
//! lost or made up.
//!
//! `cargo test -p orders-server --test faults_db -- --nocapture` prints the
//! figures.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::faults::{
    CheckoutLoad, PgCluster, Sample, audit, load_client, poll_until, quantile, send, slowest, stock,
};
use common::{Server, create_staff};

/// How long the database stays away.
const OUTAGE: Duration = Duration::from_secs(3);
/// The longest a request may take to say the database is away.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// The longest the server may take to recover once the database is back.
const RECOVER_WITHIN: Duration = Duration::from_secs(5);

/// Polls `/api/health` every 50 ms until told to stop, recording each answer.
fn poll_health(base: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let client = load_client();
        let mut samples = Vec::new();
        // Bounded: the test stops it after well under a minute.
        for _ in 0..2_000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let (sample, _) = send(
                &client,
                &base,
                "health",
                reqwest::Method::GET,
                "/api/health",
                None,
                None,
                None,
            )
            .await;
            samples.push(sample);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        samples
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_away_answers_503_at_once_and_the_server_recovers_alone() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.url();
    create_staff(&url);
    let mut server = Server::start(&url);
    let staff = server.staff().await;
    let mut products = Vec::new();
    for _ in 0..4 {
        products.push(server.product(&staff, 1_000_000).await);
    }
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(server.customer().await);
    }
    let initial = stock(&url).await;

    // Arrange: the load runs and orders are being placed.
    let load = CheckoutLoad::start(&server.base, tokens, products, false);
    let stop_health = Arc::new(AtomicBool::new(false));
    let health = poll_health(server.base.clone(), stop_health.clone());
    let warm = poll_until(Duration::from_secs(30), || async { load.placed() >= 20 }).await;
    assert!(
        warm.is_some(),
        "the load placed no orders:\n{}",
        server.logs()
    );

    // Act: the database goes away, then comes back.
    tokio::task::block_in_place(|| cluster.stop());
    let down_at = Instant::now();
    tokio::time::sleep(OUTAGE).await; // the outage itself, not a wait for readiness
    // The database may answer before `resume` returns (it waits for the
    // server to be ready): the outage ends where the restart begins.
    let restart_at = Instant::now();
    tokio::task::block_in_place(|| cluster.resume());
    let up_at = Instant::now();

    let client = load_client();
    let health_back = poll_until(RECOVER_WITHIN * 2, || async {
        let (s, _) = send(
            &client,
            &server.base,
            "health",
            reqwest::Method::GET,
            "/api/health",
            None,
            None,
            None,
        )
        .await;
        s.status == 200
    })
    .await;
    let checkout_back = poll_until(RECOVER_WITHIN * 2, || async {
        load.samples()
            .iter()
            .any(|s| s.what == "checkout" && s.status == 201 && s.started >= up_at)
    })
    .await;
    let placed_before_end = load.placed();
    // A little more load after recovery, to see it stays healthy.
    let more = poll_until(Duration::from_secs(20), || async {
        load.placed() >= placed_before_end + 20
    })
    .await;
    let samples = load.finish().await;
    stop_health.store(true, Ordering::Relaxed);
    let health = health.await.expect("health poller");

    // Assert: the same process served throughout.
    assert!(
        server.child.try_wait().expect("wait").is_none(),
        "the server exited:\n{}",
        server.logs()
    );

    // Every answer was a success or a 503 with Retry-After; none hung.
    let bad: Vec<&Sample> = samples
        .iter()
        .chain(&health)
        .filter(|s| !matches!(s.status, 200 | 201 | 503) || (s.status == 503 && !s.retry_after))
        .collect();
    assert!(
        bad.is_empty(),
        "answers other than 2xx or 503 + Retry-After: {bad:#?}"
    );

    // While the database was away: 503s only, each within a second.
    let during = |s: &&Sample| s.started >= down_at && s.started + s.elapsed <= restart_at;
    let outage: Vec<&Sample> = samples.iter().chain(&health).filter(during).collect();
    let outage_503 = outage.iter().filter(|s| s.status == 503).count();
    assert!(
        outage.len() >= 10,
        "too few requests during the outage: {}",
        outage.len()
    );
    assert_eq!(
        outage_503,
        outage.len(),
        "successes while the database was away: {outage:#?}"
    );
    let health_outage: Vec<&Sample> = health.iter().filter(during).collect();
    assert!(
        !health_outage.is_empty() && health_outage.iter().all(|s| s.status == 503),
        "/api/health did not answer 503 during the outage: {health_outage:#?}"
    );
    // Every request sent while it was away, however late it was answered.
    let sent_during = |s: &Sample| s.started >= down_at && s.started < up_at;
    let slowest_outage = slowest(&samples, sent_during);
    let slowest_health = slowest(&health, sent_during);
    let slowest_overall = slowest(&samples, |_| true);
    assert!(
        slowest_outage <= ANSWER_WITHIN && slowest_health <= ANSWER_WITHIN,
        "a request took {slowest_outage:?} (health {slowest_health:?}) to answer during the outage"
    );
    // Requests in flight when it went away answered within a second too.
    let in_flight = |s: &Sample| s.started < down_at && s.started + s.elapsed > down_at;
    let slowest_in_flight = slowest(&samples, in_flight);
    assert!(
        slowest_in_flight <= ANSWER_WITHIN + Duration::from_millis(500),
        "a request in flight at the stop took {slowest_in_flight:?}"
    );

    // Recovery, without a restart, within 5 s.
    let health_back = health_back.expect("/api/health never answered 200 again");
    let checkout_back = checkout_back.expect("no checkout succeeded after the database came back");
    assert!(
        health_back <= RECOVER_WITHIN,
        "health took {health_back:?} to recover"
    );
    assert!(
        checkout_back <= RECOVER_WITHIN,
        "checkout took {checkout_back:?} to recover"
    );
    assert!(more.is_some(), "the load stalled after the recovery");

    // Nothing partial, nothing lost.
    let audit = audit(&url).await;
    audit.assert_consistent(&initial);
    let placed = samples
        .iter()
        .filter(|s| s.what == "checkout" && s.status == 201)
        .count();
    assert!(
        audit.orders as usize >= placed,
        "{placed} orders answered 201 but only {} exist",
        audit.orders
    );
    let normal: Vec<Duration> = samples
        .iter()
        .filter(|s| s.status != 503)
        .map(|s| s.elapsed)
        .collect();
    println!(
        "faults_db: {} requests ({} during the {OUTAGE:?} outage, all 503), slowest during the outage {slowest_outage:?} \
         (health {slowest_health:?}, in flight at the stop {slowest_in_flight:?}, overall {slowest_overall:?}); \
         normal p50 {:?} p99 {:?}; health back after {health_back:?}, \
         checkout after {checkout_back:?}; orders checked {} ({} cancelled, {} answered 201), events {}, \
         idempotency records {} completed / {} left in progress",
        samples.len() + health.len(),
        outage.len(),
        quantile(normal.clone(), 0.5),
        quantile(normal, 0.99),
        audit.orders,
        audit.cancelled,
        placed,
        audit.events,
        audit.completed_keys,
        audit.open_keys,
    );
    let _ = server.terminate();
}

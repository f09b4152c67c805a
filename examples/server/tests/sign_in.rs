//! Sign-in and registration under abuse, against the real `orders-server`
//! binary: the backoff per (account, client address) that slows a guesser
//! without locking the owner out, shared by two instances on one
//! PostgreSQL database; the client address taken from a trusted proxy's
//! header only; the registration limit per address; and sign-in latency
//! while 300 clients register at once.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse 42";

/// POSTs `body` to `path`, with `X-Forwarded-For: forwarded` if given.
async fn post(
    server: &Server,
    path: &str,
    body: Value,
    forwarded: Option<&str>,
) -> (u16, Value, Option<u64>) {
    let mut request = server.client.post(server.url(path)).json(&body);
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, retry_after)
}

async fn login(
    server: &Server,
    email: &str,
    password: &str,
    from: Option<&str>,
) -> (u16, Option<u64>) {
    let (status, _, retry_after) = post(
        server,
        "/api/auth/login",
        json!({"email": email, "password": password}),
        from,
    )
    .await;
    (status, retry_after)
}

async fn register(server: &Server, email: &str, from: Option<&str>) -> (u16, Value, Option<u64>) {
    post(
        server,
        "/api/auth/register",
        json!({"email": email, "password": PASSWORD}),
        from,
    )
    .await
}

/// Signs in through the storefront's form (with its CSRF token), from
/// `from` through the proxy: the status and `Retry-After`.
async fn page_sign_in(
    server: &Server,
    email: &str,
    password: &str,
    from: &str,
) -> (u16, Option<u64>) {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = browser
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = common::hidden(&html, "csrf_token");
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("next", "/"),
        ])
        .finish();
    let response = browser
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", from)
        .body(body)
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status().as_u16(), retry_after)
}

fn fresh_email() -> String {
    format!("owner{}@example.com", unique())
}

/// Five wrong passwords, then the sixth attempt waits: the default backoff.
async fn guess_five(server: &Server, email: &str, from: Option<&str>) {
    for i in 0..5 {
        let (status, _) = login(server, email, &format!("wrong {i}"), from).await;
        assert_eq!(status, 401, "guess {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backoff_slows_the_guesser_not_the_owner_behind_a_trusted_proxy() {
    let (url, _dir) = sqlite_url();
    let server = Server::start_with(&url, &["--trusted-proxy", "127.0.0.1"]);
    let email = fresh_email();
    assert_eq!(register(&server, &email, Some("198.51.100.1")).await.0, 201);
    let guesser_address = "203.0.113.66";
    let guesser = Some(guesser_address);
    guess_five(&server, &email, guesser).await;
    // The guesser waits 1 s, then 2 s, 4 s: exponential, with Retry-After.
    let (status, retry_after) = login(&server, &email, "wrong 5", guesser).await;
    assert_eq!(status, 429);
    assert_eq!(retry_after, Some(1));
    let (status, retry_after) = login(&server, &email, PASSWORD, guesser).await;
    assert_eq!(
        (status, retry_after),
        (429, Some(1)),
        "even the right password waits"
    );
    // The storefront's sign-in form counts against the same pair.
    let (status, retry_after) = page_sign_in(&server, &email, PASSWORD, guesser_address).await;
    assert_eq!(
        (status, retry_after),
        (429, Some(1)),
        "the storefront form waits too"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login(&server, &email, "wrong 6", guesser).await.0, 401);
    let (status, retry_after) = login(&server, &email, "wrong 7", guesser).await;
    assert_eq!(status, 429);
    assert_eq!(retry_after, Some(2), "doubled");
    // The owner, from their own address, is not locked out.
    let (status, _) = login(&server, &email, PASSWORD, Some("198.51.100.1")).await;
    assert_eq!(status, 200);
    // The proxy's own address is not the client's: an unforwarded request
    // (from 127.0.0.1, the proxy) is a pair of its own too.
    assert_eq!(login(&server, &email, PASSWORD, None).await.0, 200);
    // Another account from the guesser's address is unaffected.
    let other = fresh_email();
    assert_eq!(register(&server, &other, Some("198.51.100.2")).await.0, 201);
    assert_eq!(login(&server, &other, PASSWORD, guesser).await.0, 200);
    // A success from a pair clears it.
    let owner = Some("198.51.100.1");
    guess_five(&server, &email, owner).await;
    assert_eq!(login(&server, &email, PASSWORD, owner).await.0, 429);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login(&server, &email, PASSWORD, owner).await.0, 200);
    guess_five(&server, &email, owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let (url, _dir) = sqlite_url();
    // No trusted proxy: the TCP peer (127.0.0.1) is every request's client.
    let server = Server::start(&url);
    let email = fresh_email();
    assert_eq!(register(&server, &email, None).await.0, 201);
    for i in 0..5 {
        let spoofed = format!("203.0.113.{i}");
        let (status, _) = login(&server, &email, "wrong", Some(&spoofed)).await;
        assert_eq!(status, 401);
    }
    // A new X-Forwarded-For does not make a new pair.
    let (status, retry_after) = login(&server, &email, PASSWORD, Some("198.51.100.99")).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some());

    // Registrations: the per-address limit counts the peer, not the header.
    let limited = Server::start_with(&url, &["--registrations-per-hour", "2"]);
    for i in 0..2 {
        let from = format!("203.0.113.{i}");
        let (status, body, _) = register(&limited, &fresh_email(), Some(&from)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body, retry_after) =
        register(&limited, &fresh_email(), Some("203.0.113.77")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_registrations");
    let retry_after = retry_after.expect("Retry-After");
    assert!((3000..=3600).contains(&retry_after), "{retry_after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_limited_per_client_address() {
    let (url, _dir) = sqlite_url();
    let server = Server::start_with(
        &url,
        &[
            "--trusted-proxy",
            "127.0.0.0/8",
            "--registrations-per-hour",
            "3",
        ],
    );
    for _ in 0..3 {
        assert_eq!(
            register(&server, &fresh_email(), Some("203.0.113.5"))
                .await
                .0,
            201
        );
    }
    let email = fresh_email();
    let (status, body, retry_after) = register(&server, &email, Some("203.0.113.5")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_registrations");
    assert!(retry_after.is_some_and(|s| s > 0));
    // Nothing was created: the same email registers from another address.
    assert_eq!(register(&server, &email, Some("203.0.113.6")).await.0, 201);
    // The OpenAPI document lists the 429 (and the 503 of a full queue).
    let (_, doc) = server.call("GET", "/api/openapi.json", None, None).await;
    let responses = &doc["paths"]["/api/auth/register"]["post"]["responses"];
    assert!(responses["429"].is_object(), "{responses}");
    assert!(responses["503"].is_object(), "{responses}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_share_the_failure_count() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let a = Server::start(&db.url);
    let b = Server::start(&db.url);
    let email = fresh_email();
    assert_eq!(register(&a, &email, None).await.0, 201);
    // Three failures on A, two on B: five for the pair, wherever counted.
    for (server, n) in [(&a, 3), (&b, 2)] {
        for _ in 0..n {
            assert_eq!(login(server, &email, "wrong", None).await.0, 401);
        }
    }
    for server in [&a, &b] {
        let (status, retry_after) = login(server, &email, PASSWORD, None).await;
        assert_eq!(status, 429, "the sixth attempt waits on either instance");
        assert_eq!(retry_after, Some(1));
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login(&b, &email, PASSWORD, None).await.0, 200);
    // B's success cleared the pair for A too.
    for _ in 0..5 {
        assert_eq!(login(&a, &email, "wrong", None).await.0, 401);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_stays_fast_while_300_clients_register() {
    let (url, _dir) = sqlite_url();
    let server = std::sync::Arc::new(Server::start_with(&url, &["--trusted-proxy", "127.0.0.1"]));
    let email = fresh_email();
    assert_eq!(register(&server, &email, Some("198.51.100.1")).await.0, 201);
    // Warm up (the dummy hash, the connection pool).
    assert_eq!(login(&server, &email, PASSWORD, None).await.0, 200);
    // A sign-in's time on this machine right now, with nothing else
    // running: the bound below is relative to it, so a busy machine slows
    // both alike, while logins queued behind 300 registrations' hashes would
    // take hundreds of times as long.
    let mut quiet = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(login(&server, &email, PASSWORD, None).await.0, 200);
        quiet = quiet.max(t.elapsed());
    }

    const REGISTRATIONS: usize = 300;
    let started = Instant::now();
    let flood: Vec<_> = (0..REGISTRATIONS)
        .map(|i| {
            let server = server.clone();
            tokio::spawn(async move {
                // Each from an address of its own, through the trusted proxy.
                let from = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
                let t = Instant::now();
                let (status, _, _) = register(
                    &server,
                    &format!("flood{i}-{}@example.com", unique()),
                    Some(&from),
                )
                .await;
                (status, t.elapsed())
            })
        })
        .collect();
    let mut latencies = Vec::new();
    while latencies.len() < 20 || (!flood.iter().all(|f| f.is_finished()) && latencies.len() < 200)
    {
        let t = Instant::now();
        let (status, _) = login(&server, &email, PASSWORD, None).await;
        latencies.push(t.elapsed());
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the flood did not end"
        );
    }
    let mut statuses = std::collections::BTreeMap::new();
    let mut slowest_refusal = Duration::ZERO;
    for registration in flood {
        let (status, took) = registration.await.unwrap();
        *statuses.entry(status).or_insert(0) += 1;
        if status != 201 {
            slowest_refusal = slowest_refusal.max(took);
        }
    }
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
    println!(
        "{REGISTRATIONS} concurrent registrations ({statuses:?}, slowest refusal {slowest_refusal:?}, all done in {:?}); {} logins meanwhile: p50 {p50:?}, p99 {p99:?}, max {:?} (alone: {quiet:?} at most)",
        started.elapsed(),
        latencies.len(),
        latencies.last().unwrap()
    );
    assert!(
        statuses.keys().all(|s| [201, 503].contains(s)),
        "only created or busy: {statuses:?}"
    );
    assert!(statuses.get(&201).is_some_and(|n| *n > 0), "{statuses:?}");
    let bound = Duration::from_millis(1500).max(quiet * 10);
    assert!(
        p99 < bound,
        "login p99 {p99:?} (alone: {quiet:?} at most; bound {bound:?})"
    );
}

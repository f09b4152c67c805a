//! Tokens and sign-in paths of the real `orders-server` binary: tokens
//! expire after a sliding lifetime; logout (API or pages) closes that
//! token's websockets with 4001 and no other; `bearer` in any case; a dead
//! token's logout is 401; a NUL in an email is a 4xx on every sign-in and
//! registration path on both backends; emails that differ only in case or
//! Unicode normalisation are one account; a database made before the
//! users' migrations opens.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use reqwest::cookie::Jar;
use serde_json::{Value, json};
use sqlx::Row;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "correct horse 42";

async fn register(server: &Server, email: &str) -> (u16, Value) {
    server
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await
}

async fn login(server: &Server, email: &str) -> (u16, Value) {
    server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await
}

/// `POST /api/auth/logout` with `Authorization: {authorization}`.
async fn logout(server: &Server, authorization: &str) -> u16 {
    server
        .client
        .post(server.url("/api/auth/logout"))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_after_a_sliding_lifetime_and_are_deleted() {
    let (url, _dir) = sqlite_url();
    let server = Server::start_with(&url, &["--token-lifetime", "3s"]);
    let (status, body) = register(&server, &format!("e{}@example.com", unique())).await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, body) = login(&server, body["user"]["email"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let idle = body["token"].as_str().unwrap().to_owned();
    // Used every 1.2 s, it outlives its 3 s lifetime: each use extends it.
    for _ in 0..4 {
        let (status, _) = server.call("GET", "/api/orders", Some(&token), None).await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    // 4.8 s after sign-in: the unused token is dead, the used one alive.
    let (status, body) = server.call("GET", "/api/orders", Some(&idle), None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = server.call("GET", "/api/orders", Some(&token), None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let (status, _) = server.call("GET", "/api/orders", Some(&token), None).await;
    assert_eq!(status, 401, "expired after 3 s unused");
    assert_eq!(logout(&server, &format!("Bearer {token}")).await, 401);
    // Both are gone from the table (the sweep or the lookup deleted them).
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM tokens")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "expired tokens are deleted");
    pool.close().await;

    // The default lifetime is 30 days.
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url);
    let (status, _) = register(&server, &format!("d{}@example.com", unique())).await;
    assert_eq!(status, 201);
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (expires, now): (i64, i64) =
        sqlx::query("SELECT expires_at, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM tokens")
            .fetch_one(&pool)
            .await
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
    let days = (expires - now) as f64 / 86_400_000.0;
    assert!((29.9..=30.1).contains(&days), "{days} days");
    pool.close().await;
}

/// The next close frame's code, within `within`; `None` if none came.
async fn close_code<S>(socket: &mut S, within: Duration) -> Option<u16>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(within, async {
        while let Some(message) = socket.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_closes_that_tokens_websockets_with_4001_and_no_other() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let server = Server::start(&url);
    let email = format!("ws{}@example.com", unique());
    let (status, body) = register(&server, &email).await;
    assert_eq!(status, 201, "{body}");
    let first = body["token"].as_str().unwrap().to_owned();
    let second = login(&server, &email).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let staff = server.staff().await;
    let product = server.product(&staff, 5).await;
    let cart = server.cart(&first, &product, 1).await;
    let (status, order) = server.checkout(&first, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap();
    let track =
        |token: &str| server.ws_url(&format!("/api/orders/{id}/track?access_token={token}"));
    let (mut one, _) = tokio_tungstenite::connect_async(track(&first))
        .await
        .unwrap();
    let (mut two, _) = tokio_tungstenite::connect_async(track(&second))
        .await
        .unwrap();
    let (mut stream, _) = tokio_tungstenite::connect_async(
        server.ws_url(&format!("/api/admin/stream?access_token={staff}")),
    )
    .await
    .unwrap();
    assert_eq!(next_json(&mut one).await["type"], "snapshot");
    assert_eq!(next_json(&mut two).await["type"], "snapshot");

    // `bearer` in lower case is the same scheme (RFC 7235).
    let started = std::time::Instant::now();
    assert_eq!(logout(&server, &format!("bearer {first}")).await, 204);
    assert_eq!(
        close_code(&mut one, Duration::from_secs(5)).await,
        Some(4001)
    );
    println!("closed 4001 {:?} after logout", started.elapsed());
    let (status, _) = server.call("GET", "/api/orders", Some(&first), None).await;
    assert_eq!(status, 401, "the lower-case logout revoked the token");
    // The other token's socket stays open and keeps receiving.
    let (status, body) = server
        .call(
            "POST",
            &format!("/api/orders/{id}/cancel"),
            Some(&second),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let event = next_json(&mut two).await;
    assert_eq!(event["type"], "event");
    assert_eq!(event["event"]["to"], "cancelled");
    assert_eq!(next_json(&mut stream).await["type"], "event");

    // The staff's admin stream closes on the staff's logout, in any case.
    assert_eq!(logout(&server, &format!("BEARER {staff}")).await, 204);
    assert_eq!(
        close_code(&mut stream, Duration::from_secs(5)).await,
        Some(4001)
    );

    // A dead token's logout is 401 (bad credentials), as is junk.
    assert_eq!(logout(&server, &format!("Bearer {first}")).await, 401);
    assert_eq!(logout(&server, "Bearer not-a-token").await, 401);
    assert_eq!(logout(&server, "Basic abc").await, 401);

    // The pages' sign-out closes the session's sockets too.
    let jar = Arc::new(Jar::default());
    let base: reqwest::Url = server.url("/").parse().unwrap();
    jar.add_cookie_str(&format!("orders_session={second}; Path=/"), &base);
    let browser = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf_token");
    let response = browser
        .post(server.url("/logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf_token", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        close_code(&mut two, Duration::from_secs(5)).await,
        Some(4001)
    );
}

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// Posts `fields` to the form at `page` (GET first, for its CSRF token).
async fn submit(server: &Server, page: &str, action: &str, fields: &[(&str, &str)]) -> u16 {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = browser
        .get(server.url(page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&html, "csrf_token");
    let mut all = vec![("csrf_token", csrf.as_str())];
    all.extend_from_slice(fields);
    browser
        .post(server.url(action))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&all))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn control_characters_never_reach_the_database(url: &str) {
    create_staff(url);
    let server = Server::start(url);
    for email in [
        "ada\u{0}@example.com",
        "\u{0}",
        "staff@example.com\u{0}",
        "ada\u{1b}[31m@example.com",
    ] {
        let (status, body) = server
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 401, "API login {email:?}: {body}");
        assert_eq!(body["code"], "bad_credentials");
        let (status, body) = register(&server, email).await;
        assert_eq!(status, 422, "API register {email:?}: {body}");
        assert!(body["errors"]["email"].is_array(), "{body}");
        let fields = [("email", email), ("password", PASSWORD), ("next", "/")];
        assert_eq!(
            submit(&server, "/login", "/login", &fields).await,
            401,
            "storefront sign-in {email:?}"
        );
        assert_eq!(
            submit(&server, "/register", "/register", &fields).await,
            422,
            "storefront register {email:?}"
        );
        assert_eq!(
            submit(&server, "/admin/login", "/admin/login", &fields[..2]).await,
            401,
            "panel sign-in {email:?}"
        );
    }
    // Sign-in still works, and nothing failed on the server.
    assert_eq!(server.staff().await.len(), 64);
    let logs = server.logs();
    assert!(!logs.contains("nul") && !logs.contains(" 500 "), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_emails_are_4xx_on_sqlite() {
    let (url, _dir) = sqlite_url();
    control_characters_never_reach_the_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_emails_are_4xx_on_postgres() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    control_characters_never_reach_the_database(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_differing_in_normalisation_or_case_are_one_account() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url);
    let composed = "Zo\u{eb}@example.com";
    let decomposed = "Zoe\u{308}@EXAMPLE.com";
    let (status, body) = register(&server, composed).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["email"], "zo\u{eb}@example.com");
    let (status, body) = register(&server, decomposed).await;
    assert_eq!(status, 409, "{body}");
    for email in [composed, decomposed, "ZO\u{cb}@example.com"] {
        let (status, body) = login(&server, email).await;
        assert_eq!(status, 200, "{email:?}: {body}");
    }
    // create-superuser promotes the one account, whatever the form.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders-server"))
        .args([
            "--database-url",
            &url,
            "create-superuser",
            "--email",
            decomposed,
        ])
        .args(["--password", PASSWORD])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("promoted zo\u{eb}@example.com"), "{stdout}");
    let (status, body) = login(&server, composed).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["is_staff"], true);
}

/// The users' tables as builds before the users' migrations made them.
const OLD_SQLITE: &[&str] = &[
    "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, is_staff INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)",
    "CREATE TABLE tokens (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created_at TEXT NOT NULL)",
    "INSERT INTO users VALUES ('u-old', 'old@example.com', $1, 0, '2026-01-01T00:00:00+00:00')",
    "INSERT INTO tokens VALUES ($1, 'u-old', '2026-01-01T00:00:00+00:00')",
];
const OLD_POSTGRES: &[&str] = &[
    "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, is_staff BOOLEAN NOT NULL DEFAULT FALSE, created_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE tokens (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created_at TIMESTAMPTZ NOT NULL)",
    "INSERT INTO users VALUES ('u-old', 'old@example.com', $1, FALSE, '2026-01-01T00:00:00Z')",
    "INSERT INTO tokens VALUES ($1, 'u-old', '2026-01-01T00:00:00Z')",
];
const OLD_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

async fn an_old_database_opens(url: &str) {
    let hash = orders_server::credentials::hash_password(PASSWORD).unwrap();
    let token_hash = orders_server::credentials::token_hash(OLD_TOKEN);
    let pg = url.starts_with("postgres");
    let statements = if pg { OLD_POSTGRES } else { OLD_SQLITE };
    let binds = |i: usize| match i {
        2 => Some(hash.clone()),
        3 => Some(token_hash.clone()),
        _ => None,
    };
    if pg {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for (i, sql) in statements.iter().enumerate() {
            let query = sqlx::query(*sql);
            let query = match binds(i) {
                Some(value) => query.bind(value),
                None => query,
            };
            query.execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        for (i, sql) in statements.iter().enumerate() {
            let query = sqlx::query(*sql);
            let query = match binds(i) {
                Some(value) => query.bind(value),
                None => query,
            };
            query.execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    let server = Server::start(url);
    let (status, body) = server
        .call("GET", "/api/orders", Some(OLD_TOKEN), None)
        .await;
    assert_eq!(status, 200, "an old token lives on: {body}");
    let (status, body) = login(&server, "old@example.com").await;
    assert_eq!(status, 200, "{body}");
    drop(server);
    // Started again: the migrations are recorded in their own table.
    let server = Server::start(url);
    let (status, _) = server
        .call("GET", "/api/orders", Some(OLD_TOKEN), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_before_the_users_migrations_opens_on_sqlite() {
    let (url, _dir) = sqlite_url();
    an_old_database_opens(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_before_the_users_migrations_opens_on_postgres() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    an_old_database_opens(&db.url).await;
}

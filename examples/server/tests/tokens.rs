//! Tokens and passwords of the real `orders-server` binary, checked from
//! outside and in its SQLite file: tokens carry at least 128 random bits
//! and are stored only as their SHA-256, logout revokes, passwords are
//! argon2id PHC strings, and the sign-in backoff holds under a concurrent
//! burst without locking the owner out.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

const PASSWORD: &str = "correct horse 42";

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn login(server: &Server, email: &str, password: &str) -> (u16, serde_json::Value) {
    server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
}

/// Every row of the users and tokens tables, each as one text.
async fn every_row(pool: &sqlx::SqlitePool) -> Vec<String> {
    let mut all = Vec::new();
    for sql in [
        "SELECT id || '|' || email || '|' || password_hash || '|' || CAST(is_staff AS TEXT) || '|' || created_at FROM users",
        "SELECT hash || '|' || user_id || '|' || created_at FROM tokens",
    ] {
        let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
        all.extend(rows.iter().map(|row| row.get::<String, _>(0)));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_random_hashed_and_revocable_and_passwords_are_argon2id() {
    let (url, dir) = sqlite_url();
    let server = Server::start(&url);
    let email = format!("t{}@example.com", unique());
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut tokens = vec![body["token"].as_str().unwrap().to_owned()];
    // A second user with the same password: salted, so another hash.
    let twin = format!("twin{}@example.com", unique());
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": twin, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let twin_token = body["token"].as_str().unwrap().to_owned();

    const LOGINS: usize = 40;
    for _ in 0..LOGINS {
        let (status, body) = login(&server, &email, PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }

    // At least 128 bits: hex of at least 32 digits, all distinct, and
    // random-looking (consecutive tokens differ in about 15/16 of places;
    // a counter or a timestamp would share most of them).
    let unique_tokens: HashSet<&String> = tokens.iter().collect();
    assert_eq!(unique_tokens.len(), tokens.len(), "a token repeated");
    let mut digits = HashSet::new();
    let mut same = 0;
    let mut compared = 0;
    for token in &tokens {
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
        assert!(token.len() * 4 >= 128, "{} bits", token.len() * 4);
        digits.extend(token.chars());
    }
    for pair in tokens.windows(2) {
        for (a, b) in pair[0].chars().zip(pair[1].chars()) {
            compared += 1;
            same += usize::from(a == b);
        }
    }
    assert_eq!(digits.len(), 16, "every hex digit appears: {digits:?}");
    assert!(
        same * 4 < compared,
        "{same} of {compared} positions equal between consecutive tokens"
    );
    let prefixes: HashSet<&str> = tokens.iter().map(|t| &t[..8]).collect();
    assert_eq!(prefixes.len(), tokens.len(), "tokens share a prefix");

    // The database keeps only hashes: no row holds a token or a password,
    // the token table holds exactly the SHA-256 of each live token, and the
    // passwords are argon2id PHC strings, salted.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let all = every_row(&pool).await;
    assert!(all.len() >= tokens.len() + 3, "{} rows", all.len()); // 2 users, the twin's token
    for row in &all {
        for token in tokens.iter().chain([&twin_token]) {
            assert!(!row.contains(token.as_str()), "a token in {row}");
        }
        assert!(!row.contains(PASSWORD), "the password in {row}");
    }
    let hashes: HashSet<String> = sqlx::query("SELECT hash FROM tokens")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
    let expected: HashSet<String> = tokens
        .iter()
        .chain([&twin_token])
        .map(|t| sha256_hex(t))
        .collect();
    assert_eq!(hashes, expected);
    let password_hashes: Vec<String> =
        sqlx::query("SELECT password_hash FROM users WHERE email IN (?, ?)")
            .bind(&email)
            .bind(&twin)
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
    assert_eq!(password_hashes.len(), 2);
    for hash in &password_hashes {
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert_eq!(hash.split('$').count(), 6, "a PHC string: {hash}");
    }
    assert_ne!(password_hashes[0], password_hashes[1], "unsalted");

    // Logout revokes that token, at once, everywhere, and no other.
    let revoked = tokens.pop().unwrap();
    let (status, _) = server
        .call("GET", "/api/orders", Some(&revoked), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .call("POST", "/api/auth/logout", Some(&revoked), None)
        .await;
    assert_eq!(status, 204);
    for (method, path) in [("GET", "/api/orders"), ("POST", "/api/carts")] {
        let (status, body) = server
            .call(method, path, Some(&revoked), Some(json!({})))
            .await;
        assert_eq!(status, 401, "{path} after logout: {body}");
    }
    let ws = server.ws_url(&format!("/api/admin/stream?access_token={revoked}"));
    match tokio_tungstenite::connect_async(ws).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!("a revoked token opened a socket: {:?}", other.map(|_| ())),
    }
    let (status, _) = server
        .call("POST", "/api/auth/logout", Some(&revoked), None)
        .await;
    // Revoking an unknown token is a no-op (204); it stays revoked.
    assert!([204, 401].contains(&status), "{status}");
    let (status, _) = server
        .call("GET", "/api/orders", Some(&revoked), None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .call("GET", "/api/orders", Some(&tokens[0]), None)
        .await;
    assert_eq!(status, 200, "the other tokens live on");
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM tokens WHERE hash = ?")
        .bind(sha256_hex(&revoked))
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the revoked token's hash is gone");
    pool.close().await;

    // Nothing secret anywhere in the database files (WAL included).
    drop(server);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for token in tokens.iter().chain([&twin_token, &revoked]) {
            assert!(
                !text.contains(token.as_str()),
                "a token in the database file"
            );
        }
        assert!(!text.contains(PASSWORD));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_limit_holds_under_a_concurrent_burst() {
    let (url, dir) = sqlite_url();
    // The first wait is longer than the default second, so a busy machine
    // cannot let the backoff run out between the burst and the checks
    // that it holds.
    const FIRST_WAIT_S: u64 = 5;
    let config = dir.path().join("auth.toml");
    std::fs::write(
        &config,
        format!("[auth]\nlogin_first_wait = \"{FIRST_WAIT_S}s\"\n"),
    )
    .unwrap();
    let server = std::sync::Arc::new(Server::start_with(
        &url,
        &["--config", config.to_str().unwrap()],
    ));
    let email = format!("burst{}@example.com", unique());
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Failures are counted per (email, address): a burst of concurrent
    // guesses from one address gets the free failures evaluated, then 429.
    let free = orders_server::config::AuthSettings::default()
        .login_backoff
        .free as usize;
    const GUESSES: usize = 30;
    let burst: Vec<_> = (0..GUESSES)
        .map(|i| {
            let server = server.clone();
            let email = email.clone();
            tokio::spawn(async move { login(&server, &email, &format!("wrong guess {i}")).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in burst {
        statuses.push(guess.await.unwrap());
    }
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    println!("burst of {GUESSES}: {refused} evaluated (401), {limited} limited (429)");
    assert_eq!(refused + limited, GUESSES, "only 401 and 429: {statuses:?}");
    assert!(
        (1..=free).contains(&refused),
        "{refused} guesses were evaluated, at most {free} may be"
    );
    assert!(limited >= GUESSES - free, "{statuses:?}");

    // While the backoff runs, even the right password waits, with
    // Retry-After (the first wait after the free failures), whatever the
    // case.
    let response = server
        .client
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=FIRST_WAIT_S).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "too_many_attempts");
    assert!(!body.to_string().contains(PASSWORD));
    let (status, _) = login(&server, &email.to_uppercase(), PASSWORD).await;
    assert_eq!(status, 429);

    // No lockout: once the wait is over, the owner signs in, and that
    // success clears the count (a wrong password is a plain 401 again).
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    let (status, body) = login(&server, &email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = login(&server, &email, "wrong again").await;
    assert_eq!(status, 401);
}

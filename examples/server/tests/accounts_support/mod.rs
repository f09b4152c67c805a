//! What the account tests share: a real SMTP server (`common::smtp`)
//! whose messages are read back as JSON, a shop
//! with `[mail]` pointing at it, and a cookie-keeping customer of the
//! storefront's pages.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use serde_json::Value;

use crate::common::pages::{post_form, write_config};
use crate::common::smtp::{Sink, messages, smtp};
use crate::common::{Server, hidden, sqlite_url, unique};

/// A shop whose `[mail]` goes to a real aiosmtpd.
pub struct Shop {
    pub server: Server,
    pub inbox: tempfile::TempDir,
    pub database_url: String,
    _db: tempfile::TempDir,
    _pg: Option<crate::common::PgDatabase>,
    _sink: Sink,
}

impl Shop {
    /// The shop on a fresh SQLite file, or `None` without aiosmtpd.
    pub fn start() -> Option<Self> {
        Self::start_on(None)
    }

    /// The shop on a fresh PostgreSQL database, or `None` without
    /// PostgreSQL or aiosmtpd (each failing when required).
    pub fn start_postgres() -> Option<Self> {
        let pg = crate::common::PgDatabase::create()?;
        Self::start_on(Some(pg))
    }

    fn start_on(pg: Option<crate::common::PgDatabase>) -> Option<Self> {
        let inbox = tempfile::tempdir().unwrap();
        let (sink, port) = smtp(inbox.path())?;
        let (sqlite, dir) = sqlite_url();
        let url = pg.as_ref().map_or(sqlite, |pg| pg.url.clone());
        let config = write_config(
            &dir,
            &format!(
                "[mail]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\ntls = \"none\"\nfrom = \"Shop <orders@shop.example>\"\n"
            ),
        );
        let server = Server::start_with(&url, &["--config", &config]);
        Some(Self {
            server,
            inbox,
            database_url: url,
            _db: dir,
            _pg: pg,
            _sink: sink,
        })
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Value> {
        messages(self.inbox.path())
    }

    /// The messages to `to`.
    pub fn messages_to(&self, to: &str) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter(|m| m["envelope_to"].as_array().unwrap().iter().any(|t| t == to))
            .collect()
    }

    /// Waits for the `n`th message to `to` and returns all of them.
    pub async fn wait_for(&self, to: &str, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            let got = self.messages_to(to);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} of {n} messages to {to}", self.messages_to(to).len());
    }

    /// The reset link of the newest reset message to `to`, once there are
    /// `n` of them.
    pub async fn reset_link(&self, to: &str, n: usize) -> String {
        let got = self.wait_for(to, n).await;
        let resets: Vec<&Value> = got
            .iter()
            .filter(|m| m["subject"] == "Reset your password")
            .collect();
        assert_eq!(resets.len(), n, "{got:#?}");
        // Messages are files named at random: the newest is the one
        // written last.
        let mut links: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(self.inbox.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let m: Value =
                    serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
                let to_them = m["envelope_to"].as_array().unwrap().iter().any(|t| t == to);
                (to_them && m["subject"] == "Reset your password").then(|| {
                    (
                        e.metadata().unwrap().modified().unwrap(),
                        link_in(m["text"].as_str().unwrap()),
                    )
                })
            })
            .collect();
        links.sort();
        links.pop().unwrap().1
    }
}

/// The reset link in a message's text.
pub fn link_in(text: &str) -> String {
    let start = text.find("http").expect("a link");
    text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(['>', ')', '.'])
        .to_owned()
}

/// The token of a reset link.
pub fn token_of(link: &str) -> String {
    link.split_once("token=").expect("a token").1.to_owned()
}

/// A cookie-keeping client that follows no redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token of the page at `path` (its cookie kept by `client`).
pub async fn csrf(client: &reqwest::Client, server: &Server, path: &str) -> String {
    let page = client
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    hidden(&page, "csrf_token")
}

/// Registers `email` with `password` through the pages; the client is
/// signed in.
pub async fn register(server: &Server, email: &str, password: &str) -> reqwest::Client {
    let client = browser();
    let token = csrf(&client, server, "/register").await;
    let response = post_form(
        &client,
        server.url("/register"),
        &[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", password),
        ],
    )
    .await;
    assert_eq!(response.status(), 303, "registered");
    client
}

/// A fresh address.
pub fn fresh_email(prefix: &str) -> String {
    format!("{prefix}{}@example.com", unique())
}

/// POSTs `fields` (and the CSRF token of `form_page`) to `path`; the
/// status and the body.
pub async fn submit(
    client: &reqwest::Client,
    server: &Server,
    form_page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String, Option<String>) {
    let token = csrf(client, server, form_page).await;
    let mut all = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    let response = post_form(client, server.url(path), &all).await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), location)
}

/// Signs in through the API: the status.
pub async fn api_login(server: &Server, email: &str, password: &str) -> (u16, Value) {
    server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(serde_json::json!({"email": email, "password": password})),
        )
        .await
}

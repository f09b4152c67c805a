//! The admin panel's test harness: a host with two accounts and its
//! sessions, the panel and the API on a real socket, and a browser whose
//! cookies are kept by hand (redirects are not followed). Shared by the
//! panel's test files with `#[path]`.
#![allow(dead_code, unreachable_pub)] // Each test file uses a part of it.

/// The names the test files use with the harness.
#[allow(unused_imports)]
pub mod reexports {
    pub use orders_core::Orders;
    pub use orders_core::ids::CustomerId;
    pub use orders_core::order::{Actor, Order, OrderStatus, TrackingNumber, Transition};
    pub use orders_core::testkit;
    pub use reqwest::StatusCode;
    pub use std::time::Duration;
}

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use orders_axum::admin::Admin;
use orders_axum::web::{SignIn, SignInOutcome};
use orders_axum::{Api, Caller, Identify, IdentifyError};
use orders_core::Orders;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::order::{Actor, Order, OrderStatus, TrackingNumber, Transition};
use orders_core::testkit;
use reqwest::StatusCode;

pub const STAFF_EMAIL: &str = "staff@example.com";
pub const CUSTOMER_EMAIL: &str = "ada@example.com";
pub const PASSWORD: &str = "correct horse";
/// An email with too many failed attempts.
pub const LIMITED_EMAIL: &str = "eve@example.com";
/// A token the host cannot check: its user store is down.
pub const DOWN_TOKEN: &str = "token-store-down";

/// The host's users: two accounts, and sessions opened by `sign_in`.
#[derive(Default)]
pub struct Users {
    pub sessions: Mutex<HashMap<String, Caller>>,
    pub signed_out: Mutex<Vec<String>>,
    pub counter: Mutex<u32>,
}

pub fn caller(email: &str, is_staff: bool) -> Caller {
    Caller {
        id: CustomerId::parse(email.split('@').next().unwrap()).unwrap(),
        email: email.to_owned(),
        is_staff,
    }
}

#[async_trait::async_trait]
impl Identify for Users {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        if token == DOWN_TOKEN {
            return Err(IdentifyError::Unavailable);
        }
        Ok(self.sessions.lock().unwrap().get(token).cloned())
    }

    /// The staff member's email, as a host's user store would answer.
    async fn label(&self, id: &CustomerId) -> Result<Option<String>, IdentifyError> {
        let known = [caller(STAFF_EMAIL, true), caller(CUSTOMER_EMAIL, false)];
        Ok(known.into_iter().find(|c| &c.id == id).map(|c| c.email))
    }
}

#[async_trait::async_trait]
impl SignIn for Users {
    async fn sign_in(
        &self,
        email: &str,
        password: &str,
        _peer: Option<IpAddr>,
    ) -> Result<SignInOutcome, IdentifyError> {
        if email == LIMITED_EMAIL {
            return Ok(SignInOutcome::Limited {
                retry_after_secs: 60,
            });
        }
        let who = match (email, password) {
            (STAFF_EMAIL, PASSWORD) => caller(STAFF_EMAIL, true),
            (CUSTOMER_EMAIL, PASSWORD) => caller(CUSTOMER_EMAIL, false),
            _ => return Ok(SignInOutcome::Refused),
        };
        let mut counter = self.counter.lock().unwrap();
        *counter += 1;
        let token = format!("session-{}", *counter);
        self.sessions
            .lock()
            .unwrap()
            .insert(token.clone(), who.clone());
        Ok(SignInOutcome::Session { token })
    }

    async fn sign_out(&self, token: &str) -> Result<(), IdentifyError> {
        self.sessions.lock().unwrap().remove(token);
        self.signed_out.lock().unwrap().push(token.to_owned());
        Ok(())
    }
}

pub struct App {
    pub addr: SocketAddr,
    pub orders: Orders,
    pub users: Arc<Users>,
}

pub async fn spawn(page_size: usize) -> App {
    let (orders, _gateway) = testkit::engine(Arc::new(MemoryStore::new()));
    let users = Arc::new(Users::default());
    let admin = Admin::new(orders.clone(), users.clone(), users.clone())
        .api_path("/api")
        .page_size(page_size);
    let app = Router::new()
        .nest("/api", Api::new(orders.clone(), users.clone()).router())
        .nest_service("/admin", admin.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    App {
        addr,
        orders,
        users,
    }
}

/// One browser: its cookies, kept by hand.
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf_token\" value=\"", "\"")
            .expect("a form with a CSRF token")
            .to_owned()
    }

    /// The hidden `version` of an edit form, if the page has one.
    pub fn version(&self) -> Option<String> {
        between(&self.body, "name=\"version\" value=\"", "\"").map(str::to_owned)
    }

    pub fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }

    /// The `data-to` of every transition form, sorted.
    pub fn moves(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .body
            .split("<form class=\"transition\" data-to=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect();
        found.sort();
        found
    }

    /// The ids of the order rows, in page order.
    pub fn order_rows(&self) -> Vec<String> {
        self.body
            .split("<tr class=\"order-row\" data-order-id=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    }

    /// The text of the element with `id` (up to its first `<`).
    pub fn text_of(&self, id: &str) -> Option<String> {
        let start = self.body.find(&format!("id=\"{id}\""))?;
        let rest = &self.body[start..];
        let rest = &rest[rest.find('>')? + 1..];
        Some(rest[..rest.find('<')?].trim().to_owned())
    }
}

pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

impl Browser {
    pub fn new(app: &App) -> Self {
        Self {
            base: format!("http://{}", app.addr),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn keep(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        for value in headers.get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields))
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// GETs `form_page` for its CSRF token (and the hidden `version` of an
    /// edit form, unless `fields` has one), then posts `fields` with them,
    /// as a browser submits the form it just loaded.
    pub async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form_page).await;
        assert_eq!(page.status, StatusCode::OK, "{form_page}: {}", page.body);
        let token = page.csrf();
        let version = page.version();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        if let Some(version) = &version
            && !fields.iter().any(|(name, _)| *name == "version")
        {
            all.push(("version", version));
        }
        self.post(action, &all).await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.submit(
            "/admin/login",
            "/admin/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

pub async fn staff(app: &App) -> Browser {
    let mut browser = Browser::new(app);
    let page = browser.sign_in(STAFF_EMAIL, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    browser
}

/// An order placed by `email`'s customer, by card (paid) or cash (pending).
pub async fn place(app: &App, email: &str, card: bool) -> Order {
    place_paying(app, email, card.then_some("4242424242424242")).await
}

/// An order paid with the test card `card` (cash on delivery for `None`).
pub async fn place_paying(app: &App, email: &str, card: Option<&str>) -> Order {
    let product = testkit::product(&app.orders, "10.00", 100).await;
    let customer = CustomerId::parse("shopper").unwrap();
    let cart = testkit::cart_with(&app.orders, &customer, &[(product.id(), 1)]).await;
    let mut form = testkit::form(card);
    form.email = Some(email.to_owned());
    app.orders
        .checkout(&customer, &cart, form, None)
        .await
        .unwrap()
        .order
}

pub async fn advance(app: &App, order: &Order, path: &[OrderStatus]) -> Order {
    let mut current = order.clone();
    for to in path {
        let mut transition = Transition::to(*to);
        if *to == OrderStatus::Shipped {
            transition.tracking_number = Some(TrackingNumber::parse("TRK-1").unwrap());
        }
        current = app
            .orders
            .transition(Actor::system(), order.id(), transition)
            .await
            .unwrap();
    }
    current
}

pub async fn status_of(app: &App, order: &Order) -> OrderStatus {
    app.orders
        .order(orders_core::Access::Staff, order.id())
        .await
        .unwrap()
        .status()
}

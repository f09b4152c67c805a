//! The panel's test harness for the webhook and email pages: a staff
//! account, the panel on a free port, and a browser that keeps the session
//! and CSRF cookies by hand.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use orders_axum::admin::Admin;
use orders_axum::web::{SignIn, SignInOutcome};
use orders_axum::{Caller, Identify, IdentifyError};
use orders_core::ids::CustomerId;
use reqwest::StatusCode;

pub(crate) const STAFF: &str = "staff@example.com";
pub(crate) const PASSWORD: &str = "correct horse";

/// One staff account; `sign_in` opens a session.
#[derive(Default)]
pub(crate) struct Users(Mutex<HashMap<String, Caller>>);

#[async_trait::async_trait]
impl Identify for Users {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        Ok(self.0.lock().unwrap().get(token).cloned())
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
        if (email, password) != (STAFF, PASSWORD) {
            return Ok(SignInOutcome::Refused);
        }
        let caller = Caller {
            id: CustomerId::parse("staff").unwrap(),
            email: STAFF.to_owned(),
            is_staff: true,
        };
        let token = format!("session-{}", self.0.lock().unwrap().len() + 1);
        self.0.lock().unwrap().insert(token.clone(), caller);
        Ok(SignInOutcome::Session { token })
    }

    async fn sign_out(&self, token: &str) -> Result<(), IdentifyError> {
        self.0.lock().unwrap().remove(token);
        Ok(())
    }
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: String,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf_token\" value=\"", "\"")
            .expect("a form")
            .to_owned()
    }
}

pub(crate) fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// A browser that keeps its cookies and follows no redirect.
pub(crate) struct Browser {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) cookies: HashMap<String, String>,
}

impl Browser {
    pub(crate) async fn staff(addr: SocketAddr) -> Self {
        let mut browser = Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        };
        let page = browser
            .submit(
                "/admin/login",
                "/admin/login",
                &[("email", STAFF), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    pub(crate) async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let response = request
            .header("cookie", cookie.join("; "))
            .send()
            .await
            .unwrap();
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.text().await.unwrap();
        Page {
            status,
            location,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (key, value) in fields {
            body.append_pair(key, value);
        }
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish());
        self.send(request).await
    }

    /// Loads `page` for its CSRF token and posts `fields` with it to `action`.
    pub(crate) async fn submit(
        &mut self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let token = self.get(page).await.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post(action, &all).await
    }
}

/// `admin` (made over `orders` and a [`Users`] with one staff account by
/// `configure`) on a free port, under `/admin`.
pub(crate) async fn serve_panel(
    orders: &orders_core::Orders,
    configure: impl FnOnce(Admin) -> Admin,
) -> SocketAddr {
    let users = std::sync::Arc::new(Users::default());
    let admin = configure(Admin::new(orders.clone(), users.clone(), users));
    let app = Router::new().nest_service("/admin", admin.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

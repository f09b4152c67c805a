//! A host with sessions of its own (its own cookie, not the panel's
//! `orders_session`) lets its staff into the admin panel through
//! `Identify::identify_request`, as it does on the API: pages and forms
//! alike, over a real socket with a real HTTP client.
#![cfg(feature = "admin")]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use orders_axum::admin::Admin;
use orders_axum::web::{SignIn, SignInOutcome};
use orders_axum::{Api, Caller, Identify, IdentifyError};
use orders_core::Orders;
use orders_core::memory::MemoryStore;
use reqwest::StatusCode;

/// The host's own session cookie.
const HOST_COOKIE: &str = "host_sid";

/// A host whose sessions live in its own cookie; it has no bearer tokens.
struct CookieSessions;

#[orders_axum::async_trait]
impl Identify for CookieSessions {
    async fn identify(&self, _token: &str) -> Result<Option<Caller>, IdentifyError> {
        Ok(None)
    }

    async fn identify_request(
        &self,
        parts: &Parts,
        _token: Option<&str>,
    ) -> Result<Option<Caller>, IdentifyError> {
        let cookies = parts
            .headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='));
        let session = cookies
            .filter(|(name, _)| *name == HOST_COOKIE)
            .map(|(_, value)| value.to_owned())
            .next();
        match session.as_deref() {
            Some("staff-session") => Caller::new("staff", "staff@example.com", true).map(Some),
            Some("ada-session") => Caller::new("ada", "ada@example.com", false).map(Some),
            Some("store-down") => Err(IdentifyError::Unavailable),
            _ => Ok(None),
        }
    }
}

/// Its sign-in happens on its own pages: the panel's form refuses.
#[orders_axum::async_trait]
impl SignIn for CookieSessions {
    async fn sign_in(
        &self,
        _email: &str,
        _password: &str,
        _peer: Option<IpAddr>,
    ) -> Result<SignInOutcome, IdentifyError> {
        Ok(SignInOutcome::Refused)
    }

    async fn sign_out(&self, _token: &str) -> Result<(), IdentifyError> {
        Ok(())
    }
}

/// A browser that keeps cookies by hand and follows no redirect.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new(base: &str, session: Option<&str>) -> Self {
        let mut cookies = HashMap::new();
        if let Some(session) = session {
            cookies.insert(HOST_COOKIE.to_owned(), session.to_owned());
        }
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> (StatusCode, String, String) {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request.header("cookie", cookie).send().await.unwrap();
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
        (status, location, response.text().await.unwrap())
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String, String) {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut body = form_urlencoded::Serializer::new(String::new());
        body.extend_pairs(form);
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish());
        self.send(request).await
    }
}

async fn spawn() -> String {
    let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    let host = Arc::new(CookieSessions);
    let api = Api::new(orders.clone(), host.clone());
    let admin = Admin::new(orders, host.clone(), host).api(&api);
    let app: Router = admin.nest_into(api.nest_into(Router::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn the_panel_asks_identify_request_about_the_hosts_own_session_cookie() {
    let base = spawn().await;

    let (status, _, body) = Browser::new(&base, Some("staff-session"))
        .get("/admin/")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, location, _) = Browser::new(&base, Some("staff-session"))
        .get("/admin/login")
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/"),
        "signed in already"
    );

    let (status, location, _) = Browser::new(&base, None).get("/admin/orders").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/login")
    );
    let (status, _, _) = Browser::new(&base, Some("ada-session"))
        .get("/admin/orders")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a customer is not staff");
    let (status, _, _) = Browser::new(&base, Some("store-down"))
        .get("/admin/orders")
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_form_of_the_hosts_staff_is_accepted_and_a_customers_is_not() {
    let base = spawn().await;
    let token_of = |page: &str| {
        let start = page.find("name=\"csrf_token\" value=\"").unwrap() + 25;
        page[start..start + page[start..].find('"').unwrap()].to_owned()
    };

    let mut staff = Browser::new(&base, Some("staff-session"));
    let (_, _, page) = staff.get("/admin/discounts").await;
    let csrf = token_of(&page);
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("code", "SPRING"),
        ("kind", "percent"),
        ("value", "15"),
    ];
    let (status, location, body) = staff.post("/admin/discounts", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(location.starts_with("/admin/discounts"), "{location}");

    // The same browser, its session now a customer's: the form is refused.
    staff
        .cookies
        .insert(HOST_COOKIE.to_owned(), "ada-session".to_owned());
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("code", "AUTUMN"),
        ("kind", "percent"),
        ("value", "15"),
    ];
    let (status, _, _) = staff.post("/admin/discounts", &fields).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    staff
        .cookies
        .insert(HOST_COOKIE.to_owned(), "staff-session".to_owned());
    let (_, _, list) = staff.get("/admin/discounts").await;
    assert!(list.contains("SPRING"), "{list}");
    assert!(!list.contains("AUTUMN"), "{list}");
}

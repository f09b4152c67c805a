//! The panel's webhook pages (feature `admin`) over a real socket, signed
//! in as staff with the session and CSRF cookies kept by hand: the list
//! with backlog and dead counts, create (the secret shown once, bad and
//! private targets refused on the field), a dead delivery retried (only
//! with the form's CSRF token), delete; and no pages when the host did
//! not turn webhooks on.
#![cfg(feature = "admin")]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use chrono::Utc;
use orders_axum::admin::Admin;
use orders_axum::web::{SignIn, SignInOutcome};
use orders_axum::{Caller, Identify, IdentifyError};
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::ports::{DeliveryStore, Lease, OutboxStore, PageRequest};
use orders_core::testkit;
use orders_core::webhook::{AttemptOutcome, DeliveryStatus, RetryPolicy, WEBHOOK_CONSUMER};
use reqwest::StatusCode;

const STAFF: &str = "staff@example.com";
const PASSWORD: &str = "correct horse";

/// One staff account; `sign_in` opens a session.
#[derive(Default)]
struct Users(Mutex<HashMap<String, Caller>>);

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

/// The panel on a free port, over `store`, with webhooks or without.
async fn spawn(store: Arc<MemoryStore>, webhooks: bool) -> (SocketAddr, orders_core::Orders) {
    let (orders, _) = testkit::engine(store.clone());
    let users = Arc::new(Users::default());
    let mut admin = Admin::new(orders.clone(), users.clone(), users);
    if webhooks {
        admin = admin.webhooks(store as Arc<dyn OutboxStore>, false);
    }
    let app = Router::new().nest_service("/admin", admin.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, orders)
}

struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

impl Page {
    fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf_token\" value=\"", "\"")
            .expect("a form")
            .to_owned()
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// A browser that keeps its cookies and follows no redirect.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    async fn staff(addr: SocketAddr) -> Self {
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

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
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

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
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
    async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get(page).await.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post(action, &all).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_create_see_retry_and_delete_webhooks() {
    let store = Arc::new(MemoryStore::new());
    let (addr, orders) = spawn(store.clone(), true).await;
    let mut browser = Browser::staff(addr).await;

    let empty = browser.get("/admin/webhooks").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("No webhooks yet"));
    assert!(empty.body.contains("aria-current=\"page\">Webhooks</a>"));

    // Refused on the field, nothing made: not http(s), a loopback target.
    for (url, why) in [
        ("ftp://1.1.1.1/in", "http"),
        ("http://127.0.0.1:9/in", "private"),
    ] {
        let page = browser
            .submit(
                "/admin/webhooks",
                "/admin/webhooks",
                &[("url", url), ("events", "*")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(
            page.body.contains("id=\"error-url\""),
            "{url}: {}",
            page.body
        );
        assert!(
            page.body.to_lowercase().contains(why),
            "{url}: {}",
            page.body
        );
    }
    assert!(store.webhooks().await.unwrap().is_empty());

    // Made: the secret shown once.
    let made = browser
        .submit(
            "/admin/webhooks",
            "/admin/webhooks",
            &[
                ("url", "https://1.1.1.1/orders"),
                ("events", "order.created, order.status_changed"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let hooks = store.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 1);
    let hook = hooks[0].clone();
    let secret = hook.secret.expose().to_owned();
    assert_eq!(
        between(&made.body, "<code id=\"secret\" class=\"mono\">", "<"),
        Some(secret.as_str())
    );
    assert_eq!(
        hook.events.names(),
        ["order.created", "order.status_changed"]
    );
    let listed = browser.get("/admin/webhooks").await;
    assert!(listed.body.contains("https://1.1.1.1/orders"));
    assert!(
        !listed.body.contains(&secret),
        "the secret is shown once only"
    );

    // An order's two events; the first delivery dies.
    let p = testkit::product(&orders, "2.00", 5).await;
    let who = CustomerId::parse("buyer").unwrap();
    let cart = testkit::cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let order = orders
        .checkout(&who, &cart, testkit::form(None), None)
        .await
        .unwrap()
        .order;
    let paid = orders_core::order::plan_transition(
        &order,
        orders_core::order::Transition::to(orders_core::order::OrderStatus::Paid),
        orders_core::order::Actor::system(),
        &[],
        Utc::now(),
    )
    .unwrap();
    <MemoryStore as orders_core::ports::OrderStore>::change_status(&store, &paid)
        .await
        .unwrap();
    let now = Utc::now();
    while store.fan_out(WEBHOOK_CONSUMER, 100, now).await.unwrap() > 0 {}
    let lease = Lease {
        token: "t".into(),
        until: now + chrono::Duration::minutes(1),
    };
    let claimed = store.claim_deliveries(now, &lease, 10, &[]).await.unwrap();
    assert_eq!(claimed.len(), 1, "the second waits behind the first");
    let policy = RetryPolicy {
        give_up_after: chrono::Duration::zero(),
        ..RetryPolicy::default()
    };
    let dead =
        claimed[0]
            .delivery
            .after_attempt(&AttemptOutcome::Failed("HTTP 503".into()), now, &policy);
    store.record_attempt(&dead, "t").await.unwrap();

    let listed = browser.get("/admin/webhooks").await;
    assert_eq!(
        between(&listed.body, "class=\"num backlog\">", "<"),
        Some("1")
    );
    assert_eq!(between(&listed.body, "class=\"num dead\">", "<"), Some("1"));
    let path = format!("/admin/webhooks/{}", hook.id.as_str());
    let shown = browser.get(&path).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains(&format!(
        "data-id=\"{}\" data-status=\"dead\"",
        dead.id.as_str()
    )));
    assert!(shown.body.contains("HTTP 503"));
    let retry = format!("{path}/deliveries/{}/retry", dead.id.as_str());
    assert_eq!(shown.body.matches("/retry\"").count(), 1, "dead ones only");

    // Without the form's token: refused, still dead.
    let forged = browser.post(&retry, &[("csrf_token", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let status_of = |store: Arc<MemoryStore>, hook: orders_core::webhook::Webhook| async move {
        let page = store
            .deliveries(&hook.id, &PageRequest::first(10))
            .await
            .unwrap();
        page.items.last().unwrap().status
    };
    assert_eq!(
        status_of(store.clone(), hook.clone()).await,
        DeliveryStatus::Dead
    );
    let retried = browser.submit(&path, &retry, &[]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    assert!(retried.location.starts_with(&format!("{path}?retried=")));
    assert_eq!(
        status_of(store.clone(), hook.clone()).await,
        DeliveryStatus::Pending
    );
    let again = browser.submit(&path, &retry, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "only a dead one");

    // Deleted, with its deliveries.
    let deleted = browser
        .submit("/admin/webhooks", &format!("{path}/delete"), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(store.webhooks().await.unwrap().is_empty());
    assert_eq!(browser.get(&path).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_webhooks_there_are_no_pages_and_no_link() {
    let (addr, _) = spawn(Arc::new(MemoryStore::new()), false).await;
    let mut browser = Browser::staff(addr).await;
    assert_eq!(
        browser.get("/admin/webhooks").await.status,
        StatusCode::NOT_FOUND
    );
    let orders = browser.get("/admin/orders").await;
    assert_eq!(orders.status, StatusCode::OK);
    assert!(!orders.body.contains("/admin/webhooks"));
}

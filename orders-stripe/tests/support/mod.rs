//! A real localstripe for the tests: started from its virtual environment
//! on a free port for one test, stopped when the test ends (or panics).
//! Plus what a test needs around it: a webhook listener on a real port, a
//! forwarding proxy that records (and can delay) the client's requests, and
//! the localstripe-only calls a browser would make (card payment methods,
//! the 3-D Secure answer).

#![allow(dead_code, unreachable_pub)] // each test file uses its own part

pub mod shop;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use orders_stripe::{PaymentIntentId, SecretKey, StripeClient};
use tokio::sync::mpsc;

/// The key every test uses; localstripe takes any `sk_` key.
pub const KEY: &str = "sk_test_orders_localstripe";

/// A running localstripe, killed on drop.
pub struct Localstripe {
    child: Option<Child>,
    port: u16,
}

fn venv() -> PathBuf {
    std::env::var_os("ORDERS_LOCALSTRIPE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/orders-ci/venv-localstripe"))
}

impl Localstripe {
    /// Starts one, or returns `None` (with a message) when localstripe is
    /// not installed and `ORDERS_REQUIRE_STRIPE` is not `1`.
    pub fn start() -> Option<Self> {
        let program = venv().join("bin").join("localstripe");
        if !program.exists() {
            assert!(
                std::env::var("ORDERS_REQUIRE_STRIPE").as_deref() != Ok("1"),
                "ORDERS_REQUIRE_STRIPE=1 but {} is missing (.ci/run installs it)",
                program.display()
            );
            eprintln!(
                "SKIPPED: localstripe is not installed at {} \
                 (set ORDERS_LOCALSTRIPE_VENV, or run .ci/run once)",
                program.display()
            );
            return None;
        }
        for _ in 0..3 {
            let port = free_port();
            if let Some(child) = spawn_on(&program, port) {
                return Some(Self {
                    child: Some(child),
                    port,
                });
            }
        }
        panic!("localstripe did not start on three free ports");
    }

    /// Starts it again on the same port, with nothing in it (localstripe
    /// keeps its objects in memory): a provider back after an outage.
    pub fn restart(&mut self) {
        self.stop();
        let program = venv().join("bin").join("localstripe");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = spawn_on(&program, self.port) {
                self.child = Some(child);
                return;
            }
            assert!(Instant::now() < deadline, "localstripe did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its root URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client of it with the test key and short timeouts.
    pub fn client(&self) -> StripeClient {
        client_of(&self.url())
    }

    /// Kills it now (a provider that goes away mid-flow).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.url()))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("localstripe answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// A GET with the test key, as JSON.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.url()))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("localstripe answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Every PaymentIntent it holds (up to 100), newest first.
    pub async fn payment_intents(&self) -> Vec<serde_json::Value> {
        let list = self.get("/v1/payment_intents?limit=100").await;
        list["data"].as_array().cloned().unwrap_or_default()
    }

    /// One PaymentIntent, as it holds it.
    pub async fn payment_intent(&self, id: &str) -> serde_json::Value {
        self.get(&format!("/v1/payment_intents/{id}")).await
    }

    /// A card PaymentMethod, as Stripe.js makes in the customer's browser.
    pub async fn card(&self, number: &str) -> String {
        let pm = self
            .post(
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2030"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        pm["id"].as_str().unwrap().to_owned()
    }

    /// The customer's answer to 3-D Secure, as localstripe's Stripe.js
    /// sends it.
    pub async fn authenticate(&self, id: &PaymentIntentId, client_secret: &str, success: bool) {
        let success = if success { "true" } else { "false" };
        self.post(
            &format!("/v1/payment_intents/{id}/_authenticate"),
            &[("client_secret", client_secret), ("success", success)],
        )
        .await;
    }

    /// Registers a webhook endpoint with its signing secret.
    pub async fn register_webhook(&self, url: &str, secret: &str) {
        self.post(
            "/_config/webhooks/orders",
            &[("url", url), ("secret", secret)],
        )
        .await;
    }
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A client of `url` with the test key and short timeouts.
pub fn client_of(url: &str) -> StripeClient {
    StripeClient::builder(SecretKey::new(KEY).unwrap())
        .base_url(url)
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Starts localstripe on `port` and waits until it listens; `None` if it
/// exits first (the port is taken).
fn spawn_on(program: &std::path::Path, port: u16) -> Option<Child> {
    let mut child = Command::new(program)
        .args(["--port", &port.to_string(), "--from-scratch"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start localstripe");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        if child.try_wait().expect("localstripe's state").is_some() {
            return None;
        }
        assert!(
            Instant::now() < deadline,
            "localstripe did not start in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// One webhook delivery as received.
#[derive(Debug)]
pub struct Delivery {
    pub signature: Option<String>,
    pub body: Bytes,
}

/// A webhook endpoint on a real port: every POST is handed to the test.
pub async fn webhook_listener() -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(sender): State<mpsc::UnboundedSender<Delivery>>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let signature = headers
                        .get("stripe-signature")
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    let _ = sender.send(Delivery { signature, body });
                    StatusCode::OK
                },
            ),
        )
        .with_state(sender);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), receiver)
}

/// One request the proxy forwarded.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    delay: Arc<Mutex<Duration>>,
    log: Arc<Mutex<Vec<Recorded>>>,
    forwarded: Arc<Mutex<Vec<Recorded>>>,
    http: reqwest::Client,
}

/// A forwarding proxy in front of `upstream` on a real port: it records
/// each request and waits `delay` before forwarding it.
pub async fn proxy(upstream: &str, delay: Duration) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let proxy = Proxy::start(upstream, delay).await;
    (proxy.url.clone(), proxy.log.clone())
}

/// A running [`proxy`] whose delay can change, and which also records what
/// it forwarded (a request whose client gave up while it waited is not).
pub struct Proxy {
    pub url: String,
    /// Every request received.
    pub log: Arc<Mutex<Vec<Recorded>>>,
    /// Every request sent on upstream.
    pub forwarded: Arc<Mutex<Vec<Recorded>>>,
    delay: Arc<Mutex<Duration>>,
}

impl Proxy {
    /// Starts one in front of `upstream`.
    pub async fn start(upstream: &str, delay: Duration) -> Self {
        let state = ProxyState {
            upstream: upstream.to_owned(),
            delay: Arc::new(Mutex::new(delay)),
            log: Arc::default(),
            forwarded: Arc::default(),
            http: reqwest::Client::new(),
        };
        let proxy = Self {
            url: String::new(),
            log: state.log.clone(),
            forwarded: state.forwarded.clone(),
            delay: state.delay.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            ..proxy
        }
    }

    /// Waits `delay` before forwarding from now on.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// The requests received with `method` on `path`.
    pub fn received(&self, method: &Method, path: &str) -> Vec<Recorded> {
        matching(&self.log, method, path)
    }

    /// The requests forwarded with `method` on `path`.
    pub fn sent_on(&self, method: &Method, path: &str) -> Vec<Recorded> {
        matching(&self.forwarded, method, path)
    }
}

fn matching(log: &Mutex<Vec<Recorded>>, method: &Method, path: &str) -> Vec<Recorded> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == *method && r.path == path)
        .cloned()
        .collect()
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let recorded = Recorded {
        method: method.clone(),
        path: uri.path().to_owned(),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
    };
    state.log.lock().unwrap().push(recorded.clone());
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    state.forwarded.lock().unwrap().push(recorded);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = state
        .http
        .request(method, format!("{}{path}", state.upstream))
        .body(body);
    for name in ["authorization", "content-type", "idempotency-key"] {
        if let Some(value) = header(name) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.expect("upstream answers");
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.bytes().await.unwrap())
}

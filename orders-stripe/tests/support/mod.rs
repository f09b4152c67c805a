//! A real localstripe for the tests: started from its virtual environment
//! on a free port for one test, stopped when the test ends (or panics).
//! Plus what a test needs around it: a webhook listener on a real port, a
//! forwarding proxy that records (and can delay) the client's requests, and
//! the localstripe-only calls a browser would make (card payment methods,
//! the 3-D Secure answer).

#![allow(dead_code, unreachable_pub)] // each test file uses its own part

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
            let mut child = Command::new(&program)
                .args(["--port", &port.to_string(), "--from-scratch"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start localstripe");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Self {
                        child: Some(child),
                        port,
                    });
                }
                if child.try_wait().expect("localstripe's state").is_some() {
                    break; // lost the port to someone else: another one
                }
                assert!(
                    Instant::now() < deadline,
                    "localstripe did not start in 30 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("localstripe did not start on three free ports");
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
    delay: Duration,
    log: Arc<Mutex<Vec<Recorded>>>,
    http: reqwest::Client,
}

/// A forwarding proxy in front of `upstream` on a real port: it records
/// each request and waits `delay` before forwarding it.
pub async fn proxy(upstream: &str, delay: Duration) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let state = ProxyState {
        upstream: upstream.to_owned(),
        delay,
        log: log.clone(),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
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
    state.log.lock().unwrap().push(Recorded {
        method: method.clone(),
        path: uri.path().to_owned(),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
    });
    tokio::time::sleep(state.delay).await;
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

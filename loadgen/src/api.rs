//! The few routes of the HTTP contract (`shared/API.md`) that the journeys
//! use, each call timed.

use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::stats::{Failures, Samples};
use crate::target::Target;

/// A kind of request, timed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `POST /api/carts`.
    CreateCart,
    /// `POST /api/carts/{id}/items`.
    AddItem,
    /// `POST /api/carts/{id}/checkout`.
    Checkout,
    /// `GET /api/products`.
    ListProducts,
    /// `GET /api/orders/{id}`.
    GetOrder,
    /// `POST /api/admin/orders/{id}/transition`.
    Transition,
    /// Setup calls (registration, login, restocking): counted on failure only.
    Setup,
}

impl Op {
    /// Every timed kind, in report order.
    pub(crate) const TIMED: [Op; 6] = [
        Op::CreateCart,
        Op::AddItem,
        Op::Checkout,
        Op::ListProducts,
        Op::GetOrder,
        Op::Transition,
    ];

    /// A short name for reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::CreateCart => "create_cart",
            Op::AddItem => "add_item",
            Op::Checkout => "checkout",
            Op::ListProducts => "list_products",
            Op::GetOrder => "get_order",
            Op::Transition => "transition",
            Op::Setup => "setup",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One client's measurements.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    /// Latencies per [`Op`] (indexed by its discriminant).
    pub(crate) ops: [Samples; 7],
    /// Latencies of whole journeys.
    pub(crate) journeys: Samples,
    /// Journeys that failed at some step.
    pub(crate) failed_journeys: u64,
    /// Failed requests by kind and status.
    pub(crate) failures: Failures,
}

impl Recorder {
    /// Moves `other`'s measurements into `self`.
    pub(crate) fn absorb(&mut self, other: Recorder) {
        for (mine, theirs) in self.ops.iter_mut().zip(other.ops) {
            mine.absorb(theirs);
        }
        self.journeys.absorb(other.journeys);
        self.failed_journeys += other.failed_journeys;
        self.failures.absorb(other.failures);
    }

    /// The samples of `op`.
    pub(crate) fn op(&self, op: Op) -> &Samples {
        &self.ops[op.index()]
    }
}

/// A failed call (already counted in the recorder).
#[derive(Debug)]
pub(crate) struct Failed(pub(crate) String);

/// An HTTP client bound to the target, with an optional bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    client: Client,
    target: Target,
    token: Option<String>,
}

/// A product as listed.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Product {
    /// Its id.
    pub(crate) id: String,
    /// Its currency.
    pub(crate) currency: String,
    /// Its stock.
    pub(crate) stock: u64,
}

#[derive(Debug, Deserialize)]
struct List<T> {
    items: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct WithId {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Session {
    token: String,
}

impl Api {
    /// A client of its own (its own connection pool), without credentials.
    pub(crate) fn new(target: &Target) -> Result<Self, String> {
        let client = Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            client,
            target: target.clone(),
            token: None,
        })
    }

    /// The bearer token, once registered or logged in.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self.client.request(method, self.target.http(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends `request`, times it up to the last byte of the body (parsing
    /// is not timed), and parses a 2xx answer as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        op: Op,
        request: RequestBuilder,
        rec: &mut Recorder,
    ) -> Result<T, Failed> {
        let started = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let elapsed = started.elapsed();
        let (status, body) = match result {
            Ok(answer) => answer,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                rec.failures
                    .add(format!("{} {kind}", op.name()), || e.to_string());
                return Err(Failed(format!("{}: {e}", op.name())));
            }
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let text = text.chars().take(300).collect::<String>();
            rec.failures
                .add(format!("{} {}", op.name(), status.as_u16()), || {
                    text.clone()
                });
            return Err(Failed(format!("{}: {status}: {text}", op.name())));
        }
        if op != Op::Setup {
            rec.ops[op.index()].push(elapsed);
        }
        serde_json::from_slice(&body).map_err(|e| {
            rec.failures
                .add(format!("{} bad-json", op.name()), || e.to_string());
            Failed(format!("{}: unexpected answer: {e}", op.name()))
        })
    }

    /// `POST /api/auth/register`; keeps the token.
    pub(crate) async fn register(
        &mut self,
        email: &str,
        password: &str,
        rec: &mut Recorder,
    ) -> Result<(), Failed> {
        let request = self
            .request(Method::POST, "/api/auth/register")
            .json(&json!({"email": email, "password": password}));
        let session: Session = self.call(Op::Setup, request, rec).await?;
        self.token = Some(session.token);
        Ok(())
    }

    /// `POST /api/auth/login`; keeps the token.
    pub(crate) async fn login(
        &mut self,
        email: &str,
        password: &str,
        rec: &mut Recorder,
    ) -> Result<(), Failed> {
        let request = self
            .request(Method::POST, "/api/auth/login")
            .json(&json!({"email": email, "password": password}));
        let session: Session = self.call(Op::Setup, request, rec).await?;
        self.token = Some(session.token);
        Ok(())
    }

    /// `GET /api/products?limit=100`.
    pub(crate) async fn products(
        &self,
        op: Op,
        rec: &mut Recorder,
    ) -> Result<Vec<Product>, Failed> {
        let request = self.request(Method::GET, "/api/products?limit=100");
        let list: List<Product> = self.call(op, request, rec).await?;
        Ok(list.items)
    }

    /// `PATCH /api/admin/products/{id}` adding `units` to its stock (staff
    /// only): an adjustment, which needs no version and cannot undo a sale.
    pub(crate) async fn restock(
        &self,
        product_id: &str,
        units: u64,
        rec: &mut Recorder,
    ) -> Result<(), Failed> {
        let request = self
            .request(Method::PATCH, &format!("/api/admin/products/{product_id}"))
            .json(&json!({"stock_adjustment": units}));
        let _: Value = self.call(Op::Setup, request, rec).await?;
        Ok(())
    }

    /// `POST /api/carts`, returning its id.
    pub(crate) async fn create_cart(
        &self,
        currency: &str,
        rec: &mut Recorder,
    ) -> Result<String, Failed> {
        let request = self
            .request(Method::POST, "/api/carts")
            .json(&json!({"currency": currency}));
        let cart: WithId = self.call(Op::CreateCart, request, rec).await?;
        Ok(cart.id)
    }

    /// `POST /api/carts/{id}/items`.
    pub(crate) async fn add_item(
        &self,
        cart: &str,
        product_id: &str,
        quantity: u32,
        rec: &mut Recorder,
    ) -> Result<(), Failed> {
        let request = self
            .request(Method::POST, &format!("/api/carts/{cart}/items"))
            .json(&json!({"product_id": product_id, "quantity": quantity}));
        let _: WithId = self.call(Op::AddItem, request, rec).await?;
        Ok(())
    }

    /// `POST /api/carts/{id}/checkout` with the test card, returning the
    /// order's id.
    pub(crate) async fn checkout(
        &self,
        cart: &str,
        email: &str,
        idempotency_key: &str,
        rec: &mut Recorder,
    ) -> Result<String, Failed> {
        let body = json!({
            "email": email,
            "shipping_address": {
                "full_name": "Ada Lovelace", "line1": "12 St James's Square", "line2": null,
                "city": "London", "region": null, "postal_code": "SW1Y 4JH", "country": "GB",
                "phone": "+44 20 7946 0958"
            },
            "shipping_method": "standard",
            "payment": {"method": "card", "card": {
                "number": "4242424242424242", "exp_month": 12, "exp_year": 2030,
                "cvc": "123", "holder": "Ada Lovelace"
            }}
        });
        let request = self
            .request(Method::POST, &format!("/api/carts/{cart}/checkout"))
            .header("Idempotency-Key", idempotency_key)
            .json(&body);
        let order: WithId = self.call(Op::Checkout, request, rec).await?;
        Ok(order.id)
    }

    /// `GET /api/orders/{id}`.
    pub(crate) async fn order(&self, id: &str, rec: &mut Recorder) -> Result<(), Failed> {
        let request = self.request(Method::GET, &format!("/api/orders/{id}"));
        let _: WithId = self.call(Op::GetOrder, request, rec).await?;
        Ok(())
    }

    /// `POST /api/admin/orders/{id}/transition` (staff only).
    pub(crate) async fn transition(
        &self,
        id: &str,
        to: &str,
        tracking_number: Option<&str>,
        rec: &mut Recorder,
    ) -> Result<(), Failed> {
        let mut body = json!({"to": to, "note": "orders-loadgen fan-out"});
        if let Some(tracking) = tracking_number {
            body["tracking_number"] = json!(tracking);
        }
        let request = self
            .request(Method::POST, &format!("/api/admin/orders/{id}/transition"))
            .json(&body);
        let _: WithId = self.call(Op::Transition, request, rec).await?;
        Ok(())
    }
}

//! The test host: the real router nested under `/api` on `127.0.0.1:0`,
//! the in-memory store, a token table standing in for the host's users,
//! and typed helpers over a real HTTP client.
#![allow(dead_code, unreachable_pub)] // Each test binary uses a part of the helpers.

pub mod aftersale;
pub mod shop;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use orders_axum::{Api, ApiError, Caller, Identify, IdentifyError, ShutdownHandle};
use orders_core::catalogue::Product;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::ports::{PaymentGateway, Store};
use orders_core::{Orders, OrdersConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Tokens of the test users.
pub const ADA: &str = "ada-token";
pub const BOB: &str = "bob-token";
pub const STAFF: &str = "staff-token";

/// The host's users: a token table.
struct Tokens(HashMap<&'static str, Caller>);

#[async_trait::async_trait]
impl Identify for Tokens {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        Ok(self.0.get(token).cloned())
    }
}

fn caller(id: &str, is_staff: bool) -> Caller {
    Caller {
        id: CustomerId::parse(id).unwrap(),
        email: format!("{id}@example.com"),
        is_staff,
    }
}

/// A host route mounted through `Api::routes`, answering with the API's error type.
async fn login() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "bad_credentials",
        "Wrong email or password",
    )
}

/// The host's OpenAPI fragment for its auth routes.
fn host_openapi() -> orders_axum::OpenApi {
    serde_json::from_value(json!({
        "openapi": "3.1.0",
        "info": {"title": "host", "version": "1"},
        "paths": {"/auth/login": {"post": {"responses": {"401": {"description": "wrong"}}}}}
    }))
    .unwrap()
}

/// A running server.
pub struct App {
    pub addr: SocketAddr,
    pub orders: Orders,
    pub client: reqwest::Client,
    pub shutdown: ShutdownHandle,
}

/// A response: status, headers and JSON body (`Null` when not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem document with `status` and `code`.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.body["status"], status, "{:#}", self.body);
        assert_eq!(self.body["code"], code, "{:#}", self.body);
        assert!(self.body["type"].is_string());
        assert!(self.body["title"].is_string());
        &self.body
    }

    /// Asserts a 422 with an error on each of `fields`.
    #[track_caller]
    pub fn fields(&self, fields: &[&str]) {
        self.problem(422, self.body["code"].as_str().unwrap_or("?"));
        for field in fields {
            assert!(
                self.body["errors"][field].is_array(),
                "no error on {field}: {:#}",
                self.body
            );
        }
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        &self.body
    }
}

pub async fn spawn_app() -> App {
    spawn_with(|api| api).await
}

pub async fn spawn_with(configure: impl FnOnce(Api) -> Api) -> App {
    spawn_host(configure, |app| app).await
}

/// The API configured by `configure`, nested at `/api` in a host router
/// that `host` completes (its own routes and layers).
pub async fn spawn_host(
    configure: impl FnOnce(Api) -> Api,
    host: impl FnOnce(Router) -> Router,
) -> App {
    spawn_host_on(Arc::new(MemoryStore::new()), configure, host).await
}

/// A server over `store`, which the test keeps to reach it directly.
pub async fn spawn_on(store: Arc<MemoryStore>, configure: impl FnOnce(Api) -> Api) -> App {
    spawn_host_on(store, configure, |app| app).await
}

/// [`spawn_host`] over `store`.
pub async fn spawn_host_on(
    store: Arc<MemoryStore>,
    configure: impl FnOnce(Api) -> Api,
    host: impl FnOnce(Router) -> Router,
) -> App {
    spawn_orders(Orders::builder(store).demo().build(), configure, host).await
}

/// A server whose engine pays through `gateway` (the demo configuration
/// otherwise), over a fresh in-memory store.
pub async fn spawn_paying(gateway: Arc<dyn PaymentGateway>) -> App {
    spawn_paying_on(Arc::new(MemoryStore::new()), gateway).await
}

/// [`spawn_paying`] over `store`.
pub async fn spawn_paying_on(store: Arc<dyn Store>, gateway: Arc<dyn PaymentGateway>) -> App {
    let orders = Orders::builder(store)
        .config(OrdersConfig::demo())
        .payments(gateway)
        .build();
    spawn_orders(orders, |api| api, |app| app).await
}

/// The API over `orders`, configured by `configure`, nested at `/api` in
/// a host router that `host` completes.
pub async fn spawn_orders(
    orders: Orders,
    configure: impl FnOnce(Api) -> Api,
    host: impl FnOnce(Router) -> Router,
) -> App {
    let users = Tokens(HashMap::from([
        (ADA, caller("ada", false)),
        (BOB, caller("bob", false)),
        (STAFF, caller("staff", true)),
    ]));
    let api = Api::new(orders.clone(), users)
        .routes(Router::new().route("/auth/login", post(login)))
        .merge_openapi(host_openapi());
    let api = configure(api);
    let shutdown = api.shutdown_handle();
    let app = host(Router::new().nest("/api", api.router()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    App {
        addr,
        orders,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        shutdown,
    }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        into_resp(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// A raw request with an explicit content type and body.
    pub async fn raw(
        &self,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let mut request = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        into_resp(request.send().await.unwrap()).await
    }

    /// An active USD product.
    pub async fn product(&self, price: &str, stock: u32) -> Product {
        orders_core::testkit::product(&self.orders, price, stock).await
    }

    /// A new cart of `token`'s user, via the API.
    pub async fn cart(&self, token: &str) -> String {
        let cart = self.post("/api/carts", token, json!({})).await;
        cart.ok(201)["id"].as_str().unwrap().to_owned()
    }

    /// A cart of `token`'s user holding `quantity` of `product`.
    pub async fn cart_with(&self, token: &str, product: &Product, quantity: u32) -> String {
        let cart = self.cart(token).await;
        self.post(
            &format!("/api/carts/{cart}/items"),
            token,
            json!({"product_id": product.id().as_str(), "quantity": quantity}),
        )
        .await
        .ok(200);
        cart
    }

    pub async fn checkout(&self, token: &str, cart: &str, body: Value, key: Option<&str>) -> Resp {
        let mut request = self
            .client
            .post(self.url(&format!("/api/carts/{cart}/checkout")))
            .bearer_auth(token)
            .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        into_resp(request.send().await.unwrap()).await
    }

    /// An order placed by `token`'s user, paid by card (or cash).
    pub async fn order(&self, token: &str, card: bool) -> Value {
        let product = self.product("10.00", 50).await;
        let cart = self.cart_with(token, &product, 1).await;
        let body = if card {
            checkout_card(CARD_OK)
        } else {
            checkout_cash()
        };
        self.checkout(token, &cart, body, None)
            .await
            .ok(201)
            .clone()
    }

    pub async fn stock(&self, product: &Product) -> u32 {
        self.orders.product(product.id()).await.unwrap().stock()
    }
}

async fn into_resp(response: reqwest::Response) -> Resp {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";

fn address() -> Value {
    json!({"full_name": "Ada Lovelace", "line1": "1 Main St", "line2": null, "city": "Springfield",
           "region": null, "postal_code": "12345", "country": "US", "phone": null})
}

pub fn checkout_card(number: &str) -> Value {
    json!({
        "email": "ada@example.com",
        "shipping_address": address(),
        "shipping_method": "standard",
        "payment": {"method": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2040,
                    "cvc": "123", "holder": "Ada Lovelace"}}
    })
}

/// A checkout paid with a provider token (the test gateway's `test_visa`, ...).
pub fn checkout_token(token: &str) -> Value {
    json!({
        "email": "ada@example.com",
        "shipping_address": address(),
        "shipping_method": "standard",
        "payment": {"method": "card", "token": token}
    })
}

pub fn checkout_cash() -> Value {
    json!({
        "email": "ada@example.com",
        "shipping_address": address(),
        "shipping_method": "standard",
        "payment": {"method": "cash_on_delivery"}
    })
}

/// Validates `value` against `schema` of the OpenAPI document `doc`:
/// types, required properties, enums, and no property the schema does not
/// describe. Returns the problems found, by JSON path.
pub fn validate(
    doc: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
    problems: &mut Vec<String>,
) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "unresolved {reference}");
        return validate(doc, target, value, path, problems);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let ok = options.iter().any(|option| {
                let mut inner = Vec::new();
                validate(doc, option, value, path, &mut inner);
                inner.is_empty()
            });
            if !ok {
                problems.push(format!("{path}: matches no {key} option: {value}"));
            }
            return;
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        // A flattened struct: one object whose properties are those of all
        // its parts together (a property is undescribed only if no part
        // describes it).
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for part in all {
            let part = match part.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let name = reference.trim_start_matches("#/components/schemas/");
                    &doc["components"]["schemas"][name]
                }
                None => part,
            };
            assert!(part.get("allOf").is_none(), "nested allOf is not supported");
            if let Some(own) = part.get("properties").and_then(Value::as_object) {
                properties.extend(own.clone());
            }
            if let Some(own) = part.get("required").and_then(Value::as_array) {
                required.extend(own.iter().cloned());
            }
        }
        let merged = serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": required,
        });
        return validate(doc, &merged, value, path, problems);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "number",
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            problems.push(format!("{path}: expected {types:?}, got {value}"));
            return;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !value.is_null()
        && !values.contains(value)
    {
        problems.push(format!("{path}: {value} not in {values:?}"));
    }
    if let Value::Object(object) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    problems.push(format!("{path}.{name}: required but missing"));
                }
            }
        }
        if let Some(properties) = properties {
            for (name, item) in object {
                match properties.get(name) {
                    Some(property) => {
                        validate(doc, property, item, &format!("{path}.{name}"), problems)
                    }
                    None => problems.push(format!("{path}.{name}: not described by the schema")),
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(doc, item_schema, item, &format!("{path}[{i}]"), problems);
        }
    }
}

/// Asserts that `value` is what the document says `method path` answers with `status`.
#[track_caller]
pub fn assert_documented(doc: &Value, method: &str, path: &str, status: u16, value: &Value) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        !response.is_null(),
        "{method} {path} {status} is not documented"
    );
    let content = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} {status} has no content"));
    let (_, media) = content.iter().next().unwrap();
    let mut problems = Vec::new();
    validate(doc, &media["schema"], value, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{method} {path} {status}: {problems:#?}"
    );
}

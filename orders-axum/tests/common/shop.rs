//! A shop paying through the engine's `TestGateway`, which the test keeps
//! to act as the provider (authenticate a payment, sign its webhooks).

use std::sync::Arc;

use chrono::Utc;
use orders_core::Access;
use orders_core::ids::OrderId;
use orders_core::memory::MemoryStore;
use orders_core::ports::{Store, TestGateway};
use serde_json::Value;

use super::{ADA, App, Resp, checkout_token, spawn_paying_on};

pub const WEBHOOK: &str = "/api/payments/webhooks/test";
pub const SIGNATURE: &str = "Orders-Test-Signature";

/// A server paying through a `TestGateway` the test keeps, with its
/// OpenAPI document.
pub struct Shop {
    pub app: App,
    pub gateway: Arc<TestGateway>,
    pub doc: Value,
}

/// A [`Shop`] over a fresh in-memory store.
pub async fn shop() -> Shop {
    shop_on(Arc::new(MemoryStore::new())).await
}

/// A [`Shop`] over `store`.
pub async fn shop_on(store: Arc<dyn Store>) -> Shop {
    let gateway = Arc::new(TestGateway::new());
    let app = spawn_paying_on(store, gateway.clone()).await;
    let doc = app.get("/api/openapi.json", None).await.ok(200).clone();
    Shop { app, gateway, doc }
}

impl Shop {
    /// Checks out one 10.00 product (stock 5) with `token`.
    pub async fn checkout(&self, token: &str) -> (Resp, orders_core::catalogue::Product) {
        let product = self.app.product("10.00", 5).await;
        let cart = self.app.cart_with(ADA, &product, 2).await;
        let resp = self
            .app
            .checkout(ADA, &cart, checkout_token(token), None)
            .await;
        (resp, product)
    }

    /// The provider's reference of an order's payment (never shown by the API).
    pub async fn reference(&self, id: &str) -> String {
        let id: OrderId = id.parse().unwrap();
        let order = self.app.orders.order(Access::Staff, &id).await.unwrap();
        order.payment().reference.clone().expect("a card payment")
    }

    pub async fn order(&self, id: &str) -> Value {
        self.app
            .get(&format!("/api/orders/{id}"), Some(ADA))
            .await
            .ok(200)
            .clone()
    }

    pub async fn events(&self, id: &str) -> Vec<Value> {
        let events = self
            .app
            .get(&format!("/api/orders/{id}/events"), Some(ADA))
            .await;
        events.ok(200)["items"].as_array().unwrap().clone()
    }

    pub async fn confirm(&self, id: &str, token: &str) -> Resp {
        let path = format!("/api/orders/{id}/payment/confirm");
        self.app
            .send(reqwest::Method::POST, &path, Some(token), None)
            .await
    }

    /// Posts a webhook body with `signature` (none: no header).
    pub async fn webhook(&self, signature: Option<&str>, body: &str) -> Resp {
        self.webhook_to(WEBHOOK, signature, body.to_owned()).await
    }

    pub async fn webhook_to(&self, path: &str, signature: Option<&str>, body: String) -> Resp {
        let mut request = self
            .app
            .client
            .post(self.app.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header(SIGNATURE, signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    /// The provider's signed webhook `event_id` about order `id`'s payment.
    pub async fn signed(&self, event_id: &str, id: &str) -> (String, String) {
        let reference = self.reference(id).await;
        self.gateway.webhook(event_id, &reference, Utc::now())
    }
}

//! After the sale, over HTTP: typed helpers for fulfilments, returns,
//! refunds and notes on a [`Shop`], so the stories read as stories.

use orders_core::catalogue::Product;
use orders_core::ports::TestGateway;
use reqwest::Method;
use serde_json::{Value, json};

use super::shop::Shop;
use super::{ADA, Resp, STAFF, checkout_token};

/// An order of ADA's with two lines, paid and captured by card: 2 × 10.00
/// of `a`, 1 × 5.00 of `b` (each with 10 in stock before).
pub struct Sold {
    pub id: String,
    pub a: Product,
    pub b: Product,
}

/// `[{product_id, quantity}]` of `lines`.
pub fn lines(lines: &[(&Product, u32)]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|(p, n)| json!({"product_id": p.id().as_str(), "quantity": n}))
            .collect(),
    )
}

impl Shop {
    /// See [`Sold`].
    pub async fn sold(&self) -> Sold {
        let a = self.app.product("10.00", 10).await;
        let b = self.app.product("5.00", 10).await;
        let cart = self.app.cart_with(ADA, &a, 2).await;
        self.app
            .post(
                &format!("/api/carts/{cart}/items"),
                ADA,
                json!({"product_id": b.id().as_str(), "quantity": 1}),
            )
            .await
            .ok(200);
        let order = self
            .app
            .checkout(
                ADA,
                &cart,
                checkout_token(TestGateway::TOKEN_AUTHORIZED),
                None,
            )
            .await;
        let id = order.ok(201)["id"].as_str().unwrap().to_owned();
        Sold { id, a, b }
    }

    /// [`Shop::sold`], every unit shipped in one fulfilment and delivered.
    pub async fn delivered(&self) -> Sold {
        let sold = self.sold().await;
        let shipped = self
            .ship(&sold.id, &[(&sold.a, 2), (&sold.b, 1)], "TRK-ALL")
            .await;
        let fulfilment = shipped.ok(201)["id"].as_str().unwrap().to_owned();
        self.deliver(&fulfilment).await.ok(200);
        sold
    }

    /// Staff ship `lines` of order `id`.
    pub async fn ship(&self, id: &str, what: &[(&Product, u32)], tracking: &str) -> Resp {
        let body = json!({"lines": lines(what), "carrier": "DHL", "tracking_number": tracking});
        let path = format!("/api/admin/orders/{id}/fulfilments");
        self.app.post(&path, STAFF, body).await
    }

    /// Staff mark fulfilment `id` delivered.
    pub async fn deliver(&self, id: &str) -> Resp {
        let path = format!("/api/admin/fulfilments/{id}/delivered");
        self.app.send(Method::POST, &path, Some(STAFF), None).await
    }

    /// `token`'s user asks to return `what` of order `id`.
    pub async fn ask_return(&self, token: &str, id: &str, what: &[(&Product, u32)]) -> Resp {
        let body = json!({"lines": lines(what), "reason": "Too small"});
        self.app
            .post(&format!("/api/orders/{id}/returns"), token, body)
            .await
    }

    /// Staff `approve`, `reject` or `receive` return `id` with `body`.
    pub async fn move_return(&self, id: &str, action: &str, body: Option<Value>) -> Resp {
        let path = format!("/api/admin/returns/{id}/{action}");
        self.app.send(Method::POST, &path, Some(STAFF), body).await
    }

    /// Staff refund order `id` as `body` says.
    pub async fn refund(&self, id: &str, body: Value) -> Resp {
        self.app
            .post(&format!("/api/admin/orders/{id}/refunds"), STAFF, body)
            .await
    }

    /// Staff add a note to order `id`.
    pub async fn note(&self, id: &str, text: &str, visible: bool) -> Resp {
        let body = json!({"text": text, "visible_to_customer": visible});
        self.app
            .post(&format!("/api/admin/orders/{id}/notes"), STAFF, body)
            .await
    }

    /// The order as staff see it.
    pub async fn staff_order(&self, id: &str) -> Value {
        let path = format!("/api/admin/orders/{id}");
        self.app.get(&path, Some(STAFF)).await.ok(200).clone()
    }

    /// How many refunds moved money at the provider for order `id`.
    pub async fn provider_refunds(&self, id: &str) -> (u32, String) {
        let payment = self.gateway.payment(&self.reference(id).await).unwrap();
        (payment.refunds, payment.state.refunded.to_string())
    }
}

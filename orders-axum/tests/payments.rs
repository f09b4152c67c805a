//! Payments over real HTTP on a real port, with the engine's `TestGateway`
//! standing in for the card network: provider tokens, the customer's
//! action (3-D Secure) completed by their return or by the provider's
//! signed webhook, bad webhooks, a provider outage, and the live feed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::shop::*;
use common::*;
use futures_util::StreamExt;
use orders_core::checkout::CardBrand;
use orders_core::ports::{
    Authorize, PaymentError, PaymentGateway, ProviderPayment, TestGateway, WebhookError,
    WebhookEvent,
};
use orders_core::{money::Money, order::ProviderState};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_token_is_authorised_then_captured_once_the_stock_is_taken() {
    let shop = shop().await;
    let (resp, product) = shop.checkout(TestGateway::TOKEN_AUTHORIZED).await;
    let order = resp.ok(201);
    assert_documented(&shop.doc, "post", "/api/carts/{id}/checkout", 201, order);
    assert_eq!(order["status"], "paid");
    let payment = &order["payment"];
    let total = order["total"].as_str().unwrap();
    assert_eq!(payment["status"], "captured", "{payment:#}");
    assert_eq!(payment["authorized"], total);
    assert_eq!(payment["captured"], total);
    assert_eq!(payment["refunded"], "0.00");
    assert_eq!(payment["next_action"], Value::Null);
    assert_eq!(
        (payment["brand"].clone(), payment["last4"].clone()),
        (json!("visa"), json!("4242"))
    );
    assert!(payment.get("reference").is_none(), "{payment:#}");
    assert_eq!(shop.app.stock(&product).await, 3);
    // The placement, then the capture: one event each.
    let id = order["id"].as_str().unwrap();
    let events = shop.events(id).await;
    let kinds: Vec<_> = events.iter().map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, [json!("status_changed"), json!("payment_updated")]);
    assert_eq!(events[1]["data"]["status"], "captured");
    let listed = json!({"items": events});
    assert_documented(&shop.doc, "get", "/api/orders/{id}/events", 200, &listed);
    let captured = shop.gateway.payment(&shop.reference(id).await).unwrap();
    assert_eq!(captured.captures, 1);
}

#[tokio::test]
async fn a_declined_token_places_nothing_and_takes_no_stock() {
    let shop = shop().await;
    let (resp, product) = shop.checkout(TestGateway::TOKEN_DECLINED).await;
    let problem = resp.problem(422, "payment_declined");
    let fields: Vec<_> = problem["errors"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["payment.token"], "{problem:#}");
    assert_eq!(shop.app.stock(&product).await, 5);
    let orders = shop.app.get("/api/orders", Some(ADA)).await;
    assert_eq!(orders.ok(200)["items"], json!([]));
    assert!(shop.gateway.payments().is_empty());
}

#[tokio::test]
async fn an_action_holds_the_stock_until_the_customer_confirms_once() {
    let shop = shop().await;
    let (resp, product) = shop.checkout(TestGateway::TOKEN_REQUIRES_ACTION).await;
    let order = resp.ok(201).clone();
    assert_documented(&shop.doc, "post", "/api/carts/{id}/checkout", 201, &order);
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(order["payment"]["status"], "requires_action");
    assert_eq!(order["payment"]["next_action"]["type"], "use_sdk");
    assert!(order["payment"]["next_action"]["client_secret"].is_string());
    assert_eq!(order["payment"]["captured"], "0.00");
    assert_eq!(shop.app.stock(&product).await, 3, "the stock is held");
    let id = order["id"].as_str().unwrap();

    // Not Bob's order: not found, and nothing moves.
    shop.confirm(id, BOB).await.problem(404, "not_found");
    assert_eq!(shop.order(id).await["status"], "awaiting_payment");

    let paid = shop.confirm(id, ADA).await;
    let paid = paid.ok(200).clone();
    assert_documented(
        &shop.doc,
        "post",
        "/api/orders/{id}/payment/confirm",
        200,
        &paid,
    );
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["payment"]["status"], "captured");
    assert_eq!(paid["payment"]["captured"], order["total"]);
    assert_eq!(paid["payment"]["next_action"], Value::Null);
    assert_eq!(shop.app.stock(&product).await, 3);
    let events = shop.events(id).await.len();

    // Again: the same order, no new event, no second capture.
    let again = shop.confirm(id, ADA).await;
    assert_eq!(again.ok(200), &paid);
    assert_eq!(shop.events(id).await.len(), events);

    // The provider's webhook after the customer's return changes nothing.
    let (signature, body) = shop.signed("evt_after_confirm", id).await;
    let resp = shop.webhook(Some(&signature), &body).await;
    assert_documented(
        &shop.doc,
        "post",
        "/api/payments/webhooks/{provider}",
        200,
        &resp.body,
    );
    assert_eq!(resp.ok(200)["outcome"], "applied");
    assert_eq!(shop.order(id).await, paid);
    // Replayed (same event id): a duplicate, nothing changed.
    let resp = shop.webhook(Some(&signature), &body).await;
    assert_eq!(resp.ok(200)["outcome"], "duplicate");
    assert_eq!(shop.order(id).await, paid);
    assert_eq!(shop.events(id).await.len(), events);
    let payment = shop.gateway.payment(&shop.reference(id).await).unwrap();
    assert_eq!(payment.captures, 1);
}

#[tokio::test]
async fn the_webhook_first_then_the_customers_return_finds_it_done() {
    let shop = shop().await;
    let (resp, _) = shop.checkout(TestGateway::TOKEN_REQUIRES_ACTION).await;
    let id = resp.ok(201)["id"].as_str().unwrap().to_owned();
    // The customer completes the action at the bank; the provider tells us.
    shop.gateway
        .authenticate(&shop.reference(&id).await)
        .unwrap();
    let (signature, body) = shop.signed("evt_first", &id).await;
    assert_eq!(
        shop.webhook(Some(&signature), &body).await.ok(200)["outcome"],
        "applied"
    );
    let paid = shop.order(&id).await;
    assert_eq!(
        (paid["status"].clone(), paid["payment"]["status"].clone()),
        (json!("paid"), json!("captured"))
    );
    let events = shop.events(&id).await.len();
    assert_eq!(shop.confirm(&id, ADA).await.ok(200), &paid);
    assert_eq!(shop.events(&id).await.len(), events);
}

#[tokio::test]
async fn a_failed_action_cancels_the_order_and_returns_its_stock() {
    let shop = shop().await;
    let (resp, product) = shop.checkout(TestGateway::TOKEN_ACTION_FAILS).await;
    let id = resp.ok(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(shop.app.stock(&product).await, 3);
    let cancelled = shop.confirm(&id, ADA).await;
    let cancelled = cancelled.ok(200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["payment"]["status"], "failed");
    assert_eq!(cancelled["payment"]["captured"], "0.00");
    assert_eq!(shop.app.stock(&product).await, 5);
}

#[tokio::test]
async fn forged_stale_or_unsigned_webhooks_are_refused_and_change_nothing() {
    let shop = shop().await;
    let (resp, _) = shop.checkout(TestGateway::TOKEN_REQUIRES_ACTION).await;
    let id = resp.ok(201)["id"].as_str().unwrap().to_owned();
    let reference = shop.reference(&id).await;
    // Authorised at the provider: a valid webhook would now complete the order.
    shop.gateway.authenticate(&reference).unwrap();
    let before = shop.order(&id).await;

    let forger = TestGateway::with_webhook_secret("whsec_not_ours");
    let (forged, body) = forger.webhook("evt_1", &reference, Utc::now());
    let stale_at = Utc::now() - chrono::Duration::minutes(10);
    let (stale, stale_body) = shop.gateway.webhook("evt_1", &reference, stale_at);
    let (valid, _) = shop.gateway.webhook("evt_1", &reference, Utc::now());
    let tampered = body.replace("evt_1", "evt_2");
    for (signature, body) in [
        (Some(forged.as_str()), body.as_str()),
        (Some(stale.as_str()), stale_body.as_str()),
        (None, body.as_str()),
        (Some("t=1,v1=00"), body.as_str()),
        (Some(valid.as_str()), tampered.as_str()),
    ] {
        let resp = shop.webhook(signature, body).await;
        resp.problem(400, "webhook_rejected");
        assert_documented(
            &shop.doc,
            "post",
            "/api/payments/webhooks/{provider}",
            400,
            &resp.body,
        );
        assert_eq!(shop.order(&id).await, before, "{signature:?}");
    }
    // Another provider's path is not ours; an oversized body is not read.
    let resp = shop
        .webhook_to("/api/payments/webhooks/stripe", Some(&valid), body.clone())
        .await;
    resp.problem(404, "not_found");
    let huge = format!("{{\"id\": \"{}\"}}", "x".repeat(300 * 1024));
    let signature = shop.gateway.sign(&huge, Utc::now().timestamp());
    shop.webhook(Some(&signature), &huge)
        .await
        .problem(413, "payload_too_large");
    assert_eq!(shop.order(&id).await, before);
    // Over the API's 64 KiB but within the route's 256 KiB: read, and
    // about no order of ours.
    let big = json!({"id": "evt_big", "payment": "test_pi_unknown", "pad": "x".repeat(100 * 1024)});
    let big = big.to_string();
    let signature = shop.gateway.sign(&big, Utc::now().timestamp());
    let resp = shop.webhook(Some(&signature), &big).await;
    assert_eq!(resp.ok(200)["outcome"], "ignored");

    // The same event, signed as it was: acted on (these refusals did not
    // record its id).
    let resp = shop.webhook(Some(&valid), &body).await;
    assert_eq!(resp.ok(200)["outcome"], "applied");
    assert_eq!(shop.order(&id).await["status"], "paid");
}

/// A real provider: takes tokens, never raw cards.
struct TokensOnly(TestGateway);

#[async_trait::async_trait]
impl PaymentGateway for TokensOnly {
    fn provider(&self) -> &str {
        self.0.provider()
    }
    async fn authorize(&self, request: Authorize<'_>) -> Result<ProviderPayment, PaymentError> {
        self.0.authorize(request).await
    }
    async fn capture(&self, r: &str, a: Money, k: &str) -> Result<ProviderState, PaymentError> {
        self.0.capture(r, a, k).await
    }
    async fn void(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        self.0.void(reference).await
    }
    async fn refund(&self, r: &str, a: Money, k: &str) -> Result<ProviderState, PaymentError> {
        self.0.refund(r, a, k).await
    }
    async fn read(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        self.0.read(reference).await
    }
    fn signature_header(&self) -> &str {
        self.0.signature_header()
    }
    fn verify_webhook(
        &self,
        signature: &str,
        body: &[u8],
        now: chrono::DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError> {
        self.0.verify_webhook(signature, body, now)
    }
}

#[tokio::test]
async fn raw_cards_are_refused_on_payment_card_when_the_provider_takes_tokens() {
    let gateway = Arc::new(TokensOnly(TestGateway::new()));
    assert!(!gateway.accepts_test_cards());
    let app = spawn_paying(gateway.clone()).await;
    let product = app.product("10.00", 5).await;
    let cart = app.cart_with(ADA, &product, 1).await;
    let resp = app.checkout(ADA, &cart, checkout_card(CARD_OK), None).await;
    resp.problem(422, "validation");
    let fields: Vec<_> = resp.body["errors"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["payment.card"], "{:#}", resp.body);
    assert!(
        gateway.0.payments().is_empty(),
        "nothing reached the provider"
    );
    assert_eq!(app.stock(&product).await, 5);
    // A token from the provider's form goes through.
    let body = checkout_token(TestGateway::TOKEN_AUTHORIZED);
    let placed = app.checkout(ADA, &cart, body, None).await;
    assert_eq!(placed.ok(201)["payment"]["brand"], json!(CardBrand::Visa));
}

#[tokio::test]
async fn an_outage_fails_cleanly_and_a_retry_with_the_key_places_and_authorises_once() {
    let shop = shop().await;
    let product = shop.app.product("10.00", 5).await;
    let cart = shop.app.cart_with(ADA, &product, 1).await;
    let body = checkout_token(TestGateway::TOKEN_AUTHORIZED);
    shop.gateway.set_outage(true);
    let down = shop
        .app
        .checkout(ADA, &cart, body.clone(), Some("k-1"))
        .await;
    let problem = down.problem(502, "payment_unavailable").clone();
    assert_documented(&shop.doc, "post", "/api/carts/{id}/checkout", 502, &problem);
    assert_eq!(shop.app.stock(&product).await, 5);
    assert!(shop.gateway.payments().is_empty());

    shop.gateway.set_outage(false);
    let placed = shop
        .app
        .checkout(ADA, &cart, body.clone(), Some("k-1"))
        .await;
    let placed = placed.ok(201).clone();
    assert_eq!(placed["status"], "paid");
    let replayed = shop.app.checkout(ADA, &cart, body, Some("k-1")).await;
    assert_eq!(replayed.ok(200)["id"], placed["id"]);
    assert_eq!(shop.gateway.payments().len(), 1, "authorised once");
    assert_eq!(shop.gateway.captured_count(), 1);
    assert_eq!(shop.app.stock(&product).await, 4);
    let orders = shop.app.get("/api/orders", Some(ADA)).await;
    assert_eq!(orders.ok(200)["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn during_an_outage_confirm_is_502_and_a_webhook_503_to_be_retried() {
    let shop = shop().await;
    let (resp, _) = shop.checkout(TestGateway::TOKEN_REQUIRES_ACTION).await;
    let id = resp.ok(201)["id"].as_str().unwrap().to_owned();
    let (signature, body) = shop.signed("evt_outage", &id).await;
    shop.gateway.set_outage(true);
    shop.confirm(&id, ADA)
        .await
        .problem(502, "payment_unavailable");
    let resp = shop.webhook(Some(&signature), &body).await;
    resp.problem(503, "payment_unavailable");
    assert!(resp.headers.contains_key("retry-after"));
    assert_eq!(shop.order(&id).await["status"], "awaiting_payment");

    shop.gateway.set_outage(false);
    shop.gateway
        .authenticate(&shop.reference(&id).await)
        .unwrap();
    // The provider's retry of the same event is acted on.
    let resp = shop.webhook(Some(&signature), &body).await;
    assert_eq!(resp.ok(200)["outcome"], "applied");
    assert_eq!(shop.order(&id).await["status"], "paid");
}

#[tokio::test]
async fn the_tracking_socket_shows_payment_updated_with_the_payment() {
    let shop = shop().await;
    let (resp, _) = shop.checkout(TestGateway::TOKEN_REQUIRES_ACTION).await;
    let id = resp.ok(201)["id"].as_str().unwrap().to_owned();
    let url = format!(
        "ws://{}/api/orders/{id}/track?access_token={ADA}",
        shop.app.addr
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut next = async || loop {
        let frame = tokio::time::timeout(Duration::from_secs(2), socket.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str::<Value>(text.as_str()).unwrap();
        }
    };
    let snapshot = next().await;
    assert_eq!(snapshot["order"]["status"], "awaiting_payment");
    shop.confirm(&id, ADA).await.ok(200);
    let authorised = next().await;
    assert_documented_frame(&shop.doc, &authorised);
    let event = &authorised["event"];
    assert_eq!(event["type"], "payment_updated");
    assert_eq!(
        (event["from"].clone(), event["to"].clone()),
        (json!("awaiting_payment"), json!("paid"))
    );
    assert_eq!(event["data"]["status"], "authorized");
    let captured = next().await;
    assert_eq!(captured["event"]["type"], "payment_updated");
    assert_eq!(captured["event"]["data"]["status"], "captured");
    assert_eq!(captured["event"]["data"]["captured"], resp.body["total"]);
}

/// A websocket frame is a `TrackMessage` of the document.
fn assert_documented_frame(doc: &Value, frame: &Value) {
    let mut problems = Vec::new();
    let schema = json!({"$ref": "#/components/schemas/TrackMessage"});
    validate(doc, &schema, frame, "$", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

//! What the client puts on the wire and how long it waits, seen by a
//! recording proxy in front of a real localstripe.

mod support;

use std::time::Duration;

use axum::http::Method;
use orders_stripe::{
    ConfirmPaymentIntent, CreatePaymentIntent, CreateRefund, Currency, IdempotencyKey,
    PaymentIntentStatus, STRIPE_API_VERSION, SecretKey, StripeClient, StripeError, Unavailable,
};
use support::Localstripe;

fn key(name: &str) -> IdempotencyKey {
    IdempotencyKey::new(name).unwrap()
}

fn visa(amount: u64) -> CreatePaymentIntent {
    CreatePaymentIntent::new(amount, Currency::new("usd").unwrap(), "pm_card_visa").unwrap()
}

#[tokio::test]
async fn every_mutating_call_carries_the_callers_idempotency_key_and_reads_none() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let (proxy_url, log) = support::proxy(&server.url(), Duration::ZERO).await;
    let stripe = support::client_of(&proxy_url);

    let intent = stripe
        .create_payment_intent(&visa(500), &key("k-create"))
        .await
        .unwrap();
    stripe.retrieve_payment_intent(&intent.id).await.unwrap();
    stripe
        .capture_payment_intent(&intent.id, Some(400), &key("k-capture"))
        .await
        .unwrap();
    let refund = stripe
        .create_refund(
            &CreateRefund::partial(intent.id.clone(), 100).unwrap(),
            &key("k-refund"),
        )
        .await
        .unwrap();
    stripe.retrieve_refund(&refund.id).await.unwrap();
    let other = stripe
        .create_payment_intent(&visa(700).confirm(false), &key("k-create-2"))
        .await
        .unwrap();
    stripe
        .confirm_payment_intent(&other.id, &ConfirmPaymentIntent::new(), &key("k-confirm"))
        .await
        .unwrap();
    stripe
        .cancel_payment_intent(&other.id, &key("k-cancel"))
        .await
        .unwrap();

    let versions: Vec<Option<String>> = log
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.stripe_version.clone())
        .collect();
    assert_eq!(versions, vec![Some(STRIPE_API_VERSION.to_owned()); 8]);
    let seen: Vec<(Method, String, Option<String>)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.idempotency_key.clone()))
        .collect();
    let pi = intent.id.as_str();
    let other = other.id.as_str();
    let expected = [
        (
            Method::POST,
            "/v1/payment_intents".to_owned(),
            Some("k-create"),
        ),
        (Method::GET, format!("/v1/payment_intents/{pi}"), None),
        (
            Method::POST,
            format!("/v1/payment_intents/{pi}/capture"),
            Some("k-capture"),
        ),
        (Method::POST, "/v1/refunds".to_owned(), Some("k-refund")),
        (Method::GET, format!("/v1/refunds/{}", refund.id), None),
        (
            Method::POST,
            "/v1/payment_intents".to_owned(),
            Some("k-create-2"),
        ),
        (
            Method::POST,
            format!("/v1/payment_intents/{other}/confirm"),
            Some("k-confirm"),
        ),
        (
            Method::POST,
            format!("/v1/payment_intents/{other}/cancel"),
            Some("k-cancel"),
        ),
    ]
    .map(|(method, path, key)| (method, path, key.map(str::to_owned)));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_retry_after_a_timeout_sends_the_same_key() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let (slow_url, log) = support::proxy(&server.url(), Duration::from_secs(3)).await;
    let impatient = StripeClient::builder(SecretKey::new(support::KEY).unwrap())
        .base_url(&slow_url)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let params = visa(900);

    let first = impatient
        .create_payment_intent(&params, &key("k-slow"))
        .await;
    assert!(
        matches!(&first, Err(StripeError::Unavailable(Unavailable::Timeout))),
        "{first:?}"
    );
    assert!(first.unwrap_err().is_retryable());

    // The outcome is unknown, so the caller retries with the same key.
    // Stripe would answer the retry with the first call's PaymentIntent;
    // localstripe does not implement idempotency keys (it creates another),
    // so what is checked here is the client's part: the same key, resent.
    let (fast_url, fast_log) = support::proxy(&server.url(), Duration::ZERO).await;
    let retried = support::client_of(&fast_url)
        .create_payment_intent(&params, &key("k-slow"))
        .await
        .unwrap();
    assert_eq!(retried.status, PaymentIntentStatus::RequiresCapture);
    let first_key = log.lock().unwrap()[0].idempotency_key.clone();
    let retry_key = fast_log.lock().unwrap()[0].idempotency_key.clone();
    assert_eq!(first_key.as_deref(), Some("k-slow"));
    assert_eq!(retry_key, first_key);
}

/// Answers localstripe never gives (rate limits, 5xx, idempotency
/// conflicts, a broken body), from a real server on a real port.
async fn troubled_stripe() -> String {
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};

    fn answer(status: u16, body: &'static str) -> axum::response::Response {
        let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
        let headers = response.headers_mut();
        headers.insert("request-id", HeaderValue::from_static("req_troubled"));
        headers.insert("retry-after", HeaderValue::from_static("7"));
        response
    }
    let app = axum::Router::new()
        .route(
            "/v1/payment_intents",
            post(|| async {
                answer(
                    429,
                    r#"{"error": {"type": "invalid_request_error", "code": "rate_limit"}}"#,
                )
            }),
        )
        .route(
            "/v1/payment_intents/pi_down",
            get(|| async { answer(503, r#"{"error": {"type": "api_error"}}"#) }),
        )
        .route(
            "/v1/payment_intents/pi_garbled",
            get(|| async { answer(200, "<html>proxy error</html>") }),
        )
        .route(
            "/v1/payment_intents/pi_busy/capture",
            post(|| async {
                answer(
                    409,
                    r#"{"error": {"type": "idempotency_error", "message": "in progress"}}"#,
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn rate_limits_outages_conflicts_and_garbled_answers_are_typed() {
    let stripe = support::client_of(&troubled_stripe().await);
    let id = |id: &str| orders_stripe::PaymentIntentId::new(id).unwrap();

    let limited = stripe.create_payment_intent(&visa(100), &key("k-1")).await;
    let Err(StripeError::RateLimited { error, retry_after }) = &limited else {
        panic!("{limited:?}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
    assert_eq!(error.code.as_deref(), Some("rate_limit"));
    assert_eq!(error.request_id.as_deref(), Some("req_troubled"));

    let down = stripe.retrieve_payment_intent(&id("pi_down")).await;
    assert!(
        matches!(&down, Err(StripeError::Unavailable(Unavailable::Status(e))) if e.status == 503),
        "{down:?}"
    );
    let garbled = stripe.retrieve_payment_intent(&id("pi_garbled")).await;
    assert!(
        matches!(
            &garbled,
            Err(StripeError::Unavailable(Unavailable::InvalidResponse(_)))
        ),
        "{garbled:?}"
    );
    let busy = stripe
        .capture_payment_intent(&id("pi_busy"), None, &key("k-2"))
        .await;
    assert!(
        matches!(&busy, Err(StripeError::IdempotencyConflict(e)) if e.status == 409),
        "{busy:?}"
    );
    assert!(
        busy.unwrap_err().is_retryable(),
        "another request holds the key"
    );
}

//! The server with Stripe as its payment provider, through the real binary
//! on a real port: Stripe's keys come from the environment (a missing one
//! stops the server, naming it; none shows in the logs), the checkout page
//! takes Stripe.js's card fields with Stripe.js's origin in its
//! Content-Security-Policy, and Stripe's webhooks are checked with the
//! secret from the environment.
#![cfg(feature = "stripe")]

mod common;

use common::pages::{page_customer, post_form, write_config};
use common::{Server, create_staff, hidden, sqlite_url};
use serde_json::json;

#[test]
fn stripe_without_its_keys_stops_the_server_naming_the_variable() {
    let (url, dir) = sqlite_url();
    let config = write_config(&dir, "[payments]\nprovider = \"stripe\"\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders-server"))
        .args(["--database-url", &url, "--config", &config, "migrate"])
        .env_remove("ORDERS_STRIPE_SECRET_KEY")
        .env("ORDERS_STRIPE_WEBHOOK_SECRET", "whsec_unused")
        .env("ORDERS_STRIPE_PUBLISHABLE_KEY", "pk_test_unused")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ORDERS_STRIPE_SECRET_KEY"), "{stderr}");
}

#[tokio::test]
async fn with_stripe_the_checkout_takes_stripe_js_and_no_secret_is_logged() {
    let (url, dir) = sqlite_url();
    create_staff(&url);
    // Nothing listens there: the server talks to Stripe only on a checkout.
    let config = write_config(
        &dir,
        "[payments]\nprovider = \"stripe\"\napi_base = \"http://127.0.0.1:9\"\n\
         js_url = \"http://127.0.0.1:9/js.stripe.com/v3/\"\n",
    );
    let env = [
        ("ORDERS_STRIPE_SECRET_KEY", "sk_test_never_in_logs_1"),
        ("ORDERS_STRIPE_WEBHOOK_SECRET", "whsec_never_in_logs_2"),
        ("ORDERS_STRIPE_PUBLISHABLE_KEY", "pk_test_in_pages"),
    ];
    let server = Server::start_limited(&url, &["--config", &config], &env, None);
    let client = page_customer(&server).await;
    let index = client.get(server.url("/")).send().await.unwrap();
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self' http://127.0.0.1:9;"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let csrf = hidden(&index.text().await.unwrap(), "csrf_token");
    let staff = server.staff().await;
    let product = server.product(&staff, 5).await;
    post_form(
        &client,
        server.url("/cart/items"),
        &[
            ("csrf_token", csrf.as_str()),
            ("product_id", product.as_str()),
            ("quantity", "1"),
        ],
    )
    .await;
    let form = client
        .get(server.url("/checkout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("id=\"card-element\""), "{form}");
    assert!(
        form.contains("data-stripe-key=\"pk_test_in_pages\""),
        "{form}"
    );
    assert!(
        form.contains("http://127.0.0.1:9/js.stripe.com/v3/"),
        "{form}"
    );
    assert!(
        !form.contains("payment.card.number"),
        "no card input of ours"
    );
    assert!(form.contains("name=\"payment.token\""), "{form}");

    // Posted without Stripe.js (no token): the error shows beside Stripe's
    // card fields, and nothing reached Stripe (nothing listens there).
    let key = hidden(&form, "idempotency_key");
    let address = [
        ("csrf_token", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("email", "ada@example.com"),
        ("shipping_address.full_name", "Ada Lovelace"),
        ("shipping_address.line1", "12 St James's Square"),
        ("shipping_address.city", "London"),
        ("shipping_address.postal_code", "SW1Y 4JH"),
        ("shipping_address.country", "GB"),
        ("shipping_method", "standard"),
        ("payment.method", "card"),
    ];
    let mut fields = address.to_vec();
    fields.push(("payment.token", ""));
    let refused = post_form(&client, server.url("/checkout"), &fields).await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("<p class=\"error\" id=\"card-element-error\" role=\"alert\">"),
        "the token's error beside the card fields: {page}"
    );
    assert!(page.contains("href=\"#card-element\""), "{page}");
    // A raw card (a hand-made form) is refused with a real provider.
    let mut fields = address.to_vec();
    fields.extend([
        ("payment.card.number", "4242424242424242"),
        ("payment.card.exp_month", "12"),
        ("payment.card.exp_year", "2030"),
        ("payment.card.cvc", "123"),
        ("payment.card.holder", "Ada Lovelace"),
    ]);
    let refused = post_form(&client, server.url("/checkout"), &fields).await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("<li>Card: card numbers are not accepted here"),
        "{page}"
    );

    let logs = server.logs();
    assert!(logs.contains("serving"), "{logs}");
    assert!(
        !logs.contains("4242424242424242"),
        "no card number in the logs"
    );
    for secret in ["never_in_logs_1", "never_in_logs_2"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

/// A `Stripe-Signature` header for `body` under `secret`, signed now.
fn stripe_signature(secret: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{now}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={now},v1={hex}")
}

#[tokio::test]
async fn stripe_webhooks_are_checked_with_the_secret_from_the_environment() {
    let (url, dir) = sqlite_url();
    let config = write_config(
        &dir,
        "[payments]\nprovider = \"stripe\"\napi_base = \"http://127.0.0.1:9\"\n",
    );
    let secret = "whsec_from_the_environment";
    let env = [
        ("ORDERS_STRIPE_SECRET_KEY", "sk_test_webhooks"),
        ("ORDERS_STRIPE_WEBHOOK_SECRET", secret),
        ("ORDERS_STRIPE_PUBLISHABLE_KEY", "pk_test_webhooks"),
    ];
    let server = Server::start_limited(&url, &["--config", &config], &env, None);
    // An event about no payment of the shop: verified, then ignored.
    let body = json!({
        "id": "evt_orders_1", "object": "event", "type": "customer.created",
        "created": 1_700_000_000, "data": {"object": {"id": "cus_1", "object": "customer"}}
    })
    .to_string();
    let post = |signature: String| {
        server
            .client
            .post(server.url("/api/payments/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body.clone())
            .send()
    };
    let signed = post(stripe_signature(secret, &body)).await.unwrap();
    assert!(signed.status().is_success(), "{}", signed.status());
    let forged = post(stripe_signature("whsec_someone_else", &body))
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    // The test gateway's route is not this server's provider.
    let (status, _) = server
        .call("POST", "/api/payments/webhooks/test", None, Some(json!({})))
        .await;
    assert_eq!(status, 404);
}

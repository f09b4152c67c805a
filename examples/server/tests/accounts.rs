//! Password resets and the account page through the real binary, its
//! pages and a real SMTP server (aiosmtpd): a reset link works once, for a
//! limited time, only as sent (expired, reused and forged tokens are
//! refused and change nothing), signs the account out everywhere; an
//! unknown email gets the same answer and no mail; the account page
//! changes the email (unique in any case) and the password (other
//! sessions revoked), each error beside its field.

mod accounts_support;
mod common;

use accounts_support::{Shop, api_login, browser, fresh_email, register, submit, token_of};
use sha2::{Digest, Sha256};
use sqlx::Row;

const OLD: &str = "old password 1";
const NEW: &str = "new password 2";

/// The page section of the answer to a reset request, without the CSRF
/// token (which differs per page).
fn answer_of(page: &str) -> String {
    let start = page.find("<main").expect("main");
    let end = page.find("</main>").expect("main end");
    page[start..end].to_owned()
}

async fn ask_reset(shop: &Shop, email: &str) -> (u16, String) {
    let client = browser();
    let (status, body, _) = submit(
        &client,
        &shop.server,
        "/password/forgot",
        "/password/forgot",
        &[("email", email)],
    )
    .await;
    (status, body)
}

/// Posts the reset form (its CSRF token from the forgot page, as a dead
/// link's page has no form).
async fn reset_with(shop: &Shop, token: &str, password: &str) -> (u16, String, Option<String>) {
    let client = browser();
    submit(
        &client,
        &shop.server,
        "/password/forgot",
        "/password/reset",
        &[("token", token), ("password", password)],
    )
    .await
}

async fn signed_in_as(client: &reqwest::Client, shop: &Shop) -> Option<String> {
    let page = client
        .get(shop.server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // `<bdi id="whoami" ...>EMAIL</bdi>`, whatever attributes it carries.
    page.find("id=\"whoami\"").map(|at| {
        let rest = &page[at..];
        let rest = &rest[rest.find('>').unwrap() + 1..];
        rest[..rest.find('<').unwrap()].to_owned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_sets_the_password_once_and_signs_out_everywhere() {
    let Some(shop) = Shop::start() else { return };
    let email = fresh_email("reset");
    let page_session = register(&shop.server, &email, OLD).await;
    let (status, body) = api_login(&shop.server, &email, OLD).await;
    assert_eq!(status, 200, "{body}");
    let api_token = body["token"].as_str().unwrap().to_owned();

    let (status, page) = ask_reset(&shop, &email.to_uppercase()).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"reset-sent\""), "{page}");
    let link = shop.reset_link(&email, 1).await;
    assert!(
        link.starts_with(&shop.server.url("/password/reset?token=")),
        "a link to this shop: {link}"
    );
    let token = token_of(&link);
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "256 random bits: {token}"
    );
    // Only its SHA-256 hash is stored, with an expiry about 30 minutes on.
    let pool = sqlx::SqlitePool::connect(&shop.database_url).await.unwrap();
    let rows = sqlx::query("SELECT hash, expires_at - created_at FROM password_resets")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].get(0);
    let expected: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored, expected);
    assert_eq!(rows[0].get::<i64, _>(1), 30 * 60 * 1000);

    // The link opens the form; a short password is refused beside its field.
    let form = reqwest::get(&link).await.unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["referrer-policy"], "no-referrer");
    let form = form.text().await.unwrap();
    assert!(form.contains("id=\"reset\""), "{form}");
    let (status, page, _) = reset_with(&shop, &token, "short").await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"error-password\""), "{page}");
    assert_eq!(
        api_login(&shop.server, &email, OLD).await.0,
        200,
        "nothing changed"
    );

    let (status, _, location) = reset_with(&shop, &token, NEW).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/password/reset/done"));
    // Every session is gone: the API token and the page cookie.
    let (status, _) = shop
        .server
        .call("GET", "/api/orders", Some(&api_token), None)
        .await;
    assert_eq!(status, 401, "the API token was revoked");
    assert_eq!(signed_in_as(&page_session, &shop).await, None);
    // The old password is refused, the new one works.
    assert_eq!(api_login(&shop.server, &email, OLD).await.0, 401);
    assert_eq!(api_login(&shop.server, &email, NEW).await.0, 200);
    // The link worked once.
    let again = reqwest::get(&link).await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("id=\"reset-dead\""));
    let (status, page, _) = reset_with(&shop, &token, "another password 3").await;
    assert_eq!(status, 410, "{page}");
    assert_eq!(api_login(&shop.server, &email, NEW).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_email_gets_the_same_answer_and_no_mail() {
    let Some(shop) = Shop::start() else { return };
    let known = fresh_email("known");
    register(&shop.server, &known, OLD).await;
    let unknown = fresh_email("nobody");
    let (status_unknown, page_unknown) = ask_reset(&shop, &unknown).await;
    let (status_known, page_known) = ask_reset(&shop, &known).await;
    assert_eq!((status_unknown, status_known), (200, 200));
    assert_eq!(
        answer_of(&page_unknown).replace(&unknown, "EMAIL"),
        answer_of(&page_known).replace(&known, "EMAIL"),
        "one answer for both"
    );
    shop.wait_for(&known, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        shop.messages_to(&unknown).is_empty(),
        "no mail to an unknown address"
    );
    assert_eq!(shop.messages().len(), 1);
    // Not an address: an error beside the field, no mail.
    let (status, page) = ask_reset(&shop, "not an email").await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"error-email\""), "{page}");
    // Without the form's CSRF token: refused before anything.
    let response = common::pages::post_form(
        &browser(),
        shop.server.url("/password/forgot"),
        &[("email", known.as_str())],
    )
    .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_forged_and_superseded_tokens_are_refused() {
    let Some(shop) = Shop::start() else { return };
    let email = fresh_email("expiry");
    register(&shop.server, &email, OLD).await;
    // A token of the right shape that was never sent.
    let forged = "ab".repeat(32);
    assert_eq!(
        reqwest::get(shop.server.url(&format!("/password/reset?token={forged}")))
            .await
            .unwrap()
            .status(),
        410
    );
    for token in [forged.as_str(), "", "not-a-token", "' OR 1=1 --"] {
        let (status, _, _) = reset_with(&shop, token, NEW).await;
        assert_eq!(status, 410, "{token:?}");
    }
    // A newer link voids the older one.
    ask_reset(&shop, &email).await;
    let first = token_of(&shop.reset_link(&email, 1).await);
    ask_reset(&shop, &email).await;
    let second = token_of(&shop.reset_link(&email, 2).await);
    assert_ne!(first, second);
    let (status, _, _) = reset_with(&shop, &first, NEW).await;
    assert_eq!(status, 410, "the older link was voided");
    // The newer one, past its expiry, is refused too.
    let pool = sqlx::SqlitePool::connect(&shop.database_url).await.unwrap();
    sqlx::query("UPDATE password_resets SET expires_at = created_at - 1")
        .execute(&pool)
        .await
        .unwrap();
    let (status, _, _) = reset_with(&shop, &second, NEW).await;
    assert_eq!(status, 410, "expired");
    assert_eq!(
        api_login(&shop.server, &email, OLD).await.0,
        200,
        "nothing changed"
    );
    assert_eq!(api_login(&shop.server, &email, NEW).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mails_are_limited_per_account() {
    let Some(shop) = Shop::start() else { return };
    let email = fresh_email("limit");
    register(&shop.server, &email, OLD).await;
    for _ in 0..4 {
        let (status, page) = ask_reset(&shop, &email).await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"reset-sent\""));
    }
    shop.wait_for(&email, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(shop.messages_to(&email).len(), 3, "three mails an hour");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_changes_email_and_password() {
    let Some(shop) = Shop::start() else { return };
    let server = &shop.server;
    let email = fresh_email("acct");
    let taken = fresh_email("taken");
    register(server, &taken, OLD).await;
    let client = register(server, &email, OLD).await;
    let (_, body) = api_login(server, &email, OLD).await;
    let other_session = body["token"].as_str().unwrap().to_owned();

    let page = client.get(server.url("/account")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&email));
    // Signed out: to the sign-in page.
    let away = browser().get(server.url("/account")).send().await.unwrap();
    assert_eq!(away.status(), 303);

    // Email: taken in another case, wrong password, not an address.
    let (status, page, _) = submit(
        &client,
        server,
        "/account",
        "/account/email",
        &[("email", &taken.to_uppercase()), ("current_password", OLD)],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"error-new-email\""), "{page}");
    assert!(page.contains("already registered"));
    assert!(page.contains(&taken.to_uppercase()), "the value is kept");
    let new_email = fresh_email("moved");
    let (status, page, _) = submit(
        &client,
        server,
        "/account",
        "/account/email",
        &[
            ("email", &new_email),
            ("current_password", "wrong password"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("id=\"error-email-current-password\""),
        "{page}"
    );
    let (status, _, location) = submit(
        &client,
        server,
        "/account",
        "/account/email",
        &[
            ("email", &new_email.to_uppercase()),
            ("current_password", OLD),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/account?changed=email"))
    );
    assert_eq!(
        signed_in_as(&client, &shop).await.as_deref(),
        Some(new_email.as_str())
    );
    assert_eq!(api_login(server, &email, OLD).await.0, 401);
    assert_eq!(api_login(server, &new_email, OLD).await.0, 200);

    // Password: wrong current one, too short a new one, then right.
    let (status, page, _) = submit(
        &client,
        server,
        "/account",
        "/account/password",
        &[
            ("current_password", "wrong password"),
            ("new_password", "x"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"error-current-password\""), "{page}");
    assert!(page.contains("id=\"error-new-password\""), "{page}");
    let (status, _, location) = submit(
        &client,
        server,
        "/account",
        "/account/password",
        &[("current_password", OLD), ("new_password", NEW)],
    )
    .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/account?changed=password"))
    );
    // This session stays, the others are revoked.
    assert_eq!(
        signed_in_as(&client, &shop).await.as_deref(),
        Some(new_email.as_str())
    );
    let (status, _) = server
        .call("GET", "/api/orders", Some(&other_session), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(api_login(server, &new_email, OLD).await.0, 401);
    assert_eq!(api_login(server, &new_email, NEW).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storefront_order_is_mailed_when_placed_and_when_cancelled() {
    let Some(shop) = Shop::start() else { return };
    let server = &shop.server;
    let email = fresh_email("buyer");
    let client = register(server, &email, OLD).await;
    // A demo product, added through its page's form.
    let (_, products) = server.call("GET", "/api/products", None, None).await;
    let product = products["items"][0]["id"].as_str().unwrap().to_owned();
    let page = format!("/products/{product}");
    let (status, _, _) = submit(
        &client,
        server,
        &page,
        "/cart/items",
        &[("product_id", product.as_str()), ("quantity", "1")],
    )
    .await;
    assert_eq!(status, 303);
    let form = client
        .get(server.url("/checkout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = common::hidden(&form, "idempotency_key");
    let (status, body, location) = submit(
        &client,
        server,
        "/checkout",
        "/checkout",
        &[
            ("idempotency_key", key.as_str()),
            ("email", email.as_str()),
            ("shipping_address.full_name", "Ada Lovelace"),
            ("shipping_address.line1", "12 St James's Square"),
            ("shipping_address.city", "London"),
            ("shipping_address.postal_code", "SW1Y 4JH"),
            ("shipping_address.country", "GB"),
            ("shipping_method", "standard"),
            ("payment.method", "cash_on_delivery"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let order_path = location.unwrap();
    let id = order_path
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let confirmed = shop.wait_for(&email, 1).await;
    let subject = confirmed[0]["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Order ") && subject.ends_with(" confirmed"),
        "{subject}"
    );
    // The customer cancels from the order page's form: a second mail.
    let (status, _, _) = submit(
        &client,
        server,
        &order_path,
        &format!("/orders/{id}/cancel"),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    let both = shop.wait_for(&email, 2).await;
    assert!(
        both.iter()
            .any(|m| m["subject"].as_str().unwrap().ends_with("cancelled")),
        "{both:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_account_changes_work_on_postgres() {
    let Some(shop) = Shop::start_postgres() else {
        return;
    };
    let server = &shop.server;
    let email = fresh_email("pg");
    let client = register(server, &email, OLD).await;
    ask_reset(&shop, &email).await;
    let first = token_of(&shop.reset_link(&email, 1).await);
    ask_reset(&shop, &email).await;
    let token = token_of(&shop.reset_link(&email, 2).await);
    assert_eq!(reset_with(&shop, &first, NEW).await.0, 410, "voided");
    assert_eq!(reset_with(&shop, &token, NEW).await.0, 303);
    assert_eq!(
        reset_with(&shop, &token, "third password 3").await.0,
        410,
        "used"
    );
    assert_eq!(signed_in_as(&client, &shop).await, None, "signed out");
    assert_eq!(api_login(server, &email, OLD).await.0, 401);
    assert_eq!(api_login(server, &email, NEW).await.0, 200);
    // The account page: a taken email in another case, then a free one.
    let taken = fresh_email("pgtaken");
    register(server, &taken, OLD).await;
    let client = register(server, &fresh_email("pgmover"), OLD).await;
    let (status, page, _) = submit(
        &client,
        server,
        "/account",
        "/account/email",
        &[("email", &taken.to_uppercase()), ("current_password", OLD)],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("already registered"));
    let moved = fresh_email("pgmoved");
    let (status, _, _) = submit(
        &client,
        server,
        "/account",
        "/account/password",
        &[("current_password", OLD), ("new_password", NEW)],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, _) = submit(
        &client,
        server,
        "/account",
        "/account/email",
        &[("email", &moved), ("current_password", NEW)],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(api_login(server, &moved, NEW).await.0, 200);
}

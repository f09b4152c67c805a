//! The panel's email page (feature `admin`) over a real socket, signed in
//! as staff with the session and CSRF cookies kept by hand: pending mails
//! with recipient, message, attempts, last error and next attempt; dead
//! ones with a retry (only with the form's CSRF token, only when dead);
//! and no page and no link when the host runs no mailer.
#![cfg(feature = "admin")]

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::ports::{Lease, MailError, MailStore, MailboxStore};
use orders_core::testkit;
use orders_core::webhook::{DeliveryStatus, RetryPolicy};
use reqwest::StatusCode;
mod panel;

use panel::*;

/// The panel on a free port, over `store`, with the email page or without.
async fn spawn(store: Arc<MemoryStore>, mails: bool) -> (SocketAddr, orders_core::Orders) {
    let (orders, _) = testkit::engine(store.clone());
    let addr = serve_panel(&orders, |admin| {
        if mails {
            admin.mails(store as Arc<dyn MailboxStore>)
        } else {
            admin
        }
    })
    .await;
    (addr, orders)
}

/// Places an order by a customer with `email`.
async fn place(orders: &orders_core::Orders, email: &str) {
    let product = testkit::product(orders, "4.00", 10).await;
    let who = CustomerId::generate();
    let cart = testkit::cart_with(orders, &who, &[(product.id(), 1)]).await;
    let mut form = testkit::form(None);
    form.email = Some(email.to_owned());
    orders.checkout(&who, &cart, form, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_see_pending_and_dead_emails_and_retry_the_dead() {
    let store = Arc::new(MemoryStore::new());
    let (addr, orders) = spawn(store.clone(), true).await;
    let mut browser = Browser::staff(addr).await;
    let empty = browser.get("/admin/emails").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(empty.body.contains("No emails waiting"));
    assert!(empty.body.contains("No dead emails"));
    assert!(empty.body.contains("aria-current=\"page\">Emails</a>"));

    // Two mails: one refused for good (dead), one that failed once.
    place(&orders, "ada@example.com").await;
    place(&orders, "bob@example.com").await;
    let now = Utc::now();
    while store.fan_out_mail(100, now).await.unwrap() > 0 {}
    let lease = Lease {
        token: "t".into(),
        until: now + chrono::Duration::minutes(1),
    };
    let claimed = store.claim_mails(now, &lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let policy = RetryPolicy::default();
    let refused = Err(MailError::Permanent("550 no such user".into()));
    let dead = claimed[0].mail.after_attempt(&refused, now, &policy);
    let busy = Err(MailError::Retryable("421 try later".into()));
    let waiting = claimed[1].mail.after_attempt(&busy, now, &policy);
    store.record_mail_attempt(&dead, "t").await.unwrap();
    store.record_mail_attempt(&waiting, "t").await.unwrap();
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(waiting.status, DeliveryStatus::Pending);

    let page = browser.get("/admin/emails").await;
    assert_eq!(page.status, StatusCode::OK);
    let pending = between(&page.body, "id=\"pending-mails\"", "</table>").unwrap();
    assert!(pending.contains(&format!("data-id=\"{}\"", waiting.id.as_str())));
    assert!(pending.contains("bob@example.com"), "{pending}");
    assert!(pending.contains("421 try later"));
    assert!(pending.contains(">placed<"), "the message: {pending}");
    assert!(!pending.contains("ada@example.com"));
    let listed_dead = between(&page.body, "id=\"dead-mails\"", "</table>").unwrap();
    assert!(listed_dead.contains(&format!("data-id=\"{}\"", dead.id.as_str())));
    assert!(listed_dead.contains("ada@example.com"));
    assert!(listed_dead.contains("550 no such user"));
    assert_eq!(page.body.matches("/retry\"").count(), 1, "dead ones only");

    // Without the form's token: refused, still dead.
    let retry = format!("/admin/emails/{}/retry", dead.id.as_str());
    let forged = browser.post(&retry, &[("csrf_token", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(store.dead_mails().await.unwrap(), 1);
    let retried = browser.submit("/admin/emails", &retry, &[]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    assert!(retried.location.starts_with("/admin/emails?retried="));
    assert_eq!(store.dead_mails().await.unwrap(), 0);
    assert_eq!(store.pending_mails().await.unwrap(), 2);
    let after = browser.get(&retried.location).await;
    assert!(after.body.contains("No dead emails"));
    assert!(after.body.contains("will be tried again"));
    let again = browser.submit("/admin/emails", &retry, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "only a dead one");
}

#[tokio::test]
async fn without_a_mailer_there_is_no_page_and_no_link() {
    let (addr, _) = spawn(Arc::new(MemoryStore::new()), false).await;
    let mut browser = Browser::staff(addr).await;
    assert_eq!(
        browser.get("/admin/emails").await.status,
        StatusCode::NOT_FOUND
    );
    let orders = browser.get("/admin/orders").await;
    assert_eq!(orders.status, StatusCode::OK);
    assert!(!orders.body.contains("/admin/emails"));
}

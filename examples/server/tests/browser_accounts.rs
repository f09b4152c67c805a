//! A password reset end to end in a real headless Chromium, against the
//! real `orders-server` binary whose `[mail]` goes to a real aiosmtpd:
//! 1. a customer registers and signs out;
//! 2. on the sign-in page, "Forgot password?" leads to the email form,
//!    which answers that a link was sent;
//! 3. the link is read from the message aiosmtpd received and opened; a
//!    new password is set;
//! 4. the old password is refused on the sign-in page, the new one signs
//!    in; the account page shows the account.
//!
//! Screenshots of the forgot, reset and account pages at desktop and phone
//! width (390×844) go under the target directory's `tmp/screenshots`.
//! Needs Chromium and ChromeDriver as `browser.rs` says, and aiosmtpd as
//! `mail.rs` says.

mod accounts_support;
mod browser_support;
mod common;

use accounts_support::{Shop, fresh_email};
use browser_support::{Driver, css, fill, screenshot, submit, text, until_text};
use fantoccini::Client;

const OLD: &str = "old password 1";
const NEW: &str = "new password 2";

/// Screenshots of the page at desktop width, then phone width (back to
/// desktop afterwards).
async fn both_widths(browser: &Client, name: &str) {
    screenshot(browser, &format!("{name}-desktop")).await;
    browser
        .set_window_size(390, 844)
        .await
        .expect("phone width");
    screenshot(browser, &format!("{name}-phone")).await;
    browser
        .set_window_size(1280, 1000)
        .await
        .expect("desktop width");
}

async fn sign_in(browser: &Client, shop: &Shop, email: &str, password: &str) {
    browser.goto(&shop.server.url("/login")).await.unwrap();
    fill(browser, "form#login", "email", email).await;
    fill(browser, "form#login", "password", password).await;
    submit(browser, "form#login").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_resets_a_forgotten_password_from_the_emailed_link() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let Some(shop) = Shop::start() else { return };
    let browser = driver.browser().await;
    let email = fresh_email("forgetful");

    browser.goto(&shop.server.url("/register")).await.unwrap();
    fill(&browser, "form#register", "email", &email).await;
    fill(&browser, "form#register", "password", OLD).await;
    submit(&browser, "form#register").await;
    assert_eq!(text(&browser, "#whoami").await, email);
    submit(&browser, "form#logout").await;

    // Sign-in page → "Forgot password?" → the email form.
    browser.goto(&shop.server.url("/login")).await.unwrap();
    css(&browser, "#forgot-password")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, "form#forgot").await;
    both_widths(&browser, "accounts-forgot").await;
    fill(&browser, "form#forgot", "email", &email).await;
    submit(&browser, "form#forgot").await;
    let sent = text(&browser, "#reset-sent").await;
    assert!(sent.contains("If an account exists"), "{sent}");
    both_widths(&browser, "accounts-forgot-sent").await;

    // The link from the mail.
    let link = shop.reset_link(&email, 1).await;
    browser.goto(&link).await.unwrap();
    css(&browser, "form#reset").await;
    // A short password first: refused beside the field, focus-free page.
    fill(&browser, "form#reset", "password", "short").await;
    submit(&browser, "form#reset").await;
    let error = text(&browser, "#error-password").await;
    assert!(error.contains("at least 8"), "{error}");
    both_widths(&browser, "accounts-reset").await;
    fill(&browser, "form#reset", "password", NEW).await;
    submit(&browser, "form#reset").await;
    until_text(&browser, "h1", |t| t == "Password changed").await;

    // The old password is refused; the new one signs in.
    sign_in(&browser, &shop, &email, OLD).await;
    let refused = text(&browser, "#form-errors").await;
    assert!(refused.contains("Wrong email or password"), "{refused}");
    sign_in(&browser, &shop, &email, NEW).await;
    assert_eq!(text(&browser, "#whoami").await, email);

    // The account page, from the header.
    css(&browser, "#nav-account").await.click().await.unwrap();
    assert_eq!(text(&browser, "#account-email").await, email);
    both_widths(&browser, "accounts-account").await;

    // The link worked once.
    browser.goto(&link).await.unwrap();
    css(&browser, "#reset-dead").await;
    browser.close().await.unwrap();
}

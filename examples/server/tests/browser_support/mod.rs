//! The headless-Chromium harness of the browser tests: ChromeDriver on a
//! free port, a browser per profile, and the waits and form helpers the
//! stories use.
#![allow(dead_code, unreachable_pub)]

pub mod localstripe;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the live parts of a page may take to show a change.
pub const LIVE: Duration = Duration::from_secs(5);

/// A ChromeDriver process on a free port; killed when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts ChromeDriver, or `None` (after saying why) when the browser
    /// is not installed and not required.
    pub async fn start() -> Option<Driver> {
        let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
        if !present {
            let required = std::env::var("ORDERS_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "ORDERS_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "browser tests skipped: {CHROMIUM} or {CHROMEDRIVER} is missing \
                 (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = reqwest::get(&status).await
                && response.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(driver)
    }

    /// A new browser (its own profile, so its own cookies).
    pub async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1000",
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

/// Where screenshots go: under the cargo target directory, never committed.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

pub async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

pub async fn css(browser: &Client, selector: &str) -> fantoccini::elements::Element {
    match browser
        .wait()
        .at_most(LIVE)
        .for_element(Locator::Css(selector))
        .await
    {
        Ok(element) => element,
        Err(e) => panic!("no element {selector} on {}: {e}", url(browser).await),
    }
}

pub async fn url(browser: &Client) -> String {
    browser
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default()
}

pub async fn text(browser: &Client, selector: &str) -> String {
    css(browser, selector)
        .await
        .text()
        .await
        .unwrap_or_default()
        .trim()
        .to_owned()
}

pub async fn value(browser: &Client, selector: &str) -> String {
    css(browser, selector)
        .await
        .prop("value")
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Replaces the value of the field named `name` in `form`.
pub async fn fill(browser: &Client, form: &str, name: &str, text: &str) {
    let field = css(browser, &format!("{form} [name='{name}']")).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

pub async fn choose(browser: &Client, form: &str, name: &str, value: &str) {
    css(browser, &format!("{form} [name='{name}'][value='{value}']"))
        .await
        .click()
        .await
        .expect("choose");
}

/// Submits `form` and waits (up to 10 s) for the page it leads to: the
/// page the click started on goes stale. Without the wait, a check that
/// something is absent can pass or fail on the old page.
pub async fn submit(browser: &Client, form: &str) {
    let old_page = browser.find(Locator::Css("html")).await.expect("a page");
    css(
        browser,
        &format!("{form} button[type='submit'], {form} input[type='submit']"),
    )
    .await
    .click()
    .await
    .expect("submit");
    let deadline = Instant::now() + Duration::from_secs(10);
    while old_page.tag_name().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "submitting {form} led to no new page within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the text of `selector` satisfies `ok`, without reloading.
pub async fn until_text(browser: &Client, selector: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + LIVE;
    loop {
        let found = match browser.find(Locator::Css(selector)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ok(found.trim()) {
            return found.trim().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{selector} still reads {found:?} on {}",
            url(browser).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The country field is a select or a text input.
pub async fn set_country(browser: &Client, code: &str) {
    let field = css(browser, "form#checkout [name='shipping_address.country']").await;
    let tag = field.tag_name().await.unwrap_or_default();
    if tag.eq_ignore_ascii_case("select") {
        field
            .select_by_value(code)
            .await
            .expect("select the country");
    } else {
        field.clear().await.expect("clear");
        field.send_keys(code).await.expect("type");
    }
}

pub async fn is_present(browser: &Client, selector: &str) -> bool {
    match browser.find(Locator::Css(selector)).await {
        Ok(element) => element
            .text()
            .await
            .is_ok_and(|text| !text.trim().is_empty()),
        Err(_) => false,
    }
}

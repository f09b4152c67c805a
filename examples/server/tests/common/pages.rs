//! The storefront's pages from a plain HTTP client: a cookie-keeping
//! customer, form posts, a configuration file.

use super::{Server, hidden};

/// Writes `text` as `shop.toml` in `dir`; returns its path.
pub fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("shop.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// POSTs `fields` as a form.
pub async fn post_form(
    client: &reqwest::Client,
    url: String,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Signs a fresh customer in through the storefront's cookie session and
/// returns a cookie-keeping client.
pub async fn page_customer(server: &Server) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(server.url("/register"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf_token");
    let email = format!("p{}@example.com", super::unique());
    let response = post_form(
        &client,
        server.url("/register"),
        &[
            ("csrf_token", csrf.as_str()),
            ("email", email.as_str()),
            ("password", "a long password"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303, "registered");
    client
}

//! The storefront's stylesheet and script, embedded in the binary and
//! served under a name that carries a hash of their content
//! (`/assets/storefront-1a2b3c4d5e6f.css`): a page always names the
//! version it was drawn with, so the files can be cached for a year and a
//! new build is picked up at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../../assets/storefront.css");
const JS: &str = include_str!("../../assets/storefront.js");
const PAYMENT_JS: &str = include_str!("../../assets/payment.js");
const CHECKOUT_JS: &str = include_str!("../../assets/checkout.js");

struct Asset {
    url: String,
    name: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let name = format!("{stem}-{hash}.{ext}");
    Asset {
        url: format!("/assets/{name}"),
        name,
        body,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 4]> = LazyLock::new(|| {
    [
        asset("storefront", "css", CSS, "text/css; charset=utf-8"),
        asset("storefront", "js", JS, "text/javascript; charset=utf-8"),
        asset(
            "payment",
            "js",
            PAYMENT_JS,
            "text/javascript; charset=utf-8",
        ),
        asset(
            "checkout",
            "js",
            CHECKOUT_JS,
            "text/javascript; charset=utf-8",
        ),
    ]
});

/// The stylesheet's URL.
pub(super) fn css_url() -> &'static str {
    &ASSETS[0].url
}

/// The script's URL.
pub(super) fn js_url() -> &'static str {
    &ASSETS[1].url
}

/// The payment script's URL (Stripe.js's card fields and 3-D Secure).
pub(super) fn payment_js_url() -> &'static str {
    &ASSETS[2].url
}

/// The checkout script's URL (the summary priced as the customer changes
/// the country or the shipping method).
pub(super) fn checkout_js_url() -> &'static str {
    &ASSETS[3].url
}

/// `GET /assets/{name}`: the current version of an asset, cached for a
/// year; any other name (an old hash included) is 404.
pub(super) async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            asset.body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such asset",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_content_hash() {
        assert!(css_url().starts_with("/assets/storefront-") && css_url().ends_with(".css"));
        assert!(js_url().ends_with(".js"));
        assert_ne!(css_url(), js_url());
        assert!(payment_js_url().starts_with("/assets/payment-"));
        let again = asset("storefront", "css", CSS, "text/css");
        assert_eq!(again.url, css_url(), "the same content, the same name");
    }
}

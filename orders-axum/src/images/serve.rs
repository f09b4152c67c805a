//! Serving the copies: `GET /{key}` with the headers of content that never
//! changes under its name.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orders_core::catalogue::BlobKey;
use orders_core::ports::ImageStore;

/// A year: what a name that always means the same bytes may be cached for.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The router that serves `store`'s copies at `/{key}`; nest it at
/// `/images` (the URLs the JSON product and the pages carry).
///
/// - `200` with the copy's `Content-Type`, `Cache-Control: public,
///   max-age=31536000, immutable` (a key names the same bytes forever),
///   a strong `ETag` (the key) and `X-Content-Type-Options: nosniff`;
/// - `304` when `If-None-Match` names that ETag (or is `*`);
/// - `404` for a name the core cannot have made or a copy not stored;
///   `503` when the store fails.
pub fn router(store: Arc<dyn ImageStore>) -> Router {
    Router::new().route("/{key}", get(serve)).with_state(store)
}

fn etag(key: &BlobKey) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{key}\"")).expect("a key is ASCII")
}

/// Whether `If-None-Match` names `tag` (weak or strong) or is `*`.
fn fresh(headers: &HeaderMap, tag: &HeaderValue) -> bool {
    let Some(tag) = tag.to_str().ok() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|item| item.trim())
        .any(|item| item == "*" || item.trim_start_matches("W/") == tag)
}

async fn serve(
    State(store): State<Arc<dyn ImageStore>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(key) = BlobKey::parse(&key) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let tag = etag(&key);
    let cache = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (header::ETAG, tag.clone()),
    ];
    if fresh(&headers, &tag) {
        // Only a stored copy has an ETag to match: check it exists.
        return match store.get(&key).await {
            Ok(Some(_)) => (StatusCode::NOT_MODIFIED, cache).into_response(),
            Ok(None) => StatusCode::NOT_FOUND.into_response(),
            Err(error) => unavailable(&error),
        };
    }
    match store.get(&key).await {
        Ok(Some(bytes)) => (
            cache,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(key.content_type()),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => unavailable(&error),
    }
}

fn unavailable(error: &orders_core::ports::ImageStoreError) -> Response {
    tracing::error!(%error, "image store failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = HeaderValue::from_static("\"abc\"");
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            fresh(&headers, &tag)
        };
        assert!(with("\"abc\""));
        assert!(with("\"x\", W/\"abc\""));
        assert!(with("*"));
        assert!(!with("\"abcd\""));
        assert!(!fresh(&HeaderMap::new(), &tag));
    }
}

//! The panel's stylesheet and script, compiled in and served under names
//! that carry a hash of their content, so a browser may cache them for a
//! year and still never sees a stale one after an upgrade.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::PanelState;
use super::error::PageError;

const CSS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/admin/admin.css"
));
const JS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/admin/admin.js"
));

/// The hashed file names.
pub(crate) struct Assets {
    pub(crate) css: String,
    pub(crate) js: String,
}

fn hashed(stem: &str, ext: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{stem}-{short}.{ext}")
}

impl Assets {
    pub(crate) fn new() -> Self {
        Self {
            css: hashed("admin", "css", CSS),
            js: hashed("admin", "js", JS),
        }
    }
}

/// `GET /assets/{file}`: the current file under its hashed name, else 404.
pub(crate) async fn serve(
    State(state): State<PanelState>,
    Path(file): Path<String>,
) -> Result<Response, PageError> {
    let (body, kind) = if file == state.assets.css {
        (CSS, "text/css; charset=utf-8")
    } else if file == state.assets.js {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return Err(PageError::not_found());
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}

//! A product's picture, uploaded on its page (feature `images`):
//! `POST /products/{id}/image`, a `multipart/form-data` form of a CSRF
//! token, then the file.
//!
//! The token is the form's first part and is checked before the file is
//! read, as every form of the panel is; then only staff get on. The file
//! is read up to [`MAX_UPLOAD_BYTES`] and no further, its format sniffed
//! from its bytes and its dimensions checked before decoding
//! ([`crate::images::prepare`], on a blocking thread, two at a time), and
//! the copies stored before the product names them, so a page never links
//! to a copy that is not there. The same picture uploaded again (for this
//! product or another) has the same key, and its copies are kept once.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::catalogue::{ProductEdit, ProductPatch};

use super::PanelState;
use super::error::PageError;
use super::products::{edit_values, form_page, product_id};
use super::session::Staff;
use crate::ApiError;
use crate::images::{MAX_UPLOAD_BYTES, UploadError, prepare};
use crate::web::CSRF_FIELD;

/// The most bytes an upload request may carry: the file and the form
/// around it.
pub(crate) const UPLOAD_BODY_LIMIT: usize = MAX_UPLOAD_BYTES + 64 * 1024;

/// The form field of the file.
const FILE_FIELD: &str = "image";

fn unreadable() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Upload not understood",
        Some("The upload was not a multipart form with a file; nothing was changed.".into()),
    )
}

fn too_large() -> UploadError {
    UploadError::TooLarge
}

/// `POST /products/{id}/image`: `csrf_token`, then `image` (the file).
pub(crate) async fn upload(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (parts, body) = request.into_parts();
    let mut multipart = Multipart::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .ok();
    // The token first: nothing of the file is read for a forged form (and
    // a body that is no multipart form carries no token).
    let token = match multipart.as_mut() {
        Some(multipart) => match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some(CSRF_FIELD) => {
                field.text().await.unwrap_or_default()
            }
            _ => String::new(),
        },
        None => String::new(),
    };
    if !state.csrf.verify(&parts.headers, &token) {
        return Err(PageError::csrf());
    }
    let staff = Staff::of(&state, &parts).await?;
    let (Some(store), Some(mut multipart)) = (state.images.clone(), multipart) else {
        return Err(match state.images {
            None => PageError::not_found(),
            Some(_) => unreadable(),
        });
    };
    let product = state.orders.product(&product_id(&id)?).await?;

    let file = read_file(&mut multipart).await;
    let prepared = match file {
        Ok(bytes) => {
            let _slot = state.image_slots.acquire().await;
            tokio::task::spawn_blocking(move || prepare(&bytes))
                .await
                .map_err(|e| {
                    PageError::from(ApiError::internal(format!("image preparation: {e}")))
                })?
        }
        Err(error) => Err(error),
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            let status = match error {
                UploadError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            return Ok(form_page(
                &state,
                &staff,
                status,
                edit_values(&product),
                Some(&product),
                Some(format!("The image {error}. The product keeps its picture.")),
                None,
            ));
        }
    };
    for (key, bytes) in prepared.blobs {
        store
            .put(&key, bytes)
            .await
            .map_err(|e| PageError::from(ApiError::unavailable().with_internal(e.to_string())))?;
    }
    let edit = ProductEdit::from(ProductPatch {
        image: Some(Some(prepared.image)),
        ..ProductPatch::default()
    });
    state.orders.update_product(product.id(), edit).await?;
    let to = state.url(&format!("/products/{}?saved=image", product.id().as_str()));
    Ok(Redirect::to(&to).into_response())
}

/// The file part's bytes, up to [`MAX_UPLOAD_BYTES`].
async fn read_file(multipart: &mut Multipart) -> Result<Vec<u8>, UploadError> {
    let limit_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            UploadError::Empty
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(limit_error)? {
        if field.name() != Some(FILE_FIELD) {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(limit_error)? {
            if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(UploadError::Empty)
}

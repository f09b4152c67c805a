//! The one place errors become pages.
//!
//! A handler returns a [`PageError`]: built from the core's error through
//! the JSON API's own mapping ([`ApiError`]'s `From<orders_core::Error>`),
//! so a status means the same on both surfaces. Its `IntoResponse` only
//! attaches it to an empty response; [`render_errors`], a middleware with
//! the panel's state, turns it into the HTML page (with the stylesheet, and
//! `Retry-After` on a 503). Internal details are logged, never shown.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::validation::ValidationErrors;

use super::PanelState;
use super::views::{self, Layout};
use crate::{ApiError, IdentifyError};

/// Seconds to wait before retrying when the store is down.
const RETRY_AFTER_SECONDS: u32 = 5;

/// What a page could not do.
#[derive(Debug, Clone)]
pub(crate) enum PageError {
    /// Nobody is signed in: 303 to the sign-in page.
    SignIn,
    /// An error page.
    Page {
        status: StatusCode,
        title: String,
        detail: Option<String>,
    },
}

impl PageError {
    pub(crate) fn new(status: StatusCode, title: &str, detail: Option<String>) -> Self {
        Self::Page {
            status,
            title: title.to_owned(),
            detail,
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            Some("There is nothing at this address.".to_owned()),
        )
    }

    pub(crate) fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Staff only",
            Some("This account may not use the admin panel. Sign in with a staff account.".into()),
        )
    }

    pub(crate) fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Form expired or forged",
            Some("The form's security token is missing or wrong; nothing was changed. Reload the page and try again.".into()),
        )
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Page { status, .. } => *status,
        }
    }

    /// Bad query parameters (a status that does not exist, a bad cursor).
    pub(crate) fn invalid(errors: &ValidationErrors) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request",
            Some(errors.to_string()),
        )
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        let status = error.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), code = error.code(), error = ?error, "page failed");
        }
        let json = error.to_json();
        let title = json["title"].as_str().unwrap_or("Error").to_owned();
        let detail = match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                Some("The database is not answering. Try again in a few seconds.".to_owned())
            }
            s if s.is_server_error() => None,
            _ => json["detail"].as_str().map(str::to_owned),
        };
        Self::Page {
            status,
            title,
            detail,
        }
    }
}

impl From<orders_core::Error> for PageError {
    fn from(error: orders_core::Error) -> Self {
        ApiError::from(error).into()
    }
}

impl From<IdentifyError> for PageError {
    fn from(error: IdentifyError) -> Self {
        ApiError::from(error).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders the [`PageError`] a handler answered with as a page.
pub(crate) async fn render_errors(
    State(state): State<PanelState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers().clone();
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<PageError>().cloned() else {
        return response;
    };
    match error {
        PageError::SignIn => Redirect::to(&state.url("/login")).into_response(),
        PageError::Page {
            status,
            title,
            detail,
        } => {
            let (layout, cookie) = Layout::new(&state, &headers, None, "");
            let page = views::ErrorPage {
                layout,
                status: status.as_u16(),
                title,
                detail,
            };
            let mut response = views::render(status, &page, cookie);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            response
        }
    }
}

/// Unknown paths under the panel.
pub(crate) async fn fallback() -> PageError {
    PageError::not_found()
}

/// A known path with the wrong method (a GET of a form's action, say).
pub(crate) async fn method_not_allowed() -> PageError {
    PageError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        Some("This address does not answer that kind of request.".to_owned()),
    )
}

/// A form's submission the core refused, shown on the form again.
#[derive(Debug, Clone)]
pub(crate) struct FormFailure {
    pub(crate) status: StatusCode,
    /// Errors that belong to fields.
    pub(crate) errors: ValidationErrors,
    /// An error of the whole form (an invalid transition, say).
    pub(crate) message: Option<String>,
}

impl FormFailure {
    /// Field errors found before the core was asked.
    pub(crate) fn fields(errors: ValidationErrors) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            errors,
            message: None,
        }
    }
}

/// How a form shows a core error: on its fields (validation, a duplicate
/// SKU or code, a missing tracking number) or above them (a conflict);
/// what is not about the form (not found, the store down) is an error page.
pub(crate) fn on_form(error: orders_core::Error) -> Result<FormFailure, PageError> {
    let fields = match &error {
        orders_core::Error::Duplicate(what) => Some(ValidationErrors::single(
            *what,
            format!("this {what} is already taken"),
        )),
        other => other.field_errors(),
    };
    let api = ApiError::from(error);
    let status = api.status();
    if status.is_server_error()
        || matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        )
    {
        return Err(api.into());
    }
    let message = match &fields {
        Some(_) => None,
        None => {
            let json = api.to_json();
            json["detail"]
                .as_str()
                .or(json["title"].as_str())
                .map(str::to_owned)
        }
    };
    Ok(FormFailure {
        status,
        errors: fields.unwrap_or_default(),
        message,
    })
}

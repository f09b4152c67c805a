//! Who is at the keyboard: the request and its session cookie's token,
//! resolved by the host's `Identify::identify_request` (as the API does);
//! only staff get past [`Staff`]. Signing in and out
//! goes through the host's `SignIn`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::validation::ValidationErrors;

use super::PanelState;
use super::error::PageError;
use super::form::{Form, FormState};
use super::views::{self, Layout, LoginPage};
use crate::Caller;
use crate::web::SignInOutcome;
use crate::web::session::{self, is_tls, sign_in_cookie, sign_out_cookie};

/// A signed-in staff member, and the layout of the page they asked for.
/// Anonymous (or an expired token): 303 to the sign-in page. Not staff: 403.
pub(crate) struct Staff {
    pub(crate) caller: Caller,
    pub(crate) headers: HeaderMap,
}

impl Staff {
    /// The page layout for this staff member (`nav`: the current section),
    /// and the CSRF cookie to send with it, if the browser has none yet.
    pub(crate) fn layout(
        &self,
        state: &PanelState,
        nav: &'static str,
    ) -> (Layout, Option<HeaderValue>) {
        Layout::new(state, &self.headers, Some(&self.caller), nav)
    }
}

/// The staff member behind a request: the host's
/// [`Identify::identify_request`](crate::Identify::identify_request) with
/// its parts and its session cookie's token (if any), as the API asks, so
/// a host with sessions of its own (its own cookie, a header) is asked
/// the same way on both surfaces.
async fn staff(state: &PanelState, parts: &Parts) -> Result<Caller, PageError> {
    let token = session::token(&parts.headers);
    match state.identify.identify_request(parts, token).await? {
        None => Err(PageError::SignIn),
        Some(caller) if caller.is_staff => Ok(caller),
        Some(_) => Err(PageError::forbidden()),
    }
}

impl FromRequestParts<PanelState> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &PanelState) -> Result<Self, PageError> {
        Staff::of(state, parts).await
    }
}

impl Staff {
    /// The staff member signed in on a request with `parts` (a form's,
    /// once its CSRF token is checked), or the page that says why not.
    pub(crate) async fn of(state: &PanelState, parts: &Parts) -> Result<Self, PageError> {
        Ok(Self {
            caller: staff(state, parts).await?,
            headers: parts.headers.clone(),
        })
    }
}

fn login_response(
    state: &PanelState,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    message: Option<&str>,
) -> Response {
    let (layout, cookie) = Layout::new(state, headers, None, "login");
    let page = LoginPage {
        layout,
        form: FormState::with_values([("email", email.to_owned())]),
        message: message.map(str::to_owned),
    };
    views::render(status, &page, cookie)
}

/// `GET /login`: the form; staff already signed in go to the orders.
pub(crate) async fn login_page(
    State(state): State<PanelState>,
    parts: Parts,
) -> Result<Response, PageError> {
    let headers = &parts.headers;
    match staff(&state, &parts).await {
        Ok(_) => Ok(Redirect::to(&state.url("/")).into_response()),
        Err(PageError::SignIn)
        | Err(PageError::Page {
            status: StatusCode::FORBIDDEN,
            ..
        }) => Ok(login_response(&state, headers, StatusCode::OK, "", None)),
        Err(other) => Err(other),
    }
}

/// `POST /login`: `email`, `password`. Staff get the session cookie and go
/// to the orders; anyone else stays on the form with a message, and no
/// session is left open for them.
pub(crate) async fn login(
    State(state): State<PanelState>,
    form: Form,
) -> Result<Response, PageError> {
    let email = form.get("email").trim().to_owned();
    let password = form.get("password");
    if email.is_empty() || password.is_empty() {
        let mut errors = ValidationErrors::new();
        if email.is_empty() {
            errors.add("email", "required");
        }
        if password.is_empty() {
            errors.add("password", "required");
        }
        let (layout, cookie) = Layout::new(&state, &form.parts.headers, None, "login");
        let page = LoginPage {
            layout,
            form: FormState::new(form.values(), errors),
            message: None,
        };
        return Ok(views::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page,
            cookie,
        ));
    }
    let outcome = state.sign_in.sign_in(&email, password, form.peer).await?;
    let refuse = |status, message: &str| {
        Ok(login_response(
            &state,
            &form.parts.headers,
            status,
            &email,
            Some(message),
        ))
    };
    match outcome {
        SignInOutcome::Session { token } => {
            // Who the session is, the host's Identify says, as on every
            // later request: only staff keep it.
            match state.identify.identify(&token).await {
                Ok(Some(caller)) if caller.is_staff => {
                    let mut response = Redirect::to(&state.url("/")).into_response();
                    response.headers_mut().append(
                        header::SET_COOKIE,
                        sign_in_cookie(&token, is_tls(&form.parts.headers)),
                    );
                    Ok(response)
                }
                found => {
                    // Not staff (or unknown, or unanswered): close what
                    // was opened.
                    state.sign_in.sign_out(&token).await?;
                    found?;
                    refuse(
                        StatusCode::FORBIDDEN,
                        "This account is not a staff account and cannot use the admin panel.",
                    )
                }
            }
        }
        SignInOutcome::Refused => refuse(StatusCode::UNAUTHORIZED, "Wrong email or password."),
        SignInOutcome::Limited { retry_after_secs } => {
            let mut response = login_response(
                &state,
                &form.parts.headers,
                StatusCode::TOO_MANY_REQUESTS,
                &email,
                Some(&format!(
                    "Too many attempts. Try again in {retry_after_secs} seconds."
                )),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(response)
        }
    }
}

/// `POST /logout`: ends the host's session and deletes the cookie.
pub(crate) async fn logout(
    State(state): State<PanelState>,
    form: Form,
) -> Result<Response, PageError> {
    if let Some(token) = session::token(&form.parts.headers) {
        state.sign_in.sign_out(token).await?;
    }
    let mut response = Redirect::to(&state.url("/login")).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        sign_out_cookie(is_tls(&form.parts.headers)),
    );
    Ok(response)
}

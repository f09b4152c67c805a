//! "Forgot password?", the reset page a mailed link opens, and the account
//! page (change email, change password). The rules are the host's
//! [`Accounts`](crate::password_reset::Accounts); these handlers only
//! read the forms and draw the answers, with each error beside its field.
//!
//! Every form carries the CSRF token ([`Post`]). The reset page keeps the
//! token of its link in a hidden field and sends `Referrer-Policy:
//! no-referrer`, so the token does not leak to another site.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use orders_core::validation::ValidationErrors;
use serde::Deserialize;

use super::Storefront;
use super::request::{Post, Visit, see_other};
use super::templates::{Field, Layout};
use crate::accounts::User;
use crate::password_reset::{AccountError, Accounts};

/// The "Forgot password?" page.
#[derive(Template)]
#[template(path = "storefront/password_forgot.html")]
struct ForgotPage {
    layout: Layout,
    email: Field,
    form_error: Option<String>,
    /// After a request: the one answer every email gets.
    sent: bool,
    minutes: u32,
}

/// The page a reset link opens.
#[derive(Template)]
#[template(path = "storefront/password_reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    password: Field,
    form_error: Option<String>,
    /// The link is unknown, used or expired: no form, a way to ask again.
    dead: bool,
}

/// The account page.
#[derive(Template)]
#[template(path = "storefront/account.html")]
struct AccountPage {
    layout: Layout,
    current_email: String,
    flash: Option<String>,
    email_form_error: Option<String>,
    email: Field,
    email_password: Field,
    password_form_error: Option<String>,
    current_password: Field,
    new_password: Field,
}

/// A form field with `value` and its error from `errors` under `path`.
fn field(
    path: &'static str,
    id: &str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: String,
    errors: &ValidationErrors,
) -> Field {
    Field {
        path,
        id: format!("field-{id}"),
        error_id: format!("error-{id}"),
        label,
        kind,
        autocomplete,
        inputmode: "",
        required: true,
        value,
        error: errors.get(path).map(|m| m.join("; ")),
    }
}

fn accounts(shop: &Storefront) -> Option<&Accounts> {
    shop.inner.accounts.as_ref()
}

/// The page for a store or hashing failure.
fn unavailable(visit: &Visit, error: &AccountError) -> Response {
    tracing::warn!(%error, "storefront: account operation failed");
    visit.message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "That is not possible right now. Please try again in a moment.",
    )
}

fn forgot_page(
    visit: &Visit,
    email: String,
    errors: &ValidationErrors,
    minutes: u32,
) -> ForgotPage {
    ForgotPage {
        layout: visit.layout("Forgot your password?"),
        email: field("email", "email", "Email", "email", "email", email, errors),
        form_error: (!errors.is_empty()).then(|| "Please correct the field below.".to_owned()),
        sent: false,
        minutes,
    }
}

/// `GET /password/forgot`.
pub(super) async fn forgot(State(shop): State<Storefront>, visit: Visit) -> Response {
    let Some(accounts) = accounts(&shop) else {
        return visit.not_found();
    };
    let page = forgot_page(
        &visit,
        String::new(),
        &ValidationErrors::new(),
        accounts.reset_minutes(),
    );
    visit.render(StatusCode::OK, &page)
}

/// `POST /password/forgot` (`email`): the same answer for every address.
pub(super) async fn request_reset(
    State(shop): State<Storefront>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    post: Post,
) -> Response {
    let visit = &post.visit;
    let Some(accounts) = accounts(&shop) else {
        return visit.not_found();
    };
    let email = post.get("email").unwrap_or_default().to_owned();
    let minutes = accounts.reset_minutes();
    match accounts.request_reset(&email, Some(peer.ip())).await {
        Ok(()) => {
            let mut page = forgot_page(visit, email, &ValidationErrors::new(), minutes);
            page.sent = true;
            visit.render(StatusCode::OK, &page)
        }
        Err(AccountError::Invalid(errors)) => visit.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &forgot_page(visit, email, &errors, minutes),
        ),
        Err(AccountError::Limited(seconds)) => {
            let mut page = forgot_page(visit, email, &ValidationErrors::new(), minutes);
            page.form_error = Some(
                "Too many requests from your address. Please wait a while and try again."
                    .to_owned(),
            );
            let mut response = visit.render(StatusCode::TOO_MANY_REQUESTS, &page);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Err(error) => unavailable(visit, &error),
    }
}

/// `?token=` of the reset page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

fn reset_page(visit: &Visit, token: String, errors: &ValidationErrors, dead: bool) -> ResetPage {
    let mut form_error = errors.get("token").map(|m| m.join("; "));
    if form_error.is_none() && !errors.is_empty() {
        form_error = Some("Please correct the field below.".to_owned());
    }
    ResetPage {
        layout: visit.layout("Choose a new password"),
        token,
        password: field(
            "password",
            "password",
            "New password",
            "password",
            "new-password",
            String::new(),
            errors,
        ),
        form_error,
        dead,
    }
}

/// The reset page's answer: never cached, never a referrer.
fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /password/reset?token=…`.
pub(super) async fn reset(
    State(shop): State<Storefront>,
    visit: Visit,
    Query(query): Query<TokenQuery>,
) -> Response {
    let Some(accounts) = accounts(&shop) else {
        return visit.not_found();
    };
    let token = query.token.unwrap_or_default();
    let live = match accounts.reset_is_live(&token).await {
        Ok(live) => live,
        Err(error) => return unavailable(&visit, &error),
    };
    let (status, page) = if live {
        (
            StatusCode::OK,
            reset_page(&visit, token, &ValidationErrors::new(), false),
        )
    } else {
        (
            StatusCode::GONE,
            reset_page(&visit, String::new(), &ValidationErrors::new(), true),
        )
    };
    private(visit.render(status, &page))
}

/// `POST /password/reset` (`token`, `password`).
pub(super) async fn complete_reset(State(shop): State<Storefront>, post: Post) -> Response {
    let visit = &post.visit;
    let Some(accounts) = accounts(&shop) else {
        return visit.not_found();
    };
    let token = post.get("token").unwrap_or_default().to_owned();
    let password = post.get("password").unwrap_or_default().to_owned();
    match accounts.complete_reset(&token, password).await {
        Ok(_) => see_other("/password/reset/done"),
        Err(AccountError::Invalid(errors)) if errors.contains("token") => private(visit.render(
            StatusCode::GONE,
            &reset_page(visit, String::new(), &errors, true),
        )),
        Err(AccountError::Invalid(errors)) => private(visit.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &reset_page(visit, token, &errors, false),
        )),
        Err(error) => unavailable(visit, &error),
    }
}

/// `GET /password/reset/done`.
pub(super) async fn reset_done(visit: Visit) -> Response {
    visit.message(
        StatusCode::OK,
        "Password changed",
        "Your password was changed, and every device signed in to your account was signed out. \
         Sign in with your new password.",
    )
}

/// `?changed=` of the account page, after a change.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ChangedQuery {
    changed: Option<String>,
}

struct AccountForms {
    email: String,
    email_errors: ValidationErrors,
    password_errors: ValidationErrors,
}

fn account_page(visit: &Visit, user_email: &str, forms: AccountForms) -> AccountPage {
    let summary = |errors: &ValidationErrors| {
        (!errors.is_empty()).then(|| "Please correct the fields below.".to_owned())
    };
    let pw = |path, id, label, autocomplete, errors| {
        field(
            path,
            id,
            label,
            "password",
            autocomplete,
            String::new(),
            errors,
        )
    };
    AccountPage {
        layout: visit.layout("Your account"),
        current_email: user_email.to_owned(),
        flash: None,
        email_form_error: summary(&forms.email_errors),
        email: field(
            "email",
            "new-email",
            "New email",
            "email",
            "email",
            forms.email,
            &forms.email_errors,
        ),
        email_password: pw(
            "current_password",
            "email-current-password",
            "Current password",
            "current-password",
            &forms.email_errors,
        ),
        password_form_error: summary(&forms.password_errors),
        current_password: pw(
            "current_password",
            "current-password",
            "Current password",
            "current-password",
            &forms.password_errors,
        ),
        new_password: pw(
            "new_password",
            "new-password",
            "New password",
            "new-password",
            &forms.password_errors,
        ),
    }
}

fn blank() -> AccountForms {
    AccountForms {
        email: String::new(),
        email_errors: ValidationErrors::new(),
        password_errors: ValidationErrors::new(),
    }
}

/// `GET /account`.
pub(super) async fn account(
    State(shop): State<Storefront>,
    visit: Visit,
    Query(query): Query<ChangedQuery>,
) -> Response {
    if accounts(&shop).is_none() {
        return visit.not_found();
    }
    let caller = match visit.require() {
        Ok(caller) => caller,
        Err(to_login) => return to_login,
    };
    let mut page = account_page(&visit, &caller.email, blank());
    page.flash = match query.changed.as_deref() {
        Some("email") => Some("Your email was changed.".to_owned()),
        Some("password") => Some(
            "Your password was changed. Every other device signed in to your account was signed out."
                .to_owned(),
        ),
        _ => None,
    };
    visit.render(StatusCode::OK, &page)
}

/// The signed-in user of a POST, or the answer to send instead.
fn signed_in(post: &Post) -> Result<User, Response> {
    let caller = post.visit.require()?;
    Ok(User {
        id: caller.id.clone(),
        email: caller.email.clone(),
        is_staff: caller.is_staff,
    })
}

/// `POST /account/email` (`email`, `current_password`).
pub(super) async fn change_email(State(shop): State<Storefront>, post: Post) -> Response {
    let visit = &post.visit;
    let Some(accounts) = accounts(&shop) else {
        return visit.not_found();
    };
    let user = match signed_in(&post) {
        Ok(user) => user,
        Err(response) => return response,
    };
    let email = post.get("email").unwrap_or_default().to_owned();
    let current = post.get("current_password").unwrap_or_default().to_owned();
    match accounts.change_email(&user, &email, current).await {
        Ok(_) => see_other("/account?changed=email"),
        Err(AccountError::Invalid(errors)) => {
            let forms = AccountForms {
                email,
                email_errors: errors,
                ..blank()
            };
            visit.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &account_page(visit, &user.email, forms),
            )
        }
        Err(error) => unavailable(visit, &error),
    }
}

/// `POST /account/password` (`current_password`, `new_password`).
pub(super) async fn change_password(State(shop): State<Storefront>, post: Post) -> Response {
    let visit = &post.visit;
    let Some(accounts) = accounts(&shop) else {
        return visit.not_found();
    };
    let user = match signed_in(&post) {
        Ok(user) => user,
        Err(response) => return response,
    };
    let current = post.get("current_password").unwrap_or_default().to_owned();
    let new = post.get("new_password").unwrap_or_default().to_owned();
    match accounts
        .change_password(&user.id, visit.token.as_deref(), current, new)
        .await
    {
        Ok(()) => see_other("/account?changed=password"),
        Err(AccountError::Invalid(errors)) => {
            let forms = AccountForms {
                password_errors: errors,
                ..blank()
            };
            visit.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &account_page(visit, &user.email, forms),
            )
        }
        Err(error) => unavailable(visit, &error),
    }
}

//! Sign in, register and sign out. Sign-in goes through the host's
//! [`SignIn`](orders_axum::web::SignIn) (one rate limit with
//! `POST /api/auth/login`), registration through the host's own
//! [`Host::register`](crate::sign_in::Host::register), the rules of
//! `POST /api/auth/register`. Either claims the visitor's guest cart
//! ([`super::guests::after_sign_in`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use orders_axum::web::{SignInOutcome, session};
use serde::Deserialize;

use super::request::{Post, Visit, cart_cookie, safe_next, see_other, with_cookie};
use super::templates::AuthPage;
use super::{Storefront, guests};

/// `?next=` of the sign-in and register pages.
#[derive(Debug, Default, Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

fn auth_page(visit: &Visit, kind: &'static str, email: String, next: String) -> AuthPage {
    let (title, heading, button) = if kind == "login" {
        ("Sign in", "Sign in", "Sign in")
    } else {
        ("Create an account", "Create an account", "Create account")
    };
    AuthPage {
        layout: visit.layout(title),
        kind,
        heading,
        button,
        email,
        next,
        email_error: None,
        password_error: None,
        form_error: None,
    }
}

/// `GET /login`.
pub(super) async fn login_page(visit: Visit, Query(query): Query<NextQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    visit.render(
        StatusCode::OK,
        &auth_page(&visit, "login", String::new(), next),
    )
}

/// `GET /register`.
pub(super) async fn register_page(visit: Visit, Query(query): Query<NextQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    visit.render(
        StatusCode::OK,
        &auth_page(&visit, "register", String::new(), next),
    )
}

/// The answer that signs `token` in and goes on to `next`, the guest cart
/// claimed first (or the customer's open cart found again): when some of
/// its lines could not be merged, to the cart page that names them.
async fn signed_in(shop: &Storefront, visit: &Visit, token: &str, next: &str) -> Response {
    let cart = guests::after_sign_in(shop, visit, token).await;
    let to = cart.instead.as_deref().unwrap_or(next);
    let answer = with_cookie(see_other(to), session::sign_in_cookie(token, visit.secure));
    with_cookie(answer, cart.cookie)
}

/// `POST /login` (`email`, `password`, `next`).
pub(super) async fn login(
    State(shop): State<Storefront>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    post: Post,
) -> Response {
    let visit = &post.visit;
    let email = post.get("email").unwrap_or_default().to_owned();
    let password = post.get("password").unwrap_or_default();
    let next = safe_next(post.get("next"));
    let outcome = shop
        .signer()
        .sign_in(&email, password, Some(peer.ip()))
        .await;
    let mut retry_after = None;
    let (status, message) = match outcome {
        Ok(SignInOutcome::Session { token, .. }) => {
            return signed_in(&shop, visit, &token, &next).await;
        }
        Ok(SignInOutcome::Refused) => (StatusCode::UNAUTHORIZED, "Wrong email or password."),
        Ok(SignInOutcome::Limited { retry_after_secs }) => {
            retry_after = Some(retry_after_secs);
            (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts. Please wait a little and try again.",
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Signing in is not possible right now. Please try again in a moment.",
        ),
    };
    let mut page = auth_page(visit, "login", email, next);
    page.password_error = Some(message.to_owned());
    page.form_error = Some(message.to_owned());
    let mut response = visit.render(status, &page);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `POST /register` (`email`, `password`, `next`).
pub(super) async fn register(
    State(shop): State<Storefront>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    post: Post,
) -> Response {
    let visit = &post.visit;
    let email = post.get("email").unwrap_or_default().to_owned();
    let password = post.get("password").unwrap_or_default().to_owned();
    let next = safe_next(post.get("next"));
    let error = match shop
        .inner
        .host
        .register(&email, password, Some(peer.ip()))
        .await
    {
        Ok((_, token)) => return signed_in(&shop, visit, &token, &next).await,
        Err(error) => error,
    };
    let mut page = auth_page(visit, "register", email, next);
    match error.errors() {
        Some(errors) => {
            page.email_error = errors.get("email").map(|m| m.join("; "));
            page.password_error = errors.get("password").map(|m| m.join("; "));
            page.form_error = Some("Please correct the fields below.".to_owned());
        }
        None if error.status() == StatusCode::TOO_MANY_REQUESTS => {
            page.form_error = Some(
                "Too many accounts were registered from your address. Please try again later."
                    .to_owned(),
            );
        }
        None => {
            page.form_error =
                Some("Registering is not possible right now. Please try again.".to_owned());
        }
    }
    visit.render(error.status(), &page)
}

/// `POST /logout`: ends the session (the token stops working everywhere)
/// and forgets the cart cookie.
pub(super) async fn logout(State(shop): State<Storefront>, post: Post) -> Response {
    let visit = &post.visit;
    if let Some(token) = &visit.token
        && let Err(error) = shop.signer().sign_out(token).await
    {
        tracing::warn!(%error, "storefront: sign-out failed");
        return visit.message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not signed out",
            "Signing out is not possible right now. Please try again in a moment.",
        );
    }
    let done = with_cookie(see_other("/"), session::sign_out_cookie(visit.secure));
    with_cookie(done, cart_cookie(None, visit.secure))
}

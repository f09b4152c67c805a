//! Pieces shared by server-rendered pages: the admin panel of this crate
//! (feature `admin`) and a host's own pages (the example server's
//! storefront). Feature `web`.
//!
//! - [`session`]: the session cookie that carries the host's token, so the
//!   pages and the API's websockets know the caller without JavaScript ever
//!   seeing the token (the cookie is `HttpOnly`).
//! - [`Csrf`]: tokens for every state-changing form, bound to a per-browser
//!   cookie and signed with a server key, so they need no storage.
//! - [`security_headers`]: Content-Security-Policy without inline scripts,
//!   `nosniff`, `frame-ancestors 'none'` on every page.
//! - [`SignIn`]: how a page signs a user in, implemented by the host (the
//!   library keeps no users).

mod csrf;
mod headers;
pub mod session;
mod sign_in;

pub use csrf::{CSRF_COOKIE, CSRF_FIELD, Csrf};
pub use headers::{CONTENT_SECURITY_POLICY, security_headers};
pub use sign_in::{SignIn, SignInOutcome, SignInResult};

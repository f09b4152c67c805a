//! The bodies of this host's `/api/auth/*` routes as forms of its own, on
//! the core's mechanism ([`orders_core::form::Form`]): described once
//! (the OpenAPI document's request bodies come from the descriptions),
//! read permissively, and validated with every bad field at once.

use orders_axum::FormBody;
use orders_core::checkout::{Email, MAX_EMAIL_CHARS, REQUIRED};
use orders_core::form::{Description, Field, Form};
use orders_core::validation::ValidationErrors;
use serde::Deserialize;

use crate::credentials::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::sign_in::check_password;

/// Email and password, to register.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct Registration {
    /// The account's email.
    pub email: Option<String>,
    /// The password.
    pub password: Option<String>,
}

/// Email and password, to sign in.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct Login {
    /// The account's email.
    pub email: Option<String>,
    /// The password.
    pub password: Option<String>,
}

macro_rules! masked_debug {
    ($name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("password", &"***")
                    .finish_non_exhaustive()
            }
        }
    };
}
masked_debug!(Registration);
masked_debug!(Login);

const EMAIL: Field = Field::text("email", "The account's email.")
    .required()
    .chars(1, MAX_EMAIL_CHARS)
    .format("email");

impl Form for Registration {
    const DESCRIPTION: &'static Description = &Description {
        name: "Credentials",
        doc: "Email and password of a new account.",
        fields: &[
            EMAIL,
            Field::text("password", "The password.")
                .required()
                .chars(MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS),
        ],
    };
}

impl Form for Login {
    const DESCRIPTION: &'static Description = &Description {
        name: "LoginCredentials",
        doc: "Email and password of an account.",
        fields: &[
            Field::text("email", "The account's email.").required(),
            Field::text("password", "The password.").required(),
        ],
    };
}

/// A required text field's value, or `"required"` in `errors`.
fn present(errors: &mut ValidationErrors, path: &str, value: Option<String>) -> Option<String> {
    if value.is_none() {
        errors.add(path, REQUIRED);
    }
    value
}

impl Registration {
    /// The email and password, checked by the rules of new accounts.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `email` and `password`.
    pub fn validate(self) -> Result<(Email, String), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = present(&mut errors, "email", self.email)
            .and_then(|email| errors.check("email", Email::parse(&email)));
        let password = present(&mut errors, "password", self.password)
            .filter(|password| errors.check("password", check_password(password)).is_some());
        match (email, password) {
            (Some(email), Some(password)) => Ok((email, password)),
            _ => Err(errors),
        }
    }
}

impl Login {
    /// The email and password, as sent (a wrong one is the sign-in's to
    /// refuse).
    ///
    /// # Errors
    /// [`ValidationErrors`] on a missing field.
    pub fn validate(self) -> Result<(String, String), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = present(&mut errors, "email", self.email);
        let password = present(&mut errors, "password", self.password);
        match (email, password) {
            (Some(email), Some(password)) => Ok((email, password)),
            _ => Err(errors),
        }
    }
}

/// The bodies of the auth routes, for the OpenAPI document.
pub const FORM_BODIES: [FormBody; 2] = [
    FormBody::required::<Registration>("register"),
    FormBody::required::<Login>("login"),
];

//! Checkout forms: parsing and validating the checkout request (email,
//! shipping address, shipping method, payment) the way a web form does.
//!
//! Each value is a newtype that can only be built by parsing, so holding one
//! means it is valid. [`CheckoutForm::validate`] checks the whole request and
//! reports every invalid field at once in a
//! [`ValidationErrors`](crate::validation::ValidationErrors), keyed by dotted
//! path (`email`, `shipping_address.postal_code`, `payment.card.number`).

mod address;
mod card;
mod country;
mod email;
mod form;
mod payment;
mod shape;
mod text;

pub use address::{
    Address, MAX_POSTAL_CODE_CHARS, POSTAL_CODE_PATTERN, Phone, PhoneError, PostalCode,
    PostalCodeError,
};
pub use card::{
    CardBrand, CardDetails, CardExpiry, CardNumber, CardNumberError, Cvc, CvcError, EXPIRY_MONTHS,
    EXPIRY_YEARS, ExpiryError, MAX_EXPIRY_YEARS_AHEAD, PaymentMethod, PaymentMethodError,
};
pub use country::{Country, CountryError};
pub use email::{Email, EmailError, MAX_EMAIL_CHARS};
pub(crate) use form::present;
pub use form::{
    AddressForm, CardForm, CheckoutDetails, CheckoutForm, FormContext, PaymentForm, REQUIRED,
};
pub use payment::{PaymentDetails, PaymentToken, PaymentTokenError};
pub use text::{AddressLine, CardHolder, City, FullName, MAX_TEXT_CHARS, Region, TextError};

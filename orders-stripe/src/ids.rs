//! Identifiers of Stripe objects, checked once so that one can always be put
//! in a URL path: a known prefix, then ASCII letters, digits and `_`.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} ids start with {prefix} and hold only letters, digits and _")]
pub struct IdError {
    kind: &'static str,
    prefix: &'static str,
}

macro_rules! stripe_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks an id read from storage or a request.
            ///
            /// # Errors
            #[doc = concat!("[`IdError`] unless it starts with `", $prefix, "` and holds only ASCII letters, digits and `_`.")]
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                let ok = id.len() > $prefix.len()
                    && id.len() <= 255
                    && id.starts_with($prefix)
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if ok {
                    Ok(Self(id))
                } else {
                    Err(IdError { kind: $kind, prefix: $prefix })
                }
            }

            /// The id as Stripe spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(id: String) -> Result<Self, IdError> {
                Self::new(id)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

stripe_id!(
    /// A PaymentIntent's id (`pi_…`).
    PaymentIntentId,
    "pi_",
    "PaymentIntent"
);
stripe_id!(
    /// A Refund's id (`re_…`).
    RefundId,
    "re_",
    "Refund"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_in_a_path() {
        assert!(PaymentIntentId::new("pi_3Mtw1pLkdIwHu7ix0sNkWw1l").is_ok());
        assert!(PaymentIntentId::new("pi_").is_err());
        assert!(PaymentIntentId::new("re_abc").is_err());
        assert!(PaymentIntentId::new("pi_abc/../../v1/refunds").is_err());
        assert!(PaymentIntentId::new("pi_abc?x=1").is_err());
        assert!(RefundId::new("re_abc").is_ok());
    }
}

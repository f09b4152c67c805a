//! The customer's email address.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::text::is_forbidden;

/// The most characters an email address may hold.
pub const MAX_EMAIL_CHARS: usize = 254;

/// Why an email address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// More than [`MAX_EMAIL_CHARS`] characters.
    #[error("must be at most 254 characters")]
    TooLong,
    /// Not of the shape `local@domain.tld`.
    #[error("invalid email address")]
    Invalid,
}

/// A plausible email address: `local@domain`, the domain lowercased, the
/// local part kept as typed.
///
/// The check is deliberately shallow (one `@`, a non-empty local part, a
/// dotted domain of letters, digits and hyphens, no whitespace or control
/// characters, at most 254 characters): only sending mail proves an address.
///
/// ```
/// use orders_core::checkout::Email;
///
/// let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
/// assert_eq!(email.as_str(), "Ada.Lovelace@example.com");
/// assert!(Email::parse("ada@localhost").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Validates and normalises `text`.
    ///
    /// # Errors
    /// An [`EmailError`] saying why the address was refused.
    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(EmailError::Empty);
        }
        if text.chars().any(|c| c.is_whitespace() || is_forbidden(c)) {
            return Err(EmailError::Invalid);
        }
        let (local, domain) = text.split_once('@').ok_or(EmailError::Invalid)?;
        // Checked after lowercasing, so that the stored form parses again.
        let domain = domain.to_lowercase();
        let domain_ok = domain.contains('.')
            && domain
                .chars()
                .all(|c| c == '.' || c == '-' || c.is_alphanumeric())
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty() || !domain_ok {
            return Err(EmailError::Invalid);
        }
        let email = format!("{local}@{domain}");
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(EmailError::TooLong);
        }
        Ok(Self(email))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form that identifies an account: the whole address lowercased
    /// and in Unicode normalisation form C, so addresses that differ only
    /// in case or in how an accented letter is encoded (`ë` as one code
    /// point or as `e` and a combining diaeresis) are one address.
    ///
    /// ```
    /// use orders_core::checkout::Email;
    ///
    /// let composed = Email::parse("Zo\u{eb}@example.com").unwrap();
    /// let decomposed = Email::parse("Zoe\u{308}@EXAMPLE.com").unwrap();
    /// assert_eq!(composed.canonical(), "zo\u{eb}@example.com");
    /// assert_eq!(decomposed.canonical(), composed.canonical());
    /// ```
    pub fn canonical(&self) -> String {
        // Lowercase first: lowercasing can undo a composition, NFC redoes it.
        self.0.to_lowercase().nfc().collect()
    }

    /// The part after the `@`, lowercased.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(text: &str) -> Result<Self, EmailError> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(text: String) -> Result<Self, EmailError> {
        Self::parse(&text)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_normalises() {
        let email = Email::parse("\tAda+Shop@Mail.Example.CO.UK\n").unwrap();
        assert_eq!(email.as_str(), "Ada+Shop@mail.example.co.uk");
        assert_eq!(email.domain(), "mail.example.co.uk");
        assert!(Email::parse("a@b.c").is_ok());
        assert!(Email::parse("x@my-shop.example").is_ok());
        assert!(Email::parse("jürgen@müller.de").is_ok());
    }

    #[test]
    fn canonical_form_folds_case_and_normalisation() {
        let composed = Email::parse("Zo\u{eb}@Example.com").unwrap();
        let decomposed = Email::parse("ZOE\u{308}@example.COM").unwrap();
        assert_ne!(composed.as_str(), decomposed.as_str());
        assert_eq!(composed.canonical(), "zo\u{eb}@example.com");
        assert_eq!(decomposed.canonical(), composed.canonical());
        let canonical = Email::parse(&composed.canonical()).unwrap();
        assert_eq!(canonical.canonical(), composed.canonical(), "stable");
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(Email::parse("  "), Err(EmailError::Empty));
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@@example.com",
            "ada@b@example.com",
            "ada@example",
            "ada@.example.com",
            "ada@example.com.",
            "ada@-example.com",
            "ada@example.com-",
            "ada@example-.com",
            "ada@example..com",
            "ada lovelace@example.com",
            "ada@exa mple.com",
            "ada\u{0}@example.com",
            "ada\u{202e}@example.com",
            "ada@exa_mple.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn length_limit() {
        let domain = "@example.com";
        let ok = format!("{}{domain}", "a".repeat(MAX_EMAIL_CHARS - domain.len()));
        assert!(Email::parse(&ok).is_ok());
        let long = format!("a{ok}");
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn serde_is_a_validated_string() {
        let email: Email = serde_json::from_str("\"Ada@EXAMPLE.com\"").unwrap();
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"Ada@example.com\""
        );
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(text in any::<String>()) {
            if let Ok(email) = Email::parse(&text) {
                let canonical = email.canonical();
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email));
                if let Ok(again) = Email::parse(&canonical) {
                    prop_assert_eq!(again.canonical(), canonical);
                }
            }
        }

        #[test]
        fn never_panics_on_email_like_input(text in "[a-zA-Z0-9.@ -]{0,30}") {
            let _ = Email::parse(&text);
        }
    }
}

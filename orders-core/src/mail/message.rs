//! One message to one customer, and the escaping its HTML part needs.

use std::fmt::Write as _;

use crate::checkout;

/// One message: a recipient, a subject, and the same text as plain text
/// and as HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Stable over every attempt to send it (the mail's id, or a fresh one
    /// for a message sent once), for the `Message-ID` header.
    pub id: String,
    /// The recipient: the order's email, never anyone else's.
    pub to: checkout::Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part (every value in it escaped with [`escape_html`]).
    pub html: String,
}

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by their entities, safe
/// in HTML text and in quoted attributes.
///
/// ```
/// use orders_core::mail::escape_html;
///
/// assert_eq!(escape_html("<b>\"Tea\" & 'cake'</b>"),
///            "&lt;b&gt;&quot;Tea&quot; &amp; &#39;cake&#39;&lt;/b&gt;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds the two parts of a message side by side: every value goes into
/// the text as it is and into the HTML escaped, so no template can forget.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    pub(crate) text: String,
    pub(crate) html: String,
}

impl Parts {
    /// A paragraph: `segments` are (literal, value) pairs, the values
    /// escaped in the HTML.
    pub(crate) fn paragraph(&mut self, segments: &[(&str, &str)]) -> &mut Self {
        self.html.push_str("<p>");
        for (literal, value) in segments {
            self.text.push_str(literal);
            self.text.push_str(value);
            self.html.push_str(&escape_html(literal));
            self.html.push_str(&escape_html(value));
        }
        self.text.push_str("\n\n");
        self.html.push_str("</p>\n");
        self
    }

    /// A list of lines, each already a value to escape.
    pub(crate) fn list(&mut self, items: &[String]) -> &mut Self {
        self.html.push_str("<ul>\n");
        for item in items {
            let _ = writeln!(self.text, "- {item}");
            let _ = writeln!(self.html, "<li>{}</li>", escape_html(item));
        }
        self.text.push('\n');
        self.html.push_str("</ul>\n");
        self
    }

    /// A link: shown as its address in the text.
    pub(crate) fn link(&mut self, label: &str, url: &str) -> &mut Self {
        let _ = write!(self.text, "{label}: {url}\n\n");
        let _ = writeln!(
            self.html,
            "<p><a href=\"{}\">{}</a></p>",
            escape_html(url),
            escape_html(label)
        );
        self
    }

    /// The finished parts, the HTML wrapped in a minimal document.
    pub(crate) fn finish(self, subject: &str) -> (String, String) {
        let html = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n{}</body></html>\n",
            escape_html(subject),
            self.html
        );
        (self.text.trim_end().to_owned() + "\n", html)
    }
}

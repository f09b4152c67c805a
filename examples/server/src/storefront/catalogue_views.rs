//! What the product list and product pages show beyond a product's text:
//! its picture (`srcset`, `width` and `height`, so the page does not jump
//! while it loads), the search box and the links between pages of results.

use orders_core::catalogue::{ProductImage, ProductQuery};

/// A product's picture for an `<img>`: the widest copy as `src`, every
/// copy in `srcset`, and that copy's size (the aspect ratio the browser
/// reserves before the bytes arrive).
pub(super) struct ImageView {
    pub src: String,
    pub srcset: String,
    pub width: u32,
    pub height: u32,
}

impl ImageView {
    pub(super) fn of(image: &ProductImage) -> Option<Self> {
        let variants = image.variants();
        let widest = variants.last()?;
        Some(Self {
            src: widest.url(),
            srcset: variants
                .iter()
                .map(|v| format!("{} {}w", v.url(), v.width))
                .collect::<Vec<_>>()
                .join(", "),
            width: widest.width,
            height: widest.height,
        })
    }
}

/// The search box: what was searched (as typed), and why it was refused.
#[derive(Default)]
pub(super) struct SearchBox {
    pub text: String,
    pub error: Option<String>,
}

/// What the customer asked of the list: `?q=` and `?cursor=`.
pub(super) struct ListRequest {
    pub search: SearchBox,
    pub query: Option<ProductQuery>,
    pub cursor: Option<String>,
}

impl ListRequest {
    /// Reads `q` and `cursor`; a refused `q` searches nothing and says why.
    pub(super) fn read(q: Option<String>, cursor: Option<String>) -> Self {
        let text = q.unwrap_or_default();
        let (query, error) = match ProductQuery::parse(&text) {
            Ok(query) => (query, None),
            Err(error) => (None, Some(format!("Search text {error}."))),
        };
        Self {
            search: SearchBox { text, error },
            query,
            cursor: cursor.filter(|c| !c.is_empty()),
        }
    }

    /// The links to the next page (the search kept) and back to the first
    /// one (on a later page).
    pub(super) fn pager(&self, next_cursor: Option<String>) -> Pager {
        let q = self
            .query
            .is_some()
            .then(|| self.search.text.trim().to_owned());
        let link = |cursor: Option<&str>| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(q) = &q {
                query.append_pair("q", q);
            }
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
            let query = query.finish();
            if query.is_empty() {
                "/".to_owned()
            } else {
                format!("/?{query}")
            }
        };
        Pager {
            next: next_cursor.as_deref().map(|c| link(Some(c))),
            first: self.cursor.as_ref().map(|_| link(None)),
        }
    }
}

/// Links between pages of the list.
pub(super) struct Pager {
    /// The next page, if there is one.
    pub next: Option<String>,
    /// The first page, when this is a later one.
    pub first: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_search() {
        let list = ListRequest::read(Some(" 50% tea&co ".into()), Some("17".into()));
        let pager = list.pager(Some("9".into()));
        assert_eq!(pager.next.as_deref(), Some("/?q=50%25+tea%26co&cursor=9"));
        assert_eq!(pager.first.as_deref(), Some("/?q=50%25+tea%26co"));
        let plain = ListRequest::read(None, None).pager(None);
        assert_eq!((plain.next, plain.first), (None, None));
        let refused = ListRequest::read(Some("a\u{202E}b".into()), None);
        assert!(refused.query.is_none() && refused.search.error.is_some());
    }
}

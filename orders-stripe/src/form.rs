//! Stripe's request bodies: `application/x-www-form-urlencoded`, with
//! nested keys written `metadata[order_id]=42`.

/// A form body under construction.
pub(crate) struct Form(form_urlencoded::Serializer<'static, String>);

impl Form {
    pub(crate) fn new() -> Self {
        Self(form_urlencoded::Serializer::new(String::new()))
    }

    pub(crate) fn field(&mut self, key: &str, value: &str) -> &mut Self {
        self.0.append_pair(key, value);
        self
    }

    pub(crate) fn metadata<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> &mut Self {
        for (key, value) in entries {
            self.0.append_pair(&format!("metadata[{key}]"), value);
        }
        self
    }

    pub(crate) fn finish(mut self) -> String {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn nested_keys_and_values_are_escaped() {
        let metadata = BTreeMap::from([("order id".to_owned(), "a&b=c".to_owned())]);
        let mut form = Form::new();
        form.field("amount", "1000").metadata(&metadata);
        assert_eq!(
            form.finish(),
            "amount=1000&metadata%5Border+id%5D=a%26b%3Dc"
        );
    }
}

//! The description of a form's shape: its fields, each with its JSON type,
//! whether it is required, and the constraints a JSON Schema can state.
//!
//! Descriptions are `const`s built with the `const fn`s below, next to the
//! form they describe, and take their numbers from the constants the
//! parsers use ([`crate::checkout::MAX_TEXT_CHARS`], [`crate::cart::Quantity::MAX`], ...).

use serde_json::Value;

/// The shape of one form: a named JSON object and its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Description {
    /// The schema's name (`CheckoutForm`), unique among the forms.
    pub name: &'static str,
    /// What the form is for, one sentence.
    pub doc: &'static str,
    /// Its fields, in the order a form shows them.
    pub fields: &'static [Field],
}

/// One field of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name in the JSON object.
    pub name: &'static str,
    /// What it holds, one sentence.
    pub doc: &'static str,
    /// Whether validation refuses the form without it.
    pub required: bool,
    /// When it is required only if a sibling field has a value: that
    /// field's name and value (`card` when `method` is `"card"`).
    pub required_when: Option<(&'static str, &'static str)>,
    /// Its JSON type and the constraints on its value.
    pub kind: Kind,
}

/// A field's JSON type and constraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Text(Text),
    /// An integer, within `minimum..=maximum` when they are given.
    Integer {
        /// The smallest value accepted.
        minimum: Option<i64>,
        /// The largest value accepted.
        maximum: Option<i64>,
    },
    /// `true` or `false`.
    Boolean,
    /// A nested form.
    Object(&'static Description),
    /// An array of objects, each the nested form, with
    /// `min_items..=max_items` elements (`lines: [{product_id, quantity}]`).
    /// Errors inside name the element: `lines.0.quantity`.
    ObjectList {
        /// The form of each element.
        form: &'static Description,
        /// The fewest elements.
        min_items: usize,
        /// The most elements.
        max_items: usize,
    },
    /// An array of strings, each with the constraints of `Text`, with
    /// `min_items..=max_items` elements.
    TextList {
        /// The constraints on each element.
        item: Text,
        /// The fewest elements.
        min_items: usize,
        /// The most elements.
        max_items: usize,
    },
}

/// The constraints on a string field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Text {
    /// The fewest characters (Unicode scalar values).
    pub min_chars: Option<usize>,
    /// The most characters.
    pub max_chars: Option<usize>,
    /// An ECMA-262 regular expression the whole value must match
    /// (anchored with `^` and `$` where it means the whole value).
    pub pattern: Option<&'static str>,
    /// The only values accepted, when not empty.
    pub one_of: &'static [&'static str],
    /// A JSON Schema `format` (`email`, `date-time`).
    pub format: Option<&'static str>,
    /// A value to show in documentation.
    pub example: Option<&'static str>,
}

impl Text {
    /// Any string.
    pub const ANY: Text = Text {
        min_chars: None,
        max_chars: None,
        pattern: None,
        one_of: &[],
        format: None,
        example: None,
    };
}

/// A JSON value's type, as a type error names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A string.
    String,
    /// An integer within `i64`: a JSON number with no fraction (`7`, and
    /// `7.0`, as JSON Schema counts integers).
    Integer,
    /// `true` or `false`.
    Boolean,
    /// An object.
    Object,
    /// An array of strings.
    StringArray,
    /// An array of objects.
    ObjectArray,
}

impl JsonType {
    /// Whether `value` is of this type.
    pub fn matches(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Integer => integer(value).is_some(),
            Self::Boolean => value.is_boolean(),
            Self::Object => value.is_object(),
            Self::StringArray => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Self::ObjectArray => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_object)),
        }
    }

    /// The field error for a value of another type.
    pub fn message(self) -> &'static str {
        match self {
            Self::String => "must be a string",
            Self::Integer => "must be an integer",
            Self::Boolean => "must be true or false",
            Self::Object => "must be an object",
            Self::StringArray => "must be an array of strings",
            Self::ObjectArray => "must be an array of objects",
        }
    }

    /// The JSON Schema `type`.
    pub fn schema_name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::StringArray | Self::ObjectArray => "array",
        }
    }
}

/// The integer `value` is, if it is one within `i64` (`7.0` is 7).
pub(super) fn integer(value: &Value) -> Option<i64> {
    // 2^63, the first float past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    value.as_i64().or_else(|| {
        let float = value.as_f64()?;
        // The range check makes the cast exact.
        #[allow(clippy::cast_possible_truncation)]
        (float.fract() == 0.0 && (-LIMIT..LIMIT).contains(&float)).then_some(float as i64)
    })
}

impl Kind {
    /// The JSON type of a value of this kind.
    pub const fn json_type(&self) -> JsonType {
        match self {
            Self::Text(_) => JsonType::String,
            Self::Integer { .. } => JsonType::Integer,
            Self::Boolean => JsonType::Boolean,
            Self::Object(_) => JsonType::Object,
            Self::TextList { .. } => JsonType::StringArray,
            Self::ObjectList { .. } => JsonType::ObjectArray,
        }
    }
}

impl Field {
    const fn new(name: &'static str, doc: &'static str, kind: Kind) -> Self {
        Self {
            name,
            doc,
            required: false,
            required_when: None,
            kind,
        }
    }

    /// An optional string field without constraints.
    pub const fn text(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, doc, Kind::Text(Text::ANY))
    }

    /// An optional integer field within `minimum..=maximum`.
    pub const fn integer(
        name: &'static str,
        doc: &'static str,
        minimum: Option<i64>,
        maximum: Option<i64>,
    ) -> Self {
        Self::new(name, doc, Kind::Integer { minimum, maximum })
    }

    /// An optional boolean field.
    pub const fn boolean(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, doc, Kind::Boolean)
    }

    /// An optional nested form.
    pub const fn object(name: &'static str, doc: &'static str, form: &'static Description) -> Self {
        Self::new(name, doc, Kind::Object(form))
    }

    /// An optional array of objects of the nested `form`,
    /// `min_items..=max_items` long.
    pub const fn object_list(
        name: &'static str,
        doc: &'static str,
        form: &'static Description,
        min_items: usize,
        max_items: usize,
    ) -> Self {
        Self::new(
            name,
            doc,
            Kind::ObjectList {
                form,
                min_items,
                max_items,
            },
        )
    }

    /// An optional array of strings, `min_items..=max_items` long; the
    /// string builders (`one_of`, `chars`, ...) then constrain each element.
    pub const fn text_list(
        name: &'static str,
        doc: &'static str,
        min_items: usize,
        max_items: usize,
    ) -> Self {
        Self::new(
            name,
            doc,
            Kind::TextList {
                item: Text::ANY,
                min_items,
                max_items,
            },
        )
    }

    /// The same field, required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The same field, required when the sibling `field` is `value`.
    pub const fn required_when(mut self, field: &'static str, value: &'static str) -> Self {
        self.required_when = Some((field, value));
        self
    }

    /// The same field with `text` as its string constraints (no-op for
    /// another kind).
    const fn with_text(mut self, text: Text) -> Self {
        match self.kind {
            Kind::Text(_) => self.kind = Kind::Text(text),
            Kind::TextList {
                min_items,
                max_items,
                ..
            } => {
                self.kind = Kind::TextList {
                    item: text,
                    min_items,
                    max_items,
                };
            }
            _ => {}
        }
        self
    }

    const fn text_rules(&self) -> Text {
        match self.kind {
            Kind::Text(text) | Kind::TextList { item: text, .. } => text,
            _ => Text::ANY,
        }
    }

    /// The same string field, `min..=max` characters long.
    pub const fn chars(self, min: usize, max: usize) -> Self {
        let min_chars = if min == 0 { None } else { Some(min) };
        let rules = self.text_rules();
        self.with_text(Text {
            min_chars,
            max_chars: Some(max),
            ..rules
        })
    }

    /// The same string field, matching `pattern`.
    pub const fn pattern(self, pattern: &'static str) -> Self {
        let rules = self.text_rules();
        self.with_text(Text {
            pattern: Some(pattern),
            ..rules
        })
    }

    /// The same string field, one of `values`.
    pub const fn one_of(self, values: &'static [&'static str]) -> Self {
        let rules = self.text_rules();
        self.with_text(Text {
            one_of: values,
            ..rules
        })
    }

    /// The same string field, of JSON Schema `format`.
    pub const fn format(self, format: &'static str) -> Self {
        let rules = self.text_rules();
        self.with_text(Text {
            format: Some(format),
            ..rules
        })
    }

    /// The same string field, with an example value.
    pub const fn example(self, example: &'static str) -> Self {
        let rules = self.text_rules();
        self.with_text(Text {
            example: Some(example),
            ..rules
        })
    }
}

impl Description {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The field at a dotted `path` (`shipping_address.postal_code`),
    /// through nested forms.
    pub fn find(&self, path: &str) -> Option<&'static Field> {
        let (head, rest) = match path.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (path, None),
        };
        let field = self.field(head)?;
        match (rest, field.kind) {
            (None, _) => Some(field),
            (Some(rest), Kind::Object(nested)) => nested.find(rest),
            (Some(rest), Kind::ObjectList { form, .. }) => {
                let rest = rest.split_once('.').map_or(rest, |(_, field)| field);
                form.find(rest)
            }
            (Some(_), _) => None,
        }
    }

    /// Every field that is no nested form, by dotted path, in order.
    pub fn leaves(&self) -> Vec<(String, &'static Field)> {
        let mut out = Vec::new();
        for field in self.fields {
            match field.kind {
                Kind::Object(nested) => out.extend(
                    nested
                        .leaves()
                        .into_iter()
                        .map(|(path, leaf)| (format!("{}.{path}", field.name), leaf)),
                ),
                _ => out.push((field.name.to_owned(), field)),
            }
        }
        out
    }

    /// This form and every form nested in it, each once, this one first.
    pub fn with_nested(&'static self) -> Vec<&'static Description> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            for field in out[i].fields {
                let nested = match field.kind {
                    Kind::Object(nested) | Kind::ObjectList { form: nested, .. } => Some(nested),
                    _ => None,
                };
                if let Some(nested) = nested
                    && !out.iter().any(|known| known.name == nested.name)
                {
                    out.push(nested);
                }
            }
            i += 1;
        }
        out
    }
}

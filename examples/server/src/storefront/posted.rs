//! A posted HTML form read as a core form: the page's inputs are named by
//! the form's dotted paths, and its description says which names are
//! fields and which are integers, so a page keeps no list of its own.

use orders_core::form::{Description, Form, Kind, Submitted};
use serde_json::{Map, Value};

/// The JSON object the posted `fields` stand for under `description`:
/// each described name (dotted) becomes a nested member, an integer field
/// becomes a number when it is one (else it stays text, a type error on
/// its path) and is absent when blank; names `left_out` and names the
/// description does not know (the CSRF token, say) are not part of it.
pub(super) fn body_of(
    description: &Description,
    fields: &[(String, String)],
    left_out: &[&str],
) -> Map<String, Value> {
    let mut root = Map::new();
    for (name, value) in fields {
        if left_out.contains(&name.as_str()) {
            continue;
        }
        let Some(field) = description.find(name) else {
            continue;
        };
        let value = match field.kind {
            Kind::Object(_) => continue,
            Kind::Integer { .. } => {
                let text = value.trim();
                if text.is_empty() {
                    continue;
                }
                match text.parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => Value::from(text),
                }
            }
            _ => Value::from(value.as_str()),
        };
        insert(&mut root, name, value);
    }
    root
}

/// The posted `fields` read as the form `F`.
pub(super) fn read<F: Form>(fields: &[(String, String)]) -> Submitted<F> {
    F::read(&body_of(F::DESCRIPTION, fields, &[]))
}

/// Sets `path` (dotted) in `root`, making the objects on the way; the first
/// value of a repeated name wins.
fn insert(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut object = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            object.entry(part.to_owned()).or_insert(value);
            return;
        }
        let next = object
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = next else { return };
        object = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_core::cart::SetQuantityForm;

    #[test]
    fn an_integer_field_is_a_number_when_it_is_one() {
        let fields = |q: &str| vec![("quantity".to_owned(), q.to_owned())];
        assert_eq!(
            read::<SetQuantityForm>(&fields(" 7 ")).form.quantity,
            Some(7)
        );
        let typed = read::<SetQuantityForm>(&fields("seven"));
        assert_eq!(typed.form.quantity, None);
        assert!(typed.type_errors.contains("quantity"));
        assert!(read::<SetQuantityForm>(&fields("")).type_errors.is_empty());
    }
}

//! JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it) from a form's
//! [`Description`]: the one place a form's shape becomes a document.

use serde_json::{Map, Value, json};

use super::field::{Description, Field, Kind, Text};

/// The JSON Schema of `description`'s object. A nested form is a `$ref` to
/// `ref_prefix` + its name (`#/components/schemas/` in an OpenAPI
/// document), so each nested form is described once: list them with
/// [`Description::with_nested`].
///
/// An optional field may also be `null` (read as absent); unknown members
/// are allowed (and ignored).
pub fn json_schema(description: &Description, ref_prefix: &str) -> Value {
    let properties: Map<String, Value> = description
        .fields
        .iter()
        .map(|field| (field.name.to_owned(), field_schema(field, ref_prefix)))
        .collect();
    let required: Vec<&str> = description
        .fields
        .iter()
        .filter(|field| field.required)
        .map(|field| field.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "description": description.doc,
        "properties": properties,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    let conditions: Vec<Value> = description
        .fields
        .iter()
        .filter_map(|field| {
            let (sibling, value) = field.required_when?;
            Some(json!({
                "if": {"properties": {sibling: {"const": value}}, "required": [sibling]},
                "then": {"required": [field.name]},
            }))
        })
        .collect();
    if !conditions.is_empty() {
        schema["allOf"] = json!(conditions);
    }
    schema
}

fn field_schema(field: &Field, ref_prefix: &str) -> Value {
    let ty = field.kind.json_type().schema_name();
    let mut schema = Map::new();
    if let Kind::Object(nested) = field.kind {
        let reference = json!({ "$ref": format!("{ref_prefix}{}", nested.name) });
        if field.required {
            return reference;
        }
        return json!({ "oneOf": [reference, {"type": "null"}], "description": field.doc });
    }
    schema.insert(
        "type".into(),
        if field.required {
            json!(ty)
        } else {
            json!([ty, "null"])
        },
    );
    schema.insert("description".into(), json!(field.doc));
    match field.kind {
        Kind::Text(text) => text_schema(&text, field.required, &mut schema),
        Kind::Integer { minimum, maximum } => {
            if let Some(minimum) = minimum {
                schema.insert("minimum".into(), json!(minimum));
            }
            if let Some(maximum) = maximum {
                schema.insert("maximum".into(), json!(maximum));
            }
        }
        Kind::TextList {
            item,
            min_items,
            max_items,
        } => {
            let mut items = Map::new();
            items.insert("type".into(), json!("string"));
            text_schema(&item, true, &mut items);
            schema.insert("items".into(), Value::Object(items));
            if min_items > 0 {
                schema.insert("minItems".into(), json!(min_items));
            }
            schema.insert("maxItems".into(), json!(max_items));
        }
        Kind::ObjectList {
            form,
            min_items,
            max_items,
        } => {
            let reference = json!({ "$ref": format!("{ref_prefix}{}", form.name) });
            schema.insert("items".into(), reference);
            if min_items > 0 {
                schema.insert("minItems".into(), json!(min_items));
            }
            schema.insert("maxItems".into(), json!(max_items));
        }
        Kind::Boolean | Kind::Object(_) => {}
    }
    Value::Object(schema)
}

fn text_schema(text: &Text, required: bool, schema: &mut Map<String, Value>) {
    if let Some(min) = text.min_chars {
        schema.insert("minLength".into(), json!(min));
    }
    if let Some(max) = text.max_chars {
        schema.insert("maxLength".into(), json!(max));
    }
    if let Some(pattern) = text.pattern {
        schema.insert("pattern".into(), json!(pattern));
    }
    if !text.one_of.is_empty() {
        let mut values = json!(text.one_of);
        if !required && let Value::Array(values) = &mut values {
            values.push(Value::Null);
        }
        schema.insert("enum".into(), values);
    }
    if let Some(format) = text.format {
        schema.insert("format".into(), json!(format));
    }
    if let Some(example) = text.example {
        schema.insert("examples".into(), json!([example]));
    }
}

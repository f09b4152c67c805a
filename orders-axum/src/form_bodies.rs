//! The request bodies of the OpenAPI document, from the core's forms.
//!
//! Every body the API reads is a core form ([`orders_core::form::Form`]),
//! and its schema is the form's own JSON Schema
//! ([`orders_core::form::json_schema`]), put into the document's
//! components under the form's name and referred to by the operation that
//! reads it. Nothing here restates a field.
//!
//! The document is patched as JSON: utoipa's schema types cannot hold every
//! keyword a form states (a field required when another has a value is an
//! `allOf` of `if`/`then`), so the served text carries the core's schemas
//! verbatim.

use orders_core::cart::{AddItemForm, ApplyDiscountForm, CreateCartForm, SetQuantityForm};
use orders_core::catalogue::{NewProductForm, ProductEditForm};
use orders_core::checkout::CheckoutForm;
use orders_core::discount::{DiscountSwitchForm, NewDiscountForm};
use orders_core::form::{Description, Form, json_schema};
use orders_core::order::{
    CancelForm, FulfilmentForm, NoteForm, ReceiveForm, RefundForm, RejectForm, ReturnForm,
    TransitionForm,
};
use orders_core::webhook::WebhookForm;
use serde_json::{Value, json};

/// Where the document keeps its schemas.
const COMPONENTS: &str = "#/components/schemas/";

/// The body an operation reads: its form, and whether it may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormBody {
    /// The operation's `operationId` (a handler's name by default).
    pub operation_id: &'static str,
    /// The form it reads.
    pub form: &'static Description,
    /// `false` when an empty body is the empty form.
    pub required: bool,
}

impl FormBody {
    /// The required body `F` of `operation_id`.
    pub const fn required<F: Form>(operation_id: &'static str) -> Self {
        Self {
            operation_id,
            form: F::DESCRIPTION,
            required: true,
        }
    }

    /// The optional body `F` of `operation_id` (no body is the empty form).
    pub const fn optional<F: Form>(operation_id: &'static str) -> Self {
        Self {
            operation_id,
            form: F::DESCRIPTION,
            required: false,
        }
    }
}

/// The library's operations that read a body.
pub(crate) const BODIES: &[FormBody] = &[
    FormBody::optional::<CreateCartForm>("create_cart"),
    FormBody::required::<AddItemForm>("add_item"),
    FormBody::required::<SetQuantityForm>("set_item"),
    FormBody::required::<ApplyDiscountForm>("apply_discount"),
    FormBody::required::<CheckoutForm>("checkout"),
    FormBody::optional::<CancelForm>("cancel"),
    FormBody::required::<NewProductForm>("create_product"),
    FormBody::required::<ProductEditForm>("patch_product"),
    FormBody::required::<TransitionForm>("transition"),
    FormBody::required::<FulfilmentForm>("create_fulfilment"),
    FormBody::required::<ReturnForm>("request_return"),
    FormBody::required::<RejectForm>("reject_return"),
    FormBody::required::<ReceiveForm>("receive_return"),
    FormBody::required::<RefundForm>("create_refund"),
    FormBody::required::<NoteForm>("add_note"),
    FormBody::required::<NewDiscountForm>("create_discount"),
    FormBody::required::<DiscountSwitchForm>("switch_discount"),
    FormBody::required::<WebhookForm>("create_webhook"),
];

/// `document` with the request bodies of `bodies` ([`insert`]), as far as
/// utoipa's types hold them (the served text has them whole).
pub(crate) fn with_bodies(
    document: utoipa::openapi::OpenApi,
    bodies: &[FormBody],
) -> utoipa::openapi::OpenApi {
    let Ok(mut value) = serde_json::to_value(&document) else {
        return document;
    };
    insert(&mut value, bodies);
    serde_json::from_value(value).unwrap_or(document)
}

/// Gives each operation of `bodies` in `document` its request body, and
/// the document every form's schema (nested forms included).
pub(crate) fn insert(document: &mut Value, bodies: &[FormBody]) {
    let operations = document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let id = operation.get("operationId").and_then(Value::as_str);
        let Some(body) = bodies.iter().find(|b| Some(b.operation_id) == id) else {
            continue;
        };
        operation["requestBody"] = json!({
            "description": body.form.doc,
            "content": {"application/json": {"schema": {"$ref": format!("{COMPONENTS}{}", body.form.name)}}},
            "required": body.required,
        });
    }
    if !document["components"].is_object() {
        document["components"] = json!({});
    }
    if !document["components"]["schemas"].is_object() {
        document["components"]["schemas"] = json!({});
    }
    for body in bodies {
        for form in body.form.with_nested() {
            document["components"]["schemas"][form.name] = json_schema(form, COMPONENTS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's own document, without a router, says every body.
    #[test]
    fn the_base_document_has_every_body() {
        let document = serde_json::to_value(crate::Api::base_openapi()).unwrap();
        for body in BODIES {
            let operation = document["paths"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|item| item.as_object().unwrap().values())
                .find(|op| op["operationId"] == body.operation_id)
                .unwrap_or_else(|| panic!("no operation {}", body.operation_id));
            assert_eq!(
                operation["requestBody"]["required"], body.required,
                "{}",
                body.operation_id
            );
            assert!(document["components"]["schemas"][body.form.name].is_object());
        }
    }
}

//! Bodies are the core's forms: one answer carries every type and value
//! error, and the served document's request bodies are the forms' own
//! schemas.

mod common;

use common::{ADA, STAFF, spawn_app};
use orders_core::cart::{AddItemForm, ApplyDiscountForm, CreateCartForm, SetQuantityForm};
use orders_core::catalogue::{NewProductForm, ProductEditForm};
use orders_core::checkout::CheckoutForm;
use orders_core::discount::NewDiscountForm;
use orders_core::form::{Description, Form, json_schema};
use orders_core::order::{CancelForm, TransitionForm};
use serde_json::{Value, json};

/// The messages of `field` in a problem's `errors`.
fn messages(body: &Value, field: &str) -> Vec<String> {
    serde_json::from_value(body["errors"][field].clone()).unwrap_or_default()
}

#[tokio::test]
async fn a_type_error_and_a_value_error_come_in_one_answer() {
    let app = spawn_app().await;
    let body = json!({"sku": 12, "name": " ", "price": "-1", "currency": "USD", "stock": "many"});
    let response = app.post("/api/admin/products", STAFF, body).await;
    response.fields(&["sku", "name", "price", "stock"]);
    assert_eq!(messages(&response.body, "sku"), ["must be a string"]);
    assert_eq!(messages(&response.body, "stock"), ["must be an integer"]);
    assert_eq!(response.body["errors"].as_object().unwrap().len(), 4);

    let product = app.product("10.00", 5).await;
    let cart = app.cart_with(ADA, &product, 1).await;
    let body = json!({
        "email": "nope",
        "shipping_address": "12 Main St",
        "shipping_method": "standard",
        "payment": {"method": "card", "card": {"number": "4242424242424242", "exp_month": "12",
            "exp_year": 2040, "cvc": "1", "holder": "Ada"}},
    });
    let response = app.checkout(ADA, &cart, body, Some("one-answer")).await;
    response.fields(&[
        "email",
        "shipping_address",
        "payment.card.exp_month",
        "payment.card.cvc",
    ]);
    assert_eq!(
        messages(&response.body, "shipping_address"),
        ["must be an object"]
    );
    assert_eq!(
        messages(&response.body, "payment.card.exp_month"),
        ["must be an integer"]
    );
    assert_eq!(messages(&response.body, "email"), ["invalid email address"]);
    assert_eq!(response.body["errors"].as_object().unwrap().len(), 4);
    // Nothing was taken or placed.
    assert_eq!(app.stock(&product).await, 5);

    let response = app
        .post(
            &format!("/api/carts/{cart}/items"),
            ADA,
            json!({"product_id": 7, "quantity": 1000}),
        )
        .await;
    response.fields(&["product_id", "quantity"]);
    assert_eq!(messages(&response.body, "product_id"), ["must be a string"]);
    assert_eq!(
        messages(&response.body, "quantity"),
        ["must be between 1 and 999"]
    );
}

#[tokio::test]
async fn every_request_body_is_its_forms_schema() {
    let app = spawn_app().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let forms: [(&str, &str, &Description); 18] = [
        ("/api/carts", "post", CreateCartForm::DESCRIPTION),
        ("/api/carts/{id}/items", "post", AddItemForm::DESCRIPTION),
        (
            "/api/carts/{id}/items/{product_id}",
            "patch",
            SetQuantityForm::DESCRIPTION,
        ),
        (
            "/api/carts/{id}/discount",
            "post",
            ApplyDiscountForm::DESCRIPTION,
        ),
        (
            "/api/carts/{id}/checkout",
            "post",
            CheckoutForm::DESCRIPTION,
        ),
        ("/api/orders/{id}/cancel", "post", CancelForm::DESCRIPTION),
        ("/api/admin/products", "post", NewProductForm::DESCRIPTION),
        (
            "/api/admin/products/{id}",
            "patch",
            ProductEditForm::DESCRIPTION,
        ),
        (
            "/api/admin/orders/{id}/transition",
            "post",
            TransitionForm::DESCRIPTION,
        ),
        ("/api/admin/discounts", "post", NewDiscountForm::DESCRIPTION),
        (
            "/api/admin/discounts/{code}",
            "patch",
            orders_core::discount::DiscountSwitchForm::DESCRIPTION,
        ),
        (
            "/api/admin/orders/{id}/fulfilments",
            "post",
            orders_core::order::FulfilmentForm::DESCRIPTION,
        ),
        (
            "/api/orders/{id}/returns",
            "post",
            orders_core::order::ReturnForm::DESCRIPTION,
        ),
        (
            "/api/admin/returns/{id}/reject",
            "post",
            orders_core::order::RejectForm::DESCRIPTION,
        ),
        (
            "/api/admin/returns/{id}/receive",
            "post",
            orders_core::order::ReceiveForm::DESCRIPTION,
        ),
        (
            "/api/admin/orders/{id}/refunds",
            "post",
            orders_core::order::RefundForm::DESCRIPTION,
        ),
        (
            "/api/admin/orders/{id}/notes",
            "post",
            orders_core::order::NoteForm::DESCRIPTION,
        ),
        (
            "/api/admin/webhooks",
            "post",
            orders_core::webhook::WebhookForm::DESCRIPTION,
        ),
    ];
    let mut bodies = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        bodies += item
            .as_object()
            .unwrap()
            .values()
            .filter(|operation| operation["requestBody"].is_object())
            // A provider's webhook is the provider's event, read as the
            // bytes it signed: no form of ours.
            .filter(|operation| operation["operationId"] != "payment_webhook")
            .count();
    }
    assert_eq!(bodies, forms.len(), "an operation reads a body of no form");
    for (path, method, form) in forms {
        let body = &doc["paths"][path][method]["requestBody"];
        let reference = format!("#/components/schemas/{}", form.name);
        assert_eq!(
            body["content"]["application/json"]["schema"]["$ref"], reference,
            "{path}"
        );
        for form in form.with_nested() {
            let schema = &doc["components"]["schemas"][form.name];
            assert_eq!(
                *schema,
                json_schema(form, "#/components/schemas/"),
                "{}",
                form.name
            );
        }
    }
    // A card payment is a provider token or (the test gateway only) a
    // raw test card: both are in the schema, the token with its shape.
    let payment = &doc["components"]["schemas"]["PaymentInput"];
    assert_eq!(payment["required"], json!(["method"]), "{payment}");
    assert!(
        payment["properties"]["token"]["pattern"].is_string(),
        "{payment}"
    );
    assert!(payment["properties"]["card"].is_object(), "{payment}");
}

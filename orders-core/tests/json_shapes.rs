//! The public JSON of a product, a priced cart, an order and a discount,
//! pinned to the byte (the text release 0.1.0's types wrote): how the
//! aggregates are built inside may change, what the API sends may not.
#![cfg(feature = "testkit")]

use std::sync::Arc;

use futures_executor::block_on;
use orders_core::cart::Quantity;
use orders_core::catalogue::{NewProduct, ProductName, Sku};
use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::ids::{CustomerId, ProductId};
use orders_core::memory::MemoryStore;
use orders_core::money::{Currency, Money};
use orders_core::ports::{Clock, ManualClock, TestGateway};
use orders_core::testkit::form;
use orders_core::{Orders, OrdersConfig};
use serde_json::Value;

/// `json` with the random ids in `ids` replaced by their names.
fn named(mut json: String, ids: &[(&str, &str)]) -> String {
    for (id, name) in ids {
        json = json.replace(id, name);
    }
    json
}

#[test]
fn a_product_a_cart_an_order_and_a_discount_serialise_as_the_api_says() {
    block_on(async {
        let clock = Arc::new(ManualClock::new("2026-11-25T12:00:00Z".parse().unwrap()));
        let orders = Orders::builder(Arc::new(MemoryStore::new()))
            .config(OrdersConfig::demo())
            .payments(Arc::new(TestGateway::new()))
            .clock(clock.clone())
            .build();
        let ada = CustomerId::parse("ada").unwrap();
        let tea = orders
            .create_product(NewProduct::new(
                Sku::parse("TEA-1").unwrap(),
                ProductName::parse("Earl Grey").unwrap(),
                Money::parse_price("4.50", Currency::USD).unwrap(),
                10,
            ))
            .await
            .unwrap();
        let product = serde_json::to_string(&tea).unwrap();
        let product_id = serde_json::from_str::<Value>(&product).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let discount = Discount::new(
            DiscountCode::parse("TEN").unwrap(),
            DiscountKind::percent("10").unwrap(),
            clock.now(),
        );
        let discount =
            serde_json::to_string(&orders.create_discount(discount).await.unwrap()).unwrap();
        let cart = orders.create_cart(&ada, None).await.unwrap();
        let cart_id = cart.id.to_string();
        orders
            .add_to_cart(
                &ada,
                &cart.id,
                &ProductId::parse(&product_id).unwrap(),
                Quantity::new(3).unwrap(),
            )
            .await
            .unwrap();
        let priced = orders.apply_discount(&ada, &cart.id, "ten").await.unwrap();
        let priced = serde_json::to_string(&priced).unwrap();
        let placed = orders
            .checkout(&ada, &cart.id, form(Some("4242424242424242")), Some("k"))
            .await
            .unwrap();
        let order = serde_json::to_string(&placed.order).unwrap();
        let order_id = serde_json::from_str::<Value>(&order).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ids = [
            (product_id.as_str(), "PRODUCT"),
            (cart_id.as_str(), "CART"),
            (order_id.as_str(), "ORDER"),
        ];

        assert_eq!(
            named(product, &ids),
            r#"{"id":"PRODUCT","sku":"TEA-1","name":"Earl Grey","description":"","price":"4.50","currency":"USD","stock":10,"active":true,"tax_class":"standard","created_at":"2026-11-25T12:00:00Z","updated_at":"2026-11-25T12:00:00Z","version":1,"image":null}"#
        );
        assert_eq!(
            named(priced, &ids),
            r#"{"id":"CART","currency":"USD","lines":[{"product_id":"PRODUCT","sku":"TEA-1","name":"Earl Grey","quantity":3,"unit_price":"4.50","line_subtotal":"13.50","line_discount":"1.35","line_tax":"0.00","line_total":"12.15"}],"discount_code":"TEN","subtotal":"13.50","discount_total":"1.35","shipping_total":"4.99","tax_total":"0.00","total":"17.14","status":"open","version":3}"#
        );
        assert_eq!(
            named(order, &ids),
            r#"{"id":"ORDER","number":"1","status":"paid","currency":"USD","email":"ada@example.com","lines":[{"product_id":"PRODUCT","sku":"TEA-1","name":"Earl Grey","quantity":3,"unit_price":"4.50","line_subtotal":"13.50","line_discount":"1.35","line_tax":"0.00","line_total":"12.15"}],"subtotal":"13.50","discount_total":"1.35","shipping_total":"4.99","tax_total":"0.00","total":"17.14","discount_code":"TEN","shipping_address":{"full_name":"Ada Lovelace","line1":"1 Main St","line2":null,"city":"Springfield","region":null,"postal_code":"12345","country":"US","phone":null},"shipping_method":"standard","payment":{"method":"card","brand":"visa","last4":"4242","status":"captured","authorized":"17.14","captured":"17.14","refunded":"0.00","next_action":null},"tracking_number":null,"fulfilments":[],"returns":[],"refunds":[],"notes":[],"fulfilment_status":"unfulfilled","refunded_total":"0.00","created_at":"2026-11-25T12:00:00Z","updated_at":"2026-11-25T12:00:00Z","version":2}"#
        );
        assert_eq!(
            discount,
            r#"{"code":"TEN","kind":"percent","value":"10","min_subtotal":null,"max_uses":null,"uses":0,"max_uses_per_customer":null,"active":true,"expires_at":null,"created_at":"2026-11-25T12:00:00Z"}"#
        );
    });
}

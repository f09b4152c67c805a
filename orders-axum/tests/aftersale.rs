//! After the sale over HTTP, on the real router and a real port: each
//! route of API.md's "Fulfilments", "Returns and refunds" and "Notes" for
//! its happy path (the answer checked against the OpenAPI document) and
//! its refusals. The races are in `aftersale_races.rs`, the internal
//! notes' privacy in `notes.rs`.

mod common;

use common::aftersale::*;
use common::shop::*;
use common::*;
use serde_json::json;

#[tokio::test]
async fn staff_ship_part_then_the_rest_and_the_order_follows() {
    let shop = shop().await;
    let sold = shop.sold().await;

    let first = shop.ship(&sold.id, &[(&sold.a, 1)], "TRK-1").await;

    let fulfilment = first.ok(201);
    let path = "/api/admin/orders/{id}/fulfilments";
    assert_documented(&shop.doc, "post", path, 201, fulfilment);
    assert_eq!(fulfilment["status"], "shipped");
    assert_eq!(fulfilment["tracking_number"], "TRK-1");
    assert_eq!(fulfilment["carrier"], "DHL");
    let order = shop.staff_order(&sold.id).await;
    assert_eq!(order["status"], "partially_shipped");
    assert_eq!(order["fulfilment_status"], "partial");
    assert_eq!(order["fulfilments"].as_array().unwrap().len(), 1);
    assert_documented(&shop.doc, "get", "/api/admin/orders/{id}", 200, &order);

    let rest = shop
        .ship(&sold.id, &[(&sold.a, 1), (&sold.b, 1)], "TRK-2")
        .await;

    rest.ok(201);
    let order = shop.staff_order(&sold.id).await;
    assert_eq!(order["status"], "shipped");
    assert_eq!(order["fulfilment_status"], "fulfilled");
    // The shares of the two fulfilments add up to the total exactly.
    let shares: i64 = order["fulfilments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| minor(&f["amount"]))
        .sum();
    assert_eq!(shares, minor(&order["total"]));
}

#[tokio::test]
async fn shipping_more_than_is_left_or_from_a_pending_order_is_refused() {
    let shop = shop().await;
    let sold = shop.sold().await;
    shop.ship(&sold.id, &[(&sold.a, 1)], "TRK-1").await.ok(201);

    let too_many = shop.ship(&sold.id, &[(&sold.a, 2)], "TRK-2").await;

    too_many.problem(422, "validation");
    too_many.fields(&["lines"]);
    assert_eq!(
        shop.staff_order(&sold.id).await["fulfilments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let pending = shop.app.order(ADA, false).await;
    let id = pending["id"].as_str().unwrap();
    let product = &pending["lines"][0]["product_id"];
    let body = json!({"lines": [{"product_id": product, "quantity": 1}], "tracking_number": "T"});
    let refused = shop
        .app
        .post(&format!("/api/admin/orders/{id}/fulfilments"), STAFF, body)
        .await;
    refused.problem(409, "invalid_transition");

    let customer = shop
        .app
        .post(
            &format!("/api/admin/orders/{id}/fulfilments"),
            ADA,
            json!({}),
        )
        .await;
    customer.problem(403, "forbidden");
}

#[tokio::test]
async fn delivering_every_fulfilment_delivers_the_order_once() {
    let shop = shop().await;
    let sold = shop.sold().await;
    let one = shop.ship(&sold.id, &[(&sold.a, 2)], "TRK-1").await;
    let two = shop.ship(&sold.id, &[(&sold.b, 1)], "TRK-2").await;
    let (one, two) = (one.ok(201)["id"].clone(), two.ok(201)["id"].clone());

    let first = shop.deliver(one.as_str().unwrap()).await;

    let delivered = first.ok(200);
    assert_documented(
        &shop.doc,
        "post",
        "/api/admin/fulfilments/{id}/delivered",
        200,
        delivered,
    );
    assert_eq!(delivered["status"], "delivered");
    assert!(delivered["delivered_at"].is_string());
    assert_eq!(shop.staff_order(&sold.id).await["status"], "shipped");
    shop.deliver(two.as_str().unwrap()).await.ok(200);
    assert_eq!(shop.staff_order(&sold.id).await["status"], "delivered");

    let again = shop.deliver(one.as_str().unwrap()).await;
    again.problem(409, "invalid_transition");
    shop.deliver("no-such-fulfilment")
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn the_customer_returns_delivered_units_and_staff_receive_them_into_stock() {
    let shop = shop().await;
    let sold = shop.delivered().await;
    let stock = shop.app.stock(&sold.a).await;

    let asked = shop.ask_return(ADA, &sold.id, &[(&sold.a, 1)]).await;

    let ret = asked.ok(201);
    assert_documented(&shop.doc, "post", "/api/orders/{id}/returns", 201, ret);
    assert_eq!(ret["status"], "requested");
    assert_eq!(ret["reason"], "Too small");
    let ret = ret["id"].as_str().unwrap().to_owned();
    let approved = shop.move_return(&ret, "approve", None).await;
    assert_documented(
        &shop.doc,
        "post",
        "/api/admin/returns/{id}/approve",
        200,
        approved.ok(200),
    );
    assert_eq!(approved.ok(200)["status"], "approved");
    let received = shop
        .move_return(&ret, "receive", Some(json!({"restock": true})))
        .await;
    assert_eq!(received.ok(200)["status"], "received");
    assert_eq!(received.ok(200)["restocked"], true);
    assert_eq!(shop.app.stock(&sold.a).await, stock + 1);

    // Received once: a second receipt is refused and restocks nothing.
    let again = shop
        .move_return(&ret, "receive", Some(json!({"restock": true})))
        .await;
    again.problem(409, "invalid_transition");
    assert_eq!(shop.app.stock(&sold.a).await, stock + 1);
}

#[tokio::test]
async fn returns_are_refused_beyond_what_was_delivered_before_delivery_and_to_others() {
    let shop = shop().await;
    let paid = shop.sold().await;
    let early = shop.ask_return(ADA, &paid.id, &[(&paid.a, 1)]).await;
    early.problem(409, "invalid_transition");

    let sold = shop.delivered().await;
    let too_many = shop.ask_return(ADA, &sold.id, &[(&sold.a, 3)]).await;
    too_many.problem(422, "validation");
    too_many.fields(&["lines"]);
    let no_reason = shop
        .app
        .post(
            &format!("/api/orders/{}/returns", sold.id),
            ADA,
            json!({"lines": lines(&[(&sold.a, 1)])}),
        )
        .await;
    no_reason.fields(&["reason"]);
    shop.ask_return(BOB, &sold.id, &[(&sold.a, 1)])
        .await
        .problem(404, "not_found");

    // A rejected return needs a note and frees its units again.
    let ret = shop.ask_return(ADA, &sold.id, &[(&sold.a, 2)]).await;
    let ret = ret.ok(201)["id"].as_str().unwrap().to_owned();
    shop.move_return(&ret, "reject", Some(json!({})))
        .await
        .fields(&["note"]);
    let rejected = shop
        .move_return(&ret, "reject", Some(json!({"note": "Worn"})))
        .await;
    assert_eq!(rejected.ok(200)["status"], "rejected");
    shop.move_return(&ret, "approve", None)
        .await
        .problem(409, "invalid_transition");
    shop.ask_return(ADA, &sold.id, &[(&sold.a, 2)])
        .await
        .ok(201);
}

#[tokio::test]
async fn a_line_refunded_unit_by_unit_adds_up_to_its_total_and_then_the_order_is_refunded() {
    let shop = shop().await;
    let sold = shop.delivered().await;
    let order = shop.staff_order(&sold.id).await;
    let line_a = minor(&order["lines"][0]["line_total"]);

    let first = shop
        .refund(
            &sold.id,
            json!({"lines": lines(&[(&sold.a, 1)]), "note": "Broken"}),
        )
        .await;

    let refund = first.ok(201);
    assert_documented(
        &shop.doc,
        "post",
        "/api/admin/orders/{id}/refunds",
        201,
        refund,
    );
    assert_eq!(refund["status"], "succeeded");
    let second = shop
        .refund(&sold.id, json!({"lines": lines(&[(&sold.a, 1)])}))
        .await;
    assert_eq!(
        minor(&refund["amount"]) + minor(&second.ok(201)["amount"]),
        line_a
    );
    assert_eq!(shop.provider_refunds(&sold.id).await.0, 2);

    // What is left: line b and shipping.
    shop.refund(
        &sold.id,
        json!({"lines": lines(&[(&sold.b, 1)]), "shipping": true}),
    )
    .await
    .ok(201);

    let order = shop.staff_order(&sold.id).await;
    assert_eq!(order["status"], "refunded");
    assert_eq!(order["refunded_total"], order["total"]);
    assert_eq!(order["payment"]["status"], "refunded");
    let (count, refunded) = shop.provider_refunds(&sold.id).await;
    assert_eq!(
        (count, refunded.as_str()),
        (3, order["total"].as_str().unwrap())
    );
}

#[tokio::test]
async fn refunding_more_than_is_left_is_refused_and_refunds_nothing() {
    let shop = shop().await;
    let sold = shop.delivered().await;
    shop.refund(&sold.id, json!({"amount": "20.00"}))
        .await
        .ok(201);
    let total = shop.staff_order(&sold.id).await["total"].clone();

    let over = shop.refund(&sold.id, json!({"amount": total})).await;

    over.problem(422, "validation");
    over.fields(&["amount"]);
    let twice = shop
        .refund(&sold.id, json!({"lines": lines(&[(&sold.b, 2)])}))
        .await;
    twice.problem(422, "validation");
    let both = shop
        .refund(&sold.id, json!({"amount": "1.00", "shipping": true}))
        .await;
    both.fields(&["amount"]);
    assert_eq!(shop.provider_refunds(&sold.id).await.0, 1);
    let order = shop.staff_order(&sold.id).await;
    assert_eq!(order["refunded_total"], "20.00");
    assert_eq!(order["refunds"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_note_says_whether_the_customer_sees_it() {
    let shop = shop().await;
    let sold = shop.sold().await;

    let note = shop.note(&sold.id, "Gift wrap it", true).await;

    let note = note.ok(201);
    assert_documented(&shop.doc, "post", "/api/admin/orders/{id}/notes", 201, note);
    assert_eq!(note["visible_to_customer"], true);
    assert_eq!(note["author"], "staff:staff");
    let unsaid = shop
        .app
        .post(
            &format!("/api/admin/orders/{}/notes", sold.id),
            STAFF,
            json!({"text": "Which one?"}),
        )
        .await;
    unsaid.fields(&["visible_to_customer"]);
    shop.note("no-such-order", "x", false)
        .await
        .problem(404, "not_found");
}

/// A money string in minor units (two decimals here).
fn minor(value: &serde_json::Value) -> i64 {
    let text = value.as_str().unwrap();
    let (units, cents) = text.split_once('.').unwrap();
    units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

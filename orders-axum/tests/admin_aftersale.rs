//! The admin order page after the sale, as a browser without JavaScript
//! uses it: ship selected units, mark them delivered, decide and receive
//! returns, refund with the amount shown before confirming, cancel with a
//! confirmation, add notes saying who sees them; the timeline names who
//! acted (the staff member's email from the host, or "customer").
#![cfg(feature = "admin")]

#[path = "admin_support/mod.rs"]
mod support;

use orders_core::Access;
use orders_core::cart::Quantity;
use orders_core::catalogue::Product;
use orders_core::order::{FulfilmentRequest, ItemLine, ReturnReason, ReturnRequest};
use support::reexports::*;
use support::*;

/// An order of "shopper" paid by card: 2 of `a` (10.00), 1 of `b` (5.00).
async fn two_lines(app: &App) -> (Order, Product, Product) {
    let a = testkit::product(&app.orders, "10.00", 10).await;
    let b = testkit::product(&app.orders, "5.00", 10).await;
    let customer = CustomerId::parse("shopper").unwrap();
    let cart = testkit::cart_with(&app.orders, &customer, &[(a.id(), 2), (b.id(), 1)]).await;
    let form = testkit::form(Some("4242424242424242"));
    let order = app.orders.checkout(&customer, &cart, form, None).await;
    (order.unwrap().order, a, b)
}

fn unit(product: &Product, n: u32) -> ItemLine {
    ItemLine {
        product_id: product.id().clone(),
        quantity: Quantity::new(n).unwrap(),
    }
}

/// [`two_lines`], shipped whole and delivered through the engine.
async fn delivered(app: &App) -> (Order, Product, Product) {
    let (order, a, b) = two_lines(app).await;
    let request = FulfilmentRequest {
        lines: vec![unit(&a, 2), unit(&b, 1)],
        carrier: None,
        tracking_number: TrackingNumber::parse("TRK-ALL").unwrap(),
    };
    let (_, f) = app
        .orders
        .create_fulfilment(Actor::system(), order.id(), request)
        .await
        .unwrap();
    let (order, _) = app
        .orders
        .mark_delivered(Actor::system(), &f.id)
        .await
        .unwrap();
    (order, a, b)
}

async fn current(app: &App, order: &Order) -> Order {
    app.orders.order(Access::Staff, order.id()).await.unwrap()
}

/// The hidden fields of a confirmation page's form, as posted back.
fn hidden_fields(page: &Page) -> Vec<(String, String)> {
    page.body
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .split("value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

async fn confirm(browser: &mut Browser, action: &str, page: &Page) -> Page {
    assert!(page.has("id=\"confirm-yes\""), "{}", page.body);
    let fields = hidden_fields(page);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post(action, &fields).await
}

#[tokio::test]
async fn staff_ship_selected_units_then_mark_them_delivered() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let (order, a, b) = two_lines(&app).await;
    let page = format!("/admin/orders/{}", order.id());
    let qty_a = format!("qty_{}", a.id());
    let qty_b = format!("qty_{}", b.id());

    let shipped = browser
        .submit(
            &page,
            &format!("{page}/fulfil"),
            &[
                (&qty_a, "1"),
                (&qty_b, "0"),
                ("carrier", "DHL"),
                ("tracking_number", "TRK-P"),
            ],
        )
        .await;

    assert_eq!(shipped.status, StatusCode::SEE_OTHER, "{}", shipped.body);
    assert_eq!(shipped.location(), format!("{page}?done=shipped"));
    let now = current(&app, &order).await;
    assert_eq!(now.status(), OrderStatus::PartiallyShipped);
    let shown = browser.get(shipped.location()).await;
    assert!(shown.has("Fulfilment shipped."));
    assert!(shown.has("TRK-P") && shown.has("Mark delivered"));
    // Shipping the rest by transition stays; partly shipping is the form's.
    assert!(shown.moves().contains(&"shipped".to_owned()));
    assert!(!shown.moves().contains(&"partially_shipped".to_owned()));
    // What is left to ship: 1 of a, 1 of b.
    assert!(shown.has(&format!(
        "name=\"{qty_a}\" type=\"number\" min=\"0\" max=\"1\""
    )));

    let too_many = browser
        .submit(
            &page,
            &format!("{page}/fulfil"),
            &[(&qty_a, "5"), ("tracking_number", "T")],
        )
        .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_many.has("left unshipped"), "{}", too_many.body);

    let fulfilment = now.fulfilments()[0].id.clone();
    let action = format!("/admin/fulfilments/{}/delivered", fulfilment.as_str());
    let delivered = browser
        .submit(&page, &action, &[("order", order.id().as_str())])
        .await;
    assert_eq!(
        delivered.status,
        StatusCode::SEE_OTHER,
        "{}",
        delivered.body
    );
    let now = current(&app, &order).await;
    assert!(now.fulfilments()[0].delivered_at.is_some());
}

#[tokio::test]
async fn a_refund_shows_its_amount_and_refunds_only_once_confirmed() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let (order, a, _) = delivered(&app).await;
    let page = format!("/admin/orders/{}", order.id());
    let action = format!("{page}/refund");
    let qty_a = format!("qty_{}", a.id());

    let asked = browser
        .submit(&page, &action, &[(&qty_a, "1"), ("note", "Scratched")])
        .await;

    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let share = order.lines()[0].line_total.to_minor() / 2;
    let amount = format!("{}.{:02} USD", share / 100, share % 100);
    assert!(asked.has(&format!("Refund {amount}")), "{}", asked.body);
    assert!(current(&app, &order).await.refunds().is_empty());

    let done = confirm(&mut browser, &action, &asked).await;

    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let now = current(&app, &order).await;
    assert_eq!(now.refunds().len(), 1);
    assert_eq!(now.refunds()[0].amount.to_minor(), share);
    let shown = browser.get(&page).await;
    assert!(shown.has(&amount) && shown.has("Scratched"));
}

#[tokio::test]
async fn cancelling_asks_for_confirmation_first() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let (order, _, _) = two_lines(&app).await;
    let page = format!("/admin/orders/{}", order.id());
    let action = format!("{page}/transition");

    let asked = browser.submit(&page, &action, &[("to", "cancelled")]).await;

    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.has("Cancel this order?"));
    assert_eq!(current(&app, &order).await.status(), OrderStatus::Paid);
    let done = confirm(&mut browser, &action, &asked).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(current(&app, &order).await.status(), OrderStatus::Cancelled);
}

#[tokio::test]
async fn returns_are_decided_and_received_back_into_stock() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let (order, a, _) = delivered(&app).await;
    let customer = CustomerId::parse("shopper").unwrap();
    let ask = |n| ReturnRequest {
        lines: vec![unit(&a, n)],
        reason: ReturnReason::parse("Too small").unwrap(),
    };
    let (_, first) = app
        .orders
        .request_return(&customer, order.id(), ask(1))
        .await
        .unwrap();
    let page = format!("/admin/orders/{}", order.id());
    let base = format!("/admin/returns/{}", first.id.as_str());
    let order_field = ("order", order.id().as_str());
    assert!(browser.get(&page).await.has(&format!("{base}/approve")));

    let approved = browser
        .submit(&page, &format!("{base}/approve"), &[order_field])
        .await;
    assert_eq!(approved.location(), format!("{page}?done=approved"));
    let stock = app.orders.product(a.id()).await.unwrap().stock();
    let received = browser
        .submit(
            &page,
            &format!("{base}/receive"),
            &[order_field, ("restock", "yes")],
        )
        .await;
    assert_eq!(received.status, StatusCode::SEE_OTHER, "{}", received.body);
    assert_eq!(app.orders.product(a.id()).await.unwrap().stock(), stock + 1);
    assert!(browser.get(&page).await.has("Refund this return"));

    // A rejection is irreversible: confirmed first.
    let (_, second) = app
        .orders
        .request_return(&customer, order.id(), ask(1))
        .await
        .unwrap();
    let reject = format!("/admin/returns/{}/reject", second.id.as_str());
    let asked = browser
        .submit(&page, &reject, &[order_field, ("note", "Worn")])
        .await;
    assert!(asked.has("Reject this return?"), "{}", asked.body);
    let done = confirm(&mut browser, &reject, &asked).await;
    assert_eq!(done.location(), format!("{page}?done=rejected"));
}

#[tokio::test]
async fn notes_say_who_sees_them_and_the_timeline_names_who_acted() {
    let app = spawn(25).await;
    let mut browser = staff(&app).await;
    let (order, a, _) = delivered(&app).await;
    let customer = CustomerId::parse("shopper").unwrap();
    let ask = ReturnRequest {
        lines: vec![unit(&a, 1)],
        reason: ReturnReason::parse("Too small").unwrap(),
    };
    app.orders
        .request_return(&customer, order.id(), ask)
        .await
        .unwrap();
    let page = format!("/admin/orders/{}", order.id());
    let action = format!("{page}/notes");

    let unsaid = browser
        .submit(&page, &action, &[("text", "Called them")])
        .await;
    assert_eq!(
        unsaid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unsaid.body
    );
    assert!(unsaid.has("visible_to_customer"), "{}", unsaid.body);
    assert!(current(&app, &order).await.notes().is_empty());

    let noted = browser
        .submit(
            &page,
            &action,
            &[("text", "Called them"), ("visibility", "internal")],
        )
        .await;
    assert_eq!(noted.status, StatusCode::SEE_OTHER, "{}", noted.body);
    let now = current(&app, &order).await;
    assert!(!now.notes()[0].visible_to_customer);

    let shown = browser.get(&page).await;
    let timeline = shown.body.split("id=\"order-events\"").nth(1).unwrap();
    assert!(timeline.contains("staff@example.com"), "{timeline}");
    assert!(timeline.contains(">customer<"), "{timeline}");
    assert!(!timeline.contains("staff:staff"), "{timeline}");
    assert!(shown.has("note-internal") && shown.has("Called them"));
}

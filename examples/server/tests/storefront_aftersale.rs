//! The storefront's order page after the sale, from a plain HTTP client
//! with the customer's cookie session, against the real binary: it shows
//! shipments with their tracking numbers, refunds and the shop's visible
//! notes, never an internal note; the customer cancels while nothing has
//! shipped, and asks to return delivered units (a refusal shown beside
//! the form).

mod common;

use common::pages::post_form;
use common::{CARD_OK, Server, hidden};
use serde_json::{Value, json};

const SECRET: &str = "INTERNAL: check this customer's address twice";
const VISIBLE: &str = "Thank you, your parcel leaves tomorrow";

/// A customer signed in on the pages (cookie) and in the API (token).
struct Customer {
    pages: reqwest::Client,
    token: String,
}

async fn customer(server: &Server) -> Customer {
    let pages = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = pages.get(server.url("/register")).send().await.unwrap();
    let csrf = hidden(&form.text().await.unwrap(), "csrf_token");
    let email = format!("after{}@example.com", common::unique());
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("email", email.as_str()),
        ("password", "a long password"),
    ];
    let registered = post_form(&pages, server.url("/register"), &fields).await;
    assert_eq!(registered.status(), 303);
    let login = json!({"email": email, "password": "a long password"});
    let (_, body) = server
        .call("POST", "/api/auth/login", None, Some(login))
        .await;
    let token = body["token"].as_str().unwrap().to_owned();
    Customer { pages, token }
}

/// An order of `who` for 2 units of `product`, paid by card.
async fn order(server: &Server, who: &Customer, product: &str) -> String {
    let cart = server.cart(&who.token, product, 2).await;
    let (status, order) = server.checkout(&who.token, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    order["id"].as_str().unwrap().to_owned()
}

async fn page(server: &Server, who: &Customer, id: &str) -> (u16, String) {
    let response = who
        .pages
        .get(server.url(&format!("/orders/{id}")))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn staff_post(server: &Server, staff: &str, path: &str, body: Value) -> Value {
    let (status, body) = server.call("POST", path, Some(staff), Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_page_shows_shipments_refunds_and_visible_notes_never_internal_ones() {
    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let staff = server.staff().await;
    let product = server.product(&staff, 20).await;
    let ada = customer(&server).await;
    let id = order(&server, &ada, &product).await;
    let notes = format!("/api/admin/orders/{id}/notes");
    staff_post(
        &server,
        &staff,
        &notes,
        json!({"text": SECRET, "visible_to_customer": false}),
    )
    .await;
    staff_post(
        &server,
        &staff,
        &notes,
        json!({"text": VISIBLE, "visible_to_customer": true}),
    )
    .await;
    let lines = json!([{"product_id": product, "quantity": 1}]);
    let ship = format!("/api/admin/orders/{id}/fulfilments");
    staff_post(
        &server,
        &staff,
        &ship,
        json!({"lines": lines, "tracking_number": "TRK-ONE"}),
    )
    .await;
    let refunds = format!("/api/admin/orders/{id}/refunds");
    staff_post(&server, &staff, &refunds, json!({"amount": "1.00"})).await;

    let (status, html) = page(&server, &ada, &id).await;

    assert_eq!(status, 200);
    assert!(html.contains("TRK-ONE"), "the shipment's tracking number");
    assert!(html.contains(VISIBLE), "the visible note");
    assert!(!html.contains(SECRET), "never the internal note");
    assert!(!html.contains("INTERNAL"), "nor any part of it");
    assert!(html.contains("1.00 USD"), "the refund");
    assert!(
        !html.contains("id=\"cancel-form\""),
        "nothing to cancel once shipped"
    );
    assert!(
        !html.contains("id=\"return-form\""),
        "nothing to return before delivery"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_cancels_before_shipping_and_returns_after_delivery() {
    let (database, _dir) = common::sqlite_url();
    common::create_staff(&database);
    let server = Server::start(&database);
    let staff = server.staff().await;
    let product = server.product(&staff, 20).await;
    let ada = customer(&server).await;

    // Cancel while nothing has shipped.
    let first = order(&server, &ada, &product).await;
    let (_, html) = page(&server, &ada, &first).await;
    assert!(html.contains("id=\"cancel-form\""));
    let csrf = hidden(&html, "csrf_token");
    let url = server.url(&format!("/orders/{first}/cancel"));
    let cancelled = post_form(&ada.pages, url, &[("csrf_token", &csrf)]).await;
    assert_eq!(cancelled.status(), 303);
    let path = format!("/api/orders/{first}");
    let (_, now) = server.call("GET", &path, Some(&ada.token), None).await;
    assert_eq!(now["status"], "cancelled");

    // Return one of two delivered units.
    let id = order(&server, &ada, &product).await;
    let lines = json!([{"product_id": product, "quantity": 2}]);
    let ship = format!("/api/admin/orders/{id}/fulfilments");
    let shipped = staff_post(
        &server,
        &staff,
        &ship,
        json!({"lines": lines, "tracking_number": "T"}),
    )
    .await;
    let delivered = format!(
        "/api/admin/fulfilments/{}/delivered",
        shipped["id"].as_str().unwrap()
    );
    let (status, _) = server.call("POST", &delivered, Some(&staff), None).await;
    assert_eq!(status, 200);
    let (_, html) = page(&server, &ada, &id).await;
    assert!(html.contains("id=\"return-form\""), "{html}");
    let csrf = hidden(&html, "csrf_token");
    let field = format!("qty_{product}");
    let url = server.url(&format!("/orders/{id}/returns"));

    let too_many = [
        ("csrf_token", csrf.as_str()),
        (field.as_str(), "3"),
        ("reason", "Too big"),
    ];
    let refused = post_form(&ada.pages, url.clone(), &too_many).await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"return-error\"")
    );

    let one = [
        ("csrf_token", csrf.as_str()),
        (field.as_str(), "1"),
        ("reason", "Too big"),
    ];
    let asked = post_form(&ada.pages, url, &one).await;
    assert_eq!(asked.status(), 303);
    let path = format!("/api/orders/{id}");
    let (_, now) = server.call("GET", &path, Some(&ada.token), None).await;
    assert_eq!(now["returns"][0]["status"], "requested");
    assert_eq!(now["returns"][0]["lines"][0]["quantity"], 1);
}

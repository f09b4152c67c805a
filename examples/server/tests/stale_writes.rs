//! Stale admin writes, against the real `orders-server` binary on SQLite
//! and on PostgreSQL: an edit made from a product opened before a sale
//! cannot undo the sale.
//!
//! The sequence, through the JSON API and through the panel's form: stock
//! 10; staff open the product; a customer buys 3; the save of what staff
//! opened (a rename, re-sending the stock it loaded) is refused with 409
//! and the current values, and the stock stays 7; with the fresh version
//! the rename lands and the stock stays 7; an adjustment of +5 gives 12
//! without any version; -20 is refused and changes nothing.

mod common;

use std::sync::Arc;

use common::{CARD_OK, STAFF_EMAIL, STAFF_PASSWORD, Server};
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use serde_json::{Value, json};

/// Starts the server on `database` with the staff account, and a product
/// of 10 units: the server, the staff token and the product's id.
async fn shop(database: &str) -> (Server, String, String) {
    common::create_staff(database);
    let server = Server::start(database);
    let staff = server.staff().await;
    let product = server.product(&staff, 10).await;
    (server, staff, product)
}

/// A customer of `server` buys `quantity` of `product`.
async fn buy(server: &Server, product: &str, quantity: u32) {
    let customer = server.customer().await;
    let cart = server.cart(&customer, product, quantity).await;
    let (status, order) = server.checkout(&customer, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
}

/// The product as the admin API reads it.
async fn read(server: &Server, staff: &str, product: &str) -> Value {
    let (status, body) = server
        .call(
            "GET",
            &format!("/api/admin/products/{product}"),
            Some(staff),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn api_sequence(database: &str) {
    let (server, staff, product) = shop(database).await;
    let path = format!("/api/admin/products/{product}");
    let opened = read(&server, &staff, &product).await;
    assert_eq!(opened["stock"], 10);

    buy(&server, &product, 3).await;

    // The save of the copy opened before the sale: every field it loaded,
    // renamed, with the version it was read at.
    let mut resave = opened.clone();
    resave["name"] = json!("Renamed");
    let body = json!({
        "name": resave["name"], "description": resave["description"], "price": resave["price"],
        "stock": resave["stock"], "active": resave["active"], "version": resave["version"],
    });
    let (status, refused) = server.call("PATCH", &path, Some(&staff), Some(body)).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "stale");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("changed since you opened it"),
        "{refused}"
    );
    assert_eq!(refused["current"]["stock"], 7, "the current values");
    assert_eq!(refused["current"]["name"], opened["name"]);
    let current_version = refused["current"]["version"].as_u64().unwrap();
    assert!(current_version > opened["version"].as_u64().unwrap());
    let now = read(&server, &staff, &product).await;
    assert_eq!((&now["stock"], &now["name"]), (&json!(7), &opened["name"]));

    // A rename alone, from the stale version: refused too.
    let (status, _) = server
        .call(
            "PATCH",
            &path,
            Some(&staff),
            Some(json!({"name": "Renamed", "version": opened["version"]})),
        )
        .await;
    assert_eq!(status, 409);
    // An absolute count without a version: 422 on `version`.
    let (status, body) = server
        .call("PATCH", &path, Some(&staff), Some(json!({"stock": 10})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["version"].is_array(), "{body}");
    assert_eq!(read(&server, &staff, &product).await["stock"], 7);

    // With the fresh version the rename lands; the stock stays 7.
    let (status, renamed) = server
        .call(
            "PATCH",
            &path,
            Some(&staff),
            Some(json!({"name": "Renamed", "version": current_version})),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(
        (&renamed["name"], &renamed["stock"]),
        (&json!("Renamed"), &json!(7))
    );

    // +5 without any version: 12.
    let (status, adjusted) = server
        .call(
            "PATCH",
            &path,
            Some(&staff),
            Some(json!({"stock_adjustment": 5})),
        )
        .await;
    assert_eq!(status, 200, "{adjusted}");
    assert_eq!(adjusted["stock"], 12);

    // -20: refused, nothing changes.
    let (status, body) = server
        .call(
            "PATCH",
            &path,
            Some(&staff),
            Some(json!({"stock_adjustment": -20})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["stock_adjustment"].is_array(), "{body}");
    assert_eq!(read(&server, &staff, &product).await, adjusted);
}

/// A staff browser on the panel: a cookie jar, redirects not followed.
struct Panel<'a> {
    server: &'a Server,
    client: reqwest::Client,
}

struct Page {
    status: StatusCode,
    body: String,
}

impl Page {
    /// The `value` of the `<input>` whose attributes contain `needle`.
    fn input(&self, needle: &str) -> String {
        let at = self
            .body
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle} in\n{}", self.body));
        let start = self.body[..at].rfind('<').unwrap();
        let tag = &self.body[start..at + self.body[at..].find('>').unwrap()];
        let value = tag.split("value=\"").nth(1).unwrap_or("");
        value[..value.find('"').unwrap()].to_owned()
    }

    fn csrf(&self) -> String {
        self.input("name=\"csrf_token\"")
    }

    fn version(&self) -> String {
        self.input("name=\"version\"")
    }

    /// The stock the form says is in stock now.
    fn current_stock(&self) -> String {
        let at = self
            .body
            .find("id=\"current-stock\">")
            .expect("current stock")
            + 19;
        self.body[at..at + self.body[at..].find('<').unwrap()].to_owned()
    }
}

impl<'a> Panel<'a> {
    async fn sign_in(server: &'a Server) -> Self {
        let client = reqwest::Client::builder()
            .cookie_provider(Arc::new(Jar::default()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let panel = Self { server, client };
        let login = panel.get("/admin/login").await;
        let signed_in = panel
            .post(
                "/admin/login",
                &[
                    ("email", STAFF_EMAIL),
                    ("password", STAFF_PASSWORD),
                    ("csrf_token", &login.csrf()),
                ],
            )
            .await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        panel
    }

    async fn get(&self, path: &str) -> Page {
        let response = self.client.get(self.server.url(path)).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        Page { status, body }
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .client
            .post(self.server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        Page { status, body }
    }

    /// Saves the edit form `page` (as loaded) with `name` and `adjustment`.
    async fn save(&self, path: &str, page: &Page, name: &str, adjustment: &str) -> Page {
        let (csrf, version) = (page.csrf(), page.version());
        let (price, description) = (page.input("id=\"field-price\""), String::new());
        self.post(
            path,
            &[
                ("csrf_token", &csrf),
                ("version", &version),
                ("name", name),
                ("description", &description),
                ("price", &price),
                ("stock_adjustment", adjustment),
                ("stock", ""),
                ("active", "on"),
            ],
        )
        .await
    }
}

async fn panel_sequence(database: &str) {
    let (server, staff, product) = shop(database).await;
    let panel = Panel::sign_in(&server).await;
    let path = format!("/admin/products/{product}");
    let opened = panel.get(&path).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    assert_eq!(opened.current_stock(), "10");

    buy(&server, &product, 3).await;

    // The form opened before the sale, saved with a new name: refused, and
    // shown again with the current values and their version.
    let refused = panel.save(&path, &opened, "Renamed", "").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("This product changed since you opened it")
    );
    assert_eq!(refused.current_stock(), "7");
    assert_eq!(refused.input("id=\"field-name\""), "Test product");
    assert_ne!(refused.version(), opened.version());
    let now = read(&server, &staff, &product).await;
    assert_eq!(
        (&now["stock"], &now["name"]),
        (&json!(7), &json!("Test product"))
    );

    // Saved again from the refreshed form: the rename lands, stock 7.
    let saved = panel.save(&path, &refused, "Renamed", "").await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let now = read(&server, &staff, &product).await;
    assert_eq!(
        (&now["stock"], &now["name"]),
        (&json!(7), &json!("Renamed"))
    );

    // "+5": 12.
    let form = panel.get(&path).await;
    let saved = panel.save(&path, &form, "Renamed", "+5").await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(read(&server, &staff, &product).await["stock"], 12);

    // "-20": refused on its field, nothing changes.
    let before = read(&server, &staff, &product).await;
    let form = panel.get(&path).await;
    let refused = panel.save(&path, &form, "Renamed", "-20").await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"error-stock_adjustment\""));
    assert_eq!(read(&server, &staff, &product).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_api_edits_cannot_undo_a_sale_on_sqlite() {
    let (database, _dir) = common::sqlite_url();
    api_sequence(&database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_api_edits_cannot_undo_a_sale_on_postgres() {
    let Some(db) = common::PgDatabase::create() else {
        return;
    };
    api_sequence(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_panel_saves_cannot_undo_a_sale_on_sqlite() {
    let (database, _dir) = common::sqlite_url();
    panel_sequence(&database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_panel_saves_cannot_undo_a_sale_on_postgres() {
    let Some(db) = common::PgDatabase::create() else {
        return;
    };
    panel_sequence(&db.url).await;
}

//! A host mounts the API and the panel under paths of its own, each said
//! once (`mount_path`), beside its own routes in a router with its own
//! state: the routes, the OpenAPI paths, the panel's links and its API
//! path all follow.
#![cfg(feature = "admin")]

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use orders_axum::admin::Admin;
use orders_axum::web::{SignIn, SignInOutcome};
use orders_axum::{Api, Caller, Identify, IdentifyError};
use orders_core::Orders;
use orders_core::memory::MemoryStore;

struct Nobody;

#[orders_axum::async_trait]
impl Identify for Nobody {
    async fn identify(&self, _: &str) -> Result<Option<Caller>, IdentifyError> {
        Ok(None)
    }
}

#[orders_axum::async_trait]
impl SignIn for Nobody {
    async fn sign_in(
        &self,
        _: &str,
        _: &str,
        _: Option<IpAddr>,
    ) -> Result<SignInOutcome, IdentifyError> {
        Ok(SignInOutcome::Refused)
    }

    async fn sign_out(&self, _: &str) -> Result<(), IdentifyError> {
        Ok(())
    }
}

#[derive(Clone)]
struct HostState {
    name: &'static str,
}

#[tokio::test]
async fn the_api_and_the_panel_mount_where_their_path_says() {
    let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    let host = Arc::new(Nobody);
    let api = Api::new(orders.clone(), host.clone()).mount_path("/shop/api");
    let admin = Admin::new(orders, host.clone(), host)
        .api(&api)
        .mount_path("/shop/admin");
    let app: Router = admin
        .nest_into(
            api.nest_into(
                Router::<HostState>::new()
                    .route("/", get(|State(s): State<HostState>| async move { s.name })),
            ),
        )
        .with_state(HostState { name: "tea shop" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let home = get("/").await.unwrap();
    assert_eq!(
        home.text().await.unwrap(),
        "tea shop",
        "the host's own route"
    );
    assert_eq!(get("/shop/api/products").await.unwrap().status(), 200);
    assert_eq!(get("/api/products").await.unwrap().status(), 404);
    let doc: serde_json::Value = get("/shop/api/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/shop/api/products"].is_object(), "{doc}");
    for path in ["/shop/admin", "/shop/admin/"] {
        let panel = get(path).await.unwrap();
        assert_eq!(panel.status(), 303, "{path}");
        assert!(
            panel.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/shop/admin/login"),
            "{path}: {:?}",
            panel.headers()["location"]
        );
    }
    let login = get("/shop/admin/login")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("/shop/admin/assets/"),
        "assets under the mount path"
    );
    assert!(
        login.contains("data-api=\"/shop/api\""),
        "the panel's script finds the API where it is: {login}"
    );
}

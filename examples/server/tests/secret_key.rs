//! `--secret-key`: instances that share it accept each other's forms; a
//! process without it signs with a key of its own.

mod common;

use common::Server;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The sign-in page's CSRF cookie (`name=value`) and form token.
async fn form_of(server: &Server) -> (String, String) {
    let response = reqwest::get(server.url("/login")).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("orders_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("a CSRF cookie")
        .to_owned();
    let html = response.text().await.unwrap();
    let field = html
        .find("name=\"csrf_token\"")
        .map(|at| &html[at..])
        .expect("a CSRF field");
    let value = field
        .split("value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("its value")
        .to_owned();
    (cookie, value)
}

/// Posts a wrong password with the form of another instance.
async fn sign_in_status(server: &Server, cookie: &str, token: &str) -> u16 {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(server.url("/login"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("csrf_token", token)
                .append_pair("email", "nobody@example.com")
                .append_pair("password", "not the password")
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn instances_sharing_the_key_accept_each_others_forms() {
    let (database, _dir) = common::sqlite_url();
    let (cookie, token) = {
        let first = Server::start_with(&database, &["--secret-key", KEY]);
        form_of(&first).await
    };
    let same_key = Server::start_with(&database, &["--secret-key", KEY]);
    let status = sign_in_status(&same_key, &cookie, &token).await;
    assert_ne!(status, 403, "the shared key accepts the form");
    assert!(
        (400..500).contains(&status),
        "a wrong password is refused: {status}"
    );
    drop(same_key);

    let own_key = Server::start(&database);
    assert_eq!(
        sign_in_status(&own_key, &cookie, &token).await,
        403,
        "another key refuses it"
    );
}

#[test]
fn a_malformed_key_stops_the_server_with_a_clear_message() {
    let (database, _dir) = common::sqlite_url();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders-server"))
        .args(["--database-url", &database, "serve", "--secret-key", "abc"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("64 hex digits"), "{stderr}");
    assert!(!stderr.contains("listening"));
}

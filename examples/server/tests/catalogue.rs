//! The catalogue's search, pages and pictures on the real `orders-server`
//! binary, over real HTTP:
//! - the storefront list searches name, SKU and description in any case,
//!   takes `%` and `_` literally, pages by 24 keeping the search, and says
//!   when nothing matches; `GET /api/products?q=` answers the same;
//! - staff upload pictures on the panel's product page (a multipart form,
//!   CSRF token first): PNG and JPEG made here are resized and served from
//!   `/images/` with immutable caching, an ETag and 304 on `If-None-Match`;
//!   a non-image, a file over 5 MB, a text file named `.png`, a PNG that
//!   claims 100,000 × 100,000 pixels, a customer and a form without its
//!   token are refused, and none of them changes the product or stores a
//!   file.

mod common;

use std::io::Cursor;
use std::path::Path;

use common::pages::page_customer;
use common::{STAFF_EMAIL, STAFF_PASSWORD, Server, create_staff, hidden, sqlite_url, unique};
use serde_json::{Value, json};

const BOUNDARY: &str = "----orders-test-boundary-7d1f";

/// A `multipart/form-data` body: the CSRF token (if any), then the file.
fn multipart(csrf: Option<&str>, file_name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(token) = csrf {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{file_name}\"\r\n\
             Content-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn encoded(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    });
    encoded(
        image::DynamicImage::ImageRgb8(image),
        image::ImageFormat::Png,
    )
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([200, (x % 256) as u8, (y % 256) as u8])
    });
    encoded(
        image::DynamicImage::ImageRgb8(image),
        image::ImageFormat::Jpeg,
    )
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A small, valid-looking PNG whose header claims `side` × `side` pixels
/// (with a correct header checksum): a decompression bomb's shape.
fn png_claiming(side: u32) -> Vec<u8> {
    let mut bytes = png(2, 2);
    bytes[16..20].copy_from_slice(&side.to_be_bytes());
    bytes[20..24].copy_from_slice(&side.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A cookie-keeping client signed in to the panel as staff.
async fn staff_pages(server: &Server) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(server.url("/admin/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf_token");
    let response = common::pages::post_form(
        &client,
        server.url("/admin/login"),
        &[
            ("csrf_token", csrf.as_str()),
            ("email", STAFF_EMAIL),
            ("password", STAFF_PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), 303, "staff signed in");
    client
}

struct Upload {
    status: u16,
    location: String,
    page: String,
}

/// Posts `body` as the upload form of `product`.
async fn post_upload(
    client: &reqwest::Client,
    server: &Server,
    product: &str,
    body: Vec<u8>,
) -> Upload {
    let response = client
        .post(server.url(&format!("/admin/products/{product}/image")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Upload {
        status,
        location,
        page: response.text().await.unwrap_or_default(),
    }
}

/// The CSRF token of the product's panel page (and its upload form).
async fn upload_token(client: &reqwest::Client, server: &Server, product: &str) -> String {
    let page = client
        .get(server.url(&format!("/admin/products/{product}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"picture-upload\""), "no upload form");
    hidden(&page, "csrf_token")
}

async fn product_json(server: &Server, product: &str) -> Value {
    let (status, body) = server
        .call("GET", &format!("/api/products/{product}"), None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_upload_pictures_that_are_resized_and_served_with_caching() {
    let (database, dir) = sqlite_url();
    create_staff(&database);
    let images = dir.path().join("images");
    let server = Server::start_with(&database, &["--images-dir", images.to_str().unwrap()]);
    let token = server.staff().await;
    let staff = staff_pages(&server).await;
    let teapot = server.product(&token, 5).await;
    let mug = server.product(&token, 5).await;

    // A PNG: stored at 320 and 800 wide, aspect kept, JPEG (no alpha).
    let csrf = upload_token(&staff, &server, &teapot).await;
    let done = post_upload(
        &staff,
        &server,
        &teapot,
        multipart(Some(&csrf), "teapot.png", "image/png", &png(1600, 1200)),
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.page);
    assert!(
        done.location
            .ends_with(&format!("/admin/products/{teapot}?saved=image")),
        "{}",
        done.location
    );
    let product = product_json(&server, &teapot).await;
    let image = &product["image"];
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(1600), Some(1200)),
        "{product}"
    );
    let variants = image["variants"].as_array().unwrap();
    let sizes: Vec<_> = variants
        .iter()
        .map(|v| (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, vec![(320, 240), (800, 600)]);
    assert_eq!(image["url"], variants[1]["url"]);
    let stored = files(&images);
    assert_eq!(stored.len(), 2, "{stored:?}");

    // Served from the shop, cached for good, revalidated by ETag.
    let client = reqwest::Client::new();
    for variant in variants {
        let url = variant["url"].as_str().unwrap();
        assert!(
            url.starts_with("/images/") && url.ends_with(".jpg"),
            "{url}"
        );
        let response = client.get(server.url(url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(header("content-type").as_deref(), Some("image/jpeg"));
        assert_eq!(
            header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        let etag = header("etag").expect("an ETag");
        let bytes = response.bytes().await.unwrap();
        let copy = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
        assert_eq!(
            (u64::from(copy.width()), u64::from(copy.height())),
            (
                variant["width"].as_u64().unwrap(),
                variant["height"].as_u64().unwrap()
            )
        );
        let again = client
            .get(server.url(url))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let other = client
            .get(server.url(url))
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200);
    }
    for missing in [
        "/images/0123456789abcdef0123456789abcdef-320.jpg",
        "/images/..%2Fshop.db",
        "/images/x.png",
    ] {
        let response = client.get(server.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }

    // A JPEG, named with a lying extension and type: sniffed, taken.
    let csrf = upload_token(&staff, &server, &mug).await;
    let done = post_upload(
        &staff,
        &server,
        &mug,
        multipart(Some(&csrf), "mug.png", "image/png", &jpeg(500, 250)),
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.page);
    let mug_image = product_json(&server, &mug).await["image"].clone();
    let sizes: Vec<_> = mug_image["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["width"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![320, 500], "never enlarged: {mug_image}");
    let stored = files(&images);
    assert_eq!(stored.len(), 4, "{stored:?}");

    // Refusals: each says why, changes nothing, stores nothing.
    let before = product_json(&server, &teapot).await;
    let mut big = png(4, 4);
    big.resize(5 * 1024 * 1024 + 1, 0);
    let refusals: [(&str, &str, Vec<u8>, u16, &str); 4] = [
        (
            "notes.txt",
            "text/plain",
            b"just some text, not a picture".to_vec(),
            422,
            "must be a JPEG, PNG or WebP image",
        ),
        (
            "fake.png",
            "image/png",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            422,
            "must be a JPEG, PNG or WebP image",
        ),
        (
            "bomb.png",
            "image/png",
            png_claiming(100_000),
            422,
            "at most 8000 on a side",
        ),
        ("huge.png", "image/png", big, 413, "must be at most 5 MB"),
    ];
    for (name, content_type, bytes, status, message) in refusals {
        let csrf = upload_token(&staff, &server, &teapot).await;
        let refused = post_upload(
            &staff,
            &server,
            &teapot,
            multipart(Some(&csrf), name, content_type, &bytes),
        )
        .await;
        assert_eq!(refused.status, status, "{name}: {}", refused.page);
        assert!(refused.page.contains(message), "{name}: {}", refused.page);
        assert!(refused.page.contains("keeps its picture"), "{name}");
    }

    // A form without its token: refused before the file is read.
    let forged = post_upload(
        &staff,
        &server,
        &teapot,
        multipart(None, "teapot.png", "image/png", &png(64, 64)),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(forged.page.contains("security token"), "{}", forged.page);
    let wrong = post_upload(
        &staff,
        &server,
        &teapot,
        multipart(Some("not-a-token"), "teapot.png", "image/png", &png(64, 64)),
    )
    .await;
    assert_eq!(wrong.status, 403);

    // A customer with a valid token of their own: staff only.
    let customer = page_customer(&server).await;
    let page = customer
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let customer_csrf = hidden(&page, "csrf_token");
    let refused = post_upload(
        &customer,
        &server,
        &teapot,
        multipart(
            Some(&customer_csrf),
            "teapot.png",
            "image/png",
            &png(64, 64),
        ),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.page);
    assert!(refused.page.contains("Staff only"), "{}", refused.page);

    assert_eq!(
        product_json(&server, &teapot).await,
        before,
        "nothing changed"
    );
    assert_eq!(files(&images), stored, "nothing stored");
}

/// Creates an active product named `name`.
async fn named(server: &Server, token: &str, name: &str, sku: &str, description: &str) -> String {
    let body = json!({"sku": sku, "name": name, "description": description, "price": "3.00", "currency": "USD", "stock": 9});
    let (status, product) = server
        .call("POST", "/api/admin/products", Some(token), Some(body))
        .await;
    assert_eq!(status, 201, "{product}");
    product["id"].as_str().unwrap().to_owned()
}

/// The product links of a storefront list page, in order.
fn listed(page: &str) -> Vec<String> {
    page.split("href=\"/products/")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

/// The "More products" link of a list page, unescaped.
fn next_link(page: &str) -> Option<String> {
    let at = page.find("id=\"next-page\"")?;
    let rest = &page[at..];
    let start = rest.find("href=\"")? + 6;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_searches_and_pages_keeping_the_search() {
    let (database, _dir) = sqlite_url();
    create_staff(&database);
    let server = Server::start(&database);
    let token = server.staff().await;
    let tag = unique();
    let word = format!("Sencha{}", &tag[tag.len() - 8..]);
    let mut ours = Vec::new();
    for n in 1..=30 {
        ours.push(
            named(
                &server,
                &token,
                &format!("Grüner {word} {n}"),
                &format!("SEN-{n}-{tag}"),
                "Steamed",
            )
            .await,
        );
    }
    ours.reverse();
    let percent = named(
        &server,
        &token,
        &format!("Matcha 100% {word}"),
        &format!("PCT-{tag}"),
        "",
    )
    .await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let url = server.url(&path);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };

    // Case-insensitive in every script: GRÜNER finds "Grüner".
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", &format!("GRÜNER {}", word.to_uppercase()))
        .finish();
    let first = get(format!("/?{query}")).await;
    assert_eq!(listed(&first), ours[..24].to_vec());
    let next = next_link(&first).expect("a second page");
    assert!(next.contains("q=") && next.contains("cursor="), "{next}");
    let second = get(next).await;
    assert_eq!(
        listed(&second),
        ours[24..].to_vec(),
        "page 2: the other six, still searched"
    );
    assert!(next_link(&second).is_none());
    assert!(second.contains("id=\"first-page\""));

    // `%` matches itself only; SKU and description are searched.
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", "100%")
        .finish();
    assert_eq!(
        listed(&get(format!("/?{query}")).await),
        vec![percent.clone()]
    );
    assert_eq!(
        listed(&get(format!("/?q=pct-{tag}")).await),
        vec![percent.clone()]
    );
    assert_eq!(
        listed(&get(format!("/?q=STEAMED+{word}")).await),
        Vec::<String>::new(),
        "fields are not joined"
    );
    let nothing = get("/?q=nothing_like_this".to_owned()).await;
    assert!(nothing.contains("No products match"), "{nothing}");
    assert!(listed(&nothing).is_empty());

    // The JSON list takes `q` too; a bad one is a 422 on `q`.
    let (status, body) = server
        .call(
            "GET",
            &format!("/api/products?q=SEN-1-{tag}&limit=100"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<_> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        vec![ours[29].clone()],
        "SEN-1- and not SEN-10-..: {body}"
    );
    let (status, body) = server
        .call("GET", "/api/products?q=a%E2%80%AEb", None, None)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["q"].is_array(), "{body}");
}

//! The catalogue's search, pages and pictures in a real headless Chromium
//! against the real `orders-server` binary on a real port:
//! 1. thirty products that share a word: a search for it narrows the list
//!    to them (24 on the first page, the other 6 on the second, reached by
//!    the "More products" link that keeps the search), a search for
//!    nothing that exists says so, and all of it works by plain links and
//!    a GET form;
//! 2. staff upload a picture on the panel's product page; the storefront's
//!    list and product page show it (decoded by the browser, with its
//!    width, height and alt text), served from the shop's own address.
//!
//! Screenshots at desktop width and at phone width (390×844) go to
//! `<target>/tmp/screenshots/`. Without Chromium the test says so and
//! passes, unless `ORDERS_REQUIRE_BROWSER=1`.

mod browser_support;
mod common;

use std::io::Cursor;

use browser_support::{Driver, css, fill, screenshot, submit, text, url};
use common::{STAFF_EMAIL, STAFF_PASSWORD, Server, create_staff, sqlite_url, unique};
use fantoccini::{Client, Locator};
use serde_json::json;

async fn count(browser: &Client, selector: &str) -> usize {
    browser
        .find_all(Locator::Css(selector))
        .await
        .map(|found| found.len())
        .unwrap_or(0)
}

/// A 1200×900 PNG, a gradient so it is not one colour.
fn picture() -> Vec<u8> {
    let image = image::RgbImage::from_fn(1200, 900, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

async fn both_widths(browser: &Client, name: &str) {
    browser.set_window_size(1280, 1000).await.expect("desktop");
    screenshot(browser, &format!("{name}-desktop")).await;
    browser.set_window_size(390, 844).await.expect("phone");
    screenshot(browser, &format!("{name}-phone")).await;
    browser.set_window_size(1280, 1000).await.expect("desktop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_narrows_the_list_pages_keep_it_and_an_uploaded_picture_shows() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let (database, dir) = sqlite_url();
    create_staff(&database);
    let images = dir.path().join("images");
    let server = Server::start_with(&database, &["--images-dir", images.to_str().unwrap()]);
    let token = server.staff().await;
    let tag = unique();
    let word = format!("Oolong{}", &tag[tag.len() - 8..]);
    let mut ids = Vec::new();
    for n in 1..=30 {
        let body = json!({"sku": format!("OOL-{n}-{}", unique()), "name": format!("{word} tea no. {n}"),
            "description": "Roasted, from Taiwan", "price": "7.50", "currency": "USD", "stock": 5});
        let (status, product) = server
            .call("POST", "/api/admin/products", Some(&token), Some(body))
            .await;
        assert_eq!(status, 201, "{product}");
        ids.push(product["id"].as_str().unwrap().to_owned());
    }

    // 1. Search, by the form (a GET: no script needed).
    let customer = driver.browser().await;
    customer.goto(&server.url("/")).await.expect("the shop");
    let all = count(&customer, ".products .product-card").await;
    assert_eq!(all, 24, "a page of the whole catalogue (demo + ours)");
    fill(&customer, "form#product-search", "q", &word.to_uppercase()).await;
    submit(&customer, "form#product-search").await;
    assert!(
        url(&customer).await.contains("q="),
        "{}",
        url(&customer).await
    );
    let names = customer
        .find_all(Locator::Css(".products .product-name"))
        .await
        .unwrap();
    assert_eq!(names.len(), 24, "the first page of 30 matches");
    for name in &names {
        let name = name.text().await.unwrap();
        assert!(name.starts_with(&word), "{name} does not match");
    }
    assert_eq!(
        names[0].text().await.unwrap(),
        format!("{word} tea no. 30"),
        "newest first"
    );
    both_widths(&customer, "storefront-search").await;

    // Page 2 keeps the search.
    let next = css(&customer, "a#next-page").await;
    let href = next.attr("href").await.unwrap().unwrap();
    assert!(href.contains("q=") && href.contains("cursor="), "{href}");
    next.click().await.expect("page 2");
    browser_support::until_text(&customer, ".products .product-name", |t| {
        t.ends_with("no. 6")
    })
    .await;
    assert_eq!(count(&customer, ".products .product-card").await, 6);
    assert!(
        customer.find(Locator::Css("a#next-page")).await.is_err(),
        "no third page"
    );
    assert_eq!(
        css(&customer, "#field-q")
            .await
            .prop("value")
            .await
            .unwrap(),
        Some(word.to_uppercase()),
        "the box still holds the search"
    );
    both_widths(&customer, "storefront-search-page-2").await;

    // Nothing matches: said, with the words searched.
    fill(&customer, "form#product-search", "q", "100%_nothing").await;
    submit(&customer, "form#product-search").await;
    let none = text(&customer, "#no-results").await;
    assert!(
        none.contains("No products match") && none.contains("100%_nothing"),
        "{none}"
    );
    assert_eq!(count(&customer, ".products .product-card").await, 0);

    // 2. Staff upload a picture on the panel's product page.
    let staff = driver.browser().await;
    staff.goto(&server.url("/admin/login")).await.unwrap();
    fill(&staff, "form#login", "email", STAFF_EMAIL).await;
    fill(&staff, "form#login", "password", STAFF_PASSWORD).await;
    submit(&staff, "form#login").await;
    let product = &ids[29];
    staff
        .goto(&server.url(&format!("/admin/products/{product}")))
        .await
        .unwrap();
    let file = dir.path().join("teapot.png");
    std::fs::write(&file, picture()).unwrap();
    css(&staff, "form#picture-upload input[type='file']")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .expect("choose the file");
    submit(&staff, "form#picture-upload").await;
    assert!(
        text(&staff, ".alert-ok").await.contains("Picture uploaded"),
        "{}",
        url(&staff).await
    );
    css(&staff, "#product-picture").await;
    both_widths(&staff, "admin-product-picture").await;

    // The product page shows it, from this shop, decoded, sized, named.
    customer
        .goto(&server.url(&format!("/products/{product}")))
        .await
        .unwrap();
    let img = css(&customer, "img#product-image").await;
    let src = img.attr("src").await.unwrap().unwrap();
    assert!(src.starts_with("/images/"), "{src}");
    assert_eq!(
        img.attr("alt").await.unwrap().unwrap(),
        format!("{word} tea no. 30")
    );
    assert_eq!(img.attr("width").await.unwrap().as_deref(), Some("800"));
    assert_eq!(img.attr("height").await.unwrap().as_deref(), Some("600"));
    assert!(img.attr("srcset").await.unwrap().unwrap().contains(" 320w"));
    let loaded = customer
        .execute(
            "const i = document.querySelector('#product-image');\
             return i.decode().then(() => [i.naturalWidth, i.currentSrc]);",
            vec![],
        )
        .await
        .expect("the picture decodes");
    let natural = loaded[0].as_u64().unwrap();
    assert!(natural == 320 || natural == 800, "{loaded}");
    assert!(
        loaded[1]
            .as_str()
            .unwrap()
            .starts_with(&server.url("/images/")),
        "{loaded}"
    );
    both_widths(&customer, "storefront-product-picture").await;

    // And the search results show it too.
    customer
        .goto(&server.url(&format!("/?q={word}")))
        .await
        .unwrap();
    let thumb = css(&customer, ".products .product-card img.product-thumb").await;
    assert_eq!(
        thumb.attr("alt").await.unwrap().unwrap(),
        format!("{word} tea no. 30")
    );
    assert_eq!(count(&customer, ".products img.product-thumb").await, 1);
    both_widths(&customer, "storefront-list-picture").await;

    customer.close().await.ok();
    staff.close().await.ok();
}

//! The `[payments]` table (as part of the file: `config.rs`'s tests).

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn origins() {
    assert_eq!(
        origin_of("https://js.stripe.com/v3/").as_deref(),
        Some("https://js.stripe.com")
    );
    assert_eq!(
        origin_of("http://127.0.0.1:8420/js.stripe.com/v3/").as_deref(),
        Some("http://127.0.0.1:8420")
    );
    for bad in [
        "js.stripe.com",
        "ftp://x/",
        "https://",
        "https://a b/",
        "https://u@x/",
    ] {
        assert_eq!(origin_of(bad), None, "{bad}");
    }
}

#[test]
fn the_policy_names_stripe_js_only_for_its_origin() {
    let csp = stripe_content_security_policy("https://js.stripe.com");
    assert!(
        csp.contains("script-src 'self' https://js.stripe.com https://*.js.stripe.com;"),
        "{csp}"
    );
    assert!(csp.contains(
        "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com;"
    ));
    assert!(csp.contains("connect-src 'self' https://api.stripe.com;"));
    let local = stripe_content_security_policy("http://127.0.0.1:9");
    assert!(
        local.contains("script-src 'self' http://127.0.0.1:9;"),
        "{local}"
    );
    assert!(!local.contains("stripe.com"), "{local}");
    assert!(!local.contains("unsafe"), "{local}");
}

#[test]
fn the_default_is_the_test_gateway() {
    let settings = PaymentSettings::from_file(&PaymentsFile::default(), &env_of(&[])).unwrap();
    assert!(matches!(settings.provider, Provider::Test));
    assert_eq!(settings.sweep_interval, DEFAULT_SWEEP_INTERVAL);
    assert_eq!(settings.gateway().unwrap().provider(), "test");
    let mut orders = OrdersConfig::demo();
    let before = (orders.capture_policy, orders.payment_hold);
    settings.apply(&mut orders).unwrap();
    assert_eq!((orders.capture_policy, orders.payment_hold), before);
}

#[cfg(feature = "stripe")]
#[test]
fn stripe_needs_each_key_from_the_environment_and_never_shows_a_secret() {
    let file = PaymentsFile {
        provider: Some("stripe".into()),
        api_base: Some("http://127.0.0.1:8420".into()),
        js_url: Some("http://127.0.0.1:8420/js.stripe.com/v3/".into()),
        ..PaymentsFile::default()
    };
    let all = [
        (SECRET_KEY_VAR, "sk_test_very_secret_1"),
        (WEBHOOK_SECRET_VAR, "whsec_very_secret_2"),
        (PUBLISHABLE_KEY_VAR, "pk_test_public_3"),
    ];
    for missing in 0..all.len() {
        let some: Vec<_> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != missing)
            .map(|(_, pair)| *pair)
            .collect();
        let error = PaymentSettings::from_file(&file, &env_of(&some)).unwrap_err();
        assert!(error.contains(all[missing].0), "{error}");
        assert!(!error.contains("very_secret"), "{error}");
    }
    let settings = PaymentSettings::from_file(&file, &env_of(&all)).unwrap();
    let stripe = settings.stripe().unwrap();
    assert_eq!(stripe.secret_key.expose(), "sk_test_very_secret_1");
    assert_eq!(stripe.js_origin(), "http://127.0.0.1:8420");
    assert_eq!(stripe.publishable_key, "pk_test_public_3");
    let shown = format!("{settings:?}");
    assert!(!shown.contains("very_secret"), "{shown}");
    let wrong = [all[0], all[1], (PUBLISHABLE_KEY_VAR, "sk_live_oops_secret")];
    let error = PaymentSettings::from_file(&file, &env_of(&wrong)).unwrap_err();
    assert!(
        error.contains(PUBLISHABLE_KEY_VAR) && !error.contains("oops"),
        "{error}"
    );
    let defaults = PaymentsFile {
        provider: Some("stripe".into()),
        ..PaymentsFile::default()
    };
    let settings = PaymentSettings::from_file(&defaults, &env_of(&all)).unwrap();
    let stripe = settings.stripe().unwrap();
    assert_eq!(
        (stripe.api_base.as_str(), stripe.js_url.as_str()),
        (STRIPE_API_BASE, STRIPE_JS_URL)
    );
}

#[test]
fn bad_entries_are_named() {
    for (file, expected) in [
        (
            PaymentsFile {
                provider: Some("paypal".into()),
                ..PaymentsFile::default()
            },
            "payments.provider",
        ),
        (
            PaymentsFile {
                capture_policy: Some("later".into()),
                ..PaymentsFile::default()
            },
            "payments.capture_policy",
        ),
        (
            PaymentsFile {
                hold: Some("0s".into()),
                ..PaymentsFile::default()
            },
            "payments.hold",
        ),
        (
            PaymentsFile {
                sweep_interval: Some("soon".into()),
                ..PaymentsFile::default()
            },
            "payments.sweep_interval",
        ),
        (
            PaymentsFile {
                js_url: Some("https://js.stripe.com/v3/".into()),
                ..PaymentsFile::default()
            },
            "payments.js_url",
        ),
    ] {
        let error = PaymentSettings::from_file(&file, &env_of(&[])).unwrap_err();
        assert!(error.contains(expected), "{expected}: {error}");
    }
}

#[cfg(not(feature = "stripe"))]
#[test]
fn a_build_without_stripe_says_so() {
    let file = PaymentsFile {
        provider: Some("stripe".into()),
        ..PaymentsFile::default()
    };
    let error = PaymentSettings::from_file(&file, &env_of(&[])).unwrap_err();
    assert!(error.contains("`stripe` feature"), "{error}");
}

//! Pricing a cart of 1, 10, 100 and 1000 lines with a percent discount,
//! tax and shipping; validating a checkout request.

use std::hint::black_box;

use chrono::{NaiveDate, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use orders_core::OrdersConfig;
use orders_core::cart::Quantity;
use orders_core::catalogue::TaxClass;
use orders_core::checkout::{CheckoutForm, Country, FormContext};
use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::money::{Currency, Money};
use orders_core::pricing::{LineInput, price};

fn pricing(c: &mut Criterion) {
    let config = OrdersConfig::demo();
    let gb = Country::parse("GB").unwrap();
    let method = config.shipping_method("standard", Currency::GBP).unwrap();
    let classes = [TaxClass::standard(), TaxClass::parse("reduced").unwrap()];
    let discount = Discount::new(
        DiscountCode::parse("TEN").unwrap(),
        DiscountKind::percent("10").unwrap(),
        Utc::now(),
    );
    let mut group = c.benchmark_group("price_cart");
    for lines in [1_usize, 10, 100, 1000] {
        let inputs: Vec<LineInput<'_>> = (0..lines)
            .map(|i| LineInput {
                unit_price: Money::from_minor(199 + (i as i64 * 37) % 5000, Currency::GBP).unwrap(),
                quantity: Quantity::new(1 + (i as u32 % 7)).unwrap(),
                tax_class: &classes[i % 2],
            })
            .collect();
        group.throughput(Throughput::Elements(lines as u64));
        group.bench_with_input(BenchmarkId::from_parameter(lines), &inputs, |b, inputs| {
            b.iter(|| {
                price(
                    Currency::GBP,
                    black_box(inputs),
                    Some(&discount),
                    method,
                    &config.tax,
                    gb,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

fn validation(c: &mut Criterion) {
    let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let methods = ["standard", "express"];
    let ctx = FormContext {
        today,
        shipping_methods: &methods,
    };
    let body = r#"{"email":"ada@example.com","shipping_address":{"full_name":"Ada Lovelace","line1":"12 St James's Square","line2":null,"city":"London","region":null,"postal_code":"SW1Y 4JH","country":"GB","phone":"+44 20 7946 0958"},"shipping_method":"standard","payment":{"method":"card","card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","holder":"Ada Lovelace"}}}"#;
    let form: CheckoutForm = serde_json::from_str(body).unwrap();
    c.bench_function("validate_checkout_form", |b| {
        b.iter_batched(
            || copy_form(&form),
            |form| form.validate(black_box(&ctx)).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("parse_and_validate_checkout_json", |b| {
        b.iter(|| {
            let form: CheckoutForm = serde_json::from_str(black_box(body)).unwrap();
            form.validate(&ctx).unwrap()
        })
    });
}

/// The raw form is deliberately not `Clone` (it may hold a card number);
/// rebuild it field by field for the benchmark.
fn copy_form(form: &CheckoutForm) -> CheckoutForm {
    let card = form.payment.as_ref().and_then(|p| p.card.as_ref());
    CheckoutForm {
        email: form.email.clone(),
        shipping_address: form.shipping_address.clone(),
        shipping_method: form.shipping_method.clone(),
        payment: Some(orders_core::checkout::PaymentForm {
            method: form.payment.as_ref().and_then(|p| p.method.clone()),
            token: form.payment.as_ref().and_then(|p| p.token.clone()),
            card: card.map(|c| orders_core::checkout::CardForm {
                number: c.number.clone(),
                exp_month: c.exp_month,
                exp_year: c.exp_year,
                cvc: c.cvc.clone(),
                holder: c.holder.clone(),
            }),
        }),
        expected_total: None,
    }
}

criterion_group!(benches, pricing, validation);
criterion_main!(benches);

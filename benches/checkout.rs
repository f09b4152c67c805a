//! A full checkout on the in-memory store: load the cart, validate the
//! form, reprice, authorise with the test gateway, place the order, close
//! the cart, announce the event, capture (on_checkout) and record it.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_executor::block_on;
use orders_core::checkout::CheckoutForm;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::testkit::{cart_with, engine, form, product, token_form};

fn checkout(c: &mut Criterion) {
    bench(c, "checkout_in_memory_3_lines", || {
        form(Some("4242424242424242"))
    });
    // The path a real provider takes: a token, authorised, the order
    // placed, then captured (a second write and event).
    bench(c, "checkout_in_memory_3_lines_token", || {
        token_form("test_visa")
    });
}

fn bench(c: &mut Criterion, name: &str, make_form: fn() -> CheckoutForm) {
    let customer = CustomerId::parse("bench").unwrap();
    // Each iteration checks out on a fresh store holding three products and
    // one cart, prepared outside the timing: a store that grew by every
    // iteration would measure memory growth (page faults, rehashing),
    // not checkout.
    let setup = || {
        block_on(async {
            let (orders, _) = engine(Arc::new(MemoryStore::new()));
            let mut lines = Vec::new();
            for (price, quantity) in [("4.50", 2), ("12.00", 1), ("0.99", 3)] {
                lines.push((product(&orders, price, 1000).await.id().clone(), quantity));
            }
            let borrowed: Vec<_> = lines.iter().map(|(id, q)| (id, *q)).collect();
            let cart = cart_with(&orders, &customer, &borrowed).await;
            (orders, cart, make_form())
        })
    };
    c.bench_function(name, |b| {
        b.iter_batched(
            setup,
            |(orders, cart, form)| {
                let placed = block_on(orders.checkout(&customer, &cart, form, None));
                // Returned, so dropping the store is not timed either.
                (placed.unwrap(), orders)
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, checkout);
criterion_main!(benches);
